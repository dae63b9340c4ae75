/**
 * ML-DSA (FIPS 204) for the ML_DSA_44/65/87 key specs, with AWS's one signing algorithm,
 * ML_DSA_SHAKE_256: pure ML-DSA with an empty context string, over a RAW message or a
 * caller-computed μ (MessageType EXTERNAL_MU, FIPS 204 §6.2). The lattice arithmetic is
 * @noble/post-quantum's; node:crypto in Node 20 has no ML-DSA.
 *
 * Key material is the PKCS#8 seed form (32 bytes ξ, lattice-der.ts); the expanded key pair
 * is derived from it (ML-DSA.KeyGen_internal, FIPS 204 Algorithm 6) and kept per material
 * buffer, since expanding costs more than a signature.
 *
 * Both message types take one path: a RAW message is turned into μ here
 * (μ = SHAKE256(tr || 0x00 || 0x00 || M, 64), FIPS 204 Algorithm 2 line 10 and Algorithm 7
 * line 6, tr = SHAKE256(pk, 64)), then μ is signed as an external μ (Algorithm 7 from line
 * 7). The known-answer tests check that path against NIST's vectors, and the RAW encoding
 * against an ML-DSA verifier that computes μ itself.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js'
import { expandedSeedKeys, mlDsaDer, newSeedPkcs8, publicKeyToSpki, type LatticeDer } from './lattice-der.js'
import type { MessageType, SigningAlgorithm } from '../../wire/key-specs.js'

export type MlDsaKeySpec = 'ML_DSA_44' | 'ML_DSA_65' | 'ML_DSA_87'

type Dsa = typeof ml_dsa44

const MU_BYTES = 64

const PARAMS: Record<MlDsaKeySpec, { dsa: Dsa; der: LatticeDer }> = {
  ML_DSA_44: { dsa: ml_dsa44, der: mlDsaDer(44, 1312) },
  ML_DSA_65: { dsa: ml_dsa65, der: mlDsaDer(65, 1952) },
  ML_DSA_87: { dsa: ml_dsa87, der: mlDsaDer(87, 2592) },
}

export function isMlDsaSpec(spec: unknown): spec is MlDsaKeySpec {
  return typeof spec === 'string' && Object.prototype.hasOwnProperty.call(PARAMS, spec)
}

function paramsOf(spec: MlDsaKeySpec): { dsa: Dsa; der: LatticeDer } {
  if (!isMlDsaSpec(spec)) throw new RangeError(`${String(spec)} is not an ML-DSA key spec`)
  return PARAMS[spec]
}

interface Expanded {
  spec: MlDsaKeySpec
  publicKey: Uint8Array
  secretKey: Uint8Array
  /** tr = SHAKE256(pk, 64), the public-key hash μ starts from. */
  tr: Buffer
}

function shake256(parts: readonly Uint8Array[], outputLength: number): Buffer {
  const hash = createHash('shake256', { outputLength })
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** tr = H(pk, 64) (FIPS 204 Algorithm 6 line 6). */
export function publicKeyHash(publicKey: Uint8Array): Buffer {
  return shake256([publicKey], MU_BYTES)
}

/** μ of a message under pure ML-DSA with an empty context: H(tr || 0x00 || 0x00 || M, 64). */
export function messageRepresentative(tr: Uint8Array, message: Uint8Array): Buffer {
  return shake256([tr, Buffer.from([0x00, 0x00]), message], MU_BYTES)
}

/** The key pair of a seed-form key, cached by its PKCS#8 buffer (lattice-der.ts). */
const expand = expandedSeedKeys<MlDsaKeySpec, Expanded>(
  (spec) => paramsOf(spec).der,
  (spec, seed) => {
    const { publicKey, secretKey } = paramsOf(spec).dsa.keygen(seed)
    return { spec, publicKey, secretKey, tr: publicKeyHash(publicKey) }
  },
)

/** New key material: a random 32-byte seed, as PKCS#8. */
export function generateMlDsaKey(spec: MlDsaKeySpec): Buffer {
  return newSeedPkcs8(paramsOf(spec).der)
}

export function mlDsaPublicKey(spec: MlDsaKeySpec, pkcs8: Uint8Array): Buffer {
  return publicKeyToSpki(paramsOf(spec).der, expand(spec, pkcs8).publicKey)
}

function checkAlgorithm(spec: MlDsaKeySpec, algorithm: SigningAlgorithm): void {
  if (algorithm !== 'ML_DSA_SHAKE_256') throw new RangeError(`${String(algorithm)} is not a signing algorithm for ${spec}`)
}

/** μ for a request: computed from a RAW message, taken as it is for EXTERNAL_MU (64 bytes). */
function muOf(expanded: Expanded, messageType: MessageType, message: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array)) throw new TypeError('message: expected Uint8Array')
  if (messageType === 'RAW') return messageRepresentative(expanded.tr, message)
  if (messageType !== 'EXTERNAL_MU') throw new RangeError(`${expanded.spec} does not sign MessageType ${String(messageType)}`)
  if (message.length !== MU_BYTES) throw new RangeError(`EXTERNAL_MU must be ${MU_BYTES} bytes, got ${message.length}`)
  return message
}

/**
 * ML-DSA.Sign_internal from μ (FIPS 204 Algorithm 7 with an external μ). `rnd`: the 32
 * bytes of randomness; omitted, fresh random bytes (the hedged variant, FIPS 204 §3.4).
 * Known-answer tests pass the vectors' rnd (32 zero bytes for the deterministic variant).
 */
export function mlDsaSignMu(spec: MlDsaKeySpec, secretKey: Uint8Array, mu: Uint8Array, rnd?: Uint8Array): Uint8Array {
  const { dsa } = paramsOf(spec)
  return dsa.internal.sign(mu, secretKey, { externalMu: true, extraEntropy: rnd ?? randomBytes(32) })
}

/** ML-DSA.Verify_internal from μ (FIPS 204 Algorithm 8); false for a malformed signature. */
export function mlDsaVerifyMu(spec: MlDsaKeySpec, publicKey: Uint8Array, mu: Uint8Array, signature: Uint8Array): boolean {
  const { dsa } = paramsOf(spec)
  try {
    return dsa.internal.verify(signature, mu, publicKey, { externalMu: true })
  } catch {
    return false
  }
}

export function mlDsaSign(
  spec: MlDsaKeySpec,
  pkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
): Uint8Array {
  checkAlgorithm(spec, algorithm)
  const expanded = expand(spec, pkcs8)
  return mlDsaSignMu(spec, expanded.secretKey, muOf(expanded, messageType, message))
}

export function mlDsaVerify(
  spec: MlDsaKeySpec,
  pkcs8: Uint8Array,
  algorithm: SigningAlgorithm,
  messageType: MessageType,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkAlgorithm(spec, algorithm)
  const expanded = expand(spec, pkcs8)
  const mu = muOf(expanded, messageType, message)
  if (!(signature instanceof Uint8Array)) return false
  return mlDsaVerifyMu(spec, expanded.publicKey, mu, signature)
}

/**
 * True when `material` is seed-form PKCS#8 of this parameter set whose key signs and
 * verifies (a pairwise consistency test, as for the other asymmetric specs). Never throws.
 */
export function isValidMlDsaMaterial(spec: MlDsaKeySpec, material: Uint8Array): boolean {
  try {
    const mu = new Uint8Array(MU_BYTES).fill(0x5a)
    const signature = mlDsaSign(spec, material, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu)
    return mlDsaVerify(spec, material, 'ML_DSA_SHAKE_256', 'EXTERNAL_MU', mu, signature)
  } catch {
    return false
  }
}
