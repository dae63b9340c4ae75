/**
 * Issue 11 §5, "Faults", the lease: with `--nodes 2` on PostgreSQL a region's background
 * work (outbox sender, deletion sweeper, rotation, reconciliation) runs on one node, the
 * holder of the region's lease (src/kms/lease.ts). Found from its log line ("took the
 * region lease"), the holder of us-east-1 is killed with SIGKILL, and the work goes on on
 * the other node within seconds:
 * - a ReplicateKey made after the kill completes (eu-west-1 gets an Enabled replica that
 *   decrypts what us-east-1 encrypted): its message was queued after the kill, so only
 *   the new holder can have drained it from the outbox;
 * - a key scheduled for deletion is deleted once the clock of the new holder passes its
 *   deletion date. That clock (TrentAdmin.AdvanceClock, `--allow-test-hooks`: each node
 *   has its own) was moved eight days ahead *before* the deletion was scheduled (seven
 *   days) on the holder, so the key stays PendingDeletion while the other node does not
 *   hold the lease, and is deleted by that node's periodic sweep once it does: the sweep
 *   ran because the lease moved, not because AdvanceClock asked for a pass.
 *
 * So that "the other node" is the only candidate (a restarted holder competes for the
 * lease too, and may win the race), the killed node is kept from coming back, as a node
 * whose host stays down would be: its master key file is moved away before the kill, so
 * the launcher's restarts of it fail, and put back afterwards; the node then returns and
 * agrees with the other.
 *
 * No timing assertions: deadlines only turn hangs into failures.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { renameSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  KMSServiceException,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  type KeyMetadata,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { callTrent } from '../../src/cli/sign.js'
import { kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'
import { delay, leaseEvents, logLines, nodeClient, onceFound } from './support.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const DAY_SECONDS = 86_400
const PLAINTEXT = Buffer.from('encrypted in us-east-1, decrypted in eu-west-1')

/** The node of `region` whose latest lease event is "took", if exactly one such node. */
function leaseHolder(partition: RunningPartition, region: string): number | undefined {
  const last = new Map<number, boolean>()
  for (const event of leaseEvents(partition, region)) last.set(event.node, event.taken)
  const holding = [...last].filter(([, taken]) => taken).map(([node]) => node)
  return holding.length === 1 ? holding[0] : undefined
}

async function describeOrMissing(client: KMSClient, keyId: string): Promise<KeyMetadata | undefined> {
  try {
    return (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
  } catch (err) {
    if (err instanceof KMSServiceException && err.name === 'NotFoundException') return undefined
    throw err
  }
}

describe(
  'the region lease on a two-node region: kill -9 of its holder',
  { skip: postgresUnavailableReason() ?? false, timeout: 900_000 },
  () => {
    let cluster: PostgresCluster
    let partition: RunningPartition

    before(async () => {
      cluster = await startPostgresCluster()
      partition = await startPartition({
        regions: [US, EU],
        nodes: 2,
        extraArgs: ['--store', cluster.url, '--allow-test-hooks'],
        env: { TRENT_LOG_LEVEL: 'info' },
        timeoutMs: 180_000,
      })
    })
    after(async () => {
      await stopAllPartitions()
      await removeAllPostgresClusters()
    })

    async function admin(region: string, node: number, target: string, input: unknown): Promise<unknown> {
      const port = partition.regionNodes.get(region)?.get(node)?.port ?? assert.fail(`node ${node} of ${region} serves`)
      const answer = await callTrent(`http://127.0.0.1:${port}`, region, partition.credentials, `TrentAdmin.${target}`, input)
      assert.equal(answer.status, 200, JSON.stringify(answer.body))
      return answer.body
    }

    /** Waits until `keyId` is an Enabled replica in EU that decrypts `ciphertext`. */
    async function replicaServes(keyId: string, ciphertext: Uint8Array | undefined): Promise<void> {
      const eu = kmsClient(partition, EU)
      await waitFor(
        'the replica to be Enabled in eu-west-1',
        async () => ((await describeOrMissing(eu, keyId))?.KeyState === 'Enabled' ? true : undefined),
        {
          timeoutMs: 120_000,
          intervalMs: 250,
        },
      )
      const decrypted = await eu.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
      assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), PLAINTEXT)
    }

    it("keeps the store URL off the nodes' command lines, where ps would show a password in it", () => {
      for (const nodes of partition.regionNodes.values()) {
        for (const node of nodes.values()) {
          const commandLine = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8')
          assert.ok(!commandLine.includes('postgres'), `node pid ${node.pid} has the store on its command line`)
          assert.ok(
            readFileSync(`/proc/${node.pid}/environ`, 'utf8').split('\0').includes(`TRENT_STORE=${cluster.url}`),
            'the node has its store from its environment',
          )
        }
      }
    })

    it('moves the background work to the other node within seconds: replication and deletion go on', async (t) => {
      const holder = await waitFor('one node of us-east-1 to hold the lease', () => leaseHolder(partition, US), { timeoutMs: 60_000 })
      const other = holder === 0 ? 1 : 0
      const holderPid = partition.regionNodes.get(US)?.get(holder)?.pid ?? assert.fail('the holder serves')
      t.diagnostic(`us-east-1: node ${holder} (pid ${holderPid}) holds the lease`)
      const holderKms = nodeClient(partition, US, holder)
      const otherKms = nodeClient(partition, US, other)

      // Replication works before the kill (so a failure after it is the lease's).
      const before = await kmsClient(partition, US).send(
        new CreateKeyCommand({ MultiRegion: true, Description: 'replicated before the kill' }),
      )
      const beforeId = before.KeyMetadata?.KeyId ?? assert.fail('no key id')
      const beforeCiphertext = (await kmsClient(partition, US).send(new EncryptCommand({ KeyId: beforeId, Plaintext: PLAINTEXT })))
        .CiphertextBlob
      await kmsClient(partition, US).send(new ReplicateKeyCommand({ KeyId: beforeId, ReplicaRegion: EU }))
      await replicaServes(beforeId, beforeCiphertext)

      // A multi-Region key to replicate after the kill, known to both nodes.
      const mrk = await holderKms.send(new CreateKeyCommand({ MultiRegion: true, Description: 'replicated after the kill' }))
      const mrkId = mrk.KeyMetadata?.KeyId ?? assert.fail('no key id')
      const ciphertext = (await holderKms.send(new EncryptCommand({ KeyId: mrkId, Plaintext: PLAINTEXT }))).CiphertextBlob
      await onceFound('the other node to know the multi-Region key', () => otherKms.send(new DescribeKeyCommand({ KeyId: mrkId })))

      // The other node's clock goes 8 days ahead first (its AdvanceClock pass finds nothing due)...
      await admin(US, other, 'AdvanceClock', { Seconds: 8 * DAY_SECONDS })
      // ...then the holder, on real time, schedules a deletion 7 days out.
      const doomed = await holderKms.send(new CreateKeyCommand({ Description: 'deleted by the new holder' }))
      const doomedId = doomed.KeyMetadata?.KeyId ?? assert.fail('no key id')
      await holderKms.send(new ScheduleKeyDeletionCommand({ KeyId: doomedId, PendingWindowInDays: 7 }))
      await waitFor('the other node to see the deletion scheduled', async () =>
        (await describeOrMissing(otherKms, doomedId))?.KeyState === 'PendingDeletion' ? true : undefined,
      )
      // Several background intervals (1 s each) pass: the other node's clock is past the date,
      // but it does not hold the lease, so it sweeps nothing.
      await delay(4_000)
      for (const client of [holderKms, otherKms])
        assert.equal((await describeOrMissing(client, doomedId))?.KeyState, 'PendingDeletion', 'not swept by a node without the lease')

      // The holder's host "stays down": its restarts cannot start until the master key is back.
      const masterKey = join(partition.dataDir, 'regions', US, 'master.key')
      renameSync(masterKey, `${masterKey}.away`)
      let masterKeyBack = false
      const restoreMasterKey = (): void => {
        if (!masterKeyBack) renameSync(`${masterKey}.away`, masterKey)
        masterKeyBack = true
      }
      const killMark = Date.now()
      try {
        process.kill(holderPid, 'SIGKILL')
        // A replication asked for after the kill, through the node left: queued in the outbox.
        await otherKms.send(new ReplicateKeyCommand({ KeyId: mrkId, ReplicaRegion: EU }))

        await waitFor(
          'the other node to take the lease',
          () =>
            leaseEvents(partition, US).some((event) => event.at >= killMark && event.taken && event.node === other) ? true : undefined,
          { timeoutMs: 60_000, intervalMs: 100 },
        )
        t.diagnostic(`node ${other} took the lease ${Date.now() - killMark} ms after the kill (the lease lasts 5 s after its last renewal)`)
        assert.equal(
          leaseEvents(partition, US).filter((event) => event.at >= killMark && event.taken && event.node !== other).length,
          0,
          'no other process took it',
        )
        assert.equal(partition.regionNodes.get(US)?.has(holder), false, 'the killed node is not serving (its restarts fail)')

        await replicaServes(mrkId, ciphertext)
        t.diagnostic(`the replication asked for after the kill completed ${Date.now() - killMark} ms after it`)
        await waitFor(
          'the new holder to delete the key whose date its clock passed',
          async () => ((await describeOrMissing(otherKms, doomedId)) === undefined ? true : undefined),
          {
            timeoutMs: 60_000,
            intervalMs: 250,
          },
        )
        t.diagnostic(`the scheduled deletion happened ${Date.now() - killMark} ms after the kill`)
        const deletedBy = logLines(partition).filter((line) => line.msg === 'key deleted' && line.keyId === doomedId)
        assert.deepEqual(
          deletedBy.map((line) => ({ region: line.region, node: line.node })),
          [{ region: US, node: other }],
          'deleted once, by the periodic sweep of the new holder',
        )
      } finally {
        restoreMasterKey()
      }

      // The killed node comes back (the launcher keeps retrying) and agrees.
      const restartedPid = await partition.waitForNodeRestart(US, holder, holderPid, 120_000)
      const restarted = nodeClient(partition, US, holder)
      t.diagnostic(`node ${holder} is back as pid ${restartedPid}`)
      assert.equal(await describeOrMissing(restarted, doomedId), undefined, 'the restarted node knows the key was deleted')
      const described = await restarted.send(new DescribeKeyCommand({ KeyId: mrkId }))
      assert.deepEqual(
        described.KeyMetadata?.MultiRegionConfiguration?.ReplicaKeys?.map((replica) => replica.Region),
        [EU],
      )
      // The lease stays with its new holder: the restarted node does not take it.
      await delay(2_000)
      const sinceKill = leaseEvents(partition, US).filter((event) => event.at >= killMark)
      assert.deepEqual(
        sinceKill.map(({ node, taken }) => ({ node, taken })),
        [{ node: other, taken: true }],
        'since the kill, only the other node took the lease, and kept it',
      )
    })
  },
)
