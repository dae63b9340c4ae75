/**
 * Issue 11 §5, "Faults": a region of two nodes (`--nodes 2 --store postgres://…`, the real
 * launcher) while its PostgreSQL server is stopped (`pg_ctl stop -m fast`: connections
 * are refused) or frozen (SIGSTOP: connections hang, nothing answers).
 *
 * Clients are AWS SDK for JavaScript v3 clients with their default settings (three
 * attempts, the SDK's backoff, no request timeout of their own), through the gateway and
 * pinned to each node's own port. While the server is away:
 * - every write (CreateKey, TagResource, CreateAlias, ScheduleKeyDeletion) gets an answer,
 *   DependencyTimeoutException (the API's answer to the store's StorageUnavailableError)
 *   or KMSInternalException, before a generous deadline: no hang;
 * - reads served from memory (Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateMac,
 *   Sign, DescribeKey, ListKeys, ListAliases, ListResourceTags, GetKeyPolicy on existing
 *   keys) keep working, also while writes wait for the store;
 * - no node crashes: the pids stay the same.
 * Once the server is back, the region recovers by itself (nothing is restarted): writes
 * succeed again on both nodes, both nodes agree on what was written, and the region's
 * lease (its background work) is held again by exactly one node. The same with the server
 * killed (SIGKILL, crash recovery at its next start).
 *
 * And a long freeze (25 s, longer than every PostgreSQL timeout) with writers and a reader
 * all along: every write is answered within the bound, every read served; a node killed
 * meanwhile cannot start again without its store (its restarts fail, the other node goes
 * on serving) and comes back by itself once the server is thawed.
 *
 * No timing assertions: deadlines only turn hangs into failures; times are diagnostics.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateMacCommand,
  GetKeyPolicyCommand,
  KMSServiceException,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  type KMSClient,
  type ListAliasesCommandOutput,
} from '@aws-sdk/client-kms'
import {
  getHealth,
  isProcessAlive,
  kmsClient,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'
import { delay, describeError, eventually, leaseEvents, nodeClient, nodePids, onceFound, settleWithin } from './support.js'

const REGION = 'us-east-1'
const NODES = [0, 1] as const
const PLAINTEXT = Buffer.from('served from memory while the database is away')
/** How long one SDK call may take before it counts as a hang: the SDK's three attempts, each bounded by PostgreSQL timeouts of a few seconds, with a wide margin for a busy machine. */
const ANSWER_DEADLINE_MS = 120_000
/** Errors a write may answer while the store is away. */
const OUTAGE_ERRORS = new Set(['DependencyTimeoutException', 'KMSInternalException'])

interface Fault {
  name: string
  inject(cluster: PostgresCluster): Promise<void>
  heal(cluster: PostgresCluster): Promise<void>
}

const FAULTS: Fault[] = [
  {
    name: 'stopped (pg_ctl stop -m fast: sessions ended, connections refused)',
    inject: (cluster) => cluster.stop(),
    heal: (cluster) => cluster.start(),
  },
  {
    name: 'killed (SIGKILL to the server and its backends: a crash, recovered from its WAL at the next start)',
    inject: (cluster) => cluster.kill9(),
    heal: (cluster) => cluster.start(),
  },
  {
    name: 'frozen (SIGSTOP to the server and its backends: connections hang)',
    inject: async (cluster) => cluster.freeze(),
    heal: async (cluster) => cluster.thaw(),
  },
]

describe(
  'a two-node region while its PostgreSQL server is away',
  { skip: postgresUnavailableReason() ?? false, timeout: 1_200_000 },
  () => {
    let cluster: PostgresCluster
    let partition: RunningPartition
    let keyId: string
    let ciphertext: Uint8Array
    let hmacKeyId: string
    let signingKeyId: string

    before(async () => {
      cluster = await startPostgresCluster()
      partition = await startPartition({
        regions: [REGION],
        nodes: NODES.length,
        extraArgs: ['--store', cluster.url],
        env: { TRENT_LOG_LEVEL: 'info' },
        timeoutMs: 180_000,
      })
      const created = await kmsClient(partition, REGION).send(new CreateKeyCommand({ Description: 'made before the outage' }))
      keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
      const encrypted = await kmsClient(partition, REGION).send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
      ciphertext = encrypted.CiphertextBlob ?? assert.fail('no ciphertext')
      hmacKeyId =
        (await kmsClient(partition, REGION).send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' })))
          .KeyMetadata?.KeyId ?? assert.fail('no key id')
      signingKeyId =
        (await kmsClient(partition, REGION).send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata
          ?.KeyId ?? assert.fail('no key id')
      for (const node of NODES) {
        for (const id of [keyId, hmacKeyId, signingKeyId]) {
          await onceFound(`node ${node} to know ${id}`, () =>
            nodeClient(partition, REGION, node).send(new DescribeKeyCommand({ KeyId: id })),
          )
        }
      }
    })
    after(async () => {
      // The partition first: its nodes would otherwise keep reconnecting to a removed server.
      await stopAllPartitions()
      await removeAllPostgresClusters()
    })

    /** The gateway (default SDK client) and each node's own port. */
    function clients(): Array<{ name: string; client: KMSClient }> {
      return [
        { name: 'gateway', client: kmsClient(partition, REGION) },
        ...NODES.map((node) => ({ name: `node ${node}`, client: nodeClient(partition, REGION, node) })),
      ]
    }

    /** A key every node knows, made now (the store is up). */
    async function keyKnownEverywhere(description: string): Promise<string> {
      const created = await kmsClient(partition, REGION).send(new CreateKeyCommand({ Description: description }))
      const id = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
      for (const node of NODES)
        await onceFound(`node ${node} to know ${id}`, () => nodeClient(partition, REGION, node).send(new DescribeKeyCommand({ KeyId: id })))
      return id
    }

    /** The writes one client makes in a round: each a named SDK call. */
    function writes(client: KMSClient, tag: string, deletable: string): Array<{ what: string; call: () => Promise<unknown> }> {
      return [
        { what: 'CreateKey', call: () => client.send(new CreateKeyCommand({ Description: tag })) },
        { what: 'TagResource', call: () => client.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: tag, TagValue: 'x' }] })) },
        { what: 'CreateAlias', call: () => client.send(new CreateAliasCommand({ AliasName: `alias/${tag}`, TargetKeyId: keyId })) },
        {
          what: 'ScheduleKeyDeletion',
          call: () => client.send(new ScheduleKeyDeletionCommand({ KeyId: deletable, PendingWindowInDays: 7 })),
        },
      ]
    }

    function reads(client: KMSClient): Array<{ what: string; call: () => Promise<unknown> }> {
      return [
        { what: 'Encrypt', call: () => client.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })) },
        {
          what: 'Decrypt',
          call: async () => {
            const decrypted = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
            assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), PLAINTEXT)
          },
        },
        { what: 'GenerateDataKey', call: () => client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })) },
        { what: 'DescribeKey', call: () => client.send(new DescribeKeyCommand({ KeyId: keyId })) },
        { what: 'ReEncrypt', call: () => client.send(new ReEncryptCommand({ CiphertextBlob: ciphertext, DestinationKeyId: keyId })) },
        {
          what: 'GenerateMac',
          call: () => client.send(new GenerateMacCommand({ KeyId: hmacKeyId, MacAlgorithm: 'HMAC_SHA_256', Message: PLAINTEXT })),
        },
        {
          what: 'Sign',
          call: () =>
            client.send(
              new SignCommand({ KeyId: signingKeyId, SigningAlgorithm: 'ECDSA_SHA_256', Message: PLAINTEXT, MessageType: 'RAW' }),
            ),
        },
        { what: 'ListKeys', call: () => client.send(new ListKeysCommand({})) },
        { what: 'ListAliases', call: () => client.send(new ListAliasesCommand({})) },
        { what: 'ListResourceTags', call: () => client.send(new ListResourceTagsCommand({ KeyId: keyId })) },
        { what: 'GetKeyPolicy', call: () => client.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' })) },
      ]
    }

    FAULTS.forEach((fault, faultIndex) => {
      it(`answers writes with DependencyTimeoutException and keeps serving reads while the server is ${fault.name}, then recovers by itself`, async (t) => {
        const pidsBefore = nodePids(partition, REGION)
        const everPidsBefore = new Set(partition.allRegionPids)
        assert.equal(pidsBefore.size, NODES.length)
        // Keys to schedule for deletion: one per client during the outage, one after.
        const during = await Promise.all(clients().map((_, index) => keyKnownEverywhere(`deletable during outage ${faultIndex}.${index}`)))
        const afterwards = await Promise.all(
          clients().map((_, index) => keyKnownEverywhere(`deletable after outage ${faultIndex}.${index}`)),
        )

        const outageMark = Date.now()
        await fault.inject(cluster)
        t.diagnostic(`server ${fault.name.split(' ')[0]}`)

        // Writes and reads at once, from every client: reads must not wait for the writes.
        const outageClients = clients()
        const writeResults = outageClients.flatMap(({ name, client }, index) =>
          writes(client, `outage-${faultIndex}-${index}`, during[index] ?? '').map(({ what, call }) => ({
            name: `${what} via ${name}`,
            result: settleWithin(`${what} via ${name}`, call(), ANSWER_DEADLINE_MS),
          })),
        )
        const readResults = outageClients.flatMap(({ name, client }) =>
          reads(client).map(({ what, call }) => ({
            name: `${what} via ${name}`,
            result: settleWithin(`${what} via ${name}`, call(), ANSWER_DEADLINE_MS),
          })),
        )
        // Once the writes have been answered, reads again: a node that has seen its store fail still serves them.
        const writesSettled = await Promise.all(writeResults.map(async ({ name, result }) => ({ name, ...(await result) })))
        const readsDuring = await Promise.all(readResults.map(async ({ name, result }) => ({ name, ...(await result) })))
        const readsAfterWrites = await Promise.all(
          clients().flatMap(({ name, client }) =>
            reads(client).map(async ({ what, call }) => ({
              name: `${what} via ${name}`,
              ...(await settleWithin(what, call(), ANSWER_DEADLINE_MS)),
            })),
          ),
        )
        // And the writes of a second round, made while the outage goes on, are answered too.
        const secondRound = await Promise.all(
          clients().flatMap(({ name, client }, index) =>
            writes(client, `outage-${faultIndex}-again-${index}`, during[index] ?? '').map(async ({ what, call }) => ({
              name: `${what} via ${name} (second round)`,
              ...(await settleWithin(`${what} via ${name} (second round)`, call(), ANSWER_DEADLINE_MS)),
            })),
          ),
        )
        writesSettled.push(...secondRound)

        for (const write of writesSettled) {
          t.diagnostic(
            `${write.name}: ${write.status === 'rejected' ? describeError(write.reason) : 'succeeded'} after ${write.elapsedMs} ms`,
          )
        }
        for (const write of writesSettled) {
          assert.equal(write.status, 'rejected', `${write.name} cannot succeed while the store is away`)
          const reason = write.status === 'rejected' ? write.reason : undefined
          assert.ok(reason instanceof KMSServiceException, `${write.name}: an AWS error, not ${describeError(reason)}`)
          assert.ok(OUTAGE_ERRORS.has(reason.name), `${write.name}: ${describeError(reason)}`)
        }
        const dependencyTimeouts = writesSettled.filter(
          (w) => w.status === 'rejected' && (w.reason as Error).name === 'DependencyTimeoutException',
        ).length
        t.diagnostic(
          `${dependencyTimeouts} of ${writesSettled.length} writes answered DependencyTimeoutException, the others KMSInternalException`,
        )
        for (const read of [...readsDuring, ...readsAfterWrites]) {
          assert.equal(
            read.status,
            'fulfilled',
            `${read.name} is served from memory: ${read.status === 'rejected' ? describeError(read.reason) : ''}`,
          )
        }
        t.diagnostic(`reads during the outage: slowest ${Math.max(...[...readsDuring, ...readsAfterWrites].map((r) => r.elapsedMs))} ms`)

        // No node crashed or was restarted.
        assert.deepEqual(nodePids(partition, REGION), pidsBefore, 'the same node processes serve')
        assert.deepEqual(new Set(partition.allRegionPids), everPidsBefore, 'no node process was started meanwhile')
        for (const pid of pidsBefore.values()) assert.ok(isProcessAlive(pid), `node pid ${pid} is alive`)
        assert.equal((await getHealth(partition)).status, 200)

        // The server comes back; nothing else is done.
        const healMark = Date.now()
        await fault.heal(cluster)
        t.diagnostic('server back')
        const started = Date.now()
        for (const { name, client } of clients()) {
          await eventually(`a write via ${name} to succeed again`, () =>
            client.send(new CreateKeyCommand({ Description: `recovery probe via ${name}` })),
          )
        }
        t.diagnostic(`every client wrote again ${Date.now() - started} ms after the server came back`)

        // A full round of writes now succeeds (with the SDK's own retries, if any).
        const recovered = clients()
        const createdAfter: string[] = []
        for (const [index, { name, client }] of recovered.entries()) {
          for (const { what, call } of writes(client, `recovered-${faultIndex}-${index}`, afterwards[index] ?? '')) {
            const settled = await settleWithin(`${what} via ${name}`, call(), ANSWER_DEADLINE_MS)
            assert.equal(
              settled.status,
              'fulfilled',
              `${what} via ${name} after recovery: ${settled.status === 'rejected' ? describeError(settled.reason) : ''}`,
            )
            if (what === 'CreateKey' && settled.status === 'fulfilled') {
              createdAfter.push((settled.value as { KeyMetadata?: { KeyId?: string } }).KeyMetadata?.KeyId ?? assert.fail('no key id'))
            }
          }
        }

        // Both nodes agree: every key, the tags and aliases written after recovery, and the
        // state of the keys whose deletion was asked for during the outage (a write that
        // failed may or may not have committed, but both nodes say the same).
        const views = await waitFor(
          'both nodes to show the same keys, tags and aliases',
          async () => {
            const perNode = await Promise.all(
              NODES.map((node) => viewOf(nodeClient(partition, REGION, node), keyId, [...during, ...afterwards, ...createdAfter])),
            )
            const [first, second] = perNode
            return JSON.stringify(first) === JSON.stringify(second) &&
              recovered.every((_, index) => first?.aliases.includes(`alias/recovered-${faultIndex}-${index}`))
              ? first
              : undefined
          },
          { timeoutMs: 60_000 },
        )
        for (const id of createdAfter) assert.ok(views.keys.includes(id), `key ${id} made after recovery is listed`)
        for (const index of recovered.keys()) assert.ok(views.tags.includes(`recovered-${faultIndex}-${index}`))
        for (const [index, id] of afterwards.entries())
          assert.equal(views.states[id], 'PendingDeletion', `deletion ${index} asked after recovery took effect`)
        for (const id of during)
          assert.ok(['Enabled', 'PendingDeletion'].includes(views.states[id] ?? ''), `key ${id}: ${views.states[id]}`)

        // Background work resumes: the lease, lost when its renewal failed, is held again, by one node.
        await waitFor(
          'a node to hold the region lease again',
          () => {
            const since = leaseEvents(partition, REGION).filter((event) => event.at >= healMark)
            return since.some((event) => event.taken) ? true : undefined
          },
          { timeoutMs: 60_000 },
        )
        const holders = await waitFor(
          'exactly one node to hold the lease',
          () => {
            const last = new Map<number, boolean>()
            for (const event of leaseEvents(partition, REGION)) last.set(event.node, event.taken)
            const holding = [...last].filter(([, taken]) => taken).map(([node]) => node)
            return holding.length === 1 ? holding : undefined
          },
          { timeoutMs: 60_000 },
        )
        const outageEvents = leaseEvents(partition, REGION).filter((event) => event.at >= outageMark)
        t.diagnostic(
          `lease: ${outageEvents.map((e) => `node ${e.node} ${e.taken ? 'took' : 'lost'}`).join(', ')}; held by node ${holders[0]}`,
        )

        // Still the same processes.
        assert.deepEqual(nodePids(partition, REGION), pidsBefore, 'nothing was restarted to recover')
        assert.deepEqual(new Set(partition.allRegionPids), everPidsBefore)
      })
    })

    it('bounds every answer through a long freeze, and a node killed meanwhile comes back once the server does', async (t) => {
      const pidsBefore = nodePids(partition, REGION)
      cluster.freeze()
      const frozenAt = Date.now()
      // Writers and a reader all along, for longer than every PostgreSQL timeout (3, 5, 6, 10 s).
      let going = true
      /** Stops every loop at the first failure, so that none outlives the test. */
      const stopOnFailure = async (loop: () => Promise<void>): Promise<void> => {
        try {
          await loop()
        } catch (err) {
          going = false
          throw err
        }
      }
      const answers: Array<{ writer: number; status: string; elapsedMs: number }> = []
      const writers = Array.from({ length: 4 }, (_, writer) =>
        stopOnFailure(async () => {
          const client = writer < 3 ? kmsClient(partition, REGION) : nodeClient(partition, REGION, 0)
          while (going) {
            const settled = await settleWithin(
              `CreateKey by writer ${writer}`,
              client.send(new CreateKeyCommand({ Description: 'during a long freeze' })),
              ANSWER_DEADLINE_MS,
            )
            const reason = settled.status === 'rejected' ? settled.reason : undefined
            answers.push({ writer, status: reason === undefined ? 'succeeded' : describeError(reason), elapsedMs: settled.elapsedMs })
            assert.ok(reason instanceof KMSServiceException && OUTAGE_ERRORS.has(reason.name), `writer ${writer}: ${describeError(reason)}`)
          }
        }),
      )
      let reads = 0
      const reader = stopOnFailure(async () => {
        const client = kmsClient(partition, REGION)
        while (going) {
          const settled = await settleWithin(
            'Encrypt',
            client.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })),
            ANSWER_DEADLINE_MS,
          )
          assert.equal(
            settled.status,
            'fulfilled',
            `Encrypt during the freeze: ${settled.status === 'rejected' ? describeError(settled.reason) : ''}`,
          )
          reads += 1
        }
      })
      await delay(25_000)
      going = false
      await Promise.all([...writers, reader])
      t.diagnostic(
        `${answers.length} writes answered in ${Date.now() - frozenAt} ms of freeze, slowest ${Math.max(...answers.map((a) => a.elapsedMs))} ms; ${reads} reads served`,
      )

      // A node dies while the server is still frozen: its restarts cannot open the store.
      const victimPid = pidsBefore.get(1) ?? assert.fail('node 1 serves')
      process.kill(victimPid, 'SIGKILL')
      await waitFor(
        'a restart of node 1 to fail while the store is frozen',
        () => (/region us-east-1 node 1 \(pid \d+\) failed to start/.test(partition.output().stderr) ? true : undefined),
        { timeoutMs: 120_000 },
      )
      assert.equal(partition.regionNodes.get(REGION)?.has(1), false, 'node 1 does not serve without its store')
      assert.equal(partition.regionNodes.get(REGION)?.get(0)?.pid, pidsBefore.get(0), 'node 0 still serves, from the same process')
      assert.equal((await kmsClient(partition, REGION).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyId, keyId)

      cluster.thaw()
      const thawedAt = Date.now()
      const restartedPid = await partition.waitForNodeRestart(REGION, 1, victimPid, 120_000)
      t.diagnostic(`node 1 serves again (pid ${restartedPid}) ${Date.now() - thawedAt} ms after the thaw`)
      const created = []
      for (const node of NODES) {
        created.push(
          await eventually(`node ${node} to write again`, () =>
            nodeClient(partition, REGION, node).send(new CreateKeyCommand({ Description: `after the long freeze, via node ${node}` })),
          ),
        )
      }
      for (const node of NODES) {
        for (const made of created) {
          const id = made.KeyMetadata?.KeyId ?? assert.fail('no key id')
          await onceFound(`node ${node} to know ${id}`, () =>
            nodeClient(partition, REGION, node).send(new DescribeKeyCommand({ KeyId: id })),
          )
        }
      }
      assert.equal(partition.regionNodes.get(REGION)?.get(0)?.pid, pidsBefore.get(0), 'node 0 was never restarted')
    })
  },
)

interface NodeView {
  keys: string[]
  aliases: string[]
  tags: string[]
  states: Record<string, string>
}

/** What one node says: its keys, its aliases, the tags of `taggedKeyId`, and the state of each of `keyIds`. */
async function viewOf(client: KMSClient, taggedKeyId: string, keyIds: readonly string[]): Promise<NodeView> {
  const keys: string[] = []
  let marker: string | undefined
  do {
    const page = await client.send(new ListKeysCommand({ Limit: 1000, ...(marker !== undefined ? { Marker: marker } : {}) }))
    keys.push(...(page.Keys ?? []).map((k) => k.KeyId ?? ''))
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  const aliases: string[] = []
  marker = undefined
  do {
    const page: ListAliasesCommandOutput = await client.send(
      new ListAliasesCommand({ Limit: 100, ...(marker !== undefined ? { Marker: marker } : {}) }),
    )
    aliases.push(...(page.Aliases ?? []).map((a) => a.AliasName ?? '').filter((name) => !name.startsWith('alias/aws/')))
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  const tags = ((await client.send(new ListResourceTagsCommand({ KeyId: taggedKeyId, Limit: 50 }))).Tags ?? [])
    .map((tag) => tag.TagKey ?? '')
    .sort()
  const states: Record<string, string> = {}
  for (const id of keyIds) states[id] = (await client.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata?.KeyState ?? 'missing'
  return { keys: keys.sort(), aliases: aliases.sort(), tags, states }
}
