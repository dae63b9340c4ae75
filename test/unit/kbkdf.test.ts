import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { kbkdfCounterHmacSha256 } from '../../src/hsm/internal/kbkdf.js'

interface Vector {
  keyIn: string
  label: string
  context: string
  outputBytes: number
  expected: string
}

const file = new URL('../../../test/vectors/kbkdf/sp800-108-counter-hmac-sha256.json', import.meta.url)
const { vectors } = JSON.parse(readFileSync(file, 'utf8')) as { vectors: Vector[] }

test('KBKDF counter mode HMAC-SHA256 matches independently computed vectors', () => {
  assert.ok(vectors.length >= 5)
  for (const v of vectors) {
    const out = kbkdfCounterHmacSha256(
      Buffer.from(v.keyIn, 'hex'),
      Buffer.from(v.label, 'hex'),
      Buffer.from(v.context, 'hex'),
      v.outputBytes,
    )
    assert.equal(out.toString('hex'), v.expected)
  }
})

test('KBKDF rejects output lengths it cannot encode', () => {
  assert.throws(() => kbkdfCounterHmacSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), 0), RangeError)
})
