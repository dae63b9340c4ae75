/**
 * Replication survives kill -9 of the source region, the destination region or the
 * proxy at each step of the protocol (docs/spec/replication.md §6–§10): after restart
 * every replication either completes with identical material or fails visibly, and
 * nothing is lost or duplicated.
 *
 * Each scenario runs its own partition of real OS processes (two or three regions and
 * a proxy, test/helpers/replication-cluster.ts); independent scenarios run concurrently.
 * A region dies at a named failpoint (src/kms/failpoints.ts) and is restarted on the
 * same data dir and port, without the failpoint armed (the marker file would stop it
 * anyway); two scenarios kill at random or at every failpoint in turn, and two replay
 * deterministically what the random one found. Nothing here asserts timing:
 * convergence is polled for with a generous deadline, and on failure the error carries
 * every region's replication view, the proxy's status and the processes' output.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  UpdatePrimaryRegionCommand,
  type KeyMetadata,
  type KMSClient,
} from '@aws-sdk/client-kms'
import {
  startReplicationCluster,
  type FailpointName,
  type ReplicationCluster,
  type ReplicationClusterOptions,
} from '../helpers/replication-cluster.js'

const A = 'us-east-1'
const B = 'eu-west-1'
const C = 'ap-southeast-2'

/** Generous: a healthy run converges in a second or two. */
const CONVERGENCE_DEADLINE_MS = 60_000
const SCENARIO_TIMEOUT_MS = 240_000
/** Several reconciliation passes (300 ms each). */
const STABILITY_WAIT_MS = 1_000
/** Two CPUs run four clusters (twelve processes) comfortably. */
const CONCURRENCY = Number(process.env.TRENT_CRASH_CONCURRENCY ?? 4)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------
// Clusters and diagnostics

async function diagnostics(cluster: ReplicationCluster, keyId: string | undefined): Promise<string> {
  const parts: string[] = []
  for (const name of cluster.regionNames) {
    const region = cluster.region(name)
    if (keyId !== undefined && region.running) {
      try {
        parts.push(`DescribeReplication in ${name}: ${JSON.stringify(await region.admin('DescribeReplication', { KeyId: keyId }))}`)
      } catch (err) {
        parts.push(`DescribeReplication in ${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
      }
    } else if (!region.running) {
      parts.push(`${name}: not running`)
    }
  }
  try {
    parts.push(`proxy status: ${JSON.stringify((await cluster.proxy.status()).destinations)}`)
  } catch {
    parts.push('proxy: not answering')
  }
  for (const name of cluster.regionNames) parts.push(`--- ${name} output (tail) ---\n${cluster.region(name).output().slice(-4000)}`)
  return parts.join('\n')
}

/** Runs `body` on a fresh cluster and removes every process and file afterwards, whatever happens. */
async function withCluster(
  options: ReplicationClusterOptions,
  body: (cluster: ReplicationCluster, ctx: { keyId?: string }) => Promise<void>,
): Promise<void> {
  const cluster = await startReplicationCluster(options)
  const ctx: { keyId?: string } = {}
  try {
    await body(cluster, ctx)
  } catch (err) {
    const extra = await diagnostics(cluster, ctx.keyId).catch(() => '(no diagnostics)')
    if (err instanceof Error) err.message = `${err.message}\n\n=== cluster state ===\n${extra}`
    throw err
  } finally {
    await cluster.close()
  }
}

// ---------------------------------------------------------------------------------------
// Keys

const kms = (cluster: ReplicationCluster, region: string): KMSClient => cluster.region(region).client()

async function createMrk(cluster: ReplicationCluster, region: string, ctx: { keyId?: string }): Promise<string> {
  const created = await kms(cluster, region).send(new CreateKeyCommand({ MultiRegion: true, Description: 'primary' }))
  const keyId = created.KeyMetadata?.KeyId ?? ''
  assert.ok(keyId.startsWith('mrk-'), 'CreateKey returned an mrk- key id')
  ctx.keyId = keyId
  return keyId
}

function replicateCommand(keyId: string, to: string): ReplicateKeyCommand {
  return new ReplicateKeyCommand({
    KeyId: keyId,
    ReplicaRegion: to,
    Description: `replica in ${to}`,
    Tags: [{ TagKey: 'replica', TagValue: to }],
  })
}

/** ReplicateKey that must be acknowledged: returns the Creating replica. */
async function replicate(cluster: ReplicationCluster, keyId: string, from: string, to: string): Promise<void> {
  const out = await kms(cluster, from).send(replicateCommand(keyId, to))
  assert.equal(out.ReplicaKeyMetadata?.KeyState, 'Creating')
  assert.equal(out.ReplicaKeyMetadata?.Arn?.split(':')[3], to)
}

/** The independent properties the ReplicateKey request gave the replica are there, once. */
async function assertReplicaProperties(cluster: ReplicationCluster, keyId: string, region: string): Promise<void> {
  const md = (await kms(cluster, region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
  assert.equal(md?.Description, `replica in ${region}`)
  const tags = (await kms(cluster, region).send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags
  assert.deepEqual(tags, [{ TagKey: 'replica', TagValue: region }])
}

interface Ciphertext {
  blob: Uint8Array
  plaintext: string
}

async function encryptIn(cluster: ReplicationCluster, region: string, keyId: string, plaintext: string): Promise<Ciphertext> {
  const out = await kms(cluster, region).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext) }))
  assert.ok(out.CiphertextBlob !== undefined)
  return { blob: out.CiphertextBlob, plaintext }
}

async function assertDecrypts(cluster: ReplicationCluster, region: string, keyId: string, ciphertext: Ciphertext): Promise<void> {
  const out = await kms(cluster, region).send(new DecryptCommand({ CiphertextBlob: ciphertext.blob }))
  assert.equal(
    Buffer.from(out.Plaintext ?? []).toString(),
    ciphertext.plaintext,
    `${region} decrypts a ciphertext of ${ciphertext.plaintext}`,
  )
  assert.ok(out.KeyId?.endsWith(`:key/${keyId}`), `${region} names the key that decrypted`)
  assert.equal(out.KeyId?.split(':')[3], region)
}

async function countListed(client: KMSClient, keyId: string): Promise<number> {
  let count = 0
  let marker: string | undefined
  do {
    const page = await client.send(new ListKeysCommand({ Limit: 1000, ...(marker !== undefined ? { Marker: marker } : {}) }))
    count += (page.Keys ?? []).filter((k) => k.KeyId === keyId).length
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  return count
}

interface Expectation {
  primary: string
  replicas: string[]
  /** Rotations ListKeyRotations lists (the non-pending ones). */
  rotations: number
  /** Older ciphertexts that must still decrypt in every region. */
  old?: Ciphertext[]
}

interface Converged {
  currentKeyMaterialId: string
}

/**
 * Everything the issue asks of a finished replication, checked once: every related key
 * Enabled with the right role; one CurrentKeyMaterialId; identical ListKeyRotations;
 * ciphertexts of each region decrypt in every other; the primary sees every replica
 * IN_SYNC; the key listed once per region; no material version held twice.
 */
async function checkConverged(cluster: ReplicationCluster, keyId: string, expected: Expectation): Promise<Converged> {
  const regions = [expected.primary, ...expected.replicas]
  const metadata = new Map<string, KeyMetadata>()
  for (const region of regions) {
    const md = (await kms(cluster, region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.ok(md !== undefined)
    metadata.set(region, md)
    assert.equal(md.KeyState, 'Enabled', `the key in ${region} is Enabled`)
    const config = md.MultiRegionConfiguration
    assert.equal(config?.MultiRegionKeyType, region === expected.primary ? 'PRIMARY' : 'REPLICA', `role in ${region}`)
    assert.equal(config?.PrimaryKey?.Region, expected.primary, `${region} names the primary`)
    assert.deepEqual((config?.ReplicaKeys ?? []).map((r) => r.Region).sort(), [...expected.replicas].sort(), `${region} lists the replicas`)
  }
  const current = metadata.get(expected.primary)?.CurrentKeyMaterialId
  assert.ok(current !== undefined && current !== '', 'the primary has a current key material id')
  for (const region of expected.replicas)
    assert.equal(metadata.get(region)?.CurrentKeyMaterialId, current, `${region} has the primary's current material`)

  // ListKeyRotations: the same, material for material, in every region.
  const rotationsOf = async (region: string, all: boolean): Promise<unknown[]> =>
    (
      (
        await kms(cluster, region).send(
          new ListKeyRotationsCommand({ KeyId: keyId, ...(all ? { IncludeKeyMaterial: 'ALL_KEY_MATERIAL' } : {}) }),
        )
      ).Rotations ?? []
    ).map((r) => ({ id: r.KeyMaterialId, state: r.KeyMaterialState, type: r.RotationType, date: r.RotationDate?.getTime() }))
  const primaryRotations = await rotationsOf(expected.primary, false)
  const primaryMaterials = await rotationsOf(expected.primary, true)
  assert.equal(primaryRotations.length, expected.rotations, 'rotations listed by the primary')
  assert.equal(primaryMaterials.length, expected.rotations + 1, 'material versions listed by the primary (none pending)')
  const ids = primaryMaterials.map((m) => (m as { id: string }).id)
  assert.equal(new Set(ids).size, ids.length, 'every material id once')
  // The reads above are not one snapshot: a rotation made current between them would
  // tear it. The material ListKeyRotations calls CURRENT must be DescribeKey's.
  assert.deepEqual(
    primaryMaterials.filter((m) => (m as { state: string }).state === 'CURRENT').map((m) => (m as { id: string }).id),
    [current],
    "the primary's CURRENT material is its CurrentKeyMaterialId",
  )
  for (const region of expected.replicas) {
    assert.deepEqual(await rotationsOf(region, false), primaryRotations, `ListKeyRotations in ${region} agrees with the primary`)
    assert.deepEqual(await rotationsOf(region, true), primaryMaterials, `every key material in ${region} agrees with the primary`)
  }

  // The primary's replication view: every replica IN_SYNC, nothing pending.
  const versions = Array.from({ length: expected.rotations + 1 }, (_, i) => i + 1)
  const primaryView = await cluster.region(expected.primary).admin('DescribeReplication', { KeyId: keyId })
  assert.equal(primaryView.Role, 'PRIMARY')
  assert.deepEqual(primaryView.MaterialVersions, versions, 'the primary holds each version once')
  assert.deepEqual(primaryView.PendingMaterialVersions, [])
  const replicaViews = (primaryView.Replicas ?? []) as Array<{
    Region: string
    State: string
    MaterialVersions: number[]
    Pending: string[]
  }>
  assert.deepEqual(replicaViews.map((r) => r.Region).sort(), [...expected.replicas].sort())
  for (const view of replicaViews) {
    assert.equal(view.State, 'IN_SYNC', `the primary sees ${view.Region} IN_SYNC`)
    assert.deepEqual(view.Pending, [])
    assert.deepEqual(view.MaterialVersions, versions)
  }
  for (const region of expected.replicas) {
    const own = await cluster.region(region).admin('DescribeReplication', { KeyId: keyId })
    assert.equal(own.Role, 'REPLICA')
    assert.deepEqual(own.MaterialVersions, versions, `${region} holds each version once`)
    assert.deepEqual(own.MissingMaterialVersions, [])
  }

  // No duplicate key in any region.
  for (const region of regions) assert.equal(await countListed(kms(cluster, region), keyId), 1, `ListKeys in ${region} lists the key once`)

  // A ciphertext from each region decrypts in every other; old ones still decrypt.
  for (const from of regions) {
    const ciphertext = await encryptIn(cluster, from, keyId, `from ${from}`)
    for (const to of regions) await assertDecrypts(cluster, to, keyId, ciphertext)
  }
  for (const ciphertext of expected.old ?? []) for (const region of regions) await assertDecrypts(cluster, region, keyId, ciphertext)

  // Recovery never looks like an attack: no region refused a message (a refusal is how
  // a replication "fails visibly"; none of these faults should make one fail).
  const destinations = (await cluster.proxy.status()).destinations
  for (const [region, status] of Object.entries(destinations)) {
    assert.equal(status.refused, 0, `${region} refused no message: ${JSON.stringify(status.recentRefusals)}`)
  }
  return { currentKeyMaterialId: current }
}

/**
 * Polls {@link checkConverged} until it holds; after the deadline, fails with what did
 * not. Once it holds, it must still hold a few reconciliation passes later (nothing
 * flaps back, no late duplicate undoes it).
 */
async function waitConverged(cluster: ReplicationCluster, keyId: string, expected: Expectation): Promise<Converged> {
  const deadline = Date.now() + CONVERGENCE_DEADLINE_MS
  let last: unknown
  for (;;) {
    let converged: Converged | undefined
    try {
      converged = await checkConverged(cluster, keyId, expected)
    } catch (err) {
      last = err
    }
    if (converged !== undefined) {
      await sleep(STABILITY_WAIT_MS)
      try {
        const still = await checkConverged(cluster, keyId, expected)
        assert.equal(still.currentKeyMaterialId, converged.currentKeyMaterialId)
      } catch (err) {
        throw new Error(`replication of ${keyId} converged, then came apart: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        })
      }
      return converged
    }
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? last.message : String(last)
      throw new Error(`replication of ${keyId} did not converge within ${CONVERGENCE_DEADLINE_MS} ms: ${reason}`, { cause: last })
    }
    await sleep(200)
  }
}

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = CONVERGENCE_DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await condition()) return
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/**
 * Runs `operation` until `done` says it took effect, for a region that may die under
 * it: `done` is checked first, so an operation that committed is never repeated.
 */
async function untilDone(what: string, operation: () => Promise<unknown>, done: () => Promise<boolean>): Promise<void> {
  await waitUntil(async () => {
    if (await done().catch(() => false)) return true
    await operation().catch(() => undefined)
    return done()
  }, what)
}

/** A small seeded PRNG (mulberry32), so that a failing random run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The region died at the failpoint (SIGKILL, marker left), and is started again unarmed. */
async function expectDeathAndRestart(cluster: ReplicationCluster, region: string, failpoint: FailpointName): Promise<void> {
  const died = await cluster.region(region).waitForExit(CONVERGENCE_DEADLINE_MS)
  assert.equal(died.signal, 'SIGKILL', `${region} was killed at ${failpoint}`)
  assert.ok(cluster.region(region).failpointFired(failpoint), `failpoint ${failpoint} fired in ${region}`)
  await cluster.region(region).start()
}

/** A key replicated from A to each of `replicas`, converged. */
async function replicatedKey(
  cluster: ReplicationCluster,
  ctx: { keyId?: string },
  replicas: string[],
): Promise<{ keyId: string; converged: Converged }> {
  const keyId = await createMrk(cluster, A, ctx)
  for (const region of replicas) await replicate(cluster, keyId, A, region)
  const converged = await waitConverged(cluster, keyId, { primary: A, replicas, rotations: 0 })
  return { keyId, converged }
}

// ---------------------------------------------------------------------------------------
// Scenarios

/** Failpoints reached while a fresh key is replicated from A (source) to B (destination). */
const REPLICATE_KEY_FAILPOINTS: Array<{ failpoint: FailpointName; region: string; step: string }> = [
  { failpoint: 'replicate-key:after-commit', region: A, step: 'ReplicateKey committed, before its answer' },
  { failpoint: 'outbox:after-send', region: A, step: 'ReplicaCreate handed to the proxy, before the outbox forgets it' },
  { failpoint: 'outbox:after-send', region: B, step: 'AgreementOffer handed to the proxy, before the outbox forgets it' },
  { failpoint: 'inbound:before-apply', region: B, step: 'ReplicaCreate verified, before it is applied' },
  { failpoint: 'inbound:before-apply', region: A, step: 'AgreementOffer verified, before it is applied' },
  { failpoint: 'inbound:after-commit', region: B, step: 'ReplicaCreate applied, before the proxy is answered' },
  { failpoint: 'inbound:after-commit', region: A, step: 'AgreementOffer answered (MaterialTransfer queued), before the proxy is answered' },
  { failpoint: 'transfer:after-wrap', region: A, step: 'material wrapped under the RWK, before MaterialTransfer is committed' },
  { failpoint: 'transfer:after-unwrap', region: B, step: 'material unwrapped, before it is stored' },
]

describe(
  'kill -9 at each step of replication: every replication completes, nothing lost or duplicated',
  { concurrency: CONCURRENCY },
  () => {
    // -------------------------------------------------------------------------------------
    // What the kill -9 storm (at the end) found, reproduced deterministically. First, so
    // that a failing one's long wait overlaps the other scenarios.

    it(
      'UpdatePrimaryRegion while a rotation is pending, the new version reported to the old primary after the handoff: one primary, the rotation completes',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        // No periodic reconciliation (only the pass at start) and strictly ordered delivery
        // per region: the interleaving below is forced with routes alone.
        const DEAD = 'http://127.0.0.1:9'
        await withCluster(
          { regions: [A, B], reconcileIntervalMs: 600_000, proxyExtraArgs: ['--max-in-flight', '1'] },
          async (cluster, ctx) => {
            const { keyId } = await replicatedKey(cluster, ctx, [B])
            const live = cluster.proxy.routes
            const pending = async (region: string): Promise<number> => (await cluster.proxy.status()).destinations[region]?.pending ?? 0
            const own = (region: string): Promise<Record<string, unknown>> =>
              cluster.region(region).admin('DescribeReplication', { KeyId: keyId })

            // 1. A rotates; B learns of version 2 and offers a session, held for A.
            await cluster.proxy.setRoutes({ ...live, [A]: DEAD })
            await kms(cluster, A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
            await waitUntil(async () => (await pending(A)) >= 2, "B's AgreementOffer and SyncAck held for A")
            // 2. A answers the offer; the MaterialTransfer is held for B.
            await cluster.proxy.setRoutes({ ...live, [B]: DEAD })
            await waitUntil(async () => (await pending(A)) === 0 && (await pending(B)) >= 1, "A's MaterialTransfer held for B")
            // 3. B takes version 2; its TransferComplete and SyncAck are held for A.
            await cluster.proxy.setRoutes({ ...live, [A]: DEAD })
            await waitUntil(
              async () => JSON.stringify((await own(B)).MaterialVersions) === '[1,2]' && (await pending(A)) >= 2,
              'B to hold version 2, its reports held for A',
            )
            // 4. A hands the primary role to B (allowed: both Enabled); B takes it and tells A, held.
            await kms(cluster, A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
            await waitUntil(
              async () => (await own(B)).Role === 'PRIMARY' && (await pending(A)) >= 3,
              'B to become PRIMARY, its SharedState held for A',
            )
            // 5. A gets, in order: B's TransferComplete (v2 held everywhere), then B's SharedState as new primary.
            await cluster.proxy.setRoutes(live)
            // B PRIMARY, A REPLICA, version 2 current in both. Found by the storm at 5f977e0:
            // A, still PRIMARY and Updating, promoted version 2 on the TransferComplete (sync
            // version 4 -> 5), the very sync version B had adopted (4 + 1); B's SharedState(5)
            // was then a "duplicate" to A and A's a "duplicate" to B: two PRIMARY keys for
            // good, A Updating for ever, version 2 never current in B. Fixed by c1869aa ("no
            // shared changes during a handoff"); the same root cause as
            // test/multi-region/adversarial-schedule.test.ts's pending-rotation handoff case.
            await waitConverged(cluster, keyId, { primary: B, replicas: [A], rotations: 1 })
          },
        )
      },
    )

    it(
      'UpdatePrimaryRegion while a rotation is pending, the new primary killed while it fetches the pending version: it fetches it again, the rotation completes',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
          const { keyId } = await replicatedKey(cluster, ctx, [B])
          const old = [await encryptIn(cluster, A, keyId, 'old from A')]
          // B is down: A's rotation stays pending, and A hands the primary role to B.
          await cluster.region(B).stop()
          await kms(cluster, A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
          await kms(cluster, A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }))
          // B comes back, becomes PRIMARY (docs/spec/replication.md#update-primary), opens a
          // session to fetch version 2 from A, and is killed after unwrapping it, before storing it.
          await cluster.region(B).start({ failpoints: ['transfer:after-unwrap'] })
          await expectDeathAndRestart(cluster, B, 'transfer:after-unwrap')
          // Version 2 reaches B and becomes current; one rotation everywhere. Found by the
          // storm at 5f977e0 (still there at c1869aa): onPrimaryHandoff recorded the pending
          // version nowhere but in the session it opened, the restarted B forgot its sessions
          // (forgetSessions) and, a primary, never opened another (reconcile re-opened
          // sessions only for replicas). B kept version 1 only, for good; A, now a replica,
          // held 1 and 2 with 1 current; B's DescribeReplication showed A IN_SYNC with only
          // the note "the replica reported material ids that differ from the primary"; the
          // acknowledged RotateKeyOnDemand was gone from the primary's ListKeyRotations.
          // Fixed by ffad16d (the new primary keeps knownVersions and reconciliation fetches them).
          await waitConverged(cluster, keyId, { primary: B, replicas: [A], rotations: 1, old })
        })
      },
    )

    for (const { failpoint, region, step } of REPLICATE_KEY_FAILPOINTS) {
      const role = region === A ? 'source' : 'destination'
      it(`ReplicateKey; the ${role} dies at ${failpoint} (${step})`, { timeout: SCENARIO_TIMEOUT_MS }, async () => {
        await withCluster({ regions: [A, B], failpoints: { [region]: [failpoint] } }, async (cluster, ctx) => {
          const keyId = await createMrk(cluster, A, ctx)
          const call = kms(cluster, A).send(replicateCommand(keyId, B))
          if (failpoint === 'replicate-key:after-commit') {
            // The source dies after committing and before answering: the caller sees an error.
            await assert.rejects(call)
          } else {
            // A source failpoint may fire before or after the answer is written; a
            // destination one never stops the answer.
            const answered = await call.then(
              (out) => out,
              (err: unknown) => {
                if (region !== A) throw err
                return undefined
              },
            )
            if (answered !== undefined) assert.equal(answered.ReplicaKeyMetadata?.KeyState, 'Creating')
          }
          await expectDeathAndRestart(cluster, region, failpoint)
          await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 0 })
          await assertReplicaProperties(cluster, keyId, B)
        })
      })
    }

    it('RotateKeyOnDemand on a replicated key; the primary dies at rotation:after-commit', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
      await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
        const { keyId, converged } = await replicatedKey(cluster, ctx, [B])
        const old = [await encryptIn(cluster, A, keyId, 'old from A'), await encryptIn(cluster, B, keyId, 'old from B')]
        await cluster.region(A).restart({ failpoints: ['rotation:after-commit'] })
        await assert.rejects(kms(cluster, A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })))
        await expectDeathAndRestart(cluster, A, 'rotation:after-commit')
        // Committed before the crash: the rotation completes everywhere.
        const after = await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 1, old })
        assert.notEqual(after.currentKeyMaterialId, converged.currentKeyMaterialId, 'the rotation made new material current')
      })
    })

    for (const { failpoint, region } of [
      { failpoint: 'transfer:after-wrap' as const, region: A },
      { failpoint: 'transfer:after-unwrap' as const, region: B },
    ]) {
      it(
        `RotateKeyOnDemand on a replicated key; the ${region === A ? 'source' : 'destination'} dies at ${failpoint} while the new version travels`,
        { timeout: SCENARIO_TIMEOUT_MS },
        async () => {
          await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
            const { keyId, converged } = await replicatedKey(cluster, ctx, [B])
            const old = [await encryptIn(cluster, A, keyId, 'old from A'), await encryptIn(cluster, B, keyId, 'old from B')]
            await cluster.region(region).restart({ failpoints: [failpoint] })
            await kms(cluster, A).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
            await expectDeathAndRestart(cluster, region, failpoint)
            const after = await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 1, old })
            assert.notEqual(after.currentKeyMaterialId, converged.currentKeyMaterialId)
          })
        },
      )
    }

    it(
      'UpdatePrimaryRegion on a key replicated to two regions; the old primary dies at update-primary:after-commit',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        await withCluster({ regions: [A, B, C] }, async (cluster, ctx) => {
          const { keyId, converged } = await replicatedKey(cluster, ctx, [B, C])
          const old = [await encryptIn(cluster, A, keyId, 'old from A'), await encryptIn(cluster, C, keyId, 'old from C')]
          await cluster.region(A).restart({ failpoints: ['update-primary:after-commit'] })
          await assert.rejects(kms(cluster, A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B })))
          await expectDeathAndRestart(cluster, A, 'update-primary:after-commit')
          const after = await waitConverged(cluster, keyId, { primary: B, replicas: [A, C], rotations: 0, old })
          assert.equal(after.currentKeyMaterialId, converged.currentKeyMaterialId, 'material is unchanged by a primary change')
        })
      },
    )

    it('an acknowledged ReplicateKey survives kill -9 of the source right after the answer', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
      await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
        const keyId = await createMrk(cluster, A, ctx)
        await replicate(cluster, keyId, A, B)
        await cluster.region(A).kill9()
        await cluster.region(A).start()
        await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 0 })
        await assertReplicaProperties(cluster, keyId, B)
      })
    })

    it(
      'kill -9 of the proxy right after ReplicateKey returns: replication completes after its restart',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
          const keyId = await createMrk(cluster, A, ctx)
          await replicate(cluster, keyId, A, B)
          await cluster.proxy.kill9()
          await cluster.proxy.start()
          await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 0 })
          await assertReplicaProperties(cluster, keyId, B)
        })
      },
    )

    it('kill -9 of the proxy after each of the first deliveries: replication completes', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
      await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
        const delivered = async (): Promise<number> =>
          Object.values((await cluster.proxy.status()).destinations).reduce((sum, d) => sum + d.delivered, 0)
        const keyId = await createMrk(cluster, A, ctx)
        await replicate(cluster, keyId, A, B)
        for (let kill = 0; kill < 4; kill++) {
          const before = await delivered()
          await waitUntil(async () => (await delivered()) > before, `delivery ${kill + 1}`)
          await cluster.proxy.kill9()
          await cluster.proxy.start()
        }
        await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 0 })
        await assertReplicaProperties(cluster, keyId, B)
      })
    })

    it(
      'ReplicateKey while the destination is down: CREATING, pending in the proxy; the destination starts and replication completes',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
          await cluster.region(B).stop()
          const keyId = await createMrk(cluster, A, ctx)
          await replicate(cluster, keyId, A, B)
          // The proxy holds the ReplicaCreate for the region that is down.
          await waitUntil(
            async () => ((await cluster.proxy.status()).destinations[B]?.pending ?? 0) >= 1,
            'the proxy to hold an envelope for the destination',
          )
          const view = await cluster.region(A).admin('DescribeReplication', { KeyId: keyId })
          const replicas = view.Replicas as Array<{ Region: string; State: string; Pending: string[] }>
          assert.equal(replicas.length, 1)
          assert.equal(replicas[0]?.Region, B)
          assert.equal(replicas[0]?.State, 'CREATING')
          assert.ok((replicas[0]?.Pending.length ?? 0) > 0, 'the primary says what is pending')
          // Start the destination with its route still pointing nowhere: the replica does not exist there yet.
          const routes = cluster.proxy.routes
          await cluster.proxy.setRoutes({ ...routes, [B]: 'http://127.0.0.1:9' })
          await cluster.region(B).start()
          await assert.rejects(kms(cluster, B).send(new DescribeKeyCommand({ KeyId: keyId })), { name: 'NotFoundException' })
          assert.equal(await countListed(kms(cluster, B), keyId), 0)
          // The route back: the stored envelopes are delivered and replication completes.
          await cluster.proxy.setRoutes(routes)
          await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 0 })
          await assertReplicaProperties(cluster, keyId, B)
        })
      },
    )

    it(
      'every message-path failpoint armed in both regions at once; whichever dies is restarted (re-armed) until the key is replicated, rotated and handed over',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        const MESSAGE_FAILPOINTS: FailpointName[] = [
          'outbox:after-send',
          'inbound:before-apply',
          'inbound:after-commit',
          'transfer:after-wrap',
          'transfer:after-unwrap',
        ]
        await withCluster({ regions: [A, B], failpoints: { [A]: MESSAGE_FAILPOINTS, [B]: MESSAGE_FAILPOINTS } }, async (cluster, ctx) => {
          // The supervisor: restart any region that died, failpoints armed again (each fires
          // once per data dir, so every one gets its turn).
          let supervising = true
          const supervisor = (async () => {
            while (supervising) {
              for (const name of [A, B]) {
                const region = cluster.region(name)
                if (!region.running) await region.start({ failpoints: MESSAGE_FAILPOINTS }).catch(() => undefined)
              }
              await sleep(50)
            }
          })()
          try {
            const keyId = await (async () => {
              for (;;) {
                try {
                  return await createMrk(cluster, A, ctx)
                } catch {
                  await sleep(100)
                }
              }
            })()
            const describeIn = async (region: string): Promise<KeyMetadata | undefined> =>
              (await kms(cluster, region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
            await untilDone(
              'ReplicateKey',
              () => kms(cluster, A).send(replicateCommand(keyId, B)),
              async () => (await describeIn(A))?.MultiRegionConfiguration?.ReplicaKeys?.length === 1,
            )
            const first = await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 0 })
            const old = [await encryptIn(cluster, A, keyId, 'old from A'), await encryptIn(cluster, B, keyId, 'old from B')]
            await untilDone(
              'RotateKeyOnDemand',
              () => kms(cluster, A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })),
              async () =>
                (
                  (await kms(cluster, A).send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' })))
                    .Rotations ?? []
                ).length === 2,
            )
            const rotated = await waitConverged(cluster, keyId, { primary: A, replicas: [B], rotations: 1, old })
            assert.notEqual(rotated.currentKeyMaterialId, first.currentKeyMaterialId)
            await untilDone(
              'UpdatePrimaryRegion',
              () => kms(cluster, A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B })),
              async () => {
                const md = await describeIn(A)
                return md?.KeyState === 'Updating' || md?.MultiRegionConfiguration?.MultiRegionKeyType === 'REPLICA'
              },
            )
            const handedOver = await waitConverged(cluster, keyId, { primary: B, replicas: [A], rotations: 1, old })
            assert.equal(handedOver.currentKeyMaterialId, rotated.currentKeyMaterialId)
            // Each side's message path was interrupted at least at these points.
            for (const [region, failpoint] of [
              [A, 'outbox:after-send'],
              [A, 'inbound:before-apply'],
              [A, 'inbound:after-commit'],
              [A, 'transfer:after-wrap'],
              [B, 'outbox:after-send'],
              [B, 'inbound:before-apply'],
              [B, 'inbound:after-commit'],
              [B, 'transfer:after-unwrap'],
            ] as const) {
              assert.ok(cluster.region(region).failpointFired(failpoint), `${failpoint} fired in ${region}`)
            }
          } finally {
            supervising = false
            await supervisor
          }
        })
      },
    )

    it(
      'kill -9 storm: source, destination and proxy killed at random moments while a key is replicated, rotated and handed over',
      { timeout: SCENARIO_TIMEOUT_MS },
      async () => {
        const seed = Number(process.env.TRENT_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31))
        const random = prng(seed)
        try {
          await withCluster({ regions: [A, B] }, async (cluster, ctx) => {
            const keyId = await createMrk(cluster, A, ctx)
            const describeIn = async (region: string): Promise<KeyMetadata | undefined> =>
              (await kms(cluster, region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
            // Twelve kills at random moments; the operations are spread over the storm.
            const STORM_KILLS = 12
            const kills: string[] = []
            const storm = (async () => {
              while (kills.length < STORM_KILLS) {
                await sleep(100 + Math.floor(random() * 400))
                const target = [A, B, 'proxy'][Math.floor(random() * 3)] ?? 'proxy'
                kills.push(target)
                if (target === 'proxy') await cluster.proxy.kill9()
                else await cluster.region(target).kill9()
                await sleep(Math.floor(random() * 200))
                if (target === 'proxy') await cluster.proxy.start()
                else await cluster.region(target).start()
              }
            })()
            const afterKills = (n: number): Promise<void> => waitUntil(() => Promise.resolve(kills.length >= n), `kill ${n}`)
            try {
              await untilDone(
                'ReplicateKey',
                () => kms(cluster, A).send(replicateCommand(keyId, B)),
                async () => (await describeIn(A))?.MultiRegionConfiguration?.ReplicaKeys?.length === 1,
              )
              await afterKills(4)
              await untilDone(
                'RotateKeyOnDemand',
                () => kms(cluster, A).send(new RotateKeyOnDemandCommand({ KeyId: keyId })),
                async () =>
                  (
                    (await kms(cluster, A).send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' })))
                      .Rotations ?? []
                  ).length === 2,
              )
              // Handed over whether the rotation is still pending or not.
              await afterKills(8)
              await untilDone(
                'UpdatePrimaryRegion',
                () => kms(cluster, A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B })),
                async () => {
                  const md = await describeIn(A)
                  return md?.KeyState === 'Updating' || md?.MultiRegionConfiguration?.MultiRegionKeyType === 'REPLICA'
                },
              )
            } finally {
              await storm
            }
            await waitConverged(cluster, keyId, { primary: B, replicas: [A], rotations: 1 })
            // Independent properties stay with the key they were given to, primary now or not.
            await assertReplicaProperties(cluster, keyId, B)
          })
        } catch (err) {
          if (err instanceof Error) err.message = `(TRENT_CRASH_SEED=${seed}) ${err.message}`
          throw err
        }
      },
    )
  },
)
