/**
 * src/hsm/internal/exact-bytes.ts: every Uint8Array in a message to or from the HSM
 * thread spans exactly its own buffer, so structured clone carries its bytes and nothing
 * else of the sender's memory; the value given is left as it was.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { exactBytes } from '../../src/hsm/internal/exact-bytes.js'

test('a view into a larger buffer is replaced by a copy of its own bytes', () => {
  const pool = new Uint8Array(8192).fill(0xee)
  pool.set([1, 2, 3], 100)
  const view = pool.subarray(100, 103)
  const exact = exactBytes(view)
  assert.notEqual(exact, view)
  assert.equal(exact.buffer.byteLength, 3)
  assert.deepEqual([...exact], [1, 2, 3])
  // Node's pooled Buffers are such views.
  const pooled = Buffer.from('ab')
  assert.ok(pooled.buffer.byteLength > 2, 'Node pools small Buffers')
  assert.equal(exactBytes(pooled).buffer.byteLength, 2)
})

test('an array that is already exact, and everything that is not bytes, is kept as it is', () => {
  const own = new Uint8Array(4)
  assert.equal(exactBytes(own), own)
  const message = { id: 1, op: 'encrypt', args: [{ keyId: 'k', token: own }, own, 'text', 3, null, undefined] }
  assert.equal(exactBytes(message), message, 'nothing to replace: the same object')
  assert.equal(exactBytes('x'), 'x')
  assert.equal(exactBytes(undefined), undefined)
})

test('nested views are replaced along their path; the input is not modified', () => {
  const pool = new Uint8Array(64)
  const token = pool.subarray(8, 16)
  const plaintext = pool.subarray(16, 20)
  const ref = { keyId: 'k', token }
  const args = [ref, plaintext, new Uint8Array(2)] as const
  const exact = exactBytes(args)
  assert.notEqual(exact, args)
  assert.equal(args[0].token, token, 'the caller’s object still holds its view')
  assert.equal(args[1], plaintext)
  assert.equal(exact[0].token.buffer.byteLength, 8)
  assert.equal(exact[0].keyId, 'k')
  assert.equal(exact[1].buffer.byteLength, 4)
  assert.equal(exact[2], args[2], 'an exact array is passed on, not copied')
})
