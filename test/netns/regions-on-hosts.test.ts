/**
 * Regions on separate hosts, for real: each region and the replication proxy run in a
 * network namespace of their own (test/helpers/netns.ts), so that the only way between
 * two regions is through the proxy, as the seed says ("HSMs in different regions cannot
 * communicate directly"). Everything is set up the way an operator sets up regions on
 * separate hosts (README, "Replication state and multi-host partitions"): each region
 * started by hand with its own data dir, master key and `--proxy-url`, the proxy with a
 * route to each region's replication endpoint, and every region's signing keys pinned in
 * every other region with `trent rsk export` / `trent rsk import`.
 *
 * Then, driven with `@aws-sdk/client-kms` from the root namespace (the client): a
 * multi-Region key is replicated, used across regions, rotated, and its primary moved;
 * and a region cut off from the proxy (its link taken down) misses the primary's changes
 * and catches up once reconnected.
 *
 * Needs root (CI runs as root): without it the test fails and says so. No timing
 * assertions: every wait polls with a generous deadline.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetKeyRotationStatusCommand,
  ListKeyRotationsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  UpdatePrimaryRegionCommand,
  type KMSClient,
  type KeyMetadata,
} from '@aws-sdk/client-kms'
import { callTrent } from '../../src/cli/sign.js'
import type { DestinationStatus } from '../../src/proxy/relay.js'
import { TEST_CREDENTIALS } from '../helpers/in-process-region.js'
import {
  assertCanCreateHosts,
  createHosts,
  createRunDir,
  removeStaleHosts,
  type Hosts,
  type RegionHost,
  type TcpProbe,
} from '../helpers/netns.js'
import { removeTempDir, waitFor } from '../helpers/partition.js'
import { getJson, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js'
import { startRegionProcess, type RegionProcess } from '../helpers/region-process.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const US = 'us-east-1'
const EU = 'eu-west-1'
const AP = 'ap-southeast-2'
const REGIONS = [US, EU, AP] as const
const ACCOUNT = '111122223333'
const arn = (region: string, keyId: string): string => `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`

/** Every namespace has its own ports, so fixed ones cannot collide with anything (and stay below 32768). */
const API_PORT = 4567
const REPLICATION_PORT = 4568
const PROXY_PORT = 4570
/** Short intervals, so that a reconnected region catches up quickly. */
const REGION_TIMING_ARGS = ['--reconcile-interval-ms', '500', '--background-interval-ms', '250']
/** Replication across processes and namespaces on a loaded 2-core machine: generous, never asserted. */
const SYNC = { timeoutMs: 180_000, intervalMs: 250 }
/** Three regions starting at once (HSM workers, SQLite, signing keys) on that machine. */
const START_TIMEOUT_MS = 90_000
const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const UNREACHABLE = ['ENETUNREACH', 'EHOSTUNREACH']

/**
 * Where a region listens: its KMS API on its client-facing address only, and its
 * replication listener (`POST /replication/v1/envelopes`, which the API port does not
 * serve) on its proxy-facing address only, where the proxy's route points. So the proxy
 * cannot reach the KMS API, and the client cannot reach the replication endpoint.
 */
function listenPlan(host: RegionHost): { args: string[]; replicationUrl: string; replicationPort: number } {
  return {
    args: [
      '--host',
      host.clientFacingAddress,
      '--port',
      String(API_PORT),
      '--replication-host',
      host.proxyFacingAddress,
      '--replication-port',
      String(REPLICATION_PORT),
    ],
    replicationUrl: `http://${host.proxyFacingAddress}:${REPLICATION_PORT}`,
    replicationPort: REPLICATION_PORT,
  }
}

/** DescribeReplication's answer (docs/spec/replication.md §12). */
interface ReplicaStatus {
  Region: string
  State: 'IN_SYNC' | 'PENDING' | 'CREATING'
  MaterialVersions: number[]
  AcknowledgedSyncVersion: number
  Pending: string[]
}
interface ReplicationView {
  Region: string
  Role: 'PRIMARY' | 'REPLICA'
  KeyState: string
  PrimaryRegion: string
  SyncVersion: number
  MaterialVersions: number[]
  CurrentMaterialVersion: number
  PendingMaterialVersions?: number[]
  Replicas?: ReplicaStatus[]
  MissingMaterialVersions?: number[]
}

/** Runs `command` (a command prefix and what follows it) and collects what it printed. */
function runCommand([command = '', ...args]: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

function text(bytes: Uint8Array | undefined): string {
  return Buffer.from(bytes ?? []).toString('utf8')
}

function assertUnreachable(probe: TcpProbe, what: string): void {
  assert.ok(!probe.connected && UNREACHABLE.includes(probe.code), `${what}: expected no route, got ${JSON.stringify(probe)}`)
}

describe('regions on separate hosts (network namespaces), joined only by the proxy', { timeout: 900_000 }, () => {
  const scratch = createRunDir()
  let hosts: Hosts | undefined
  let proxy: ProxyProcess | undefined
  const regionProcesses = new Map<string, RegionProcess>()
  const clients = new Map<string, KMSClient>()
  const partitionId = `trent-${randomBytes(8).toString('hex')}`

  const made = (): Hosts => {
    if (hosts === undefined) throw new Error('the namespaces were not made')
    return hosts
  }
  const host = (region: string): RegionHost => made().region(region)
  const kms = (region: string): KMSClient => {
    const client = clients.get(region)
    if (client === undefined) throw new Error(`no client for ${region}`)
    return client
  }
  const endpoint = (region: string): string => `http://${host(region).clientFacingAddress}:${API_PORT}`

  async function replication(region: string, keyId: string): Promise<ReplicationView> {
    const answer = await callTrent(endpoint(region), region, TEST_CREDENTIALS, 'TrentAdmin.DescribeReplication', { KeyId: keyId })
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    return answer.body as ReplicationView
  }
  async function describeKey(region: string, keyId: string): Promise<KeyMetadata> {
    const md = (await kms(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
    assert.ok(md !== undefined)
    return md
  }
  async function rotationStatus(
    region: string,
    keyId: string,
  ): Promise<{ enabled: boolean | undefined; periodInDays: number | undefined }> {
    const status = await kms(region).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))
    return { enabled: status.KeyRotationEnabled, periodInDays: status.RotationPeriodInDays }
  }
  async function rotationCount(region: string, keyId: string): Promise<number> {
    return ((await kms(region).send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations ?? []).length
  }
  async function proxyDestinations(): Promise<Record<string, DestinationStatus>> {
    if (proxy === undefined) throw new Error('no proxy')
    return ((await getJson(`${proxy.url}/v1/status`)) as { destinations: Record<string, DestinationStatus> }).destinations
  }
  /** What a failed wait adds to its message: what each process said last, and what the proxy holds. */
  async function diagnostics(): Promise<string> {
    const parts = [...regionProcesses.values()].map((r) => `--- ${r.region} (last output) ---\n${r.output().slice(-4_000)}`)
    parts.push(
      `--- proxy /v1/status ---\n${await proxyDestinations().then(
        (d) => JSON.stringify(d, null, 1),
        (err: unknown) => String(err),
      )}`,
    )
    return parts.join('\n')
  }
  /** Polls until `probe` answers something; on a timeout, fails with what it saw last and the diagnostics. */
  async function eventually<T>(what: string, probe: () => Promise<{ done: T } | { seen: unknown }>): Promise<T> {
    let lastSeen: unknown
    try {
      return await waitFor(
        what,
        async () => {
          const outcome = await probe()
          if ('done' in outcome) return outcome.done
          lastSeen = outcome.seen
          return undefined
        },
        SYNC,
      )
    } catch (err) {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\nlast seen: ${JSON.stringify(lastSeen)}\n${await diagnostics()}`,
        { cause: err },
      )
    }
  }
  /** Encrypts in `from`; checks that each of `to` decrypts it, under the material `from` used. */
  async function encryptAndDecryptElsewhere(from: string, to: readonly string[], keyId: string, message: string): Promise<string> {
    const context = { made: from, message }
    const encrypted = await kms(from).send(
      new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(message), EncryptionContext: context }),
    )
    assert.equal(encrypted.KeyId, arn(from, keyId))
    const made = await kms(from).send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }))
    const materialId = made.KeyMaterialId ?? ''
    for (const region of to) {
      const decrypted = await kms(region).send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }))
      assert.equal(text(decrypted.Plaintext), message, `${from} -> ${region}`)
      assert.equal(decrypted.KeyId, arn(region, keyId), `${region} answers with its own ARN`)
      assert.equal(decrypted.KeyMaterialId, materialId, `${from} -> ${region}: the same material`)
    }
    return materialId
  }

  /** `trent …` (src/cli/main.ts) on a region's host, as its operator runs it there. */
  function trentCli(region: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCommand([...made().commandPrefix(host(region).namespace), process.execPath, CLI_MAIN, ...args])
  }

  before(async () => {
    assertCanCreateHosts()
    const stale = await removeStaleHosts()
    if (stale.length > 0) process.stderr.write(`removed what earlier runs left: ${stale.join(', ')}\n`)
    hosts = await createHosts({ regions: REGIONS })
    const current = hosts

    // The proxy, on its host, with a route to each region's replication endpoint.
    const proxyDir = join(scratch, 'proxy')
    mkdirSync(proxyDir, { recursive: true })
    const routes = Object.fromEntries(REGIONS.map((region) => [region, listenPlan(current.region(region)).replicationUrl]))
    proxy = await startProxyProcess({
      dataDir: proxyDir,
      routes,
      host: current.proxy.address,
      port: PROXY_PORT,
      commandPrefix: current.commandPrefix(current.proxy.namespace),
    })

    // Each region on its host: its own data dir and master key; the proxy's one address.
    // (All settled before going on, so that after() stops every region that started.)
    const starts = await Promise.allSettled(
      REGIONS.map(async (region) => {
        const regionHost = current.region(region)
        const dataDir = join(scratch, region)
        const plan = listenPlan(regionHost)
        const started = await startRegionProcess({
          region,
          dataDir,
          port: API_PORT,
          clientHost: regionHost.clientFacingAddress,
          extraArgs: [...plan.args, '--proxy-url', `http://${current.proxy.address}:${PROXY_PORT}`, ...REGION_TIMING_ARGS],
          env: { TRENT_MASTER_KEY: randomBytes(32).toString('base64') },
          commandPrefix: current.commandPrefix(regionHost.namespace),
          readyTimeoutMs: START_TIMEOUT_MS,
        })
        regionProcesses.set(region, started)
        assert.equal(started.port, API_PORT, `${region}'s API port`)
        assert.equal(started.replicationPort, plan.replicationPort, `${region}'s replication port`)
        // The SDK's default retries, as a user has them: a busy machine may reset a connection.
        clients.set(region, started.client({ maxAttempts: 3 }))
      }),
    )
    for (const start of starts) if (start.status === 'rejected') throw start.reason

    // Pin the signing keys as an operator does for regions on separate hosts: export on
    // each region's host, carry the file over, import on every other region's host.
    const exports = new Map<string, string>()
    for (const region of REGIONS) {
      const exported = await trentCli(region, ['rsk', 'export', '--data-dir', join(scratch, region)])
      assert.equal(exported.code, 0, exported.stderr)
      assert.equal((JSON.parse(exported.stdout) as { region: string }).region, region)
      const file = join(scratch, `${region}-rsk.json`)
      writeFileSync(file, exported.stdout)
      exports.set(region, file)
    }
    for (const region of REGIONS) {
      const others = REGIONS.filter((other) => other !== region)
      const files = others.map((other) => exports.get(other) ?? '')
      const imported = await trentCli(region, ['rsk', 'import', '--data-dir', join(scratch, region), '--partition', partitionId, ...files])
      assert.equal(imported.code, 0, imported.stderr)
      assert.deepEqual(
        imported.stdout.trim().split('\n'),
        others.map((other) => `pinned 1 key(s) of ${other}`),
      )
    }
  })

  after(async () => {
    for (const client of clients.values()) client.destroy()
    const outcomes = await Promise.allSettled([...[...regionProcesses.values()].map((r) => r.stop()), proxy?.stop()])
    // Namespaces go even when a process would not stop (destroy() kills what is left in them).
    const removal = await Promise.allSettled([hosts?.destroy()])
    removeTempDir(scratch)
    for (const outcome of [...outcomes, ...removal]) if (outcome.status === 'rejected') throw outcome.reason
  })

  it('a region reaches its client and the proxy, and no other region', async () => {
    const current = made()
    const proxyNamespace = current.proxy.namespace
    assert.equal(await current.ipForwarding(proxyNamespace), '0', 'the proxy does not route between regions')
    for (const route of await current.routes(proxyNamespace)) {
      assert.notEqual(route.dst, 'default', 'the proxy has no default route')
      assert.equal(route.gateway, undefined, `the proxy routes only to its own links: ${JSON.stringify(route)}`)
    }
    for (const region of REGIONS) {
      const self = current.region(region)
      assert.equal(await current.ipForwarding(self.namespace), '0', `${region} does not forward`)
      // Its own links, and the proxy's address through the proxy's end of their link: nothing else.
      for (const route of await current.routes(self.namespace)) {
        assert.notEqual(route.dst, 'default', `${region} has no default route`)
        if (route.gateway !== undefined)
          assert.equal(
            route.dst,
            current.proxy.address,
            `${region}'s only route beyond its links is to the proxy: ${JSON.stringify(route)}`,
          )
      }
      assert.deepEqual(
        await current.probeTcp(self.namespace, current.proxy.address, PROXY_PORT),
        { connected: true },
        `${region} reaches the proxy`,
      )
      const toPeers = await Promise.all(
        REGIONS.filter((other) => other !== region).flatMap((other) => {
          const peer = current.region(other)
          return [
            current
              .probeTcp(self.namespace, peer.clientFacingAddress, API_PORT)
              .then((probe) => ({ probe, what: `${region} -> ${other}'s API address` })),
            current
              .probeTcp(self.namespace, peer.proxyFacingAddress, listenPlan(peer).replicationPort)
              .then((probe) => ({ probe, what: `${region} -> ${other}'s replication address` })),
          ]
        }),
      )
      for (const { probe, what } of toPeers) assertUnreachable(probe, what)
      // The proxy reaches the region's replication endpoint and nothing else of it.
      assert.deepEqual(
        await current.probeTcp(proxyNamespace, self.proxyFacingAddress, listenPlan(self).replicationPort),
        { connected: true },
        `the proxy reaches ${region}'s replication endpoint`,
      )
      assertUnreachable(await current.probeTcp(proxyNamespace, self.clientFacingAddress, API_PORT), `the proxy -> ${region}'s API address`)
      // The API listens on the client-facing address only: nothing answers on its port at the proxy's side.
      assert.deepEqual(
        await current.probeTcp(proxyNamespace, self.proxyFacingAddress, API_PORT),
        { connected: false, code: 'ECONNREFUSED' },
        `the proxy -> ${region}'s API port`,
      )
      // The client reaches the API, and no replication endpoint on the API's address. (Not
      // probed: the region's link to the proxy. The root namespace has the machine's own
      // default route, and whatever lies beyond it may well accept any connection.)
      assert.deepEqual(
        await current.probeTcp(undefined, self.clientFacingAddress, API_PORT),
        { connected: true },
        `the client reaches ${region}'s API`,
      )
      assert.deepEqual(
        await current.probeTcp(undefined, self.clientFacingAddress, REPLICATION_PORT),
        { connected: false, code: 'ECONNREFUSED' },
        `the client -> ${region}'s replication port`,
      )
    }
  })

  let keyId = ''

  it('replicates a multi-Region key from us-east-1 to both other regions; a ciphertext of any region decrypts in the others', async () => {
    const created = await kms(US).send(new CreateKeyCommand({ MultiRegion: true, Description: 'on separate hosts' }))
    keyId = created.KeyMetadata?.KeyId ?? ''
    assert.match(keyId, /^mrk-[0-9a-f]{32}$/)
    for (const region of [EU, AP]) {
      const replicated = await kms(US).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region }))
      assert.equal(replicated.ReplicaKeyMetadata?.Arn, arn(region, keyId))
    }
    const views = await eventually('every replica Enabled, and every region listing both replicas', async () => {
      const seen = await Promise.all(REGIONS.map((region) => describeKey(region, keyId).catch((err: unknown) => String(err))))
      const ready = seen.every(
        (md) => typeof md !== 'string' && md.KeyState === 'Enabled' && md.MultiRegionConfiguration?.ReplicaKeys?.length === 2,
      )
      return ready ? { done: seen as KeyMetadata[] } : { seen: seen.map((md) => (typeof md === 'string' ? md : md.KeyState)) }
    })
    assert.deepEqual(
      views.map((md) => md.MultiRegionConfiguration?.MultiRegionKeyType),
      ['PRIMARY', 'REPLICA', 'REPLICA'],
    )
    for (const md of views) assert.deepEqual(md.MultiRegionConfiguration?.PrimaryKey, { Arn: arn(US, keyId), Region: US })
    assert.equal(new Set(views.map((md) => md.CurrentKeyMaterialId)).size, 1, 'one material everywhere')
    for (const from of REGIONS) {
      await encryptAndDecryptElsewhere(
        from,
        REGIONS.filter((region) => region !== from),
        keyId,
        `made in ${from}`,
      )
    }
  })

  it('RotateKeyOnDemand on the primary reaches every replica; new ciphertexts decrypt in the replicas', async () => {
    const before = await describeKey(US, keyId)
    await kms(US).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    const status = await eventually('every replica to hold version 2, and the primary to make it current', async () => {
      const view = await replication(US, keyId)
      const done =
        view.CurrentMaterialVersion === 2 &&
        view.Replicas?.length === 2 &&
        view.Replicas.every((replica) => replica.State === 'IN_SYNC' && replica.MaterialVersions.join() === '1,2')
      return done ? { done: view } : { seen: view }
    })
    assert.deepEqual(status.MaterialVersions, [1, 2])
    const views = await eventually('every region to encrypt with the new material', async () => {
      const seen = await Promise.all(REGIONS.map((region) => describeKey(region, keyId)))
      const ids = seen.map((md) => md.CurrentKeyMaterialId)
      return ids.every((id) => id !== undefined && id !== before.CurrentKeyMaterialId && id === ids[0]) ? { done: seen } : { seen: ids }
    })
    for (const region of REGIONS) assert.equal(await rotationCount(region, keyId), 1, `${region} lists the rotation`)
    const material = await encryptAndDecryptElsewhere(US, [EU, AP], keyId, 'under the new material')
    assert.equal(material, views[0]?.CurrentKeyMaterialId, 'encrypted under the rotated material')
  })

  it('UpdatePrimaryRegion moves the primary to eu-west-1, and every region agrees', async () => {
    await kms(US).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: EU }))
    const views = await eventually('every region to show eu-west-1 as the primary', async () => {
      const seen = await Promise.all(REGIONS.map((region) => describeKey(region, keyId)))
      const agreed = seen.every(
        (md) =>
          md.KeyState === 'Enabled' &&
          md.MultiRegionConfiguration?.PrimaryKey?.Region === EU &&
          new Set(md.MultiRegionConfiguration.ReplicaKeys?.map((r) => r.Region)).size === 2 &&
          !(md.MultiRegionConfiguration.ReplicaKeys ?? []).some((r) => r.Region === EU),
      )
      return agreed ? { done: seen } : { seen: seen.map((md) => [md.KeyState, md.MultiRegionConfiguration?.PrimaryKey?.Region]) }
    })
    assert.deepEqual(
      views.map((md) => md.MultiRegionConfiguration?.MultiRegionKeyType),
      ['REPLICA', 'PRIMARY', 'REPLICA'],
    )
    for (const md of views) {
      assert.deepEqual(md.MultiRegionConfiguration?.PrimaryKey, { Arn: arn(EU, keyId), Region: EU })
      assert.deepEqual(new Set(md.MultiRegionConfiguration?.ReplicaKeys?.map((r) => r.Arn)), new Set([arn(US, keyId), arn(AP, keyId)]))
    }
    await eventually('the new primary to report both replicas IN_SYNC', async () => {
      const view = await replication(EU, keyId)
      const done = view.Role === 'PRIMARY' && view.Replicas?.length === 2 && view.Replicas.every((replica) => replica.State === 'IN_SYNC')
      return done ? { done: view } : { seen: view }
    })
    await encryptAndDecryptElsewhere(EU, [US, AP], keyId, 'from the new primary')
  })

  it("a region cut off from the proxy misses the primary's changes, and catches up once reconnected", async () => {
    const current = made()
    const cutOff = current.region(AP)
    const primaryBefore = await replication(EU, keyId)
    assert.deepEqual([primaryBefore.MaterialVersions, primaryBefore.CurrentMaterialVersion], [[1, 2], 2])
    const materialBefore = (await describeKey(EU, keyId)).CurrentKeyMaterialId
    assert.deepEqual(await rotationStatus(AP, keyId), { enabled: false, periodInDays: undefined })

    await current.setProxyLink(AP, 'down')
    // Cut off both ways; the client still reaches the region (another link).
    const toProxy = await current.probeTcp(cutOff.namespace, current.proxy.address, PROXY_PORT, 3_000)
    assert.equal(toProxy.connected, false, `${AP} -> the proxy while cut off: ${JSON.stringify(toProxy)}`)
    assertUnreachable(
      await current.probeTcp(current.proxy.namespace, cutOff.proxyFacingAddress, listenPlan(cutOff).replicationPort),
      `the proxy -> ${AP} while cut off`,
    )

    // Changes on the primary: a rotation, and the rotation setting.
    await kms(EU).send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    await kms(EU).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 180 }))

    // The connected replica sees them...
    await eventually(`${US} to hold version 3 and see rotation enabled`, async () => {
      const [view, rotation] = await Promise.all([replication(US, keyId), rotationStatus(US, keyId)])
      const done = view.MaterialVersions.join() === '1,2,3' && rotation.enabled === true && rotation.periodInDays === 180
      return done ? { done: true } : { seen: { versions: view.MaterialVersions, rotation } }
    })
    // ...the primary knows that ap-southeast-2 has not, and keeps the rotation pending for
    // it (docs/spec/replication.md §7.3: no ciphertext any related key cannot decrypt)...
    const primaryWaiting = await eventually(`the primary to have ${US} in sync and ${AP} behind`, async () => {
      const view = await replication(EU, keyId)
      const us = view.Replicas?.find((r) => r.Region === US)
      const ap = view.Replicas?.find((r) => r.Region === AP)
      const done =
        us?.State === 'IN_SYNC' &&
        us.MaterialVersions.join() === '1,2,3' &&
        ap !== undefined &&
        ap.State !== 'IN_SYNC' &&
        ap.MaterialVersions.join() === '1,2'
      return done ? { done: view } : { seen: view }
    })
    assert.equal(primaryWaiting.CurrentMaterialVersion, 2, 'the rotation waits for the cut-off replica')
    assert.deepEqual(primaryWaiting.PendingMaterialVersions, [3])
    // ...and the proxy holds messages for it.
    await eventually(`the proxy to hold messages for ${AP}`, async () => {
      const destination = (await proxyDestinations())[AP]
      return destination !== undefined && destination.pending > 0 ? { done: true } : { seen: destination }
    })
    // ap-southeast-2 has seen none of it.
    const isolated = await replication(AP, keyId)
    assert.deepEqual(isolated.MaterialVersions, [1, 2], `${AP} holds no version 3`)
    assert.equal(isolated.PrimaryRegion, EU)
    assert.deepEqual(await rotationStatus(AP, keyId), { enabled: false, periodInDays: undefined }, `${AP} has the old rotation setting`)
    assert.equal(await rotationCount(AP, keyId), 1, `${AP} lists one rotation`)
    // Meanwhile the primary still encrypts with what every region holds.
    assert.equal(await encryptAndDecryptElsewhere(EU, [US, AP], keyId, 'made during the cut'), materialBefore)

    await current.setProxyLink(AP, 'up')
    const caughtUp = await eventually(`${AP} to catch up, and the primary to make version 3 current`, async () => {
      const [view, rotation, rotations] = await Promise.all([replication(EU, keyId), rotationStatus(AP, keyId), rotationCount(AP, keyId)])
      const done =
        view.CurrentMaterialVersion === 3 &&
        view.Replicas?.length === 2 &&
        view.Replicas.every((replica) => replica.State === 'IN_SYNC' && replica.MaterialVersions.join() === '1,2,3') &&
        rotation.enabled === true &&
        rotation.periodInDays === 180 &&
        rotations === 2
      return done ? { done: view } : { seen: { primary: view, apRotation: rotation, apRotations: rotations } }
    })
    assert.deepEqual(caughtUp.MaterialVersions, [1, 2, 3])
    const apView = await replication(AP, keyId)
    assert.deepEqual(apView.MaterialVersions, [1, 2, 3])
    assert.deepEqual(apView.MissingMaterialVersions, [])
    const views = await eventually('every region to encrypt with version 3', async () => {
      const seen = await Promise.all(REGIONS.map((region) => describeKey(region, keyId)))
      const ids = seen.map((md) => md.CurrentKeyMaterialId)
      return ids.every((id) => id !== undefined && id !== materialBefore && id === ids[0]) ? { done: seen } : { seen: ids }
    })
    const newMaterial = views[1]?.CurrentKeyMaterialId
    assert.equal(await encryptAndDecryptElsewhere(EU, [US, AP], keyId, 'after the reconnection'), newMaterial)
    assert.equal(await encryptAndDecryptElsewhere(AP, [US, EU], keyId, 'from the reconnected region'), newMaterial)
    for (const region of REGIONS) {
      assert.deepEqual(await rotationStatus(region, keyId), { enabled: true, periodInDays: 180 }, region)
    }
  })
})
