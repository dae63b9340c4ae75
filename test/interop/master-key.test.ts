/**
 * Where the master key lives (issue 10, finding 6): by default next to the sealed domain
 * keys, which the start banner says; with `--master-key-file` outside the data dir, so
 * that a copy of the data dir alone yields nothing.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms'
import { spawnSync } from 'node:child_process'
import {
  createTempDir,
  kmsClient,
  PARTITION_MAIN,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
} from '../helpers/partition.js'

const REGIONS = ['us-east-1', 'eu-west-1']

describe('the master key', () => {
  const dirs: string[] = []
  after(async () => {
    await stopAllPartitions()
    for (const dir of dirs) removeTempDir(dir)
  })

  it('by default sits in the data dir, and the banner says what that means', async () => {
    const partition = await startPartition({ regions: REGIONS })
    const { stderr } = partition.output()
    assert.match(stderr, /master key\s+in the data dir/)
    assert.match(stderr, /alone yields every key/)
    assert.match(stderr, /--master-key-file FILE or TRENT_MASTER_KEY/)
    for (const region of REGIONS) assert.ok(existsSync(join(partition.dataDir, 'regions', region, 'master.key')))
    await partition.stop()
  })

  it('with --master-key-file lives only there: created on first start, needed on every start', async () => {
    const dataDir = createTempDir()
    const secrets = createTempDir('trent-secrets-')
    dirs.push(dataDir, secrets)
    const keyFile = join(secrets, 'master.key')
    const first = await startPartition({ regions: REGIONS, dataDir, extraArgs: ['--master-key-file', keyFile] })
    assert.match(first.output().stderr, new RegExp(`master key\\s+${keyFile.replaceAll('/', '\\/')}`))
    assert.doesNotMatch(first.output().stderr, /alone yields every key/)
    assert.equal(statSync(keyFile).mode & 0o777, 0o600)
    const kms = kmsClient(first, 'eu-west-1')
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}))
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: KeyMetadata?.KeyId, Plaintext: Buffer.from('kept elsewhere') }))
    await first.stop()
    // Nothing in the data dir is the master key.
    const inDataDir = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? inDataDir(join(dir, entry.name)) : [entry.name]))
    assert.ok(!inDataDir(dataDir).includes('master.key'), inDataDir(dataDir).join(', '))

    const again = await startPartition({ regions: REGIONS, dataDir, extraArgs: ['--master-key-file', keyFile] })
    const plaintext = (await kmsClient(again, 'eu-west-1').send(new DecryptCommand({ CiphertextBlob }))).Plaintext
    assert.equal(Buffer.from(plaintext ?? []).toString(), 'kept elsewhere')
    await again.stop()

    // Without it, the regions refuse to start and say why, rather than making a new key.
    const without = await startPartition({ regions: REGIONS, dataDir, waitForReady: false })
    await waitFor('a region to explain why it cannot start', () =>
      /master key: .*does not exist.*--master-key-file/.test(without.output().stderr) ? true : undefined,
    )
    await without.stop()
    for (const region of REGIONS) assert.ok(!existsSync(join(dataDir, 'regions', region, 'master.key')), 'no new master key was made')
  })

  it('is given one way only: --master-key-file and TRENT_MASTER_KEY together are refused', () => {
    const dataDir = createTempDir()
    dirs.push(dataDir)
    const result = spawnSync(
      process.execPath,
      [PARTITION_MAIN, '--port', '0', '--data-dir', dataDir, '--master-key-file', join(dataDir, 'elsewhere.key')],
      {
        env: { ...process.env, TRENT_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') },
        encoding: 'utf8',
        timeout: 30_000,
      },
    )
    assert.equal(result.status, 2, result.stderr)
    assert.match(result.stderr, /not both/)
  })
})
