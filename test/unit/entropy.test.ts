/**
 * The HSM's pooled random bytes (src/hsm/internal/entropy.ts): each call gets bytes of
 * its own, never shared with the pool or an earlier caller, and never repeated, across
 * refills and for the sizes that bypass the pool.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { freshRandomBytes } from '../../src/hsm/internal/entropy.js'

test('every slice is its own buffer of the asked length', () => {
  for (const length of [1, 12, 16, 32, 64, 65, 1024]) {
    const bytes = freshRandomBytes(length)
    assert.equal(bytes.length, length)
    assert.equal(bytes.byteOffset, 0)
    assert.equal(bytes.buffer.byteLength, length, `a ${length}-byte slice must not be a view of a larger buffer`)
  }
})

test('no 16-byte value repeats across many refills of the pool', () => {
  const seen = new Set<string>()
  // 4 KiB per refill: 2,000 draws of 16 and 12 bytes refill the pool about 14 times.
  for (let index = 0; index < 2000; index += 1) {
    const salt = freshRandomBytes(16).toString('hex')
    assert.ok(!seen.has(salt), 'a salt was handed out twice')
    seen.add(salt)
    freshRandomBytes(12)
  }
})

test('a slice keeps its bytes while the pool zeroes its own copy and refills', () => {
  // The pool zeroes what it hands out, and refills in place: a slice that were a view of
  // the pool would read zeros, then another caller's bytes.
  const first = freshRandomBytes(32)
  const kept = Buffer.from(first)
  assert.ok(new Set(first).size > 1, 'random bytes, not a constant')
  for (let index = 0; index < 400; index += 1) freshRandomBytes(32)
  assert.deepEqual(first, kept)
})
