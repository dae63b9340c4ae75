/**
 * The change log's encoding of writes: every byte array comes back as the same bytes, as
 * a Uint8Array, whether it went in as a Uint8Array or a Buffer (whose toJSON would
 * otherwise turn it into `{type: 'Buffer', data: [...]}`: found by the two-node tests).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeWrites, encodeWrites } from '../../src/storage/write-codec.js'
import type { Write } from '../../src/storage/records.js'

describe('change log write codec', () => {
  it('round-trips byte arrays, Buffers included, and everything else', () => {
    const writes: Write[] = [
      {
        kind: 'putMaterial',
        material: { keyId: 'k', version: 2, materialId: 'a'.repeat(64), createdAt: 5, token: Buffer.from([1, 2, 3, 255]) },
      },
      { kind: 'putOutbox', message: { id: 'm', to: 'eu-west-1', body: new Uint8Array([0, 9, 8]), expiresAt: 7 } },
      { kind: 'deleteAlias', aliasName: 'alias/x' },
    ]
    const decoded = decodeWrites(encodeWrites(writes))
    assert.equal(decoded.length, 3)
    const material = decoded[0]?.kind === 'putMaterial' ? decoded[0].material : assert.fail('putMaterial')
    assert.ok(material.token instanceof Uint8Array)
    assert.deepEqual([...material.token], [1, 2, 3, 255])
    const message = decoded[1]?.kind === 'putOutbox' ? decoded[1].message : assert.fail('putOutbox')
    assert.deepEqual([...message.body], [0, 9, 8])
    assert.deepEqual(decoded[2], writes[2])
  })

  it('leaves an object that merely looks like an encoded byte array alone only if it has other members', () => {
    const writes: Write[] = [{ kind: 'putAlias', alias: { aliasName: 'alias/$bytes', keyId: 'k', createdAt: 1, updatedAt: 2 } }]
    assert.deepEqual(decodeWrites(encodeWrites(writes)), writes)
  })
})
