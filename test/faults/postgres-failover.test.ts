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
import { closeAllTcpForwarders, startTcpForwarder, type TcpForwarder } from '../helpers/tcp-forwarder.js'
import {
  createTempDir,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'
import {
  postgresUnavailableReason,
  removeAllPostgresClusters,
  startPostgresCluster,
  startPostgresStandby,
  type PostgresCluster,
  type PostgresStandby,
} from '../helpers/postgres.js'
import { delay, describeError, eventually, nodeClient, nodePids, onceFound, settleWithin } from './support.js'

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
  await closeAllTcpForwarders()
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
  return startPartition({
    regions: [REGION],
    nodes: NODES.length,
    dataDir,
    extraArgs: ['--store', store],
    env: { TRENT_LOG_LEVEL: 'info' },
    timeoutMs: 180_000,
  })
}

describe(
  'failover of a region to a synchronous PostgreSQL standby',
  { skip: postgresUnavailableReason() ?? false, timeout: 900_000 },
  () => {
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
      assert.deepEqual(settings, [
        { name: 'synchronous_commit', setting: 'on' },
        { name: 'synchronous_standby_names', setting: '*' },
      ])
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
      const burst = await writeThrough(partition, () => primary.kill9())
      acknowledged.push(...burst.acknowledged)
      t.diagnostic(
        `${burst.acknowledged.length} keys acknowledged by writers (${burst.beforeFault} before the kill); ${burst.failuresAfterFault} writes failed after it, e.g. ${burst.failures.at(-1) ?? 'none'}`,
      )
      for (const failure of burst.failures)
        assert.match(
          failure,
          /^(DependencyTimeoutException|KMSInternalException) /,
          'a write against a dead primary fails as a dependency failure',
        )

      // Failover: promote the standby, point the region at it.
      await standby.promote()
      const recovery = await standby.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery')
      assert.deepEqual(recovery, [{ in_recovery: false }], 'the standby is a primary now')
      const stopping = Date.now()
      await partition.stop()
      const forced = partition
        .output()
        .stdout.split('\n')
        .filter((line) => line.includes('region did not stop in time')).length
      t.diagnostic(
        `the partition stopped ${Date.now() - stopping} ms after SIGTERM with its store dead (${forced} node(s) had to be killed)`,
      )
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
        assert.deepEqual(
          aliases.Aliases?.map((a) => a.AliasName),
          ['alias/before-failover'],
        )
        t.diagnostic(`node ${node}: ${listed.size} keys, ${acknowledged.length} of them acknowledged before the failover`)
      }

      // And the region serves writes again, on the new primary, seen by both nodes.
      const after = kmsClient(partition, REGION)
      const created = await eventually('a write on the promoted standby', () =>
        after.send(new CreateKeyCommand({ Description: 'after the failover' })),
      )
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
  },
)

/**
 * Failover without restarting Trent: the nodes reach PostgreSQL through an address that
 * moves to the new primary (a virtual IP, HAProxy, PgBouncer, Patroni's leader endpoint;
 * here a TCP forwarder the test retargets). With a synchronous standby, nothing a node
 * has applied is missing from it, so the nodes' pools simply reconnect.
 */
describe(
  'failover behind a moving address (a virtual IP or a proxy), nodes not restarted',
  { skip: postgresUnavailableReason() ?? false, timeout: 900_000 },
  () => {
    let primary: PostgresCluster
    let standby: PostgresStandby
    let forwarder: TcpForwarder
    const dataDir = dataDirForPartition()

    before(async () => {
      primary = await startPostgresCluster()
      standby = await startPostgresStandby(primary, { synchronous: true })
      forwarder = await startTcpForwarder(primary.port)
    })

    it('reconnects to the promoted standby by itself: every acknowledged key there, both nodes agree with one that loads afresh', async (t) => {
      const partition = await startOn(dataDir, `postgres://postgres@127.0.0.1:${forwarder.port}/postgres`)
      const pids = nodePids(partition, REGION)
      const burst = await writeThrough(partition, async () => {
        await primary.kill9()
        await standby.promote()
        forwarder.retarget(standby.port)
      })
      t.diagnostic(
        `${burst.acknowledged.length} keys acknowledged (${burst.beforeFault} before the failover); ${burst.failuresAfterFault} writes failed around it`,
      )
      for (const failure of burst.failures) assert.match(failure, /^(DependencyTimeoutException|KMSInternalException) /)

      // Writes succeed again on both nodes, from the same processes.
      for (const node of NODES)
        await eventually(`node ${node} to write on the new primary`, () =>
          nodeClient(partition, REGION, node).send(new CreateKeyCommand({ Description: `after, via node ${node}` })),
        )
      assert.deepEqual(nodePids(partition, REGION), pids, 'no node was restarted')
      await assertAcknowledgedKeys(partition, burst.acknowledged)

      // A node that loads afresh from the new primary agrees with one that lived through the failover.
      const victim = pids.get(1) ?? assert.fail('node 1 serves')
      process.kill(victim, 'SIGKILL')
      await partition.waitForNodeRestart(REGION, 1, victim, 120_000)
      const [lived, loaded] = await waitFor(
        'both nodes to list the same keys',
        async () => {
          const views = await Promise.all(NODES.map((node) => listKeys(nodeClient(partition, REGION, node))))
          return JSON.stringify([...(views[0] ?? [])].sort()) === JSON.stringify([...(views[1] ?? [])].sort()) ? views : undefined
        },
        { timeoutMs: 30_000 },
      ).catch(async () => Promise.all(NODES.map((node) => listKeys(nodeClient(partition, REGION, node)))))
      assert.deepEqual(
        [...(loaded ?? [])].sort(),
        [...(lived ?? [])].sort(),
        'the node that lived through the failover and the one that loaded afresh agree',
      )
      const stored = (await standby.query<{ key_id: string }>('SELECT key_id FROM trent_us_east_1.keys')).map((row) => row.key_id).sort()
      assert.deepEqual([...(lived ?? [])].sort(), stored, 'and both agree with the store')
    })
  },
)

/**
 * The same, with an ASYNCHRONOUS standby that lacks changes the nodes already applied
 * (it was cut off while the primary went on committing). Those changes are lost with
 * the primary: that is what asynchronous replication means, and the docs say so. But the
 * nodes, not restarted, must not go on from state the store no longer has: their
 * in-memory state would then differ from the store's and from each other's (a node
 * follows the change log from its own position, which the new primary reaches again
 * only with other changes). Known to fail: the change log's head going backwards is not
 * detected (see the report of issue 11).
 */
describe(
  'failover behind a moving address to an asynchronous standby that lacks applied changes',
  { skip: postgresUnavailableReason() ?? false, timeout: 900_000 },
  () => {
    let primary: PostgresCluster
    let standby: PostgresStandby
    let forwarder: TcpForwarder
    const dataDir = dataDirForPartition()

    before(async () => {
      primary = await startPostgresCluster()
      standby = await startPostgresStandby(primary, { synchronous: false })
      forwarder = await startTcpForwarder(primary.port)
    })

    // Found by this test: a store whose change log went back was not noticed, and the nodes
    // kept the lost changes in memory and diverged. A node now loads the store again when
    // the log does not reach its position (src/storage/storage.ts, ChangeLogMismatchError).
    // What remains, as docs/postgres-ha.md says: the lost writes are lost (they were
    // acknowledged), so an asynchronous standby is not a failover target for Trent.
    it('nodes that were not restarted agree with the store they now use', async (t) => {
      const partition = await startOn(dataDir, `postgres://postgres@127.0.0.1:${forwarder.port}/postgres`)
      const client = kmsClient(partition, REGION)
      const kept = await client.send(new CreateKeyCommand({ Description: 'replicated to the standby' }))
      await waitFor('the standby to replay it', async () => {
        const rows = await standby.query<{ n: string }>('SELECT count(*) AS n FROM trent_us_east_1.keys')
        return Number(rows[0]?.n) >= 1 ? true : undefined
      })
      // The standby stops receiving (it is shut down: a frozen one would still find the WAL
      // sent meanwhile in its socket's buffer); the primary, not waiting for it, goes on.
      await standby.stop()
      const lost: string[] = []
      for (let index = 0; index < 5; index++)
        lost.push((await client.send(new CreateKeyCommand({ Description: `lost ${index}` }))).KeyMetadata?.KeyId ?? '')
      for (const node of NODES)
        for (const id of lost)
          await onceFound(`node ${node} to know ${id}`, () =>
            nodeClient(partition, REGION, node).send(new DescribeKeyCommand({ KeyId: id })),
          )
      await primary.kill9()
      await standby.start()
      await standby.promote()
      forwarder.retarget(standby.port)

      // Writes go on, on both nodes, without a restart.
      const after = []
      for (const node of NODES) {
        after.push(
          await eventually(`node ${node} to write on the new primary`, () =>
            nodeClient(partition, REGION, node).send(new CreateKeyCommand({ Description: `after, via node ${node}` })),
          ),
        )
      }
      await delay(2_000)
      const stored = (await standby.query<{ key_id: string }>('SELECT key_id FROM trent_us_east_1.keys')).map((row) => row.key_id).sort()
      t.diagnostic(
        `the new primary has ${stored.length} keys; ${lost.filter((id) => stored.includes(id)).length} of the ${lost.length} made while the standby was down`,
      )
      assert.ok(stored.includes(kept.KeyMetadata?.KeyId ?? ''))
      const problems: string[] = []
      for (const node of NODES) {
        const listed = [...(await listKeys(nodeClient(partition, REGION, node)))].sort()
        const ghosts = listed.filter((id) => !stored.includes(id))
        const missing = stored.filter((id) => !listed.includes(id))
        t.diagnostic(
          `node ${node} lists ${listed.length} keys: ${ghosts.length} the store does not have, ${missing.length} of the store's missing`,
        )
        if (ghosts.length > 0)
          problems.push(
            `node ${node} serves ${ghosts.length} keys the store does not have (${ghosts.filter((id) => lost.includes(id)).length} of them lost with the primary)`,
          )
        for (const made of after) {
          const id = made.KeyMetadata?.KeyId ?? ''
          if (!listed.includes(id)) problems.push(`node ${node} never learns of key ${id}, made after the failover through the other node`)
        }
      }
      assert.deepEqual(problems, [], 'the nodes agree with the store they use')
    })
  },
)

/**
 * Writers through the gateway, each making a key and encrypting under it, over and over;
 * `fault` strikes once each has made a few, and they go on until each has tried a few
 * more times. Returns what was acknowledged (the key made, and data encrypted under it).
 */
async function writeThrough(
  partition: RunningPartition,
  fault: () => Promise<void>,
): Promise<{ acknowledged: Acknowledged[]; failures: string[]; beforeFault: number; failuresAfterFault: number }> {
  let writing = true
  const acknowledged: Acknowledged[] = []
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
        await delay(100)
      }
      progress[w] = i + 1
    }
  })
  try {
    await waitFor('every writer to have written a few keys', () => (progress.every((n) => n >= 3) ? true : undefined), {
      timeoutMs: 120_000,
    })
    const beforeFault = acknowledged.length
    const failuresBefore = failures.length
    const atFault = [...progress]
    await fault()
    await waitFor(
      'every writer to try again after the fault',
      () => (progress.every((n, w) => n >= (atFault[w] ?? 0) + 3) ? true : undefined),
      { timeoutMs: 300_000 },
    )
    return { acknowledged, failures, beforeFault, failuresAfterFault: failures.length - failuresBefore }
  } finally {
    writing = false
    await Promise.all(writers)
  }
}

/** Every acknowledged key is on each node of `partition` and decrypts what it encrypted. */
async function assertAcknowledgedKeys(partition: RunningPartition, acknowledged: readonly Acknowledged[]): Promise<void> {
  for (const node of NODES) {
    const nodeKms = nodeClient(partition, REGION, node)
    const listed = await listKeys(nodeKms)
    for (const { keyId, plaintext, ciphertext } of acknowledged) {
      assert.ok(listed.has(keyId), `node ${node} lists acknowledged key ${keyId}`)
      const decrypted = await nodeKms.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
      assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), plaintext, `node ${node} decrypts under ${keyId}`)
    }
  }
}

async function listKeys(client: KMSClient): Promise<Set<string>> {
  const keys = new Set<string>()
  let marker: string | undefined
  do {
    const page: ListKeysCommandOutput = await client.send(
      new ListKeysCommand({ Limit: 1000, ...(marker !== undefined ? { Marker: marker } : {}) }),
    )
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
      {
        what: 'TagResource',
        call: () => during.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'stall', TagValue: 'during' }] })),
      },
      { what: 'CreateAlias', call: () => during.send(new CreateAliasCommand({ AliasName: 'alias/during-stall', TargetKeyId: keyId })) },
    ]
    const settled = []
    for (const { what, call } of attempts) {
      const result = await settleWithin(what, call(), 180_000)
      t.diagnostic(
        `${what} while the standby is frozen: ${result.status === 'fulfilled' ? 'ACKNOWLEDGED' : describeError(result.reason)} after ${result.elapsedMs} ms`,
      )
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

    const acknowledgedKey =
      settled[0]?.result.status === 'fulfilled'
        ? (settled[0].result.value as { KeyMetadata?: { KeyId?: string } }).KeyMetadata?.KeyId
        : undefined
    for (const node of NODES) {
      const nodeKms = nodeClient(partition, REGION, node)
      const plain = await nodeKms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
      assert.equal(
        Buffer.from(plain.Plaintext ?? []).toString(),
        'before the stall',
        `node ${node}: the key confirmed before the stall is there`,
      )
      const lost: string[] = []
      if (acknowledgedKey !== undefined) {
        const found = await nodeKms.send(new DescribeKeyCommand({ KeyId: acknowledgedKey })).then(
          () => true,
          () => false,
        )
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
    await eventually('a write on the promoted standby', () =>
      kmsClient(partition, REGION).send(new CreateKeyCommand({ Description: 'after' })),
    )
  })
})
