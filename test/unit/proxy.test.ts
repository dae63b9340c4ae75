/**
 * The replication relay in process (docs/spec/replication.md §10): its HTTP contract,
 * store-and-forward delivery to fake destination regions, refusals, retries, isolation
 * between destinations, its stores, and the pieces it is built from.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { createLogger } from '../../src/log/logger.js'
import { backoffDelayMs } from '../../src/proxy/backoff.js'
import { EnvelopeRejectedError, MAX_ENVELOPE_BYTES, readEnvelopeHeader } from '../../src/proxy/envelope.js'
import { createHttpDeliverer, deliveryUrl, shortReason } from '../../src/proxy/http-deliver.js'
import { createRelay, RelayClosedError, type Deliver, type DestinationStatus, type Relay } from '../../src/proxy/relay.js'
import { parseRouteFlag, parseRoutesJson, RouteError } from '../../src/proxy/routes.js'
import { createProxyServer } from '../../src/proxy/server.js'
import { SqliteRelayStore } from '../../src/proxy/sqlite-store.js'
import { MemoryRelayStore, type RelayStore } from '../../src/proxy/store.js'
import {
  freePort,
  getJson,
  makeEnvelope,
  postEnvelope,
  startFakeRegion,
  waitFor,
  type FakeRegion,
  type RouteMap,
} from '../helpers/proxy-process.js'

const FAST_BACKOFF = { initialMs: 5, maxMs: 100 }

const tempDirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trent-proxy-'))
  tempDirs.push(dir)
  return dir
}
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

interface InProcessProxy {
  url: string
  relay: Relay
  store: RelayStore
  logLines: string[]
  close(): Promise<void>
}

const running: Array<{ close(): Promise<void> }> = []
after(async () => {
  for (const thing of running.reverse()) await thing.close()
})

async function fakeRegion(options: Parameters<typeof startFakeRegion>[0] = {}): Promise<FakeRegion> {
  const region = await startFakeRegion(options)
  running.push(region)
  return region
}

/** The relay, its HTTP server and HTTP delivery wired as main.ts wires them, in process. */
async function startProxy(options: { routes: RouteMap; store?: RelayStore; deliveryTimeoutMs?: number }): Promise<InProcessProxy> {
  const routes = new Map(Object.entries(options.routes).map(([region, url]) => [region, new URL(url)]))
  const logLines: string[] = []
  const logger = createLogger({ service: 'proxy' }, 'debug', (line) => void logLines.push(line))
  const store = options.store ?? new MemoryRelayStore()
  const deliverer = createHttpDeliverer({ routeFor: (region) => routes.get(region), timeoutMs: options.deliveryTimeoutMs ?? 10_000 })
  const relay = createRelay({
    store,
    deliver: deliverer.deliver,
    logger,
    backoff: FAST_BACKOFF,
    isKnownDestination: (region) => routes.has(region),
  })
  const server = createProxyServer({ relay, logger, routes: () => routes })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const proxy: InProcessProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    relay,
    store,
    logLines,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await relay.close({ graceMs: 0 })
      deliverer.close()
      await closed
      store.close()
    },
  }
  running.push(proxy)
  return proxy
}

async function destinationStatus(proxy: InProcessProxy, region: string): Promise<DestinationStatus | undefined> {
  const status = (await getJson(`${proxy.url}/v1/status`)) as { destinations: Record<string, DestinationStatus> }
  return status.destinations[region]
}

/** Lets the relay run for a while: enough for many retries at the fast backoff. */
function idle(ms = 300): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

describe('delivery', () => {
  test('a valid envelope is answered 202 stored and reaches its region byte for byte', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const envelope = makeEnvelope()
    const answer = await postEnvelope(proxy.url, envelope.bytes)
    assert.equal(answer.status, 202)
    assert.deepEqual(answer.json, { status: 'stored' })
    await waitFor(() => region.deliveries.length === 1, 'the delivery')
    const delivery = region.deliveries[0]
    assert.ok(delivery !== undefined)
    assert.equal(delivery.path, '/replication/v1/envelopes')
    assert.equal(delivery.contentType, 'application/json')
    assert.ok(delivery.bytes.equals(envelope.bytes), 'the envelope arrives exactly as sent')
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.delivered === 1, 'the delivered count')
    const status = await destinationStatus(proxy, 'eu-west-1')
    assert.equal(status?.pending, 0)
    assert.equal(status?.refused, 0)
  })

  test('a route base with a path prefix is delivered under that prefix', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': `${region.url}/regions/eu/` } })
    assert.equal((await postEnvelope(proxy.url, makeEnvelope().bytes)).status, 202)
    await waitFor(() => region.deliveries.length === 1, 'the delivery')
    assert.equal(region.deliveries[0]?.path, '/regions/eu/replication/v1/envelopes')
  })

  test('a large envelope (exactly 1 MiB) is relayed unchanged', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const small = makeEnvelope({ bodyBytes: 3 })
    // Grow the body (base64 alphabet only) until the envelope is exactly 1 MiB.
    const padding = 'A'.repeat(MAX_ENVELOPE_BYTES - small.bytes.length)
    const bytes = Buffer.from(small.bytes.toString('utf8').replace(`"body":"${small.body}`, `"body":"${small.body}${padding}`))
    assert.equal(bytes.length, MAX_ENVELOPE_BYTES)
    assert.equal((await postEnvelope(proxy.url, bytes)).status, 202)
    await waitFor(() => region.deliveries.length === 1, 'the delivery')
    assert.ok(region.deliveries[0]?.bytes.equals(bytes))
  })

  test('a messageId already seen is answered duplicate and delivered once', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const envelope = makeEnvelope()
    const first = await postEnvelope(proxy.url, envelope.bytes)
    const again = await postEnvelope(proxy.url, envelope.bytes)
    assert.deepEqual([first.status, first.json], [202, { status: 'stored' }])
    assert.deepEqual([again.status, again.json], [202, { status: 'duplicate' }])
    await waitFor(() => region.deliveries.length === 1, 'the delivery')
    // After delivery, the id is still remembered: a sender retrying late gets duplicate too.
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.delivered === 1, 'the delivered count')
    const late = makeEnvelope({ messageId: envelope.messageId })
    assert.deepEqual((await postEnvelope(proxy.url, late.bytes)).json, { status: 'duplicate' })
    await idle()
    assert.equal(region.deliveries.length, 1)
  })

  test('envelopes to several regions each reach their own region', async () => {
    const east = await fakeRegion()
    const west = await fakeRegion()
    const proxy = await startProxy({ routes: { 'us-east-1': east.url, 'eu-west-1': west.url } })
    const toEast = Array.from({ length: 10 }, () => makeEnvelope({ from: 'eu-west-1', to: 'us-east-1' }))
    const toWest = Array.from({ length: 10 }, () => makeEnvelope({ from: 'us-east-1', to: 'eu-west-1' }))
    for (const envelope of [...toEast, ...toWest]) assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await waitFor(() => east.deliveries.length === 10 && west.deliveries.length === 10, 'all deliveries')
    const received = (region: FakeRegion): string[] => region.deliveries.map((d) => d.bytes.toString('base64')).sort()
    assert.deepEqual(received(east), toEast.map((e) => e.bytes.toString('base64')).sort())
    assert.deepEqual(received(west), toWest.map((e) => e.bytes.toString('base64')).sort())
  })
})

describe('envelopes the relay refuses', () => {
  const valid = {
    v: 1,
    messageId: '0b6f3c2e-6a2e-4a7e-9a53-3f1f0c7f2b11',
    from: 'us-east-1',
    to: 'eu-west-1',
    body: 'eyJwcm90b2NvbCI6InRyZW50LXJlcGxpY2F0aW9uLzEifQ==',
    signature: { keyId: '00112233445566778899aabbccddeeff', value: 'AAAA' },
  }
  const without = (field: string): Record<string, unknown> => Object.fromEntries(Object.entries(valid).filter(([name]) => name !== field))
  const invalidCases: Array<[string, unknown]> = [
    ...['v', 'messageId', 'from', 'to', 'body', 'signature'].map((field): [string, unknown] => [`missing ${field}`, without(field)]),
    ['v is a string', { ...valid, v: '1' }],
    ['v is 2', { ...valid, v: 2 }],
    ['messageId is a number', { ...valid, messageId: 7 }],
    ['messageId is empty', { ...valid, messageId: '' }],
    ['from is null', { ...valid, from: null }],
    ['to is an array', { ...valid, to: ['eu-west-1'] }],
    ['to has a slash', { ...valid, to: '../eu-west-1' }],
    ['body is an object', { ...valid, body: { protocol: 'trent-replication/1' } }],
    ['body is a number', { ...valid, body: 12 }],
    ['signature is a string', { ...valid, signature: 'c2ln' }],
    ['signature is an array', { ...valid, signature: ['k', 'v'] }],
    ['signature.keyId missing', { ...valid, signature: { value: 'AAAA' } }],
    ['signature.value is a number', { ...valid, signature: { keyId: 'k', value: 1 } }],
    ['an array', [valid]],
    ['a string', 'envelope'],
    ['null', null],
  ]

  test('the header reader accepts a valid envelope and nothing else', () => {
    assert.deepEqual(readEnvelopeHeader(Buffer.from(JSON.stringify(valid))), {
      messageId: valid.messageId,
      from: 'us-east-1',
      to: 'eu-west-1',
    })
    for (const [name, envelope] of invalidCases) {
      assert.throws(
        () => readEnvelopeHeader(Buffer.from(JSON.stringify(envelope))),
        (err: unknown) => err instanceof EnvelopeRejectedError && err.rejection === 'invalid',
        name,
      )
    }
    for (const bytes of [Buffer.from('{"v":1,'), Buffer.from(''), Buffer.from([0xff, 0xfe, 0x7b, 0x7d])]) {
      assert.throws(
        () => readEnvelopeHeader(bytes),
        (err: unknown) => err instanceof EnvelopeRejectedError && err.reason === 'envelope is not JSON',
      )
    }
    assert.throws(
      () => readEnvelopeHeader(Buffer.alloc(MAX_ENVELOPE_BYTES + 1, 0x20)),
      (err: unknown) => err instanceof EnvelopeRejectedError && err.rejection === 'too-large',
    )
  })

  test('over HTTP: 400 with a reason for every malformed envelope, and none is stored or delivered', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    for (const [name, envelope] of invalidCases) {
      const answer = await postEnvelope(proxy.url, Buffer.from(JSON.stringify(envelope)))
      assert.equal(answer.status, 400, name)
      assert.equal(answer.json.error, 'InvalidEnvelope', name)
      assert.equal(typeof answer.json.reason, 'string', name)
    }
    const notJson = await postEnvelope(proxy.url, Buffer.from('v=1&to=eu-west-1'))
    assert.deepEqual([notJson.status, notJson.json], [400, { error: 'InvalidEnvelope', reason: 'envelope is not JSON' }])
    await idle(100)
    assert.equal(region.deliveries.length, 0)
    assert.equal((await destinationStatus(proxy, 'eu-west-1'))?.pending, 0)
  })

  test('over 1 MiB: 413', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const small = makeEnvelope({ bodyBytes: 3 })
    const padding = 'A'.repeat(MAX_ENVELOPE_BYTES - small.bytes.length + 1)
    const bytes = Buffer.from(small.bytes.toString('utf8').replace(`"body":"${small.body}`, `"body":"${small.body}${padding}`))
    const answer = await postEnvelope(proxy.url, bytes)
    assert.equal(answer.status, 413)
    assert.equal(answer.json.error, 'EnvelopeTooLarge')
    // Far over the limit too, sent in chunks without a declared length.
    const huge = await fetch(`${proxy.url}/v1/envelopes`, {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(new Uint8Array(MAX_ENVELOPE_BYTES))
          controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    assert.equal(huge.status, 413)
    await huge.arrayBuffer()
    assert.equal(region.deliveries.length, 0)
  })

  test('a destination with no route: 404, and it is not stored', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const answer = await postEnvelope(proxy.url, makeEnvelope({ to: 'ap-south-1' }).bytes)
    assert.deepEqual([answer.status, answer.json], [404, { error: 'UnknownDestination', reason: "no route to region 'ap-south-1'" }])
    assert.equal((await destinationStatus(proxy, 'ap-south-1'))?.pending, undefined)
  })

  test('relay.accept throws the typed error without HTTP', () => {
    const relay = createRelay({
      store: new MemoryRelayStore(),
      deliver: () => Promise.resolve({ status: 200 }),
      logger: createLogger({}, 'error'),
      isKnownDestination: (region) => region === 'eu-west-1',
    })
    assert.throws(
      () => relay.accept(Buffer.from('nope')),
      (err: unknown) => err instanceof EnvelopeRejectedError && err.rejection === 'invalid',
    )
    assert.throws(
      () => relay.accept(makeEnvelope({ to: 'us-west-2' }).bytes),
      (err: unknown) => err instanceof EnvelopeRejectedError && err.rejection === 'unknown-destination',
    )
    void relay.close()
  })
})

describe('answers from the destination', () => {
  test('503 is retried with backoff until the region accepts', async () => {
    let refusalsLeft = 3
    const region = await fakeRegion({ answer: () => (refusalsLeft-- > 0 ? { status: 503, json: { reason: 'starting' } } : 200) })
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const envelope = makeEnvelope()
    assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.delivered === 1, 'the delivery after retries')
    assert.equal(region.deliveries.length, 4)
    assert.ok(region.deliveries.every((d) => d.bytes.equals(envelope.bytes)))
    const status = await destinationStatus(proxy, 'eu-west-1')
    assert.equal(status?.lastError?.error, 'HTTP 503: starting')
    assert.equal(status?.consecutiveFailures, 0, 'the region answers again')
  })

  test('a region that is down gets the envelope once it comes up', async () => {
    const region = await fakeRegion()
    await region.close()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const envelopes = Array.from({ length: 5 }, () => makeEnvelope())
    for (const envelope of envelopes) assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await waitFor(async () => ((await destinationStatus(proxy, 'eu-west-1'))?.consecutiveFailures ?? 0) >= 3, 'several failed attempts')
    const down = await destinationStatus(proxy, 'eu-west-1')
    assert.equal(down?.pending, 5)
    assert.match(down?.lastError?.error ?? '', /ECONNREFUSED/)
    await region.reopen()
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.delivered === 5, 'delivery once the region is up')
    const received = new Set(region.deliveries.map((d) => d.bytes.toString('base64')))
    for (const envelope of envelopes) assert.ok(received.has(envelope.bytes.toString('base64')))
    assert.equal((await destinationStatus(proxy, 'eu-west-1'))?.pending, 0)
  })

  test('a 4xx is a refusal: not retried, and shown in status with its reason', async () => {
    const region = await fakeRegion({ answer: () => ({ status: 403, json: { error: 'Refused', reason: 'signature does not verify' } }) })
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const envelope = makeEnvelope()
    assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.refused === 1, 'the refusal')
    await idle()
    assert.equal(region.deliveries.length, 1, 'never retried')
    const status = await destinationStatus(proxy, 'eu-west-1')
    assert.equal(status?.pending, 0)
    assert.equal(status?.delivered, 0)
    assert.equal(status?.recentRefusals.length, 1)
    assert.deepEqual(
      { ...status?.recentRefusals[0], at: undefined },
      { messageId: envelope.messageId, from: 'us-east-1', status: 403, reason: 'signature does not verify', at: undefined },
    )
    // The refusal is final even for a sender that retries: the id is known.
    assert.deepEqual((await postEnvelope(proxy.url, envelope.bytes)).json, { status: 'duplicate' })
  })

  test('one envelope the region keeps failing on does not hold up the others', async () => {
    const stuck = makeEnvelope()
    const region = await fakeRegion({ answer: (delivery) => (delivery.bytes.equals(stuck.bytes) ? 500 : 200) })
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    assert.equal((await postEnvelope(proxy.url, stuck.bytes)).status, 202)
    await waitFor(() => region.deliveries.length >= 2, 'the stuck envelope to be retried')
    const others = Array.from({ length: 5 }, () => makeEnvelope())
    for (const envelope of others) assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.delivered === 5, 'the other envelopes')
    const status = await destinationStatus(proxy, 'eu-west-1')
    assert.equal(status?.pending, 1)
    assert.equal(status?.lastError?.error, 'HTTP 500')
  })
})

describe('isolation and concurrency', () => {
  test('a region that hangs does not delay delivery to another, and holds at most 8 deliveries', async () => {
    const hanging = await fakeRegion({ answer: () => 'hang' })
    const healthy = await fakeRegion()
    const proxy = await startProxy({
      routes: { 'ap-south-1': hanging.url, 'eu-west-1': healthy.url },
      // Longer than the test: the hanging region never frees a slot by timing out.
      deliveryTimeoutMs: 120_000,
    })
    for (let i = 0; i < 20; i++) assert.equal((await postEnvelope(proxy.url, makeEnvelope({ to: 'ap-south-1' }).bytes)).status, 202)
    await waitFor(() => hanging.deliveries.length === 8, 'eight deliveries in flight to the hanging region')
    const envelope = makeEnvelope({ to: 'eu-west-1' })
    assert.equal((await postEnvelope(proxy.url, envelope.bytes)).status, 202)
    await waitFor(() => healthy.deliveries.length === 1, 'the delivery to the healthy region')
    assert.ok(healthy.deliveries[0]?.bytes.equals(envelope.bytes))
    await idle(100)
    assert.equal(hanging.deliveries.length, 8, 'never more than 8 in flight to one region')
    const status = await destinationStatus(proxy, 'ap-south-1')
    assert.equal(status?.inFlight, 8)
    assert.equal(status?.pending, 20)
    await hanging.close()
  })

  test('a region that refuses connections does not delay delivery to another', async () => {
    const healthy = await fakeRegion()
    const proxy = await startProxy({ routes: { 'ap-south-1': `http://127.0.0.1:${await freePort()}`, 'eu-west-1': healthy.url } })
    for (let i = 0; i < 20; i++) await postEnvelope(proxy.url, makeEnvelope({ to: 'ap-south-1' }).bytes)
    await waitFor(async () => ((await destinationStatus(proxy, 'ap-south-1'))?.consecutiveFailures ?? 0) >= 2, 'the down region to fail')
    assert.equal((await postEnvelope(proxy.url, makeEnvelope({ to: 'eu-west-1' }).bytes)).status, 202)
    await waitFor(() => healthy.deliveries.length === 1, 'the delivery to the healthy region')
    assert.equal((await destinationStatus(proxy, 'ap-south-1'))?.pending, 20)
  })
})

describe('status, health and logs', () => {
  test('health, status, and unknown paths and methods', async () => {
    const region = await fakeRegion()
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url, 'us-east-1': `${region.url}/east` } })
    assert.deepEqual(await getJson(`${proxy.url}/health`), { status: 'ok' })
    const status = (await getJson(`${proxy.url}/v1/status`)) as {
      routes: Record<string, string>
      destinations: Record<string, DestinationStatus>
    }
    assert.deepEqual(status.routes, { 'eu-west-1': `${region.url}/`, 'us-east-1': `${region.url}/east` })
    assert.deepEqual(Object.keys(status.destinations), ['eu-west-1', 'us-east-1'])
    assert.deepEqual(status.destinations['eu-west-1'], {
      pending: 0,
      oldestPendingAgeMs: null,
      inFlight: 0,
      delivered: 0,
      refused: 0,
      consecutiveFailures: 0,
      lastError: null,
      retryInMs: null,
      recentRefusals: [],
    })
    assert.equal((await fetch(`${proxy.url}/v1/envelopes`)).status, 405)
    assert.equal((await fetch(`${proxy.url}/health`, { method: 'POST' })).status, 405)
    assert.equal((await fetch(`${proxy.url}/replication/v1/envelopes`, { method: 'POST', body: '{}' })).status, 404)
  })

  test('the status shows the age of the oldest pending envelope', async () => {
    const proxy = await startProxy({ routes: { 'eu-west-1': `http://127.0.0.1:${await freePort()}` } })
    await postEnvelope(proxy.url, makeEnvelope().bytes)
    await waitFor(async () => ((await destinationStatus(proxy, 'eu-west-1'))?.oldestPendingAgeMs ?? 0) > 0, 'an age')
    assert.equal((await destinationStatus(proxy, 'eu-west-1'))?.pending, 1)
  })

  test('log lines name messages and regions but never carry a body or a signature', async () => {
    let answered = 0
    const region = await fakeRegion({ answer: () => [503, 200, 409][answered++ % 3] ?? 200 })
    const proxy = await startProxy({ routes: { 'eu-west-1': region.url } })
    const envelopes = Array.from({ length: 4 }, () => makeEnvelope())
    for (const envelope of envelopes) await postEnvelope(proxy.url, envelope.bytes)
    await postEnvelope(proxy.url, envelopes[0]?.bytes ?? Buffer.alloc(0))
    await postEnvelope(proxy.url, Buffer.from('{"v":1}'))
    await waitFor(async () => (await destinationStatus(proxy, 'eu-west-1'))?.pending === 0, 'every envelope settled')
    const logs = proxy.logLines.join('')
    for (const envelope of envelopes) {
      assert.ok(logs.includes(envelope.messageId), 'the message id is logged')
      assert.ok(!logs.includes(envelope.body.slice(0, 40)), 'the body is never logged')
      assert.ok(!logs.includes(envelope.signatureValue.slice(0, 40)), 'the signature is never logged')
    }
    for (const line of proxy.logLines) {
      const record = JSON.parse(line) as Record<string, unknown>
      assert.equal(typeof record.msg, 'string')
    }
  })
})

describe('the relay core', () => {
  test('delivers what a restarted relay finds pending in its store, oldest first', async () => {
    const store = new MemoryRelayStore()
    const envelopes = Array.from({ length: 3 }, () => makeEnvelope())
    envelopes.forEach((envelope, index) => store.put({ ...envelope, envelope: envelope.bytes, acceptedAt: index }))
    const delivered: string[] = []
    const relay = createRelay({
      store,
      deliver: (_to, bytes) => {
        delivered.push(Buffer.from(bytes).toString('base64'))
        return Promise.resolve({ status: 204 })
      },
      logger: createLogger({}, 'error'),
      maxInFlightPerDestination: 1,
    })
    await waitFor(() => delivered.length === 3, 'the deliveries')
    assert.deepEqual(
      delivered,
      envelopes.map((e) => e.bytes.toString('base64')),
    )
    assert.equal(store.stats().get('eu-west-1')?.delivered, 3)
    await relay.close()
  })

  test('a delivery that throws (no answer) is retried; one that answers is not', async () => {
    let calls = 0
    const deliver: Deliver = () => {
      calls += 1
      return calls < 3
        ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
        : Promise.resolve({ status: 202 })
    }
    const store = new MemoryRelayStore()
    const relay = createRelay({ store, deliver, logger: createLogger({}, 'error'), backoff: FAST_BACKOFF })
    assert.equal(relay.accept(makeEnvelope().bytes), 'stored')
    await waitFor(() => store.stats().get('eu-west-1')?.delivered === 1, 'the delivery')
    assert.equal(calls, 3)
    assert.equal(relay.status()['eu-west-1']?.lastError?.error, 'connect ECONNREFUSED')
    await relay.close()
  })

  test('close lets deliveries in flight finish and record, then refuses new envelopes', async () => {
    let release: (() => void) | undefined
    const store = new MemoryRelayStore()
    const relay = createRelay({
      store,
      deliver: () => new Promise((resolve) => (release = () => resolve({ status: 200 }))),
      logger: createLogger({}, 'error'),
    })
    relay.accept(makeEnvelope().bytes)
    await waitFor(() => release !== undefined, 'the delivery to start')
    const closing = relay.close({ graceMs: 60_000 })
    release?.()
    await closing
    assert.equal(store.stats().get('eu-west-1')?.delivered, 1)
    assert.throws(() => relay.accept(makeEnvelope().bytes), RelayClosedError)
  })

  test('close aborts deliveries still in flight after the grace period; they stay pending', async () => {
    const store = new MemoryRelayStore()
    let aborted = false
    const relay = createRelay({
      store,
      deliver: (_to, _bytes, signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true
            reject(new Error('aborted'))
          })
        }),
      logger: createLogger({}, 'error'),
    })
    relay.accept(makeEnvelope().bytes)
    await relay.close({ graceMs: 10 })
    assert.ok(aborted)
    assert.equal(store.stats().get('eu-west-1')?.pending, 1)
  })

  test('retryNow skips the remaining backoff', async () => {
    let up = false
    const store = new MemoryRelayStore()
    const relay = createRelay({
      store,
      deliver: () => (up ? Promise.resolve({ status: 200 }) : Promise.resolve({ status: 503 })),
      logger: createLogger({}, 'error'),
      // A backoff far longer than the test: only retryNow can get the envelope through.
      backoff: { initialMs: 600_000, maxMs: 600_000, jitter: 0 },
    })
    relay.accept(makeEnvelope().bytes)
    await waitFor(() => relay.status()['eu-west-1']?.consecutiveFailures === 1, 'the first failure')
    up = true
    relay.retryNow('eu-west-1')
    await waitFor(() => store.stats().get('eu-west-1')?.delivered === 1, 'the delivery')
    await relay.close()
  })
})

describe('stores', () => {
  const storeKinds: Array<[string, () => { open(): RelayStore }]> = [
    ['memory', () => ({ open: () => new MemoryRelayStore() })],
    [
      'sqlite',
      () => {
        const path = join(tempDir(), 'proxy.db')
        return { open: () => new SqliteRelayStore(path) }
      },
    ],
  ]
  for (const [kind, make] of storeKinds) {
    test(`${kind}: put de-duplicates, pending is oldest first, finished envelopes leave tombstones and counts`, () => {
      const store = make().open()
      const [a, b, c] = [makeEnvelope(), makeEnvelope(), makeEnvelope({ to: 'us-west-2' })]
      assert.ok(a !== undefined && b !== undefined && c !== undefined)
      assert.equal(store.put({ ...a, envelope: a.bytes, acceptedAt: 1_000 }), true)
      assert.equal(store.put({ ...b, envelope: b.bytes, acceptedAt: 2_000 }), true)
      assert.equal(store.put({ ...c, envelope: c.bytes, acceptedAt: 3_000 }), true)
      assert.equal(store.put({ ...a, envelope: b.bytes, acceptedAt: 4_000 }), false)
      assert.deepEqual(
        store.pending('eu-west-1', 10).map((e) => e.messageId),
        [a.messageId, b.messageId],
      )
      assert.deepEqual(
        store.pending('eu-west-1', 1).map((e) => e.messageId),
        [a.messageId],
      )
      assert.ok(Buffer.from(store.pending('eu-west-1', 1)[0]?.envelope ?? []).equals(a.bytes))
      assert.deepEqual(store.destinationsWithPending().sort(), ['eu-west-1', 'us-west-2'])
      assert.deepEqual(store.stats().get('eu-west-1'), { pending: 2, oldestPendingAcceptedAt: 1_000, delivered: 0, refused: 0 })

      store.remove(a.messageId, 5_000)
      store.remove(a.messageId, 5_001)
      store.markRefused(b.messageId, { status: 409, reason: 'stale', at: 6_000 })
      assert.deepEqual(store.pending('eu-west-1', 10), [])
      assert.equal(store.put({ ...a, envelope: a.bytes, acceptedAt: 7_000 }), false, 'a delivered id stays known')
      assert.equal(store.put({ ...b, envelope: b.bytes, acceptedAt: 7_000 }), false, 'a refused id stays known')
      assert.deepEqual(store.stats().get('eu-west-1'), { pending: 0, oldestPendingAcceptedAt: undefined, delivered: 1, refused: 1 })
      assert.deepEqual(store.refusals('eu-west-1', 5), [
        { messageId: b.messageId, from: 'us-east-1', to: 'eu-west-1', status: 409, reason: 'stale', at: 6_000 },
      ])

      assert.equal(store.pruneTombstones(5_500), 1)
      assert.equal(store.put({ ...a, envelope: a.bytes, acceptedAt: 8_000 }), true, 'a pruned id is forgotten')
      assert.equal(store.stats().get('eu-west-1')?.delivered, 1, 'counts outlive tombstones')
      store.close()
    })
  }

  test('sqlite: what was put survives closing and reopening the database', () => {
    const path = join(tempDir(), 'proxy.db')
    const first = new SqliteRelayStore(path)
    const envelope = makeEnvelope()
    first.put({ ...envelope, envelope: envelope.bytes, acceptedAt: 1 })
    first.close()
    const second = new SqliteRelayStore(path)
    assert.equal(second.put({ ...envelope, envelope: envelope.bytes, acceptedAt: 2 }), false)
    const pending = second.pending('eu-west-1', 10)
    assert.equal(pending.length, 1)
    assert.ok(Buffer.from(pending[0]?.envelope ?? []).equals(envelope.bytes))
    second.close()
  })

  test('sqlite: a relay on a reopened store delivers what the previous one accepted', async () => {
    const path = join(tempDir(), 'proxy.db')
    const region = await fakeRegion()
    await region.close()
    const firstProxy = await startProxy({ routes: { 'eu-west-1': region.url }, store: new SqliteRelayStore(path) })
    const envelope = makeEnvelope()
    assert.equal((await postEnvelope(firstProxy.url, envelope.bytes)).status, 202)
    await firstProxy.close()
    await region.reopen()
    const secondProxy = await startProxy({ routes: { 'eu-west-1': region.url }, store: new SqliteRelayStore(path) })
    await waitFor(() => region.deliveries.length === 1, 'the delivery after restart')
    assert.ok(region.deliveries[0]?.bytes.equals(envelope.bytes))
    await waitFor(async () => (await destinationStatus(secondProxy, 'eu-west-1'))?.delivered === 1, 'the delivered count')
  })
})

describe('building blocks', () => {
  test('routes: flags and files', () => {
    const [region, url] = parseRouteFlag('eu-west-1=http://127.0.0.1:4568')
    assert.equal(region, 'eu-west-1')
    assert.equal(url.href, 'http://127.0.0.1:4568/')
    for (const bad of ['eu-west-1', '=http://x', 'eu-west-1=ftp://x', 'eu-west-1=not a url', 'EU=http://x', 'eu-west-1=http://x/?q=1']) {
      assert.throws(() => parseRouteFlag(bad), RouteError, bad)
    }
    assert.deepEqual(
      [...parseRoutesJson('{"us-east-1":"http://127.0.0.1:1/","eu-west-1":"https://eu.example/trent"}')].map(([r, u]) => [r, u.href]),
      [
        ['us-east-1', 'http://127.0.0.1:1/'],
        ['eu-west-1', 'https://eu.example/trent'],
      ],
    )
    for (const bad of ['[]', 'null', '{"us-east-1":4567}', '{', '{"../x":"http://x"}'])
      assert.throws(() => parseRoutesJson(bad), RouteError, bad)
  })

  test('delivery URL and the short reason of a refusal', () => {
    assert.equal(deliveryUrl(new URL('http://h:1')).href, 'http://h:1/replication/v1/envelopes')
    assert.equal(deliveryUrl(new URL('http://h:1/eu//')).href, 'http://h:1/eu/replication/v1/envelopes')
    assert.equal(shortReason(Buffer.from('{"reason":"expired","message":"other"}')), 'expired')
    assert.equal(shortReason(Buffer.from('{"__type":"Refused"}')), 'Refused')
    assert.equal(shortReason(Buffer.from('plain\ntext')), 'plain text')
    assert.equal(shortReason(Buffer.from('x'.repeat(1000))).length, 200)
    assert.equal(shortReason(Buffer.from('{}')), '')
    assert.equal(shortReason(Buffer.from('{"code":7}')), '{"code":7}')
  })

  test('backoff doubles from the initial delay up to the ceiling, with jitter below it', () => {
    const policy = { initialMs: 50, maxMs: 10_000, multiplier: 2, jitter: 0.5 }
    const ceilings = [1, 2, 3, 4, 10, 20, 100].map((failures) => backoffDelayMs(policy, failures, () => 0))
    assert.deepEqual(ceilings, [50, 100, 200, 400, 10_000, 10_000, 10_000])
    for (let failures = 1; failures < 12; failures++) {
      const delay = backoffDelayMs(policy, failures)
      const ceiling = Math.min(10_000, 50 * 2 ** (failures - 1))
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `${delay} within [${ceiling / 2}, ${ceiling}]`)
    }
  })
})
