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

test('writing to a slice changes nothing handed out later', () => {
  const first = freshRandomBytes(32)
  first.fill(0xaa)
  const later = Array.from({ length: 200 }, () => freshRandomBytes(32))
  assert.ok(later.every((bytes) => !bytes.equals(first)))
  // Bytes look random: none of 200 × 32 bytes all equal to one value.
  assert.ok(later.every((bytes) => new Set(bytes).size > 1))
})
