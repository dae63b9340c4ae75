/**
 * Issue 11 §5, "Faults": `kill -9` of one node of a two-node region on PostgreSQL in the
 * middle of a burst of writes (the real launcher, `--nodes 2 --store postgres://…`).
 *
 * Writers, each an AWS SDK v3 client of its own with default settings (so one keep-alive
 * connection each), run CreateKey → TagResource → CreateAlias over and over: most through
 * the gateway (which hands each connection to one node, round-robin), two pinned to the
 * surviving node's own port. One node is killed with SIGKILL while they write (node 1, then,
 * once it is back, node 0); the launcher restarts it. Then:
 * - every acknowledged write is there, through both nodes (the restarted one included):
 *   each acknowledged key is Enabled and encrypts and decrypts, each acknowledged tag and
 *   alias is there;
 * - nothing is half there, acknowledged or not: every key either node lists has its
 *   material (it encrypts), every alias names a key that exists, and the two nodes list
 *   the same keys, aliases and tags;
 * - writers whose connection was on the surviving node saw no error: those pinned to its
 *   port, and those whose gateway connection it served (told by the nodes' debug logs,
 *   which name each request id); every error any writer saw came from the killed node's
 *   connections (no answer at all, an answer from the killed node, or an answer to an SDK
 *   retry of a request the killed node may have carried out).
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
  KMSServiceException,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  TagResourceCommand,
  type KMSClient,
  type ListAliasesCommandOutput,
  type ListKeysCommandOutput,
} from '@aws-sdk/client-kms'
import { kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'
import { describeError, nodeClient, servedRequests } from './support.js'

const REGION = 'us-east-1'
const GATEWAY_WRITERS = 8
const PINNED_WRITERS = 2
const PLAINTEXT = Buffer.from('acknowledged, so it is there')

interface Outcome {
  what: string
  requestId: string | undefined
  attempts: number
  error?: string
  errorName?: string
}

interface Writer {
  name: string
  pinned: boolean
  client: KMSClient
  iterations: number
  outcomes: Outcome[]
  keys: string[]
  tags: Array<{ keyId: string; tag: string }>
  aliases: Array<{ alias: string; keyId: string }>
}

function metadataOf(value: unknown): { requestId: string | undefined; attempts: number } {
  const metadata = (value as { $metadata?: { requestId?: string; attempts?: number } } | undefined)?.$metadata
  return { requestId: metadata?.requestId, attempts: metadata?.attempts ?? 1 }
}

/** Runs `call`, records how it went; resolves with its value, or undefined if it failed. */
async function record<T>(writer: Writer, what: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    const value = await call()
    writer.outcomes.push({ what, ...metadataOf(value) })
    return value
  } catch (err) {
    writer.outcomes.push({ what, ...metadataOf(err), error: describeError(err), errorName: err instanceof Error ? err.name : 'unknown' })
    return undefined
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inBatches<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T
        await work(item)
      }
    }),
  )
}

describe(
  'kill -9 of a node in the middle of a burst of writes (two nodes on PostgreSQL)',
  { skip: postgresUnavailableReason() ?? false, timeout: 900_000 },
  () => {
    let cluster: PostgresCluster
    let partition: RunningPartition

    before(async () => {
      cluster = await startPostgresCluster()
      // Debug level: every node logs each request it serves with its request id.
      partition = await startPartition({
        regions: [REGION],
        nodes: 2,
        extraArgs: ['--store', cluster.url],
        env: { TRENT_LOG_LEVEL: 'debug' },
        timeoutMs: 180_000,
      })
    })
    after(async () => {
      await stopAllPartitions()
      await removeAllPostgresClusters()
    })

    // Node 1 first; then node 0, the first node started (it usually holds the region's lease).
    for (const [VICTIM, SURVIVOR] of [
      [1, 0],
      [0, 1],
    ] as const) {
      it(`keeps every acknowledged write, whole, on both nodes, through kill -9 of node ${VICTIM}; clients of node ${SURVIVOR} see no error`, async (t) => {
        const victimPid = partition.regionNodes.get(REGION)?.get(VICTIM)?.pid ?? assert.fail('the victim serves')
        const survivorPort = partition.regionNodes.get(REGION)?.get(SURVIVOR)?.port ?? assert.fail('the survivor serves')
        const writers: Writer[] = [
          ...Array.from({ length: GATEWAY_WRITERS }, (_, index) => ({
            name: `gateway writer ${index}`,
            pinned: false,
            client: kmsClient(partition, REGION),
          })),
          ...Array.from({ length: PINNED_WRITERS }, (_, index) => ({
            name: `writer ${index} pinned to node ${SURVIVOR}`,
            pinned: true,
            client: kmsClient(partition, REGION, { endpoint: `http://127.0.0.1:${survivorPort}` }),
          })),
        ].map((w) => ({ ...w, iterations: 0, outcomes: [], keys: [], tags: [], aliases: [] }))
        const keysBefore = (await nodeView(nodeClient(partition, REGION, SURVIVOR))).keys

        let writing = true
        const running = writers.map(async (writer, w) => {
          for (let i = 0; writing; i++) {
            const created = await record(writer, 'CreateKey', () =>
              writer.client.send(new CreateKeyCommand({ Description: `burst ${VICTIM}.${w}.${i}` })),
            )
            const keyId = created?.KeyMetadata?.KeyId
            if (keyId !== undefined) {
              writer.keys.push(keyId)
              const tag = `burst-${VICTIM}-${w}-${i}`
              if (
                await record(writer, 'TagResource', () =>
                  writer.client.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: tag, TagValue: String(i) }] })),
                )
              ) {
                writer.tags.push({ keyId, tag })
              }
              const alias = `alias/burst-${VICTIM}-${w}-${i}`
              if (
                await record(writer, 'CreateAlias', () =>
                  writer.client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId })),
                )
              ) {
                writer.aliases.push({ alias, keyId })
              }
            }
            writer.iterations += 1
          }
        })

        try {
          await waitFor('every writer to have written a few times', () => (writers.every((w) => w.iterations >= 3) ? true : undefined), {
            timeoutMs: 120_000,
          })
          // Who serves whom, before the kill: a writer's keep-alive connection stays on one node.
          const servedBefore = servedRequests(partition)
          const homeOf = new Map<Writer, Set<number>>()
          for (const writer of writers) {
            const nodes = new Set(
              writer.outcomes
                .map((o) => (o.requestId === undefined ? undefined : servedBefore.get(o.requestId)?.node))
                .filter((n) => n !== undefined),
            )
            homeOf.set(writer, nodes)
          }
          const onVictim = writers.filter((w) => homeOf.get(w)?.has(VICTIM))
          const onSurvivor = writers.filter((w) => !w.pinned && homeOf.get(w)?.size === 1 && homeOf.get(w)?.has(SURVIVOR))
          t.diagnostic(
            `before the kill: ${onVictim.length} gateway writers on node ${VICTIM}, ${onSurvivor.length} on node ${SURVIVOR}, ${PINNED_WRITERS} pinned to node ${SURVIVOR}`,
          )
          assert.ok(onVictim.length > 0, 'some writer is served by the node about to be killed')
          assert.ok(onSurvivor.length > 0, 'some gateway writer is served by the surviving node')
          for (const writer of writers.filter((w) => w.pinned)) assert.deepEqual([...(homeOf.get(writer) ?? [])], [SURVIVOR])

          const atKill = writers.map((w) => w.iterations)
          process.kill(victimPid, 'SIGKILL')
          t.diagnostic(`killed node ${VICTIM} (pid ${victimPid}) after ${atKill.reduce((a, b) => a + b, 0)} iterations`)
          const restartedPid = await partition.waitForNodeRestart(REGION, VICTIM, victimPid, 120_000)
          const atRestart = writers.map((w) => w.iterations)
          await waitFor(
            'every writer to write more after the restart',
            () => (writers.every((w, index) => w.iterations >= (atRestart[index] ?? 0) + 3) ? true : undefined),
            { timeoutMs: 120_000 },
          )
          writing = false
          await Promise.all(running)
          t.diagnostic(
            `node ${VICTIM} restarted as pid ${restartedPid}; ${writers.reduce((sum, w) => sum + w.iterations, 0)} iterations in all`,
          )

          // Errors: none for the surviving node's clients; every other one caused by the kill.
          const served = servedRequests(partition)
          const errors = writers.flatMap((w) => w.outcomes.filter((o) => o.error !== undefined).map((o) => ({ writer: w, outcome: o })))
          for (const { writer, outcome } of errors)
            t.diagnostic(
              `${writer.name}: ${outcome.what}: ${outcome.error} (served by node ${outcome.requestId === undefined ? 'none' : (served.get(outcome.requestId)?.node ?? '?')})`,
            )
          const retried = writers.flatMap((w) => w.outcomes).filter((o) => o.error === undefined && o.attempts > 1).length
          t.diagnostic(`${errors.length} writes failed, ${retried} succeeded after an SDK retry`)
          for (const writer of [...writers.filter((w) => w.pinned), ...onSurvivor]) {
            assert.deepEqual(
              writer.outcomes.filter((o) => o.error !== undefined),
              [],
              `${writer.name}, on node ${SURVIVOR}, saw no error`,
            )
          }
          for (const { writer, outcome } of errors) {
            const by = outcome.requestId === undefined ? undefined : served.get(outcome.requestId)?.node
            const causedByKill = outcome.requestId === undefined || outcome.attempts > 1 || by === VICTIM
            assert.ok(causedByKill, `${writer.name}: ${outcome.what} failed on a first attempt answered by node ${by}: ${outcome.error}`)
          }

          // Every acknowledged write is there, through every node.
          const keys = writers.flatMap((w) => w.keys)
          const tags = writers.flatMap((w) => w.tags)
          const aliases = writers.flatMap((w) => w.aliases)
          t.diagnostic(`acknowledged: ${keys.length} keys, ${tags.length} tags, ${aliases.length} aliases`)
          const views = []
          for (const node of [SURVIVOR, VICTIM]) {
            const client = nodeClient(partition, REGION, node)
            const view = await nodeView(client)
            views.push(view)
            for (const keyId of keys) assert.ok(view.keys.has(keyId), `node ${node} lists acknowledged key ${keyId}`)
            for (const { keyId, tag } of tags) assert.ok(view.tags.get(keyId)?.includes(tag), `node ${node}: tag ${tag} of ${keyId}`)
            for (const { alias, keyId } of aliases) assert.equal(view.aliases.get(alias), keyId, `node ${node}: ${alias}`)
            // Nothing half there: every key it lists is whole, every alias names a key.
            await inBatches([...view.keys], 6, async (keyId) => {
              const described = await client.send(new DescribeKeyCommand({ KeyId: keyId }))
              assert.equal(described.KeyMetadata?.KeyState, 'Enabled', `node ${node}: key ${keyId}`)
              const encrypted = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
              const decrypted = await client.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
              assert.deepEqual(Buffer.from(decrypted.Plaintext ?? []), PLAINTEXT, `node ${node}: key ${keyId} has its material`)
            })
            for (const [alias, keyId] of view.aliases)
              assert.ok(view.keys.has(keyId), `node ${node}: ${alias} names ${keyId}, which exists`)
          }
          const [survivorView, restartedView] = views
          assert.deepEqual(restartedView, survivorView, 'both nodes show the same keys, tags and aliases')
          const unacknowledged = [...(survivorView?.keys ?? [])].filter((id) => !keys.includes(id) && !keysBefore.has(id)).length
          t.diagnostic(`keys there that no client saw acknowledged (whole, as every other): ${unacknowledged}`)
        } finally {
          writing = false
          await Promise.all(running)
        }
      })
    }
  },
)

interface NodeView {
  keys: Set<string>
  /** Key id → its tag keys, sorted. */
  tags: Map<string, string[]>
  /** Alias name → key id. */
  aliases: Map<string, string>
}

async function nodeView(client: KMSClient): Promise<NodeView> {
  const keys = new Set<string>()
  let marker: string | undefined
  do {
    const page: ListKeysCommandOutput = await client.send(
      new ListKeysCommand({ Limit: 1000, ...(marker !== undefined ? { Marker: marker } : {}) }),
    )
    for (const key of page.Keys ?? []) if (key.KeyId !== undefined) keys.add(key.KeyId)
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  const aliases = new Map<string, string>()
  marker = undefined
  do {
    const page: ListAliasesCommandOutput = await client.send(
      new ListAliasesCommand({ Limit: 100, ...(marker !== undefined ? { Marker: marker } : {}) }),
    )
    for (const alias of page.Aliases ?? []) {
      if (alias.AliasName === undefined || alias.AliasName.startsWith('alias/aws/')) continue
      aliases.set(alias.AliasName, alias.TargetKeyId ?? '<none>')
    }
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  const tags = new Map<string, string[]>()
  await inBatches([...keys].sort(), 6, async (keyId) => {
    try {
      const listed = await client.send(new ListResourceTagsCommand({ KeyId: keyId, Limit: 50 }))
      tags.set(keyId, (listed.Tags ?? []).map((tag) => tag.TagKey ?? '').sort())
    } catch (err) {
      if (err instanceof KMSServiceException && err.name === 'NotFoundException') return
      throw err
    }
  })
  return {
    keys: new Set([...keys].sort()),
    tags: new Map([...tags].sort(([a], [b]) => a.localeCompare(b))),
    aliases: new Map([...aliases].sort(([a], [b]) => a.localeCompare(b))),
  }
}
