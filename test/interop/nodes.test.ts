/**
 * A partition whose regions run several nodes (`--nodes 2`): node processes sharing
 * the region's data dir and its embedded SQLite store, behind the one gateway. What is
 * tested here is the process and routing layer: every node starts and reports ready,
 * client connections are spread over a region's nodes, a node killed with kill -9 is
 * routed around at once and restarted, and a key made through one node is served by the
 * other. (How the KMS of each node follows the others' changes is tested with the store.)
 *
 * Which node served a request is read from the nodes' own logs: at debug level a region
 * logs every request with its request id, which the SDK returns to the caller, and every
 * line of a node carries its node id. No timing assertions: every wait polls.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent, get } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateRandomCommand,
  KMSServiceException,
  ReplicateKeyCommand,
  type DecryptCommandOutput,
  type EncryptCommandOutput,
  type KMSClient,
} from '@aws-sdk/client-kms'
import {
  PARTITION_MAIN,
  createTempDir,
  getHealth,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type HealthReport,
  type NodeHealth,
  type RunningPartition,
} from '../helpers/partition.js'

const REGIONS = ['us-east-1', 'eu-west-1'] as const
const NODES = 2
const PLAINTEXT = Buffer.from('spread over the nodes of a region')

/** Request id → the node that logged serving it, from the nodes' JSON log lines on the launcher's stdout. */
function servedRequests(partition: RunningPartition): Map<string, { region: string; node: number }> {
  const served = new Map<string, { region: string; node: number }>()
  for (const line of partition.output().stdout.split('\n')) {
    if (!line.includes('"request"')) continue
    const record = JSON.parse(line) as { msg?: string; requestId?: string; region?: string; node?: number }
    if (
      record.msg === 'request' &&
      typeof record.requestId === 'string' &&
      typeof record.region === 'string' &&
      typeof record.node === 'number'
    ) {
      served.set(record.requestId, { region: record.region, node: record.node })
    }
  }
  return served
}

/** Waits until every request id has been logged by a node, and returns the node of each. */
async function nodesThatServed(
  partition: RunningPartition,
  requestIds: readonly string[],
): Promise<Map<string, { region: string; node: number }>> {
  return waitFor(`the nodes' logs to show ${requestIds.length} requests`, () => {
    const served = servedRequests(partition)
    return requestIds.every((id) => served.has(id)) ? served : undefined
  })
}

function requestIdOf(output: { $metadata: { requestId?: string } }): string {
  const id = output.$metadata.requestId
  assert.ok(id !== undefined, 'the response carries a request id')
  return id
}

/** An SDK client that talks to one node's own port, bypassing the gateway. */
function nodeClient(partition: RunningPartition, region: string, node: number): KMSClient {
  const port = partition.regionNodes.get(region)?.get(node)?.port
  assert.ok(port !== undefined, `node ${node} of ${region} serves`)
  return kmsClient(partition, region, { endpoint: `http://127.0.0.1:${port}` })
}

/** Polls `call` until it stops failing with NotFoundException (the other node has not caught up yet). */
async function onceFound<T>(what: string, call: () => Promise<T>): Promise<T> {
  return waitFor(what, async () => {
    try {
      return await call()
    } catch (err) {
      if (err instanceof KMSServiceException && err.name === 'NotFoundException') return undefined
      throw err
    }
  })
}

function nodeSummary(nodes: readonly NodeHealth[]): Array<Pick<NodeHealth, 'node' | 'status'>> {
  return nodes.map(({ node, status }) => ({ node, status }))
}

describe(`a partition with --nodes ${NODES}`, { timeout: 300_000 }, () => {
  let partition: RunningPartition
  before(async () => {
    // Debug level: each node logs every request it serves, with its request id.
    partition = await startPartition({ regions: REGIONS, nodes: NODES, env: { TRENT_LOG_LEVEL: 'debug' }, timeoutMs: 90_000 })
  })
  after(stopAllPartitions)

  it('reports every node of every region ready on /health', async () => {
    const health = await getHealth(partition)
    assert.equal(health.status, 200)
    assert.equal(health.body.status, 'ok')
    assert.deepEqual(Object.keys(health.body.regions).sort(), [...REGIONS].sort())
    const pids = new Set<number>()
    const ports = new Set<number>()
    for (const region of REGIONS) {
      const report = health.body.regions[region]
      assert.ok(report !== undefined)
      assert.equal(report.status, 'ready')
      assert.deepEqual(nodeSummary(report.nodes), [
        { node: 0, status: 'ready' },
        { node: 1, status: 'ready' },
      ])
      // The region's own port, as a one-node partition reported it: its first ready node's.
      assert.equal(report.port, report.nodes[0]?.port)
      for (const node of report.nodes) {
        assert.ok(node.pid !== null && node.port !== null)
        const told = partition.regionNodes.get(region)?.get(node.node)
        assert.deepEqual({ port: told?.port, pid: told?.pid }, { port: node.port, pid: node.pid }, 'the launcher told its parent the same')
        pids.add(node.pid)
        ports.add(node.port)
      }
    }
    assert.equal(pids.size, REGIONS.length * NODES, 'one process per node')
    assert.equal(ports.size, REGIONS.length * NODES, 'one KMS port per node')
    assert.match(partition.output().stderr, /region us-east-1 node 1 ready on http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)/)
  })

  it('spreads the connections of SDK clients over both nodes of each region', async (t) => {
    const connectionsPerRegion = 8
    for (const region of REGIONS) {
      const before = (await getHealth(partition)).body.regions[region]?.nodes.map((n) => n.connections) ?? []
      // Each client has a connection pool of its own, so each opens its own connection.
      const clients = Array.from({ length: connectionsPerRegion }, () => kmsClient(partition, region))
      const requestIdsByClient = await Promise.all(
        clients.map(async (client) => {
          const ids: string[] = []
          for (let call = 0; call < 3; call++) ids.push(requestIdOf(await client.send(new GenerateRandomCommand({ NumberOfBytes: 16 }))))
          return ids
        }),
      )
      const served = await nodesThatServed(partition, requestIdsByClient.flat())
      const nodeOfClient = requestIdsByClient.map((ids) => {
        const nodes = new Set(ids.map((id) => served.get(id)))
        for (const by of nodes) assert.equal(by?.region, region, 'served in the region it was signed for')
        // Handed off per connection: a keep-alive connection stays with its node.
        assert.equal(new Set(ids.map((id) => served.get(id)?.node)).size, 1, 'every request of one connection went to one node')
        return served.get(ids[0] ?? '')?.node
      })
      const clientsPerNode = [0, 1].map((node) => nodeOfClient.filter((n) => n === node).length)
      t.diagnostic(`${region}: ${connectionsPerRegion} connections → clients per node ${JSON.stringify(clientsPerNode)}`)
      // Round-robin over two ready nodes: consecutive connections alternate.
      assert.deepEqual(clientsPerNode, [connectionsPerRegion / 2, connectionsPerRegion / 2])

      const after = (await getHealth(partition)).body.regions[region]?.nodes.map((n) => n.connections) ?? []
      const handedOff = after.map((count, node) => count - (before[node] ?? 0))
      t.diagnostic(`${region}: connections handed to each node, per /health: ${JSON.stringify(handedOff)}`)
      assert.deepEqual(handedOff, [connectionsPerRegion / 2, connectionsPerRegion / 2])
    }
  })

  it('spreads the requests of a connection the HTTP gateway serves itself over both nodes', async (t) => {
    const region = 'us-east-1'
    // One connection: its first request is /health, so the front door leaves the whole
    // connection to the HTTP gateway, which proxies each later request on its own.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const sockets = new Set<unknown>()
      agent.on('free', (socket) => sockets.add(socket))
      const health = await new Promise<number>((resolve, reject) => {
        get({ host: '127.0.0.1', port: partition.port, path: '/health', agent }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        }).on('error', reject)
      })
      assert.equal(health, 200)
      const handedOffBefore = (await getHealth(partition)).body.regions[region]?.nodes.map((n) => n.connections)
      const client = kmsClient(partition, region, { requestHandler: { httpAgent: agent } })
      const requestIds: string[] = []
      for (let call = 0; call < 6; call++) requestIds.push(requestIdOf(await client.send(new GenerateRandomCommand({ NumberOfBytes: 16 }))))
      assert.equal(sockets.size, 1, 'every request went over the one connection')
      const served = await nodesThatServed(partition, requestIds)
      const nodes = requestIds.map((id) => served.get(id)?.node)
      t.diagnostic(`requests of one gateway-served connection, by node: ${JSON.stringify(nodes)}`)
      assert.deepEqual(nodes.filter((node) => node === 0).length, 3)
      assert.deepEqual(nodes.filter((node) => node === 1).length, 3)
      const handedOffAfter = (await getHealth(partition)).body.regions[region]?.nodes.map((n) => n.connections)
      assert.deepEqual(handedOffAfter, handedOffBefore, 'nothing was handed off: the HTTP gateway proxied every request')
    } finally {
      agent.destroy()
    }
  })

  it('serves a key made through one node through the other', async () => {
    const region = 'us-east-1'
    for (const [maker, other] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const makerClient = nodeClient(partition, region, maker)
      const otherClient = nodeClient(partition, region, other)
      const created = await makerClient.send(new CreateKeyCommand({ Description: `made through node ${maker}` }))
      const keyId = created.KeyMetadata?.KeyId
      assert.ok(keyId !== undefined)
      // The other node learns of the key from the store's change log: poll until it has.
      const encrypted = await onceFound(`node ${other} to know the key made through node ${maker}`, () =>
        otherClient.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })),
      )
      assert.ok(encrypted.CiphertextBlob !== undefined)
      const decrypted = await makerClient.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
      assert.deepEqual(Buffer.from(decrypted.Plaintext ?? new Uint8Array()), PLAINTEXT)
    }
  })

  it('keeps serving clients through the gateway while a node is killed with kill -9, and restarts it', async (t) => {
    const region = 'us-east-1'
    const victim = 1
    const victimPid = partition.regionNodes.get(region)?.get(victim)?.pid
    assert.ok(victimPid !== undefined)
    const created = await kmsClient(partition, region).send(new CreateKeyCommand({}))
    const keyId = created.KeyMetadata?.KeyId
    assert.ok(keyId !== undefined)
    for (const node of [0, 1]) {
      await onceFound(`node ${node} to know the key`, () =>
        nodeClient(partition, region, node).send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })),
      )
    }

    // What /health says about the victim, every 50 ms, from now until the end.
    const seen: Array<{ httpStatus: number; node: NodeHealth | undefined }> = []
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const health: HealthReport | undefined = await getHealth(partition).catch(() => undefined)
        if (health !== undefined) seen.push({ httpStatus: health.status, node: health.body.regions[region]?.nodes[victim] })
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()

    // Callers through the gateway, each on a connection of its own, with the SDK's default
    // retry settings: every call must succeed, possibly after retries the SDK makes itself.
    interface Caller {
      calls: number
      retried: number
      requestIds: string[]
      failures: string[]
    }
    const callers: Caller[] = Array.from({ length: 6 }, () => ({ calls: 0, retried: 0, requestIds: [], failures: [] }))
    let calling = true
    const running = callers.map(async (caller) => {
      const client = kmsClient(partition, region)
      while (calling) {
        try {
          const encrypted: EncryptCommandOutput = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
          const decrypted: DecryptCommandOutput = await client.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
          assert.deepEqual(Buffer.from(decrypted.Plaintext ?? new Uint8Array()), PLAINTEXT)
          for (const output of [encrypted, decrypted]) {
            if ((output.$metadata.attempts ?? 1) > 1) caller.retried += 1
            caller.requestIds.push(requestIdOf(output))
          }
          caller.calls += 1
        } catch (err) {
          caller.failures.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err))
        }
      }
    })

    await waitFor('every caller to have made calls', () => (callers.every((c) => c.calls >= 3) ? true : undefined))
    // Some caller's connection is on the victim: that is the point of the kill.
    const servedBefore = await nodesThatServed(
      partition,
      callers.flatMap((c) => c.requestIds),
    )
    const onVictim = callers.filter((c) => c.requestIds.some((id) => servedBefore.get(id)?.node === victim)).length
    assert.ok(onVictim > 0, 'a caller is served by the node about to be killed')
    const callsAtKill = callers.map((c) => c.calls)

    process.kill(victimPid, 'SIGKILL')
    const newPid = await partition.waitForNodeRestart(region, victim, victimPid, 60_000)
    assert.notEqual(newPid, victimPid)
    await waitFor('/health to show the restarted node ready with its new pid', () =>
      seen.some((s) => s.node?.status === 'ready' && s.node.pid === newPid) ? true : undefined,
    )
    const callsAtRestart = callers.map((c) => c.calls)
    await waitFor('every caller to make more calls after the restart', () =>
      callers.every((c, index) => c.calls >= (callsAtRestart[index] ?? 0) + 3) ? true : undefined,
    )
    calling = false
    await Promise.all(running)
    watching = false
    await watcher

    const failures = callers.flatMap((c) => c.failures)
    const retried = callers.reduce((sum, c) => sum + c.retried, 0)
    const calls = callers.reduce((sum, c) => sum + c.calls, 0)
    t.diagnostic(
      `${calls} Encrypt+Decrypt pairs by ${callers.length} callers (${onVictim} on the killed node); ${retried} calls needed an SDK retry; ${failures.length} failed`,
    )
    assert.deepEqual(failures, [], 'no call failed')
    callers.forEach((c, index) => assert.ok(c.calls > (callsAtKill[index] ?? 0), `caller ${index} kept being served after the kill`))

    // /health: the old process ready, then not ready (restarting), then the new one ready.
    const firstDown = seen.findIndex((s) => s.node?.status !== 'ready')
    assert.ok(firstDown > 0, 'the node was seen ready, then not ready')
    assert.equal(seen[firstDown - 1]?.node?.pid, victimPid)
    assert.equal(seen[firstDown]?.node?.status, 'restarting')
    const backUp = seen.findIndex((s, index) => index > firstDown && s.node?.status === 'ready')
    assert.equal(seen[backUp]?.node?.pid, newPid, 'ready again, from the new process')
    assert.equal(seen[backUp]?.node?.restarts, 1)
    // The region never stopped serving: its other node was ready all along.
    assert.ok(
      seen.every((s) => s.httpStatus === 200),
      '/health stayed 200',
    )
  })

  it("moves the proxy's route for a region to its other node when the routed node dies, and replication reaches the region", async () => {
    const region = 'eu-west-1'
    const routesFile = join(partition.dataDir, 'proxy', 'routes.json')
    /** The node of `region` whose replication listener the proxy delivers to now. */
    const routedNode = (): number | undefined => {
      const routes = JSON.parse(readFileSync(routesFile, 'utf8')) as Record<string, string>
      const port = Number(new URL(routes[region] ?? 'http://invalid').port)
      for (const [node, serving] of partition.regionNodes.get(region) ?? []) if (serving.replicationPort === port) return node
      return undefined
    }
    // The lowest-numbered ready node, and it stays there while it serves.
    assert.equal(routedNode(), 0)
    const killed = partition.regionNodes.get(region)?.get(0)?.pid
    assert.ok(killed !== undefined)
    process.kill(killed, 'SIGKILL')
    await waitFor('the route to move to node 1', () => (routedNode() === 1 ? true : undefined))
    await partition.waitForNodeRestart(region, 0, killed, 60_000)
    assert.equal(routedNode(), 1, 'the route stays with node 1 once node 0 is back')

    // A multi-Region key replicated into the region now: its envelopes reach node 1.
    const primary = kmsClient(partition, 'us-east-1')
    const created = await primary.send(new CreateKeyCommand({ MultiRegion: true }))
    const keyId = created.KeyMetadata?.KeyId
    assert.ok(keyId !== undefined)
    await primary.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region }))
    const encrypted = await primary.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
    for (const node of [0, 1]) {
      const replica = nodeClient(partition, region, node)
      await waitFor(
        `the replica to be Enabled on node ${node} of ${region}`,
        async () => {
          const described = await replica.send(new DescribeKeyCommand({ KeyId: keyId })).catch((err: unknown) => {
            if (err instanceof KMSServiceException && err.name === 'NotFoundException') return undefined
            throw err
          })
          return described?.KeyMetadata?.KeyState === 'Enabled' ? true : undefined
        },
        { timeoutMs: 60_000 },
      )
      const decrypted = await replica.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
      assert.deepEqual(
        Buffer.from(decrypted.Plaintext ?? new Uint8Array()),
        PLAINTEXT,
        `node ${node} decrypts what the primary region encrypted`,
      )
    }
  })
})

describe('--nodes with a bad value', () => {
  const dataDir = createTempDir()
  after(() => removeTempDir(dataDir))

  for (const value of ['0', '-1', 'two', '1.5', '', '65']) {
    it(`refuses --nodes=${value} with a clear message, before starting anything`, () => {
      const result = spawnSync(process.execPath, [PARTITION_MAIN, '--port', '0', '--data-dir', dataDir, `--nodes=${value}`], {
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(result.status, 2, result.stderr)
      assert.match(
        result.stderr,
        new RegExp(`--nodes must be a whole number from 1 to 64 \\(node processes per region\\), not '${value.replace('.', '\\.')}'`),
      )
    })
  }
})
