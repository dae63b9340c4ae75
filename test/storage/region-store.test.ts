/**
 * A region process on PostgreSQL (`--store postgres://…`, src/region/storage-choice.ts):
 * its keys live in the region's schema and survive kill -9 of the region; two nodes of a
 * region (`--shared-store`) serve the same keys; the password never appears in what the
 * region prints.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, afterEach, before, describe, it } from 'node:test'
import { CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand } from '@aws-sdk/client-kms'
import { startRegionProcess, type RegionProcess } from '../helpers/region-process.js'
import { TEST_CREDENTIALS } from '../helpers/in-process-region.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'

// The SDK's notice that it will drop Node 20 is about the SDK, not Trent.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const PASSWORD = 'pg-pass-that-must-not-leak'
const REGION_MAIN = fileURLToPath(new URL('../../src/region/main.js', import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('a region on PostgreSQL', { skip: postgresUnavailableReason() ?? false }, () => {
  let cluster: PostgresCluster
  const dirs: string[] = []
  const running: RegionProcess[] = []
  const dataDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'trent-region-pg-'))
    dirs.push(dir)
    return dir
  }
  const start = async (dir: string, region: string, extraArgs: string[]): Promise<RegionProcess> => {
    const started = await startRegionProcess({ region, dataDir: dir, extraArgs, env: { TRENT_LOG_LEVEL: 'info' } })
    running.push(started)
    return started
  }

  before(async () => {
    cluster = await startPostgresCluster()
  })
  after(async () => {
    await removeAllPostgresClusters()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
  afterEach(async () => {
    await Promise.all(running.splice(0).map((region) => region.stop()))
  })

  it('keeps its keys in its schema, through kill -9 of the region, and never prints the password', async () => {
    const dir = dataDir()
    const args = ['--store', cluster.urlWithPassword(PASSWORD)]
    let region = await start(dir, 'us-west-2', args)
    const created = await region.client().send(new CreateKeyCommand({ Description: 'on postgres' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    const encrypted = await region.client().send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('hello') }))
    const output = region.output()
    await region.kill9()
    running.splice(running.indexOf(region), 1)

    region = await start(dir, 'us-west-2', args)
    const described = await region.client().send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(described.KeyMetadata?.Description, 'on postgres')
    const decrypted = await region.client().send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
    assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'hello')
    // The state is in PostgreSQL, not in a SQLite file of the data dir.
    assert.equal(existsSync(join(dir, 'trent.db')), false)
    for (const text of [output, region.output()]) {
      assert.doesNotMatch(text, new RegExp(PASSWORD))
      assert.match(text, /PostgreSQL postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres, schema trent_us_west_2/)
    }
  })

  it('serves the same keys from two nodes of a region sharing one schema (--shared-store)', async () => {
    // Two nodes of one region: the same master and domain keys (one data dir), one schema.
    const dir = dataDir()
    const args = ['--store', cluster.url, '--shared-store']
    const first = await start(dir, 'eu-central-1', args)
    const second = await start(dir, 'eu-central-1', args)
    const created = await first.client().send(new CreateKeyCommand({ Description: 'made on the first node' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    const encrypted = await first.client().send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('shared') }))
    // The second node learns of it by following the change log (NOTIFY makes that prompt).
    let decrypted: Uint8Array | undefined
    for (let attempt = 0; decrypted === undefined; attempt++) {
      try {
        decrypted = (await second.client().send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))).Plaintext
      } catch (err) {
        if (attempt > 50) throw err
        await sleep(100)
      }
    }
    assert.equal(Buffer.from(decrypted ?? []).toString(), 'shared')
    const described = await second.client().send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(described.KeyMetadata?.Description, 'made on the first node')
  })

  it('refuses an unknown --store without printing its password', () => {
    const result = spawnSync(
      process.execPath,
      [REGION_MAIN, '--region', 'us-east-1', '--data-dir', dataDir(), '--store', `mysql://trent:${PASSWORD}@db/kms`],
      {
        env: {
          ...process.env,
          TRENT_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
          TRENT_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        },
        encoding: 'utf8',
        timeout: 20_000,
      },
    )
    assert.equal(result.status, 2)
    assert.match(result.stderr, /--store must be 'sqlite' or a postgres:\/\/ URL, not mysql:\/\/trent:\*\*\*@db\/kms/)
    assert.doesNotMatch(result.stderr + result.stdout, new RegExp(PASSWORD))
  })
})
