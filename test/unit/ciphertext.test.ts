/**
 * The ciphertext format and the HSM's use of it (docs/spec/ciphertext-blob.md): round
 * trips, and every way a blob can be wrong failing as the one decrypt failure.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { HsmError, type MaterialRef } from '../../src/hsm/hsm.js'
import { inProcessHsmForTests } from '../../src/hsm/in-process-hsm.js'
import { BLOB_OVERHEAD, HEADER_LENGTH, parseCiphertextHeaderUnauthenticated } from '../../src/wire/ciphertext-blob.js'
import { encodeEncryptionContext } from '../../src/wire/encryption-context.js'

const hsm = inProcessHsmForTests()

async function newKey(keyId: string = randomUUID(), version = 1): Promise<MaterialRef> {
  return {
    keyId,
    materialVersion: version,
    keySpec: 'SYMMETRIC_DEFAULT',
    token: await hsm.createKeyMaterial(keyId, version, 'SYMMETRIC_DEFAULT'),
  }
}

async function decryptFails(work: Promise<unknown>): Promise<void> {
  await assert.rejects(work, (err: unknown) => err instanceof HsmError && err.code === 'DECRYPT_FAILED')
}

const contextArb = fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 }), { maxKeys: 6 })

test('encrypt/decrypt round-trips random plaintexts and contexts', async () => {
  const key = await newKey()
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), contextArb, async (plaintext, context) => {
      const encoded = encodeEncryptionContext(context)
      const blob = await hsm.encrypt(key, plaintext, encoded)
      assert.equal(blob.length, plaintext.length + BLOB_OVERHEAD)
      const header = parseCiphertextHeaderUnauthenticated(blob)
      assert.equal(header?.keyId, key.keyId)
      assert.equal(header?.materialVersion, 1)
      assert.deepEqual(Buffer.from(await hsm.decrypt(key, blob, encoded)), Buffer.from(plaintext))
    }),
    { numRuns: 200 },
  )
})

test('any flipped bit makes decryption fail', async () => {
  const key = await newKey()
  const context = encodeEncryptionContext({ purpose: 'test' })
  const blob = await hsm.encrypt(key, Buffer.from('attack at dawn'), context)
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: blob.length * 8 - 1 }), async (bit) => {
      const tampered = Buffer.from(blob)
      tampered[bit >> 3] = (tampered[bit >> 3] ?? 0) ^ (1 << (bit & 7))
      await decryptFails(hsm.decrypt(key, tampered, context))
    }),
    { numRuns: 300 },
  )
})

test('a different or missing encryption context fails', async () => {
  const key = await newKey()
  const blob = await hsm.encrypt(key, Buffer.from('x'), encodeEncryptionContext({ a: 'b' }))
  await decryptFails(hsm.decrypt(key, blob, encodeEncryptionContext({})))
  await decryptFails(hsm.decrypt(key, blob, encodeEncryptionContext({ a: 'B' })))
  await decryptFails(hsm.decrypt(key, blob, encodeEncryptionContext({ a: 'b', c: 'd' })))
})

test('truncated blobs fail', async () => {
  const key = await newKey()
  const context = encodeEncryptionContext(undefined)
  const blob = await hsm.encrypt(key, Buffer.from('hello world'), context)
  for (const length of [0, 1, HEADER_LENGTH, BLOB_OVERHEAD - 1, blob.length - 1]) {
    await decryptFails(hsm.decrypt(key, blob.subarray(0, length), context))
  }
})

test('a blob from another key, or another version of the same key, fails', async () => {
  const keyA = await newKey()
  const keyB = await newKey()
  const context = encodeEncryptionContext(undefined)
  const blob = await hsm.encrypt(keyA, Buffer.from('secret'), context)
  await decryptFails(hsm.decrypt(keyB, blob, context))
  const keyA2 = await newKey(keyA.keyId, 2)
  await decryptFails(hsm.decrypt(keyA2, blob, context))
})

test('an unknown format version fails', async () => {
  const key = await newKey()
  const context = encodeEncryptionContext(undefined)
  const blob = Buffer.from(await hsm.encrypt(key, Buffer.from('secret'), context))
  blob[0] = 0x02
  await decryptFails(hsm.decrypt(key, blob, context))
})

test('a key token is bound to its key id and material version', async () => {
  const key = await newKey()
  const context = encodeEncryptionContext(undefined)
  const moved: MaterialRef = { keyId: randomUUID(), materialVersion: 1, keySpec: 'SYMMETRIC_DEFAULT', token: key.token }
  await assert.rejects(
    hsm.encrypt(moved, Buffer.from('x'), context),
    (err: unknown) => err instanceof HsmError && err.code === 'TOKEN_REJECTED',
  )
  const otherVersion: MaterialRef = { ...key, materialVersion: 2 }
  await assert.rejects(
    hsm.encrypt(otherVersion, Buffer.from('x'), context),
    (err: unknown) => err instanceof HsmError && err.code === 'TOKEN_REJECTED',
  )
})

test('a key token does not open under another domain key', async () => {
  const key = await newKey()
  const otherHsm = inProcessHsmForTests()
  await assert.rejects(
    otherHsm.encrypt(key, Buffer.from('x'), encodeEncryptionContext(undefined)),
    (err: unknown) => err instanceof HsmError && err.code === 'TOKEN_REJECTED',
  )
})

test('encryption contexts encode canonically: order-independent, UTF-8 byte order', () => {
  const a = encodeEncryptionContext({ b: '2', a: '1', '\u{1F600}': 'x', '\uFFFF': 'y' })
  const b = encodeEncryptionContext({ '\uFFFF': 'y', a: '1', '\u{1F600}': 'x', b: '2' })
  assert.deepEqual(a, b)
  // U+FFFF (EF BF BF) sorts before U+1F600 (F0 9F 98 80) by UTF-8 bytes, the opposite of UTF-16 order.
  const text = Buffer.from(a).toString('utf8')
  assert.ok(text.indexOf('\uFFFF') < text.indexOf('\u{1F600}'))
  assert.notDeepEqual(encodeEncryptionContext({ ab: 'c' }), encodeEncryptionContext({ a: 'bc' }))
})
