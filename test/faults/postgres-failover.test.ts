/**
 * Issue 11 §5, "Faults": a region on PostgreSQL with a synchronous streaming standby,
 * and a failover to it.
 *
 * A primary cluster and a standby made with `pg_basebackup -R`; the primary has
 * `synchronous_standby_names = '*'` and `synchronous_commit = on`, so its COMMIT returns
 * only once the standby has flushed the commit's WAL. A partition (`--nodes 2`) runs on
 * the primary; keys are made and data encrypted under them, first calmly, then by writers
 * still going when the primary is killed with SIGKILL. The standby is promoted
 * (`pg_ctl promote`) and the partition restarted with `--store` naming it. Then every
 * acknowledged key is there, through both nodes, and decrypts what it encrypted; nothing
 * is half there; and the region serves writes again.
 *
 * No timing assertions: deadlines only turn hangs into failures.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  TagResourceCommand,
  type KMSClient,
  type ListKeysCommandOutput,
} from '@aws-sdk/client-kms'
import { createTempDir, kmsClient, removeTempDir, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'
import {
  postgresUnavailableReason,
  removeAllPostgresClusters,
  startPostgresCluster,
  startPostgresStandby,
  type PostgresCluster,
  type PostgresStandby,
} from '../helpers/postgres.js'
import { describeError, eventually, nodeClient, onceFound, settleWithin } from './support.js'

const REGION = 'us-east-1'
const NODES = [0, 1] as const
const CALM_KEYS = 8
const WRITERS = 4

interface Acknowledged {
  keyId: string
  plaintext: Buffer
  ciphertext: Uint8Array
}

const dataDirs: string[] = []
after(async () => {
  await stopAllPartitions()
  await removeAllPostgresClusters()
  for (const dir of dataDirs) removeTempDir(dir)
})

/** A data dir of its own, kept across restarts of a partition (and removed at the end). */
function dataDirForPartition(): string {
  const dir = createTempDir('trent-failover-')
  dataDirs.push(dir)
  return dir
}

/** A two-node partition of REGION on `store`, in `dataDir` (the same across a failover: credentials, master and domain keys). */
function startOn(dataDir: string, store: string): Promise<RunningPartition> {
  return startPartition({ regions: [REGION], nodes: NODES.length, dataDir, extraArgs: ['--store', store], env: { TRENT_LOG_LEVEL: 'info' }, timeoutMs: 180_000 })
}

describe('failover of a region to a synchronous PostgreSQL standby', { skip: postgresUnavailableReason() ?? false, timeout: 900_000 }, () => {
  let primary: PostgresCluster
  let standby: PostgresStandby
  const dataDir = dataDirForPartition()
  const start = (store: string): Promise<RunningPartition> => startOn(dataDir, store)

  before(async () => {
    primary = await startPostgresCluster()
    standby = await startPostgresStandby(primary, { synchronous: true })
  })

  it('keeps every acknowledged key through kill -9 of the primary and promotion of the standby, and serves writes again', async (t) => {
    // The primary waits for its standby at every commit.
    const settings = await primary.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'synchronous_standby_names') ORDER BY name",
    )
    assert.deepEqual(settings, [{ name: 'synchronous_commit', setting: 'on' }, { name: 'synchronous_standby_names', setting: '*' }])
    const replication = await primary.query<{ sync_state: string; state: string }>('SELECT state, sync_state FROM pg_stat_replication')
    assert.deepEqual(replication, [{ state: 'streaming', sync_state: 'sync' }])

    let partition = await start(primary.url)
    const acknowledged: Acknowledged[] = []

    // Calmly: keys made and used one after the other.
    const client = kmsClient(partition, REGION)
    for (let index = 0; index < CALM_KEYS; index++) {
      const created = await client.send(new CreateKeyCommand({ Description: `calm ${index}` }))
      const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
      const plaintext = Buffer.from(`calm ${index}: encrypted on the primary`)
      const encrypted = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))
      acknowledged.push({ keyId, plaintext, ciphertext: encrypted.CiphertextBlob ?? assert.fail('no ciphertext') })
    }
    await client.send(new CreateAliasCommand({ AliasName: 'alias/before-failover', TargetKeyId: acknowledged[0]?.keyId ?? '' }))
    await client.send(new TagResourceCommand({ KeyId: acknowledged[0]?.keyId ?? '', Tags: [{ TagKey: 'failover', TagValue: 'before' }] }))

    // Then writers that are still writing when the primary dies.
    let writing = true
    const failures: string[] = []
    const progress = Array.from({ length: WRITERS }, () => 0)
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const writer = kmsClient(partition, REGION)
      for (let i = 0; writing; i++) {
        try {
          const created = await writer.send(new CreateKeyCommand({ Description: `burst ${w}.${i}` }))
          const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
          const plaintext = Buffer.from(`burst ${w}.${i}`)
          // Encrypt needs no store: it works whether or not the primary is still there.
          const encrypted = await writer.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))
          acknowledged.push({ keyId, plaintext, ciphertext: encrypted.CiphertextBlob ?? assert.fail('no ciphertext') })
        } catch (err) {
          failures.push(describeError(err))
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        progress[w] = i + 1
      }
    })
    await waitFor('every writer to have written a few keys', () => (progress.every((n) => n >= 3) ? true : undefined), { timeoutMs: 120_000 })
    const beforeKill = acknowledged.length
    await primary.kill9()
    const failuresAtKill = failures.length
    // Writers go on until each has written a few more times against the dead primary.
    const atKill = [...progress]
    await waitFor('every writer to try again after the kill', () => (progress.every((n, w) => n >= (atKill[w] ?? 0) + 3) ? true : undefined), { timeoutMs: 300_000 })
    writing = false
    await Promise.all(writers)
    t.diagnostic(`${acknowledged.length} keys acknowledged (${beforeKill} before the kill); ${failures.length - failuresAtKill} writes failed after it, e.g. ${failures.at(-1) ?? 'none'}`)
    for (const failure of failures) assert.match(failure, /^(DependencyTimeoutException|KMSInternalException) /, 'a write against a dead primary fails as a dependency failure')

    // Failover: promote the standby, point the region at it.
    await standby.promote()
    const recovery = await standby.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery')
    assert.deepEqual(recovery, [{ in_recovery: false }], 'the standby is a primary now')
    await partition.stop()
    partition = await start(standby.url)
    t.diagnostic(`the partition serves again on the promoted standby (${standby.url})`)

    // Every acknowledged key is there, on both nodes, and decrypts what it encrypted.
    for (const node of NODES) {
      const nodeKms = nodeClient(partition, REGION, node)
      const listed = await listKeys(nodeKms)
      for (const { keyId, plaintext, ciphertext } of acknowledged) {
        assert.ok(listed.has(keyId), `node ${node} lists acknowledged key ${keyId}`)
        const decrypted = await nodeKms.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
        assert.equal(decrypted.KeyId?.endsWith(keyId), true)
        assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), plaintext, `node ${node} decrypts under ${keyId}`)
      }
      // Nothing half there: every listed key (acknowledged or not) has its material.
      for (const keyId of listed) {
        const encrypted = await nodeKms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('whole') }))
        const decrypted = await nodeKms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
        assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'whole')
      }
      const aliases = await nodeKms.send(new ListAliasesCommand({ KeyId: acknowledged[0]?.keyId ?? '' }))
      assert.deepEqual(aliases.Aliases?.map((a) => a.AliasName), ['alias/before-failover'])
      t.diagnostic(`node ${node}: ${listed.size} keys, ${acknowledged.length} of them acknowledged before the failover`)
    }

    // And the region serves writes again, on the new primary, seen by both nodes.
    const after = kmsClient(partition, REGION)
    const created = await eventually('a write on the promoted standby', () => after.send(new CreateKeyCommand({ Description: 'after the failover' })))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    await after.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'failover', TagValue: 'after' }] }))
    await after.send(new CreateAliasCommand({ AliasName: 'alias/after-failover', TargetKeyId: keyId }))
    const encrypted = await after.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('after') }))
    for (const node of NODES) {
      const described = await onceFound(`node ${node} to know the key made after the failover`, () =>
        nodeClient(partition, REGION, node).send(new DescribeKeyCommand({ KeyId: 'alias/after-failover' })),
      )
      assert.equal(described.KeyMetadata?.KeyId, keyId)
      const decrypted = await nodeClient(partition, REGION, node).send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
      assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'after')
    }
    const rows = await standby.query<{ count: string }>('SELECT count(*) AS count FROM trent_us_east_1.keys')
    t.diagnostic(`the promoted standby holds ${rows[0]?.count} keys`)
  })
})

async function listKeys(client: KMSClient): Promise<Set<string>> {
  const keys = new Set<string>()
  let marker: string | undefined
  do {
    const page: ListKeysCommandOutput = await client.send(new ListKeysCommand({ Limit: 1000, ...(marker !== undefined ? { Marker: marker } : {}) }))
    for (const key of page.Keys ?? []) if (key.KeyId !== undefined) keys.add(key.KeyId)
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  return keys
}

/**
 * The other half of "nothing acknowledged is lost": while the synchronous standby cannot
 * confirm a commit (here: frozen with SIGSTOP, as a standby cut off by the network), the
 * primary must not let Trent acknowledge a write. Then the primary dies, the standby is
 * promoted, and every write Trent acknowledged meanwhile must be on it.
 */
describe('a synchronous standby that stops confirming commits', { skip: postgresUnavailableReason() ?? false, timeout: 900_000 }, () => {
  let primary: PostgresCluster
  let standby: PostgresStandby
  const dataDir = dataDirForPartition()

  before(async () => {
    primary = await startPostgresCluster()
    standby = await startPostgresStandby(primary, { synchronous: true })
  })

  it('acknowledges no write the standby has not confirmed: every acknowledged write survives the failover', async (t) => {
    let partition = await startOn(dataDir, primary.url)
    const client = kmsClient(partition, REGION)
    const created = await client.send(new CreateKeyCommand({ Description: 'confirmed by the standby' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    const encrypted = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before the stall') }))

    standby.freeze()
    t.diagnostic('standby frozen')
    const during = kmsClient(partition, REGION)
    const attempts = [
      { what: 'CreateKey', call: () => during.send(new CreateKeyCommand({ Description: 'while the standby is frozen' })) },
      { what: 'TagResource', call: () => during.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'stall', TagValue: 'during' }] })) },
      { what: 'CreateAlias', call: () => during.send(new CreateAliasCommand({ AliasName: 'alias/during-stall', TargetKeyId: keyId })) },
    ]
    const settled = []
    for (const { what, call } of attempts) {
      const result = await settleWithin(what, call(), 180_000)
      t.diagnostic(`${what} while the standby is frozen: ${result.status === 'fulfilled' ? 'ACKNOWLEDGED' : describeError(result.reason)} after ${result.elapsedMs} ms`)
      settled.push({ what, result })
    }
    // Reads need no store: they go on.
    const decrypted = await during.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
    assert.equal(Buffer.from(decrypted.Plaintext ?? []).toString(), 'before the stall')

    // The primary dies before the standby could confirm anything; the standby takes over.
    await primary.kill9()
    standby.thaw()
    await standby.promote()
    await partition.stop()
    partition = await startOn(dataDir, standby.url)

    const acknowledgedKey = settled[0]?.result.status === 'fulfilled' ? (settled[0].result.value as { KeyMetadata?: { KeyId?: string } }).KeyMetadata?.KeyId : undefined
    for (const node of NODES) {
      const nodeKms = nodeClient(partition, REGION, node)
      const plain = await nodeKms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
      assert.equal(Buffer.from(plain.Plaintext ?? []).toString(), 'before the stall', `node ${node}: the key confirmed before the stall is there`)
      const lost: string[] = []
      if (acknowledgedKey !== undefined) {
        const found = await nodeKms.send(new DescribeKeyCommand({ KeyId: acknowledgedKey })).then(() => true, () => false)
        if (!found) lost.push(`CreateKey ${acknowledgedKey}`)
      }
      if (settled[1]?.result.status === 'fulfilled') {
        const tags = await nodeKms.send(new ListResourceTagsCommand({ KeyId: keyId }))
        if (!(tags.Tags ?? []).some((tag) => tag.TagKey === 'stall')) lost.push('TagResource')
      }
      if (settled[2]?.result.status === 'fulfilled') {
        const aliases = await nodeKms.send(new ListAliasesCommand({ KeyId: keyId }))
        if (!(aliases.Aliases ?? []).some((alias) => alias.AliasName === 'alias/during-stall')) lost.push('CreateAlias')
      }
      assert.deepEqual(lost, [], `node ${node}: writes acknowledged while the standby was frozen, lost by the failover`)
    }
    // The region writes again on its new primary.
    await eventually('a write on the promoted standby', () => kmsClient(partition, REGION).send(new CreateKeyCommand({ Description: 'after' })))
  })
})
