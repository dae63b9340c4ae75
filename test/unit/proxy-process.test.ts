/**
 * The proxy as its own OS process (dist/src/proxy/main.js): delivery through the real
 * binary, at-least-once across kill -9, routes that change while it runs, and how it
 * starts and stops.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'
import type { DestinationStatus } from '../../src/proxy/relay.js'
import {
  freePort,
  getJson,
  makeEnvelope,
  postEnvelope,
  startFakeRegion,
  startProxyProcess,
  waitFor,
  type FakeRegion,
  type ProxyProcess,
} from '../helpers/proxy-process.js'

const PROXY_MAIN = fileURLToPath(new URL('../../src/proxy/main.js', import.meta.url))

const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trent-proxy-process-'))
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })))
  return dir
}

async function fakeRegion(options: Parameters<typeof startFakeRegion>[0] = {}): Promise<FakeRegion> {
  const region = await startFakeRegion(options)
  cleanups.push(() => region.close())
  return region
}

/** A proxy stopped at the end of the test file, whatever happens. */
async function proxyProcess(options: Parameters<typeof startProxyProcess>[0]): Promise<ProxyProcess> {
  const proxy = await startProxyProcess(options)
  cleanups.push(() => proxy.kill9())
  return proxy
}

async function destinations(proxy: ProxyProcess): Promise<Record<string, DestinationStatus>> {
  return ((await getJson(`${proxy.url}/v1/status`)) as { destinations: Record<string, DestinationStatus> }).destinations
}

test('the proxy process relays an envelope byte for byte and reports it', async () => {
  const region = await fakeRegion()
  const proxy = await proxyProcess({ dataDir: tempDir(), routes: { 'eu-west-1': region.url } })
  assert.ok(proxy.pid > 0)
  assert.deepEqual(await getJson(`${proxy.url}/health`), { status: 'ok' })
  const envelope = makeEnvelope()
  assert.deepEqual(await postEnvelope(proxy.url, envelope.bytes), { status: 202, json: { status: 'stored' } })
  await waitFor(() => region.deliveries.length === 1, 'the delivery')
  assert.ok(region.deliveries[0]?.bytes.equals(envelope.bytes))
  await waitFor(async () => (await destinations(proxy))['eu-west-1']?.delivered === 1, 'the delivered count')
  assert.deepEqual(await postEnvelope(proxy.url, envelope.bytes), { status: 202, json: { status: 'duplicate' } })
  assert.equal((await postEnvelope(proxy.url, makeEnvelope({ to: 'sa-east-1' }).bytes)).status, 404)
  assert.equal(await proxy.stop(), 0)
})

test('envelopes answered 202 are delivered after kill -9 and a restart on the same data dir', async () => {
  const dataDir = tempDir()
  const regionPort = await freePort()
  const routes = { 'eu-west-1': `http://127.0.0.1:${regionPort}` }
  // The region is down: everything the proxy accepts waits in its store.
  let proxy = await startProxyProcess({ dataDir, routes })
  const envelopes = Array.from({ length: 25 }, () => makeEnvelope())
  for (const envelope of envelopes) assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
  await proxy.kill9()

  const region = await fakeRegion({ port: regionPort })
  proxy = await proxyProcess({ dataDir, routes })
  await waitFor(() => new Set(region.deliveries.map((d) => d.bytes.toString('base64'))).size === envelopes.length, 'every envelope')
  const received = new Set(region.deliveries.map((d) => d.bytes.toString('base64')))
  for (const envelope of envelopes) assert.ok(received.has(envelope.bytes.toString('base64')), 'delivered unchanged')
  await waitFor(async () => (await destinations(proxy))['eu-west-1']?.pending === 0, 'nothing pending')
  // The ids outlive the crash too: a sender retrying gets duplicate, not a second delivery.
  assert.deepEqual((await postEnvelope(proxy.url, envelopes[0]?.bytes ?? Buffer.alloc(0))).json, { status: 'duplicate' })
})

test('an envelope acknowledged right before kill -9 is not lost, while the region is up', async () => {
  const dataDir = tempDir()
  const region = await fakeRegion()
  const routes = { 'eu-west-1': region.url }
  const envelopes = Array.from({ length: 5 }, () => makeEnvelope())
  for (const envelope of envelopes) {
    const proxy = await startProxyProcess({ dataDir, routes })
    assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await proxy.kill9()
  }
  const proxy = await proxyProcess({ dataDir, routes })
  await waitFor(async () => (await destinations(proxy))['eu-west-1']?.pending === 0, 'nothing pending')
  const received = new Set(region.deliveries.map((d) => d.bytes.toString('base64')))
  for (const envelope of envelopes) assert.ok(received.has(envelope.bytes.toString('base64')))
})

test('routes change while the proxy runs: a region moved to another port, a region added', async () => {
  const dataDir = tempDir()
  const before = await fakeRegion()
  await before.close()
  const proxy = await proxyProcess({ dataDir, routes: { 'eu-west-1': before.url }, backoff: { initialMs: 60_000, maxMs: 60_000 } })
  const envelope = makeEnvelope()
  assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
  await waitFor(async () => ((await destinations(proxy))['eu-west-1']?.consecutiveFailures ?? 0) >= 1, 'the first failure')

  // The region restarts elsewhere. With a one-minute backoff, only the route change can
  // get the envelope there within the test.
  const moved = await fakeRegion()
  const added = await fakeRegion()
  await proxy.setRoutes({ 'eu-west-1': moved.url, 'ap-south-1': added.url })
  await waitFor(() => moved.deliveries.length === 1, 'delivery to the new port')
  assert.ok(moved.deliveries[0]?.bytes.equals(envelope.bytes))

  const toAdded = makeEnvelope({ to: 'ap-south-1' })
  assert.equal((await postEnvelope(proxy.url, toAdded.bytes)).status, 202)
  await waitFor(() => added.deliveries.length === 1, 'delivery to the added region')

  await proxy.setRoutes({ 'ap-south-1': added.url })
  assert.equal((await postEnvelope(proxy.url, makeEnvelope({ to: 'eu-west-1' }).bytes)).status, 404, 'a removed route')
})

test('SIGTERM stops the proxy cleanly, and pending envelopes survive it', async () => {
  const dataDir = tempDir()
  const regionPort = await freePort()
  const routes = { 'eu-west-1': `http://127.0.0.1:${regionPort}` }
  const first = await startProxyProcess({ dataDir, routes })
  const envelope = makeEnvelope()
  assert.equal((await postEnvelope(first.url, envelope.bytes)).status, 202)
  assert.equal(await first.stop(), 0)
  assert.ok(existsSync(join(dataDir, 'proxy.db')))

  const region = await fakeRegion({ port: regionPort })
  await proxyProcess({ dataDir, routes })
  await waitFor(() => region.deliveries.length >= 1, 'the delivery after restart')
  assert.ok(region.deliveries[0]?.bytes.equals(envelope.bytes))
})

test('the proxy exits when its parent closes the IPC channel', async () => {
  const proxy = await proxyProcess({ dataDir: tempDir(), routes: {} })
  const exited = new Promise<number | null>((resolve) => proxy.child.once('exit', (code) => resolve(code)))
  proxy.child.disconnect()
  assert.equal(await exited, 0)
})

test('bad command lines are refused with exit code 2', () => {
  const dataDir = tempDir()
  const cases: string[][] = [
    [],
    ['--data-dir', dataDir, '--route', 'eu-west-1'],
    ['--data-dir', dataDir, '--route', 'eu-west-1=ftp://x'],
    ['--data-dir', dataDir, '--routes-file', join(dataDir, 'missing.json')],
    ['--data-dir', dataDir, '--port', 'eighty'],
    ['--data-dir', dataDir, '--max-in-flight', '0'],
  ]
  for (const args of cases) {
    const result = spawnSync(process.execPath, [PROXY_MAIN, ...args], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(result.status, 2, args.join(' '))
    assert.match(result.stderr, /^trent proxy: /, args.join(' '))
  }
})
