/**
 * ML-KEM (FIPS 203) for the ML_KEM_512/768/1024 key specs and AWS's one encapsulation
 * algorithm, ML_KEM. The lattice arithmetic is @noble/post-quantum's; node:crypto in
 * Node 20 has no ML-KEM.
 *
 * Key material is the PKCS#8 seed form (64 bytes d || z, lattice-der.ts); the decapsulation
 * key is derived from it (ML-KEM.KeyGen_internal, FIPS 203 Algorithm 16) and kept per
 * material buffer.
 *
 * Decapsulation never fails for a ciphertext of the right length: ML-KEM's implicit
 * rejection (FIPS 203 Algorithm 18 lines 9–11) returns a pseudo-random secret derived from
 * z for one that does not re-encrypt, so a wrong ciphertext and a right one look alike to
 * whoever sends them. Only the length is checked (FIPS 203 §7.3, the ciphertext type check),
 * which AWS answers with InvalidCiphertextException.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { ml_kem1024, ml_kem512, ml_kem768 } from '@noble/post-quantum/ml-kem.js'
import { expandedSeedKeys, mlKemDer, newSeedPkcs8, publicKeyToSpki, type LatticeDer } from './lattice-der.js'

export type MlKemKeySpec = 'ML_KEM_512' | 'ML_KEM_768' | 'ML_KEM_1024'

type Kem = typeof ml_kem512

const PARAMS: Record<MlKemKeySpec, { kem: Kem; der: LatticeDer; ciphertextBytes: number }> = {
  ML_KEM_512: { kem: ml_kem512, der: mlKemDer(512, 800), ciphertextBytes: 768 },
  ML_KEM_768: { kem: ml_kem768, der: mlKemDer(768, 1184), ciphertextBytes: 1088 },
  ML_KEM_1024: { kem: ml_kem1024, der: mlKemDer(1024, 1568), ciphertextBytes: 1568 },
}

/** The shared secret's length, for every parameter set (FIPS 203 §2.4). */
export const SHARED_SECRET_BYTES = 32

export function isMlKemSpec(spec: unknown): spec is MlKemKeySpec {
  return typeof spec === 'string' && Object.prototype.hasOwnProperty.call(PARAMS, spec)
}

function paramsOf(spec: MlKemKeySpec): { kem: Kem; der: LatticeDer; ciphertextBytes: number } {
  if (!isMlKemSpec(spec)) throw new RangeError(`${String(spec)} is not an ML-KEM key spec`)
  return PARAMS[spec]
}

/** The ciphertext length of a parameter set: 768, 1088 or 1568 bytes. */
export function mlKemCiphertextBytes(spec: MlKemKeySpec): number {
  return paramsOf(spec).ciphertextBytes
}

interface Expanded {
  spec: MlKemKeySpec
  encapsulationKey: Uint8Array
  decapsulationKey: Uint8Array
}

/** The key pair of a seed-form key, cached by its PKCS#8 buffer (lattice-der.ts). */
const expand = expandedSeedKeys<MlKemKeySpec, Expanded>(
  (spec) => paramsOf(spec).der,
  (spec, seed) => {
    const { publicKey, secretKey } = paramsOf(spec).kem.keygen(seed)
    return { spec, encapsulationKey: publicKey, decapsulationKey: secretKey }
  },
)

/** New key material: 64 random bytes d || z, as PKCS#8. */
export function generateMlKemKey(spec: MlKemKeySpec): Buffer {
  return newSeedPkcs8(paramsOf(spec).der)
}

/** A fresh key pair for GenerateDataKeyPair: the seed-form PKCS#8 and its SubjectPublicKeyInfo. */
export function generateMlKemKeyPair(spec: MlKemKeySpec): { privateKey: Buffer; publicKey: Buffer } {
  const privateKey = generateMlKemKey(spec)
  return { privateKey, publicKey: mlKemPublicKey(spec, privateKey) }
}

export function mlKemPublicKey(spec: MlKemKeySpec, pkcs8: Uint8Array): Buffer {
  return publicKeyToSpki(paramsOf(spec).der, expand(spec, pkcs8).encapsulationKey)
}

/**
 * ML-KEM.Encaps_internal with an encapsulation key (FIPS 203 Algorithm 17). `m`: the 32
 * random bytes; omitted, fresh ones. Known-answer tests pass the vectors' m.
 */
export function mlKemEncapsulateWith(
  spec: MlKemKeySpec,
  encapsulationKey: Uint8Array,
  m?: Uint8Array,
): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  const { kem } = paramsOf(spec)
  const { cipherText, sharedSecret } = kem.encapsulate(encapsulationKey, m ?? randomBytes(32))
  return { ciphertext: cipherText, sharedSecret }
}

/**
 * ML-KEM.Decaps_internal with a decapsulation key (FIPS 203 Algorithm 18); undefined only
 * for a ciphertext of the wrong length.
 */
export function mlKemDecapsulateWith(spec: MlKemKeySpec, decapsulationKey: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  const { kem, ciphertextBytes } = paramsOf(spec)
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== ciphertextBytes) return undefined
  return kem.decapsulate(ciphertext, decapsulationKey)
}

export function mlKemEncapsulate(spec: MlKemKeySpec, pkcs8: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  return mlKemEncapsulateWith(spec, expand(spec, pkcs8).encapsulationKey)
}

export function mlKemDecapsulate(spec: MlKemKeySpec, pkcs8: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  return mlKemDecapsulateWith(spec, expand(spec, pkcs8).decapsulationKey, ciphertext)
}

/**
 * True when `material` is seed-form PKCS#8 of this parameter set whose keys agree: a
 * secret encapsulated to its public key decapsulates to the same secret (FIPS 203 §7.1's
 * pairwise consistency test). Never throws.
 */
export function isValidMlKemMaterial(spec: MlKemKeySpec, material: Uint8Array): boolean {
  try {
    const { ciphertext, sharedSecret } = mlKemEncapsulate(spec, material)
    const decapsulated = mlKemDecapsulate(spec, material, ciphertext)
    return decapsulated !== undefined && Buffer.from(decapsulated).equals(Buffer.from(sharedSecret))
  } catch {
    return false
  }
}
