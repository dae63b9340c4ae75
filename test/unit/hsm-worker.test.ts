/**
 * The HSM worker keeps serving while it makes a key pair: RSA and EC key generation runs on
 * libuv's thread pool, and its answer comes back on its own, so an RSA 4096 CreateKey does
 * not hold up the region's other cryptography (it used to, for about a second).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Hsm, MaterialRef } from '../../src/hsm/hsm.js'
import { startTestWorkerHsm } from '../helpers/worker-hsm.js'

const dir = mkdtempSync(join(tmpdir(), 'trent-hsm-worker-'))
let hsm: Hsm

before(async () => {
  hsm = await startTestWorkerHsm(dir, 'us-east-1')
})
after(async () => {
  await hsm.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A new symmetric key's first material version, made by the worker. */
async function symmetricKey(keyId: string): Promise<MaterialRef> {
  return { keyId, materialVersion: 1, keySpec: 'SYMMETRIC_DEFAULT', token: await hsm.createKeyMaterial(keyId, 1, 'SYMMETRIC_DEFAULT') }
}

test('requests sent while an RSA 4096 key is being made are answered before it is', async () => {
  const symmetric = await symmetricKey('11111111-2222-3333-4444-555555555555')
  let rsaDone = false
  const rsa = hsm.createKeyMaterial('21111111-2222-3333-4444-555555555555', 1, 'RSA_4096').then((token) => {
    rsaDone = true
    return token
  })
  // Ten round trips of ordinary work, each of which waits for the worker's answer.
  for (let i = 0; i < 10; i++) {
    const blob = await hsm.encrypt(symmetric, Buffer.from(`while the key pair is made ${i}`), Buffer.alloc(2))
    assert.equal(Buffer.from(await hsm.decrypt(symmetric, blob, Buffer.alloc(2))).toString(), `while the key pair is made ${i}`)
  }
  assert.equal(rsaDone, false, 'the ordinary requests did not wait for the key pair')
  const token = await rsa
  const ref: MaterialRef = { keyId: '21111111-2222-3333-4444-555555555555', materialVersion: 1, keySpec: 'RSA_4096', token }
  const publicKey = await hsm.keyOperation('getPublicKey', { key: ref })
  assert.ok(publicKey.length > 500, 'an RSA 4096 public key')
})

test('a batch of many calls, some failing, gets every answer to its own call', async () => {
  const ref = await symmetricKey('31111111-2222-3333-4444-555555555555')
  // Made in one turn of the event loop: they cross as one batch; some fail (a blob that is
  // not one), and each answer must reach its caller.
  const calls = Array.from({ length: 23 }, (_, i) =>
    i % 5 === 4
      ? hsm.decrypt(ref, Buffer.from(`not a blob ${i}`), Buffer.alloc(2)).then(
          () => 'opened',
          () => `refused ${i}`,
        )
      : hsm
          .encrypt(ref, Buffer.from(`plaintext ${i}`), Buffer.alloc(2))
          .then(async (blob) => Buffer.from(await hsm.decrypt(ref, blob, Buffer.alloc(2))).toString()),
  )
  const answers = await Promise.all(calls)
  assert.deepEqual(
    answers,
    answers.map((_, i) => (i % 5 === 4 ? `refused ${i}` : `plaintext ${i}`)),
  )
})

test('a key pair request that fails is answered with its error, and the worker goes on', async () => {
  await assert.rejects(hsm.createKeyMaterial('31111111-2222-3333-4444-555555555555', 0, 'RSA_2048'), {
    name: 'HsmError',
    code: 'BAD_REQUEST',
  })
  await assert.rejects(hsm.createKeyMaterial('31111111-2222-3333-4444-555555555555', 1, 'RSA_1024' as 'RSA_2048'), {
    name: 'HsmError',
    code: 'BAD_REQUEST',
  })
  assert.ok((await hsm.generateRandom(8)).length === 8)
})

/** True when the array is all of its buffer: nothing else of the sender's memory came with it. */
function spansItsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
}

test("what comes back from the HSM thread is exactly the answer's bytes, never a slice of its memory", async () => {
  const keyId = '41111111-2222-3333-4444-555555555555'
  const token = await hsm.createKeyMaterial(keyId, 1, 'SYMMETRIC_DEFAULT')
  assert.ok(spansItsBuffer(token))
  const ref: MaterialRef = { keyId, materialVersion: 1, keySpec: 'SYMMETRIC_DEFAULT', token }
  // Small results are what Node makes as views into its 8 KiB pool (Buffer.concat, Buffer.from).
  for (const size of [0, 1, 32, 100, 1000]) {
    const blob = await hsm.encrypt(ref, new Uint8Array(size).fill(7), Buffer.alloc(2))
    assert.ok(spansItsBuffer(blob), `ciphertext of ${size} bytes: ${blob.byteLength} of a ${blob.buffer.byteLength}-byte buffer`)
    const plaintext = await hsm.decrypt(ref, blob, Buffer.alloc(2))
    assert.ok(
      spansItsBuffer(plaintext),
      `plaintext of ${size} bytes: ${plaintext.byteLength} of a ${plaintext.buffer.byteLength}-byte buffer`,
    )
    assert.deepEqual(Buffer.from(plaintext), Buffer.alloc(size, 7))
  }
  const random = await hsm.generateRandom(16)
  assert.ok(spansItsBuffer(random))
})

test('a key token made in the same batch as plaintext results crosses over a buffer of its own', async () => {
  const ref = await symmetricKey('41111111-2222-3333-4444-555555555555')
  // One turn: one batch each way. Data keys are packed with the batch's other per-request
  // results; the token, which the region keeps, must not keep them alive (packed-bytes.ts).
  const [dataKey, token, random] = await Promise.all([
    hsm.generateDataKey(ref, 32, Buffer.alloc(2), true),
    hsm.createKeyMaterial('51111111-2222-3333-4444-555555555555', 1, 'SYMMETRIC_DEFAULT'),
    hsm.generateRandom(100),
  ])
  assert.equal(token.buffer.byteLength, token.byteLength, 'the token spans exactly its own buffer')
  assert.equal(dataKey.plaintext?.buffer, random.buffer, 'per-request results share the batch’s buffer')
  assert.equal(random.buffer.byteLength, dataKey.ciphertextBlob.length + 32 + 100, 'which holds only their bytes')
  const blob = await hsm.encrypt(ref, Buffer.from('after'), Buffer.alloc(2))
  assert.equal(Buffer.from(await hsm.decrypt(ref, blob, Buffer.alloc(2))).toString(), 'after')
})
