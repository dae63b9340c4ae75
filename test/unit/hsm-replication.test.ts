/**
 * The HSM side of the replication protocol (docs/spec/replication.md §2–§4): known-answer
 * vectors computed by an independent implementation, a complete transfer between two HSMs
 * with different domain keys, every way a transfer can be wrong failing as the one
 * TRANSFER_FAILED with nothing left usable, RSK signing, rotation and persistence, and the
 * same through real worker threads.
 */
import assert from 'node:assert/strict'
import { createECDH, createPrivateKey, createPublicKey, createSecretKey, randomBytes, verify, type KeyObject } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import {
  HsmError,
  type Hsm,
  type HsmErrorCode,
  type KeyToken,
  type MaterialForTransfer,
  type MaterialRef,
  type SealedAgreement,
  type TransferBinding,
  type WrappedMaterial,
} from '../../src/hsm/hsm.js'
import { inProcessHsmForTests } from '../../src/hsm/in-process-hsm.js'
import { startWorkerHsm } from '../../src/hsm/worker-hsm.js'
import type { HsmWorkerConfig } from '../../src/hsm/worker-protocol.js'
import { loadMasterKey, loadOrCreateDomainKey } from '../../src/hsm/soft/domain-key.js'
import {
  MAX_RWK_INFO_BYTES,
  deriveRwk,
  ecdhSharedSecret,
  encodeRwkInfo,
  pointOfPublicKey,
  replicationSigningInput,
  rskIdOf,
  sessionIdBytes,
  transferProblem,
  unwrapMaterials,
  wrapAad,
  wrapIv,
  wrapMaterials,
} from '../../src/hsm/soft/replication-crypto.js'
import { openSealedRsk, ReplicationSigningKeys } from '../../src/hsm/soft/replication-keys.js'

// ---------------------------------------------------------------------------------------
// Helpers

interface RwkVector {
  name: string
  binding: TransferBinding
  versions: number[]
  rakaPrivateScalar: string
  rakaPublicKey: string
  rakbPrivateScalar: string
  rakbPublicKey: string
  sharedSecret: string
  salt: string
  info: string
  rwk: string
  materials: { materialVersion: number; materialId: string; material: string; iv: string; aad: string; wrapped: string }[]
}

interface RskVector {
  name: string
  pkcs8: string
  spki: string
  id: string
  body: string
  signingInput: string
  signature: string
}

const vectorFile = new URL('../../../test/vectors/replication/rwk-kdf.json', import.meta.url)
const vectors = JSON.parse(readFileSync(vectorFile, 'utf8')) as { source: string; rwk: RwkVector[]; rsk: RskVector[] }

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** A P-384 private key from a raw scalar, built only with node:crypto. */
function p384PrivateKeyFromScalar(scalarHex: string): KeyObject {
  const ecdh = createECDH('secp384r1')
  const scalar = Buffer.from(scalarHex, 'hex')
  ecdh.setPrivateKey(scalar)
  const point = ecdh.getPublicKey()
  return createPrivateKey({
    key: {
      kty: 'EC',
      crv: 'P-384',
      d: scalar.toString('base64url'),
      x: point.subarray(1, 49).toString('base64url'),
      y: point.subarray(49).toString('base64url'),
    },
    format: 'jwk',
  })
}

async function failsWith(code: HsmErrorCode, work: Promise<unknown>): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof HsmError, `expected an HsmError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

const transferFails = (work: Promise<unknown>): Promise<void> => failsWith('TRANSFER_FAILED', work)
const badRequest = (work: Promise<unknown>): Promise<void> => failsWith('BAD_REQUEST', work)

const newSessionId = (): string => randomBytes(16).toString('hex')
const newKeyId = (): string => `mrk-${randomBytes(16).toString('hex')}`
const newMaterialId = (): string => randomBytes(32).toString('hex')

function bindingFor(keyId: string, sessionId: string = newSessionId()): TransferBinding {
  return { sessionId, partition: 'trent-test', sourceRegion: 'us-east-1', destinationRegion: 'eu-west-1', keyId }
}

/** The source's material versions of a fresh key. */
async function createMaterials(hsm: Hsm, keyId: string, versions: number[]): Promise<MaterialForTransfer[]> {
  const out: MaterialForTransfer[] = []
  for (const materialVersion of versions) {
    out.push({
      keyId,
      materialVersion,
      keySpec: 'SYMMETRIC_DEFAULT',
      token: await hsm.createKeyMaterial(keyId, materialVersion, 'SYMMETRIC_DEFAULT'),
      materialId: newMaterialId(),
    })
  }
  return out
}

interface Transfer {
  binding: TransferBinding
  rakbPublicKey: Uint8Array
  rakaPublicKey: Uint8Array
  wrapped: WrappedMaterial[]
  /** B's sealed RAKB, as the region keeps it in the session record. */
  agreement: SealedAgreement
}

/** AgreementOffer and MaterialTransfer at the HSM level: B opens a session, A wraps for it. */
async function offerAndWrap(
  source: Hsm,
  destination: Hsm,
  materials: MaterialForTransfer[],
  binding: TransferBinding = bindingFor(materials[0]?.keyId ?? newKeyId()),
  expiresAt: number = Date.now() + 15 * 60_000,
): Promise<Transfer> {
  const agreement = await destination.openAgreement(binding.sessionId, expiresAt)
  const rakbPublicKey = agreement.publicKey
  assert.equal(rakbPublicKey.length, 97)
  assert.equal(rakbPublicKey[0], 0x04)
  assert.equal(agreement.expiresAt, expiresAt)
  const { rakaPublicKey, wrapped } = await source.wrapForTransfer(binding, rakbPublicKey, materials)
  return { binding, rakbPublicKey, rakaPublicKey, wrapped, agreement }
}

function refsOf(keyId: string, wrapped: readonly { materialVersion: number }[], tokens: readonly KeyToken[]): MaterialRef[] {
  return tokens.map((token, index) => ({
    keyId,
    materialVersion: wrapped[index]?.materialVersion ?? 0,
    keySpec: 'SYMMETRIC_DEFAULT',
    token,
  }))
}

/** Both HSMs hold the same material: each decrypts what the other encrypts. */
async function assertSameMaterial(a: Hsm, aRef: MaterialRef, b: Hsm, bRef: MaterialRef): Promise<void> {
  assert.equal(aRef.keyId, bRef.keyId)
  assert.equal(aRef.materialVersion, bRef.materialVersion)
  const context = Buffer.from('{"purpose":"replication-test"}')
  const fromA = await a.encrypt(aRef, Buffer.from('made in A'), context)
  assert.equal(Buffer.from(await b.decrypt(bRef, fromA, context)).toString(), 'made in A')
  const fromB = await b.encrypt(bRef, Buffer.from('made in B'), context)
  assert.equal(Buffer.from(await a.decrypt(aRef, fromB, context)).toString(), 'made in B')
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Buffer.from(bytes)
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7))
  return out
}

function flipChar(value: string, index: number, bit: number): string {
  return value.slice(0, index) + String.fromCharCode(value.charCodeAt(index) ^ (1 << bit)) + value.slice(index + 1)
}

const temporaryDirs: string[] = []
function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trent-hsm-replication-'))
  temporaryDirs.push(dir)
  return dir
}
after(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true })
})

/** A region's HSM folder with its master key in a file, as `--master-key-file` gives it. */
function workerConfig(dir: string, region: string): HsmWorkerConfig {
  const masterKeyFile = join(dir, 'master.key')
  try {
    statSync(masterKeyFile)
  } catch {
    writeFileSync(masterKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
  }
  return {
    region,
    masterKeyEnv: 'TRENT_TEST_UNSET_MASTER_KEY_VARIABLE',
    masterKeyFile,
    createMasterKey: false,
    sealedDomainKeyFile: join(dir, 'domain-key.sealed'),
    keyDir: dir,
  }
}

function verifiesUnder(spki: Uint8Array, body: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
  return verify('sha384', replicationSigningInput(body), { key, dsaEncoding: 'ieee-p1363' }, signature)
}

// ---------------------------------------------------------------------------------------
// Known-answer vectors (pyca/cryptography, tools/gen-replication-vectors.py)

test('the vectors come from the independent generator', () => {
  assert.match(vectors.source, /^tools\/gen-replication-vectors\.py with pyca\/cryptography/)
  assert.ok(vectors.rwk.length >= 3)
  assert.ok(vectors.rsk.length >= 2)
})

test('ECDH, RWK derivation and wraps reproduce every byte of the vectors', () => {
  for (const v of vectors.rwk) {
    const raka = p384PrivateKeyFromScalar(v.rakaPrivateScalar)
    const rakb = p384PrivateKeyFromScalar(v.rakbPrivateScalar)
    const rakaPublicKey = pointOfPublicKey(raka)
    const rakbPublicKey = pointOfPublicKey(rakb)
    assert.equal(hex(rakaPublicKey), v.rakaPublicKey, v.name)
    assert.equal(hex(rakbPublicKey), v.rakbPublicKey, v.name)
    // Z is the same from either side.
    assert.equal(hex(ecdhSharedSecret(raka, rakbPublicKey)), v.sharedSecret, v.name)
    assert.equal(hex(ecdhSharedSecret(rakb, rakaPublicKey)), v.sharedSecret, v.name)
    assert.equal(hex(sessionIdBytes(v.binding.sessionId)), v.salt, v.name)
    assert.equal(hex(encodeRwkInfo(v.binding, v.versions, rakaPublicKey, rakbPublicKey)), v.info, v.name)
    const entries = v.materials.map((m) => ({ materialVersion: m.materialVersion, materialId: m.materialId }))
    assert.equal(transferProblem(v.binding, entries), undefined, v.name)
    const rwk = deriveRwk(Buffer.from(v.sharedSecret, 'hex'), v.binding, v.versions, rakaPublicKey, rakbPublicKey)
    assert.equal(hex(rwk), v.rwk, v.name)
    v.materials.forEach((m, index) => {
      assert.equal(hex(wrapIv(index)), m.iv, v.name)
      assert.equal(hex(wrapAad(v.binding, m.materialVersion, m.materialId)), m.aad, v.name)
    })
    const plain = v.materials.map((m) => ({
      materialVersion: m.materialVersion,
      materialId: m.materialId,
      material: Buffer.from(m.material, 'hex'),
    }))
    const wrapped = wrapMaterials(rwk, v.binding, plain)
    assert.deepEqual(
      wrapped.map((w) => [w.materialVersion, w.materialId, hex(w.wrapped)]),
      v.materials.map((m) => [m.materialVersion, m.materialId, m.wrapped]),
      v.name,
    )
    const fromVector = v.materials.map((m) => ({
      materialVersion: m.materialVersion,
      materialId: m.materialId,
      wrapped: Buffer.from(m.wrapped, 'hex'),
    }))
    assert.deepEqual(
      unwrapMaterials(rwk, v.binding, fromVector).map(hex),
      v.materials.map((m) => m.material),
      v.name,
    )
  }
})

test('RSK ids, the signing input and P1363 signatures match the vectors', async () => {
  for (const v of vectors.rsk) {
    const spki = Buffer.from(v.spki, 'hex')
    const body = Buffer.from(v.body, 'hex')
    assert.equal(rskIdOf(spki), v.id, v.name)
    assert.equal(hex(replicationSigningInput(body)), v.signingInput, v.name)
    // A signature made by pyca verifies with node:crypto as §3.2 rule 1 says.
    assert.ok(verifiesUnder(spki, body, Buffer.from(v.signature, 'hex')), v.name)
    // The HSM given that RSK reports the same id and public key, and signs verifiably.
    const hsm = inProcessHsmForTests(undefined, 1, {
      rskPrivateKey: createPrivateKey({ key: Buffer.from(v.pkcs8, 'hex'), format: 'der', type: 'pkcs8' }),
    })
    const [rsk, ...more] = await hsm.replicationSigningKeys()
    assert.equal(more.length, 0)
    assert.equal(rsk?.id, v.id, v.name)
    assert.equal(hex(rsk?.publicKey ?? new Uint8Array()), v.spki, v.name)
    const signed = await hsm.signReplication(body)
    assert.equal(signed.keyId, v.id)
    assert.equal(signed.signature.length, 96)
    assert.ok(verifiesUnder(spki, body, signed.signature), v.name)
  }
})

test('an Info that node:crypto HKDF cannot take is refused, never derived differently', () => {
  const binding = bindingFor(newKeyId())
  const fits = Array.from({ length: 100 }, (_, i) => ({ materialVersion: i + 1, materialId: newMaterialId() }))
  assert.equal(transferProblem(binding, fits), undefined)
  const tooMany = Array.from({ length: MAX_RWK_INFO_BYTES / 4 }, (_, i) => ({ materialVersion: i + 1, materialId: newMaterialId() }))
  assert.match(transferProblem(binding, tooMany) ?? '', /exceed 1024 bytes/)
})

test('every bit of every input of the RWK and the wraps matters (exhaustive, on the pure functions)', () => {
  const v = vectors.rwk[1]
  assert.ok(v !== undefined && v.versions.length >= 3)
  const rakb = p384PrivateKeyFromScalar(v.rakbPrivateScalar)
  const rakaPublicKey = Buffer.from(v.rakaPublicKey, 'hex')
  const rakbPublicKey = Buffer.from(v.rakbPublicKey, 'hex')
  const sharedSecret = Buffer.from(v.sharedSecret, 'hex')
  const rwk = Buffer.from(v.rwk, 'hex')
  const wrapped: WrappedMaterial[] = v.materials.map((m) => ({
    materialVersion: m.materialVersion,
    materialId: m.materialId,
    wrapped: Buffer.from(m.wrapped, 'hex'),
  }))
  const isTransferFailed = (err: unknown): boolean => err instanceof HsmError && err.code === 'TRANSFER_FAILED'
  const unwrapFails = (key: Uint8Array, binding: TransferBinding, entries: WrappedMaterial[]): void => {
    assert.throws(() => unwrapMaterials(key, binding, entries), isTransferFailed)
  }
  /** An RWK derived from altered inputs: must differ, and must open none of the wraps. */
  const otherRwkFails = (binding: TransferBinding, versions: number[], raka: Uint8Array, rakbPoint: Uint8Array): void => {
    const other = deriveRwk(sharedSecret, binding, versions, raka, rakbPoint)
    assert.notEqual(hex(other), v.rwk)
    unwrapFails(other, v.binding, wrapped)
  }
  unwrapMaterials(rwk, v.binding, wrapped) // the baseline opens

  // RAKA as the destination receives it: either not a P-384 point, or another Z and RWK.
  for (let bit = 0; bit < 97 * 8; bit += 1) {
    const flipped = flipBit(rakaPublicKey, bit)
    let z: Buffer
    try {
      z = ecdhSharedSecret(rakb, flipped)
    } catch (err) {
      assert.ok(isTransferFailed(err))
      continue
    }
    unwrapFails(deriveRwk(z, v.binding, v.versions, flipped, rakbPublicKey), v.binding, wrapped)
  }
  // The public keys as bound into Info (a substituted RAKA or RAKB with the right Z).
  for (let bit = 0; bit < 97 * 8; bit += 1) {
    otherRwkFails(v.binding, v.versions, flipBit(rakaPublicKey, bit), rakbPublicKey)
    otherRwkFails(v.binding, v.versions, rakaPublicKey, flipBit(rakbPublicKey, bit))
  }
  // Every bit of every binding string, through Info, and of keyId also through the AAD.
  for (const field of ['partition', 'sourceRegion', 'destinationRegion', 'keyId'] as const) {
    const bytes = Buffer.from(v.binding[field], 'utf8')
    for (let bit = 0; bit < bytes.length * 8; bit += 1) {
      const value = Buffer.from(flipBit(bytes, bit)).toString('utf8')
      if (value === v.binding[field]) continue // an invalid UTF-8 sequence decoding like the original
      const binding = { ...v.binding, [field]: value }
      otherRwkFails(binding, v.versions, rakaPublicKey, rakbPublicKey)
      if (field === 'keyId') unwrapFails(rwk, binding, wrapped)
    }
  }
  // The session id: the HKDF salt and part of every AAD.
  const sessionBytes = Buffer.from(v.binding.sessionId, 'hex')
  for (let bit = 0; bit < 128; bit += 1) {
    const binding = { ...v.binding, sessionId: hex(flipBit(sessionBytes, bit)) }
    otherRwkFails(binding, v.versions, rakaPublicKey, rakbPublicKey)
    unwrapFails(rwk, binding, wrapped)
  }
  // Every bit of every version (in Info and in its AAD), material id (AAD) and wrapped blob.
  for (const [entry, original] of wrapped.entries()) {
    const replace = (changed: WrappedMaterial): WrappedMaterial[] => wrapped.map((w, index) => (index === entry ? changed : w))
    for (let bit = 0; bit < 32; bit += 1) {
      const materialVersion = (original.materialVersion ^ (1 << bit)) >>> 0
      otherRwkFails(
        v.binding,
        v.versions.map((version, index) => (index === entry ? materialVersion : version)),
        rakaPublicKey,
        rakbPublicKey,
      )
      unwrapFails(rwk, v.binding, replace({ ...original, materialVersion }))
    }
    const materialId = Buffer.from(original.materialId, 'hex')
    for (let bit = 0; bit < 256; bit += 1) {
      unwrapFails(rwk, v.binding, replace({ ...original, materialId: hex(flipBit(materialId, bit)) }))
    }
    for (let bit = 0; bit < original.wrapped.length * 8; bit += 1) {
      unwrapFails(rwk, v.binding, replace({ ...original, wrapped: flipBit(original.wrapped, bit) }))
    }
  }
  // The version list's length and order.
  otherRwkFails(v.binding, v.versions.slice(1), rakaPublicKey, rakbPublicKey)
  otherRwkFails(v.binding, [...v.versions, 4242], rakaPublicKey, rakbPublicKey)
  otherRwkFails(v.binding, [...v.versions].reverse(), rakaPublicKey, rakbPublicKey)
})

// ---------------------------------------------------------------------------------------
// A complete transfer between two HSMs

test('a transfer between two HSMs with different domain keys gives both the same material', async () => {
  const a = inProcessHsmForTests()
  const bDomainKey = createSecretKey(randomBytes(32))
  const b = inProcessHsmForTests(bDomainKey)
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1, 2, 3])
  const t = await offerAndWrap(a, b, materials)
  assert.equal(t.rakaPublicKey.length, 97)
  assert.deepEqual(
    t.wrapped.map((w) => [w.materialVersion, w.materialId, w.wrapped.length]),
    materials.map((m) => [m.materialVersion, m.materialId, 48]),
  )
  const tokens = await b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement)
  assert.equal(tokens.length, 3)
  const bRefs = refsOf(keyId, t.wrapped, tokens)
  for (const [index, aRef] of materials.entries()) {
    const bRef = bRefs[index]
    assert.ok(bRef !== undefined)
    // B sealed under its own domain key: the tokens differ and A cannot open B's.
    assert.notDeepEqual(Buffer.from(bRef.token), Buffer.from(aRef.token))
    await failsWith('TOKEN_REJECTED', a.encrypt(bRef, Buffer.from('x'), Buffer.alloc(0)))
    await assertSameMaterial(a, aRef, b, bRef)
  }
  // Versions are not interchangeable: A's version 1 does not decrypt B's version 2.
  const blob = await b.encrypt(bRefs[1] as MaterialRef, Buffer.from('v2'), Buffer.alloc(0))
  await failsWith('DECRYPT_FAILED', a.decrypt(materials[0] as MaterialRef, blob, Buffer.alloc(0)))
  // Another HSM of B's region (same domain key, as a second node) completes the session too:
  // the agreement is sealed, not held in one HSM's memory. Single use is the region's
  // session record (test/multi-region/adversarial-replay.test.ts).
  const bTwin = inProcessHsmForTests(bDomainKey)
  assert.equal((await bTwin.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement)).length, 3)
  // An HSM of another region (another domain key) cannot open B's agreement.
  await transferFails(a.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement))
})

test('the transfer also runs primary ← replica and with versions already held', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1, 2])
  const first = await offerAndWrap(a, b, materials)
  const held = refsOf(
    keyId,
    first.wrapped,
    await b.unwrapTransfer(first.binding, first.rakaPublicKey, first.wrapped, [], 'SYMMETRIC_DEFAULT', first.agreement),
  )
  // A rotation at the primary: B fetches versions 1..3 while holding 1..2.
  materials.push(...(await createMaterials(a, keyId, [3])))
  const second = await offerAndWrap(a, b, materials)
  const tokens = await b.unwrapTransfer(second.binding, second.rakaPublicKey, second.wrapped, held, 'SYMMETRIC_DEFAULT', second.agreement)
  const bRefs = refsOf(keyId, second.wrapped, tokens)
  await assertSameMaterial(a, materials[2] as MaterialRef, b, bRefs[2] as MaterialRef)
  await assertSameMaterial(a, materials[0] as MaterialRef, b, bRefs[0] as MaterialRef)
  // The other direction: B (say, the new primary) sends version 3 back to a fresh HSM C.
  const c = inProcessHsmForTests()
  const fromB = [{ ...(bRefs[2] as MaterialRef), materialId: (materials[2] as MaterialForTransfer).materialId }]
  const reverse = await offerAndWrap(b, c, fromB, { ...bindingFor(keyId), sourceRegion: 'eu-west-1', destinationRegion: 'ap-south-1' })
  const [cToken] = await c.unwrapTransfer(
    reverse.binding,
    reverse.rakaPublicKey,
    reverse.wrapped,
    [],
    'SYMMETRIC_DEFAULT',
    reverse.agreement,
  )
  assert.ok(cToken !== undefined)
  await assertSameMaterial(a, materials[2] as MaterialRef, c, { keyId, materialVersion: 3, keySpec: 'SYMMETRIC_DEFAULT', token: cToken })
})

// ---------------------------------------------------------------------------------------
// Every failure is TRANSFER_FAILED and leaves nothing usable

type UnwrapArgs = [TransferBinding, Uint8Array, WrappedMaterial[], MaterialRef[]]

/**
 * Runs a fresh, genuine transfer and unwraps a tampered copy of it, which must fail. (The
 * region closes a session after one attempt, whatever its outcome; the HSM itself keeps
 * no state about agreements.)
 */
async function tamperedTransferFails(a: Hsm, b: Hsm, materials: MaterialForTransfer[], tamper: (t: Transfer) => UnwrapArgs): Promise<void> {
  const t = await offerAndWrap(a, b, materials)
  await transferFails(b.unwrapTransfer(...tamper(t), 'SYMMETRIC_DEFAULT', t.agreement))
}

test('an agreement opens only for its own session, unaltered, until it expires', async () => {
  let now = 1_700_000_000_000
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests(undefined, 1, { now: () => now })
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1])

  // Another session id: the agreement is bound to its own.
  const t = await offerAndWrap(a, b, materials, bindingFor(keyId), now + 60_000)
  for (let bit = 0; bit < 128; bit += 1) {
    const sessionId = flipChar(t.binding.sessionId, bit >> 2, bit & 3)
    await transferFails(b.unwrapTransfer({ ...t.binding, sessionId }, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement))
  }
  // Another session's agreement, in either direction.
  const other = await offerAndWrap(a, b, materials, bindingFor(keyId), now + 60_000)
  await transferFails(b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', other.agreement))
  await transferFails(b.unwrapTransfer(other.binding, other.rakaPublicKey, other.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement))
  // Any change to the sealed agreement, its public key or its expiry (storage is untrusted).
  for (let bit = 0; bit < t.agreement.sealed.length * 8; bit += 7) {
    await transferFails(
      b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', {
        ...t.agreement,
        sealed: flipBit(t.agreement.sealed, bit),
      }),
    )
  }
  for (let byte = 1; byte < 97; byte += 5) {
    await transferFails(
      b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', {
        ...t.agreement,
        publicKey: flipBit(t.agreement.publicKey, byte * 8),
      }),
    )
  }
  await transferFails(
    b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', {
      ...t.agreement,
      expiresAt: t.agreement.expiresAt + 1,
    }),
  )
  // Nothing above consumed anything: the genuine agreement works.
  assert.equal((await b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement)).length, 1)

  // Expired: still usable at expiresAt, refused one millisecond later.
  const onTime = await offerAndWrap(a, b, materials, bindingFor(keyId), now + 1_000)
  const late = await offerAndWrap(a, b, materials, bindingFor(keyId), now + 1_000)
  now += 1_000
  assert.equal(
    (await b.unwrapTransfer(onTime.binding, onTime.rakaPublicKey, onTime.wrapped, [], 'SYMMETRIC_DEFAULT', onTime.agreement)).length,
    1,
  )
  now += 1
  await transferFails(b.unwrapTransfer(late.binding, late.rakaPublicKey, late.wrapped, [], 'SYMMETRIC_DEFAULT', late.agreement))
})

// End to end, every byte gets one flipped bit (which bit varies with the position); the
// exhaustive every-bit sweep runs on the pure functions below, where it is cheap.

test('a flipped bit in any byte of rakaPublicKey fails', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const materials = await createMaterials(a, newKeyId(), [1])
  for (let byte = 0; byte < 97; byte += 1) {
    await tamperedTransferFails(a, b, materials, (t) => [t.binding, flipBit(t.rakaPublicKey, byte * 8 + (byte % 8)), t.wrapped, []])
  }
})

test('RAKA public keys that are not uncompressed P-384 points fail on both sides', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1])
  const other = createECDH('secp384r1')
  other.generateKeys()
  const badPoints: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.of(0x00), // the point at infinity
    other.getPublicKey(null, 'compressed'),
    Buffer.concat([Uint8Array.of(0x06), other.getPublicKey().subarray(1)]), // "hybrid" form
    Buffer.concat([other.getPublicKey(), Uint8Array.of(0)]),
    Buffer.concat([Uint8Array.of(0x04), Buffer.alloc(96)]),
    Buffer.concat([Uint8Array.of(0x04), Buffer.alloc(96, 0xff)]), // coordinates ≥ p
    createECDH('prime256v1').generateKeys(), // a P-256 point
  ]
  for (const point of badPoints) {
    await tamperedTransferFails(a, b, materials, (t) => [t.binding, point, t.wrapped, []])
    // The source refuses a bad RAKB the same way, before anything is wrapped.
    await transferFails(a.wrapForTransfer(bindingFor(keyId), point, materials))
  }
})

test('a flipped bit in any byte of any wrapped material fails', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const materials = await createMaterials(a, newKeyId(), [1, 2])
  for (let entry = 0; entry < 2; entry += 1) {
    for (let byte = 0; byte < 48; byte += 1) {
      await tamperedTransferFails(a, b, materials, (t) => {
        const bit = byte * 8 + ((byte + entry) % 8)
        const wrapped = t.wrapped.map((w, index) => (index === entry ? { ...w, wrapped: flipBit(w.wrapped, bit) } : w))
        return [t.binding, t.rakaPublicKey, wrapped, []]
      })
    }
  }
  // Truncated or extended blobs too.
  await tamperedTransferFails(a, b, materials, (t) => [
    t.binding,
    t.rakaPublicKey,
    t.wrapped.map((w) => ({ ...w, wrapped: w.wrapped.subarray(0, 47) })),
    [],
  ])
  await tamperedTransferFails(a, b, materials, (t) => [
    t.binding,
    t.rakaPublicKey,
    t.wrapped.map((w) => ({ ...w, wrapped: Buffer.concat([w.wrapped, Uint8Array.of(0)]) })),
    [],
  ])
  await tamperedTransferFails(a, b, materials, (t) => [
    t.binding,
    t.rakaPublicKey,
    t.wrapped.map((w) => ({ ...w, wrapped: new Uint8Array(0) })),
    [],
  ])
})

test('a flipped bit in any character of a binding field fails', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const materials = await createMaterials(a, newKeyId(), [1])
  const fields = ['partition', 'sourceRegion', 'destinationRegion', 'keyId'] as const
  for (const field of fields) {
    const length = bindingFor(newKeyId())[field].length
    for (let index = 0; index < length; index += 1) {
      await tamperedTransferFails(a, b, materials, (t) => [
        { ...t.binding, [field]: flipChar(t.binding[field], index, index % 7) },
        t.rakaPublicKey,
        t.wrapped,
        [],
      ])
    }
    // Shorter, longer, and empty fields too.
    await tamperedTransferFails(a, b, materials, (t) => [
      { ...t.binding, [field]: t.binding[field].slice(1) },
      t.rakaPublicKey,
      t.wrapped,
      [],
    ])
    await tamperedTransferFails(a, b, materials, (t) => [{ ...t.binding, [field]: `${t.binding[field]}x` }, t.rakaPublicKey, t.wrapped, []])
    await tamperedTransferFails(a, b, materials, (t) => [{ ...t.binding, [field]: '' }, t.rakaPublicKey, t.wrapped, []])
  }
  // Fields that trade bytes across their boundary (what lp() is for).
  await tamperedTransferFails(a, b, materials, (t) => [
    { ...t.binding, partition: `${t.binding.partition}u`, sourceRegion: t.binding.sourceRegion.slice(1) },
    t.rakaPublicKey,
    t.wrapped,
    [],
  ])
  // Source and destination swapped.
  await tamperedTransferFails(a, b, materials, (t) => [
    { ...t.binding, sourceRegion: t.binding.destinationRegion, destinationRegion: t.binding.sourceRegion },
    t.rakaPublicKey,
    t.wrapped,
    [],
  ])
})

test('a flipped bit in a version number or in any character of a material id fails', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const materials = await createMaterials(a, newKeyId(), [1, 2])
  for (let entry = 0; entry < 2; entry += 1) {
    for (const bit of [0, 1, 2, 7, 8, 15, 16, 31]) {
      await tamperedTransferFails(a, b, materials, (t) => {
        const wrapped = t.wrapped.map((w, index) =>
          index === entry ? { ...w, materialVersion: (w.materialVersion ^ (1 << bit)) >>> 0 } : w,
        )
        return [t.binding, t.rakaPublicKey, wrapped, []]
      })
    }
    for (let index = 0; index < 64; index += 1) {
      // Bits 0..3 keep a hex digit a hex digit (or nearly); the rest make it malformed.
      const bit = (index + entry) % 7
      await tamperedTransferFails(a, b, materials, (t) => {
        const wrapped = t.wrapped.map((w, i) => (i === entry ? { ...w, materialId: flipChar(w.materialId, index, bit) } : w))
        return [t.binding, t.rakaPublicKey, wrapped, []]
      })
    }
  }
  // Material ids swapped between versions.
  await tamperedTransferFails(a, b, materials, (t) => {
    const [first, second] = t.wrapped as [WrappedMaterial, WrappedMaterial]
    return [
      t.binding,
      t.rakaPublicKey,
      [
        { ...first, materialId: second.materialId },
        { ...second, materialId: first.materialId },
      ],
      [],
    ]
  })
})

test('wrapped entries reordered, dropped, duplicated or renumbered fail', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const materials = await createMaterials(a, newKeyId(), [1, 2, 3])
  const tampers: ((w: WrappedMaterial[]) => WrappedMaterial[])[] = [
    (w) => [...w].reverse(),
    (w) => [w[1], w[0], w[2]] as WrappedMaterial[],
    (w) => w.slice(1),
    (w) => w.slice(0, 2),
    (w) => [w[0], w[2]] as WrappedMaterial[],
    () => [],
    (w) => [w[0], w[0], w[1], w[2]] as WrappedMaterial[],
    (w) => [...w, w[2] as WrappedMaterial],
    // The blobs in their places but with each other's version and id.
    (w) => w.map((entry, index) => ({ ...entry, wrapped: (w[(index + 1) % 3] as WrappedMaterial).wrapped })),
    // Renumbered consistently (still ascending).
    (w) => w.map((entry) => ({ ...entry, materialVersion: entry.materialVersion + 1 })),
  ]
  for (const tamper of tampers) {
    await tamperedTransferFails(a, b, materials, (t) => [t.binding, t.rakaPublicKey, tamper(t.wrapped), []])
  }
})

test('a RAKA or wrapped material from another session fails', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1, 2])
  const other = await offerAndWrap(a, b, materials)
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, other.rakaPublicKey, t.wrapped, []])
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, other.rakaPublicKey, other.wrapped, []])
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, t.rakaPublicKey, other.wrapped, []])
  // RAKB echoed back as RAKA (a reflection).
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, t.rakbPublicKey, t.wrapped, []])
  // A wrap made for another destination HSM's session.
  const c = inProcessHsmForTests()
  const forC = await offerAndWrap(a, c, materials)
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, forC.rakaPublicKey, forC.wrapped, []])
  // The other session still works: nothing above touched it.
  assert.equal(
    (await b.unwrapTransfer(other.binding, other.rakaPublicKey, other.wrapped, [], 'SYMMETRIC_DEFAULT', other.agreement)).length,
    2,
  )
})

test('material that differs from a version already held fails the whole transfer', async () => {
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests()
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1, 2])
  const impostor: MaterialRef = {
    keyId,
    materialVersion: 1,
    keySpec: 'SYMMETRIC_DEFAULT',
    token: await b.createKeyMaterial(keyId, 1, 'SYMMETRIC_DEFAULT'),
  }
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, t.rakaPublicKey, t.wrapped, [impostor]])
  // Same with the right version 2 but a wrong version 1.
  const genuine = await offerAndWrap(a, b, materials)
  const tokens = await b.unwrapTransfer(genuine.binding, genuine.rakaPublicKey, genuine.wrapped, [], 'SYMMETRIC_DEFAULT', genuine.agreement)
  const held = refsOf(keyId, genuine.wrapped, tokens)
  await tamperedTransferFails(a, b, materials, (t) => [t.binding, t.rakaPublicKey, t.wrapped, [impostor, held[1] as MaterialRef]])
  // And with the genuine held versions it succeeds.
  const again = await offerAndWrap(a, b, materials)
  assert.equal(
    (await b.unwrapTransfer(again.binding, again.rakaPublicKey, again.wrapped, held, 'SYMMETRIC_DEFAULT', again.agreement)).length,
    2,
  )
})

test('malformed requests are BAD_REQUEST', async () => {
  const now = 1_700_000_000_000
  const a = inProcessHsmForTests()
  const b = inProcessHsmForTests(undefined, 1, { now: () => now })
  const keyId = newKeyId()
  const materials = await createMaterials(a, keyId, [1, 2])

  await badRequest(b.openAgreement('ABCDEF0123456789ABCDEF0123456789', now + 1000)) // upper case
  await badRequest(b.openAgreement(newSessionId().slice(1), now + 1000))
  await badRequest(b.openAgreement(newSessionId(), now - 1))
  await badRequest(b.openAgreement(newSessionId(), 1.5))

  const rakb = (await b.openAgreement(newSessionId(), now + 5000)).publicKey
  const binding = bindingFor(keyId)
  const reversed = [...materials].reverse()
  await badRequest(a.wrapForTransfer(binding, rakb, reversed))
  await badRequest(a.wrapForTransfer(binding, rakb, []))
  await badRequest(a.wrapForTransfer(binding, rakb, [materials[0] as MaterialForTransfer, materials[0] as MaterialForTransfer]))
  await badRequest(
    a.wrapForTransfer(
      binding,
      rakb,
      materials.map((m) => ({ ...m, materialId: m.materialId.toUpperCase() })),
    ),
  )
  await badRequest(a.wrapForTransfer({ ...binding, keyId: newKeyId() }, rakb, materials))
  await badRequest(a.wrapForTransfer({ ...binding, sessionId: 'x' }, rakb, materials))
  await badRequest(a.wrapForTransfer({ ...binding, partition: '' }, rakb, materials))
  await badRequest(a.wrapForTransfer({ ...binding, partition: 'p'.repeat(1000) }, rakb, materials))
  await badRequest(a.wrapForTransfer(binding, 'not bytes' as unknown as Uint8Array, materials))
  // A token that does not open is the storage's problem, as everywhere else.
  const swapped = [{ ...(materials[0] as MaterialForTransfer), token: (materials[1] as MaterialForTransfer).token }]
  await failsWith('TOKEN_REJECTED', a.wrapForTransfer(binding, rakb, swapped))
  await badRequest(a.signReplication('body' as unknown as Uint8Array))
  await badRequest(a.signReplication(new Uint8Array(1024 * 1024 + 1)))

  // Malformed unwraps, and alreadyHeld naming another key: caller mistakes.
  const t = await offerAndWrap(a, b, materials, bindingFor(keyId), now + 1000)
  await badRequest(b.unwrapTransfer(t.binding, t.rakaPublicKey, 'x' as unknown as WrappedMaterial[], [], 'SYMMETRIC_DEFAULT', t.agreement))
  await badRequest(b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', 'x' as unknown as SealedAgreement))
  const otherKey = newKeyId()
  const foreign: MaterialRef = {
    keyId: otherKey,
    materialVersion: 1,
    keySpec: 'SYMMETRIC_DEFAULT',
    token: await b.createKeyMaterial(otherKey, 1, 'SYMMETRIC_DEFAULT'),
  }
  await badRequest(b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [foreign], 'SYMMETRIC_DEFAULT', t.agreement))
})

// ---------------------------------------------------------------------------------------
// Replication Signing Keys

test('signReplication verifies under the newest RSK; rotation moves signing to a new key', async () => {
  let now = 1_700_000_000_000
  const hsm = inProcessHsmForTests(undefined, 1, { now: () => now })
  const [first, ...others] = await hsm.replicationSigningKeys()
  assert.ok(first !== undefined)
  assert.equal(others.length, 0)
  assert.match(first.id, /^[0-9a-f]{32}$/)
  assert.equal(first.id, rskIdOf(first.publicKey))
  const body = Buffer.from('{"protocol":"trent-replication/1","type":"SharedState"}')
  const signed = await hsm.signReplication(body)
  assert.equal(signed.keyId, first.id)
  assert.equal(signed.signature.length, 96)
  assert.ok(verifiesUnder(first.publicKey, body, signed.signature))
  assert.ok(!verifiesUnder(first.publicKey, flipBit(body, 3), signed.signature))
  // The label is part of what is signed: the bare body does not verify.
  assert.ok(
    !verify(
      'sha384',
      body,
      { key: createPublicKey({ key: Buffer.from(first.publicKey), format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' },
      signed.signature,
    ),
  )

  const rotated = await hsm.rotateReplicationSigningKey() // same millisecond: still strictly newer
  assert.notEqual(rotated.id, first.id)
  assert.ok(rotated.createdAt > first.createdAt)
  now += 1000
  const third = await hsm.rotateReplicationSigningKey()
  assert.deepEqual(
    (await hsm.replicationSigningKeys()).map((k) => k.id),
    [first.id, rotated.id, third.id],
  )
  const after = await hsm.signReplication(body)
  assert.equal(after.keyId, third.id)
  assert.ok(verifiesUnder(third.publicKey, body, after.signature))
  assert.ok(!verifiesUnder(first.publicKey, body, after.signature))
})

// ---------------------------------------------------------------------------------------
// Through real HSM worker threads

test('RSKs survive a restart of the worker, sealed under the domain key with no private key bytes in clear', async () => {
  const dir = temporaryDir()
  const config = workerConfig(dir, 'us-east-1')
  const first = await startWorkerHsm(config)
  let keys: { id: string; publicKey: string; createdAt: number }[]
  try {
    await first.rotateReplicationSigningKey()
    keys = (await first.replicationSigningKeys()).map((k) => ({ id: k.id, publicKey: hex(k.publicKey), createdAt: k.createdAt }))
    assert.equal(keys.length, 2)
  } finally {
    await first.close()
  }
  const second = await startWorkerHsm(config)
  try {
    assert.deepEqual(
      (await second.replicationSigningKeys()).map((k) => ({ id: k.id, publicKey: hex(k.publicKey), createdAt: k.createdAt })),
      keys,
    )
    const body = Buffer.from('after restart')
    const signed = await second.signReplication(body)
    const newest = keys[1]
    assert.ok(newest !== undefined)
    assert.equal(signed.keyId, newest.id)
    assert.ok(verifiesUnder(Buffer.from(newest.publicKey, 'hex'), body, signed.signature))
  } finally {
    await second.close()
  }

  // What is on disk: one 0600 file per RSK, openable only with the domain key, containing
  // neither the PKCS#8 DER nor the raw private scalar.
  const files = readdirSync(dir)
    .filter((name) => name.startsWith('rsk-'))
    .sort()
  assert.deepEqual(files, keys.map((k) => `rsk-${k.id}.sealed`).sort())
  const domainKey = loadOrCreateDomainKey(loadMasterKey({ file: config.masterKeyFile }), config.sealedDomainKeyFile, 'us-east-1')
  for (const name of files) {
    const path = join(dir, name)
    assert.equal(statSync(path).mode & 0o777, 0o600)
    const sealed = readFileSync(path)
    const id = name.slice(4, 36)
    const { privateKey } = openSealedRsk(domainKey, 'us-east-1', id, sealed)
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
    const scalar = Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url')
    assert.equal(scalar.length, 48)
    assert.equal(sealed.indexOf(pkcs8), -1)
    assert.equal(sealed.indexOf(scalar), -1)
    // Nor any 16-byte window of them.
    for (let offset = 0; offset + 16 <= scalar.length; offset += 8) assert.equal(sealed.indexOf(scalar.subarray(offset, offset + 16)), -1)
    // Sealed for this region and this name only.
    assert.throws(() => openSealedRsk(domainKey, 'eu-west-1', id, sealed), /cannot unseal/)
    const otherId = (files.find((other) => other !== name) ?? '').slice(4, 36)
    assert.throws(() => openSealedRsk(domainKey, 'us-east-1', otherId, sealed), /cannot unseal/)
  }
})

test('a damaged, renamed or foreign RSK file stops the HSM from starting', async () => {
  const dir = temporaryDir()
  const config = workerConfig(dir, 'us-east-1')
  await (await startWorkerHsm(config)).close()
  const [name] = readdirSync(dir).filter((file) => file.startsWith('rsk-'))
  assert.ok(name !== undefined)

  const damaged = temporaryDir()
  cpSync(dir, damaged, { recursive: true })
  const sealed = readFileSync(join(damaged, name))
  writeFileSync(join(damaged, name), flipBit(sealed, 8 * 40))
  await assert.rejects(
    startWorkerHsm({ ...config, sealedDomainKeyFile: join(damaged, 'domain-key.sealed'), keyDir: damaged }),
    /cannot unseal/,
  )

  const renamed = temporaryDir()
  cpSync(dir, renamed, { recursive: true })
  renameSync(join(renamed, name), join(renamed, `rsk-${'0'.repeat(32)}.sealed`))
  await assert.rejects(
    startWorkerHsm({ ...config, sealedDomainKeyFile: join(renamed, 'domain-key.sealed'), keyDir: renamed }),
    /cannot unseal/,
  )

  // Another region's RSK file dropped into this folder.
  const foreignDir = temporaryDir()
  await (await startWorkerHsm(workerConfig(foreignDir, 'eu-west-1'))).close()
  const [foreignName] = readdirSync(foreignDir).filter((file) => file.startsWith('rsk-'))
  assert.ok(foreignName !== undefined)
  const withForeign = temporaryDir()
  cpSync(dir, withForeign, { recursive: true })
  cpSync(join(foreignDir, foreignName), join(withForeign, foreignName))
  await assert.rejects(
    startWorkerHsm({ ...config, sealedDomainKeyFile: join(withForeign, 'domain-key.sealed'), keyDir: withForeign }),
    /cannot unseal/,
  )
})

test('the whole transfer through two WorkerHsm threads', async () => {
  const a = await startWorkerHsm(workerConfig(temporaryDir(), 'us-east-1'))
  const b = await startWorkerHsm(workerConfig(temporaryDir(), 'eu-west-1'))
  try {
    const [aKey] = await a.replicationSigningKeys()
    const [bKey] = await b.replicationSigningKeys()
    assert.ok(aKey !== undefined && bKey !== undefined)
    assert.notEqual(aKey.id, bKey.id)

    const keyId = newKeyId()
    const materials = await createMaterials(a, keyId, [1, 2])
    const t = await offerAndWrap(a, b, materials)
    const tokens = await b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', t.agreement)
    const bRefs = refsOf(keyId, t.wrapped, tokens)
    for (const [index, aRef] of materials.entries()) await assertSameMaterial(a, aRef, b, bRefs[index] as MaterialRef)

    // Error codes cross the thread boundary intact.
    const tampered = await offerAndWrap(a, b, materials)
    await transferFails(
      b.unwrapTransfer(
        tampered.binding,
        flipBit(tampered.rakaPublicKey, 200),
        tampered.wrapped,
        [],
        'SYMMETRIC_DEFAULT',
        tampered.agreement,
      ),
    )
    await transferFails(b.unwrapTransfer(t.binding, t.rakaPublicKey, t.wrapped, [], 'SYMMETRIC_DEFAULT', tampered.agreement))
    await badRequest(b.openAgreement('nope', Date.now() + 1000))

    // Signatures made in the worker verify in the main thread.
    const body = Buffer.from('{"type":"TransferComplete"}')
    const signed = await b.signReplication(body)
    assert.equal(signed.keyId, bKey.id)
    assert.ok(verifiesUnder(bKey.publicKey, body, signed.signature))
  } finally {
    await a.close()
    await b.close()
  }
})

// ---------------------------------------------------------------------------------------
// Nodes sharing a region's key dir (issue 11)

test('nodes starting at once on one key dir make one first RSK, and each signs with a key another rotated', () => {
  const keyDir = temporaryDir()
  const domainKey = { id: 1, key: createSecretKey(randomBytes(32)) }
  const first = ReplicationSigningKeys.loadOrCreate({ keyDir, domainKey, region: 'us-east-1' })
  const second = ReplicationSigningKeys.loadOrCreate({ keyDir, domainKey, region: 'us-east-1' })
  assert.deepEqual(
    second.list().map((k) => k.id),
    first.list().map((k) => k.id),
  )
  assert.equal(first.list().length, 1)
  // A marker left by a node that made the first key: a later start loads, never makes another.
  assert.equal(ReplicationSigningKeys.loadOrCreate({ keyDir, domainKey, region: 'us-east-1' }).list().length, 1)

  const rotated = first.rotate()
  assert.equal(second.sign(Buffer.from('body')).keyId, rotated.id, 'the other node signs with the rotated key')
  assert.deepEqual(
    second.list().map((k) => k.id),
    first.list().map((k) => k.id),
  )
})
