/**
 * SigV4's last HMAC (src/api/auth/sigv4.ts, `hmacWithPads`) is computed from cached
 * RFC 2104 pads as two one-shot hashes; it must equal node:crypto's HMAC-SHA-256 for
 * every message, including multi-byte UTF-8 and messages longer than a block, and must
 * not depend on a previous call (each call fills its own buffers).
 */
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { hmacPadsForTests, hmacWithPads } from '../../src/api/auth/sigv4.js'

test('equals createHmac for random keys and messages of every length up to a few blocks', () => {
  for (let round = 0; round < 200; round++) {
    const key = randomBytes(32)
    const pads = hmacPadsForTests(Buffer.from(key))
    for (const length of [0, 1, 55, 63, 64, 65, 130, 1000]) {
      const message = randomBytes(length).toString('base64').slice(0, length) + (round % 2 === 0 ? 'é€😀' : '')
      assert.equal(hmacWithPads(pads, message), createHmac('sha256', key).update(message, 'utf8').digest('hex'))
    }
  }
})

test('a long message followed by a short one: nothing of the first leaks into the second', () => {
  const key = randomBytes(32)
  const pads = hmacPadsForTests(Buffer.from(key))
  hmacWithPads(pads, 'x'.repeat(5000))
  assert.equal(hmacWithPads(pads, 'short'), createHmac('sha256', key).update('short').digest('hex'))
})

test('making the pads wipes the signing key it was given', () => {
  const key = randomBytes(32)
  hmacPadsForTests(key)
  assert.ok(key.every((byte) => byte === 0))
})
