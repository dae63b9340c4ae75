import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createHmac, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { HmacSha256Key } from '../../src/hsm/internal/hmac-sha256-key.js'
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

test('KBKDF from an HmacSha256Key (the HSM’s form) gives the same vectors', () => {
  for (const v of vectors) {
    const key = new HmacSha256Key(Buffer.from(v.keyIn, 'hex'))
    const out = kbkdfCounterHmacSha256(key, Buffer.from(v.label, 'hex'), Buffer.from(v.context, 'hex'), v.outputBytes)
    assert.equal(out.toString('hex'), v.expected)
  }
})

test('HmacSha256Key is HMAC-SHA-256 for keys shorter than, equal to and longer than the block', () => {
  for (const keyLength of [0, 1, 32, 63, 64, 65, 200]) {
    const keyBytes = randomBytes(keyLength)
    const parts = [randomBytes(4), Buffer.alloc(0), randomBytes(100), Buffer.from('trent')]
    const expected = createHmac('sha256', keyBytes).update(Buffer.concat(parts)).digest('hex')
    const key = new HmacSha256Key(keyBytes)
    assert.equal(key.mac(parts).toString('hex'), expected, `key of ${keyLength} bytes`)
    assert.equal(key.mac(parts).toString('hex'), expected, 'the key is not used up by a MAC')
    key.destroy()
    assert.notEqual(key.mac(parts).toString('hex'), expected, 'a destroyed key no longer MACs with its key')
  }
})
