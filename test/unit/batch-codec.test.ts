/**
 * src/hsm/internal/batch-codec.ts: a batch crosses the HSM boundary as JSON plus buffers
 * made for its bytes. Each array arrives as a view of exactly its own bytes, nothing else
 * of the sender's memory goes with them, elements marked as such get a buffer of their
 * own, and what JSON could not carry exactly is refused at the sender.
 */
import assert from 'node:assert/strict'
import { MessageChannel } from 'node:worker_threads'
import { test } from 'node:test'
import * as fc from 'fast-check'
import { decodeBatch, encodeBatch, type EncodedBatch } from '../../src/hsm/internal/batch-codec.js'

/** Posts the batch through a real message port, as the worker and the region do. */
async function across<T>(
  batch: readonly unknown[],
  ownBuffer?: (element: unknown) => boolean,
): Promise<{ received: T[]; sent: ArrayBuffer[] }> {
  const { port1, port2 } = new MessageChannel()
  const { message, transfer } = encodeBatch(batch, ownBuffer)
  const arrived = new Promise<EncodedBatch>((resolve) => port2.once('message', resolve))
  port1.postMessage(message, transfer)
  const received = decodeBatch<T>(await arrived)
  port1.close()
  return { received, sent: transfer }
}

test('calls arrive as sent, their arrays as views of one moved buffer that holds only their bytes', async () => {
  const pool = new Uint8Array(8192).fill(0xee)
  pool.set([1, 2, 3], 100)
  const token = pool.subarray(100, 103)
  const batch = [
    {
      id: 1,
      op: 'encrypt',
      args: [{ keyId: 'k', materialVersion: 1, keySpec: 'SYMMETRIC_DEFAULT', token }, Buffer.from('secret'), new Uint8Array(2)],
    },
    { id: 2, op: 'generateRandom', args: [32] },
    { id: 3, op: 'generateDataKey', args: [{ keyId: '__proto__', token: Buffer.alloc(0) }, 32, new Uint8Array(2), true] },
  ]
  const { received, sent } = await across<(typeof batch)[number]>(batch)
  assert.equal(sent[0]?.byteLength, 0, 'moved: the sender’s buffer is detached')
  const [first, second, third] = received
  const [ref, plaintext, context] = first?.args as [{ token: Uint8Array; keyId: string }, Uint8Array, Uint8Array]
  assert.equal(ref.token.buffer.byteLength, 3 + 6 + 2 + 0 + 2, 'one buffer, holding the batch’s bytes and nothing else')
  assert.equal(plaintext.buffer, ref.token.buffer)
  assert.deepEqual([...ref.token], [1, 2, 3])
  assert.equal(Buffer.from(plaintext).toString(), 'secret')
  assert.deepEqual([...context], [0, 0])
  assert.deepEqual(second, batch[1])
  assert.deepEqual(third?.args[1], 32)
  assert.equal(third?.args[3], true)
  assert.equal((third?.args[0] as { keyId: string }).keyId, '__proto__')
  assert.equal((third?.args[0] as { token: Uint8Array }).token.length, 0)
  assert.equal((batch[0]?.args[0] as { token: Uint8Array }).token, token, 'the input is not modified')
})

test('elements marked as such keep their bytes in a buffer of their own', async () => {
  const batch = [
    { id: 1, ok: true, result: { ciphertextBlob: Buffer.from('blob'), plaintext: Buffer.from('data key') } },
    { id: 2, ok: true, result: Buffer.from('a key token') },
    { id: 3, ok: true, result: Buffer.from('random') },
  ]
  const { received } = await across<{ result: Uint8Array | { plaintext: Uint8Array } }>(batch, (element) => element === batch[1])
  const token = received[1]?.result as Uint8Array
  assert.equal(token.buffer.byteLength, token.byteLength, 'the token spans exactly its own buffer')
  assert.equal(Buffer.from(token).toString(), 'a key token')
  const dataKey = (received[0]?.result as { plaintext: Uint8Array }).plaintext
  assert.equal(dataKey.buffer, (received[2]?.result as Uint8Array).buffer, 'the others share one')
  assert.equal(dataKey.buffer.byteLength, 4 + 8 + 6)
})

test('undefined elements stay undefined, undefined members stay absent; what JSON cannot carry is refused', async () => {
  const { received } = await across<unknown[]>([[1, undefined, 'x'], { a: undefined, b: 2 }, undefined])
  assert.deepEqual(received, [[1, undefined, 'x'], { b: 2 }, undefined])
  assert.equal(1 in (received[0] as unknown[]), true)
  for (const bad of [new Map(), Number.NaN, Infinity, 10n, () => 1, Symbol('s'), new Date(0), new Uint16Array(2)]) {
    assert.throws(() => encodeBatch([{ args: [bad] }]), TypeError, String(typeof bad))
  }
})

test('any batch of JSON values and byte arrays arrives equal to what was sent', async () => {
  const leaf = fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 80 }),
  )
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.string(), tie('node'), { maxKeys: 4 }),
    ),
  })).node
  await fc.assert(
    fc.asyncProperty(fc.array(value, { maxLength: 6 }), async (batch) => {
      const { received } = await across(batch, (element) => Array.isArray(element))
      // Views compare by content; Buffer.from normalises both sides to plain bytes.
      const normal = (v: unknown): unknown =>
        v instanceof Uint8Array
          ? { bytes: Buffer.from(v).toString('hex') }
          : Array.isArray(v)
            ? v.map(normal)
            : v !== null && typeof v === 'object'
              ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normal(x)]))
              : v
      assert.deepEqual(normal(received), normal(batch))
    }),
    { numRuns: 300 },
  )
})
