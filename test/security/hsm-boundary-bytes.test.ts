/**
 * Nothing of the HSM thread's memory leaves it beside the answers themselves.
 *
 * A typed array crosses a thread with its whole ArrayBuffer, and Node makes most small
 * Buffers as views into a shared 8 KiB pool; the HSM opens key material into such Buffers
 * (HMAC keys and PKCS#8 private keys are kept open in its cache). An answer sent as a
 * pooled view would carry the rest of the pool with it, key material included, into the
 * region's main thread. This test opens HMAC and EC keys in the HSM worker, then collects
 * every answer it gets, and searches the whole of every ArrayBuffer that arrived for the
 * raw key material, recovered from the tokens with the master key as only a test can.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Hsm, MaterialRef } from '../../src/hsm/hsm.js'
import { startTestWorkerHsm } from '../helpers/worker-hsm.js'
import { loadMasterKey, loadOrCreateDomainKey } from '../../src/hsm/soft/domain-key.js'
import { openKeyToken } from '../../src/hsm/soft/key-token.js'

const REGION = 'us-east-1'
const dir = mkdtempSync(join(tmpdir(), 'trent-hsm-bytes-'))
let hsm: Hsm

before(async () => {
  hsm = await startTestWorkerHsm(dir, REGION)
})
after(async () => {
  await hsm.close()
  rmSync(dir, { recursive: true, force: true })
})

test('no answer from the HSM thread carries key material in the memory around it', async () => {
  const refOf = async (keyId: string, keySpec: MaterialRef['keySpec']): Promise<MaterialRef> => ({
    keyId,
    materialVersion: 1,
    keySpec,
    token: await hsm.createKeyMaterial(keyId, 1, keySpec),
  })
  const hmac = await refOf('51111111-2222-3333-4444-555555555555', 'HMAC_256')
  const ec = await refOf('61111111-2222-3333-4444-555555555555', 'ECC_NIST_P256')
  const symmetric = await refOf('71111111-2222-3333-4444-555555555555', 'SYMMETRIC_DEFAULT')

  const received: Uint8Array[] = []
  const keep = <T extends Uint8Array>(bytes: T): T => {
    received.push(bytes)
    return bytes
  }
  for (let round = 0; round < 50; round++) {
    const message = Buffer.from(`message ${round}`)
    // Opens the HMAC key and the EC private key in the HSM (and keeps them open there).
    keep(await hsm.keyOperation('generateMac', { key: hmac, algorithm: 'HMAC_SHA_256', message }))
    keep(await hsm.keyOperation('sign', { key: ec, algorithm: 'ECDSA_SHA_256', messageType: 'RAW', message }))
    // Small answers: what Node allocates from its pool.
    const blob = keep(await hsm.encrypt(symmetric, message, Buffer.alloc(2)))
    keep(await hsm.decrypt(symmetric, blob, Buffer.alloc(2)))
    keep(await hsm.generateRandom(16))
    const dataKey = await hsm.generateDataKey(symmetric, 32, Buffer.alloc(2), true)
    keep(dataKey.ciphertextBlob)
    if (dataKey.plaintext !== undefined) keep(dataKey.plaintext)
  }

  const domainKey = loadOrCreateDomainKey(
    loadMasterKey({ file: join(dir, 'master.key'), create: false }),
    join(dir, 'domain-key.sealed'),
    REGION,
  )
  const secrets = [hmac, ec, symmetric].map((ref) => {
    const raw = openKeyToken(domainKey.key, ref, ref.token)
    assert.ok(raw !== undefined, `the test opens ${ref.keySpec}`)
    return { keySpec: ref.keySpec, raw: Buffer.from(raw) }
  })
  // Answers of one batch may share a buffer (internal/batch-codec.ts): every byte of every
  // buffer that arrived must then belong to one of the answers.
  const answered = new Map<ArrayBufferLike, number>()
  for (const bytes of received) answered.set(bytes.buffer, (answered.get(bytes.buffer) ?? 0) + bytes.byteLength)
  for (const [buffer, bytes] of answered) {
    assert.equal(buffer.byteLength, bytes, `answers of ${bytes} bytes in all arrived in a buffer of ${buffer.byteLength}`)
  }
  for (const bytes of received) {
    const whole = Buffer.from(bytes.buffer)
    for (const secret of secrets) {
      assert.equal(whole.indexOf(secret.raw), -1, `${secret.keySpec} key material arrived in the region's thread`)
    }
  }
})
