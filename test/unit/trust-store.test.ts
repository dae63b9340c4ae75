/**
 * The file trust store re-reads its file whenever it is replaced, even twice within one
 * tick of the file clock (found by the netns test's author: a second `trent rsk import`
 * right after a read was missed until the file changed again).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileTrustStore } from '../../src/replication/trust-store.js'

describe('FileTrustStore', () => {
  it('sees every replacement of its file, however close together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trent-trust-'))
    const path = join(dir, 'trust-store.json')
    const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-384' })
      .publicKey.export({ format: 'der', type: 'spki' })
      .toString('base64')
    const write = (regions: string[]): void => {
      const document = {
        partition: 'p',
        regions: Object.fromEntries(regions.map((region) => [region, [{ id: 'a', publicKey, status: 'active' }]])),
      }
      writeFileSync(`${path}.tmp`, JSON.stringify(document))
      renameSync(`${path}.tmp`, path)
    }
    try {
      for (let round = 0; round < 200; round++) {
        write(['us-east-1'])
        const store = new FileTrustStore(path)
        assert.deepEqual(store.regions(), ['us-east-1'])
        write(['us-east-1', 'eu-west-1'])
        assert.deepEqual(store.regions().sort(), ['eu-west-1', 'us-east-1'], `round ${round}`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('knows no region named like an Object.prototype member (found by the fuzzer: a TypeError, a 500)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trent-trust-'))
    const path = join(dir, 'trust-store.json')
    writeFileSync(path, JSON.stringify({ partition: 'p', regions: {} }))
    try {
      const store = new FileTrustStore(path)
      for (const region of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
        for (const keyId of ['__proto__', 'constructor', 'a'])
          assert.equal(store.verify(region, keyId, Buffer.from('{}'), new Uint8Array(96)), false)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
