/**
 * The replication proxy as its own OS process, started as the launcher starts it, for
 * tests that kill it or run it on a "host" of its own (`commandPrefix`, see
 * test/helpers/netns.ts); plus what proxy tests need around it: fake destination regions
 * (small HTTP servers the test controls), envelope builders, and polling.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { renameSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PROXY_MAIN = fileURLToPath(new URL('../../src/proxy/main.js', import.meta.url))

/** region → route base URL, e.g. `{ 'eu-west-1': 'http://127.0.0.1:4568' }`. */
export type RouteMap = Record<string, string>

export interface ProxyProcess {
  url: string
  port: number
  pid: number
  child: ChildProcess
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>
  kill9(): Promise<void>
  /** Rewrites the routes file, signals the proxy and waits until it routes by it. */
  setRoutes(routes: RouteMap): Promise<void>
}

export interface StartProxyOptions {
  dataDir: string
  routes: RouteMap
  port?: number
  /** --host, the address the proxy listens on (and `url` names); default 127.0.0.1. */
  host?: string
  /**
   * Runs `node <proxy main>` under this command, e.g. `['ip', 'netns', 'exec', name]`;
   * it must exec node in place (as `ip netns exec` does), so that the IPC channel, the
   * pid and the signals are the proxy's own.
   */
  commandPrefix?: readonly string[]
  /**
   * Redelivery backoff. Tests default to a fast one (10 ms doubling to 200 ms) so that a
   * region coming back is reached quickly.
   */
  backoff?: { initialMs: number; maxMs: number }
  extraArgs?: string[]
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

function writeRoutesFile(path: string, routes: RouteMap): void {
  // Write then rename: the proxy never reads a half-written file.
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, JSON.stringify(routes))
  renameSync(temporary, path)
}

function sameRoutes(reported: unknown, expected: RouteMap): boolean {
  if (typeof reported !== 'object' || reported === null) return false
  const normalized = Object.fromEntries(Object.entries(expected).map(([region, url]) => [region, new URL(url).href]))
  return JSON.stringify(Object.entries(reported).sort()) === JSON.stringify(Object.entries(normalized).sort())
}

export async function startProxyProcess(options: StartProxyOptions): Promise<ProxyProcess> {
  const routesFile = join(options.dataDir, 'routes.json')
  writeRoutesFile(routesFile, options.routes)
  const backoff = options.backoff ?? { initialMs: 10, maxMs: 200 }
  const host = options.host ?? '127.0.0.1'
  const args = [
    '--data-dir',
    options.dataDir,
    '--host',
    host,
    '--port',
    String(options.port ?? 0),
    '--routes-file',
    routesFile,
    '--backoff-initial-ms',
    String(backoff.initialMs),
    '--backoff-max-ms',
    String(backoff.maxMs),
    ...(options.extraArgs ?? []),
  ]
  const env = { ...process.env, TRENT_LOG_LEVEL: 'warn' }
  const stdio: ['ignore', 'ignore', 'inherit', 'ipc'] = ['ignore', 'ignore', 'inherit', 'ipc']
  const [command, ...prefixArgs] = options.commandPrefix ?? []
  const child =
    command === undefined
      ? fork(PROXY_MAIN, args, { env, stdio })
      : spawn(command, [...prefixArgs, process.execPath, PROXY_MAIN, ...args], { env, stdio })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('proxy did not become ready')), 30_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`proxy exited early with ${String(code)}`))
    })
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer)
        resolve(message.port)
      }
    })
  })
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  return {
    url,
    port,
    pid: child.pid ?? 0,
    child,
    async stop() {
      child.kill('SIGTERM')
      return exited(child)
    },
    async kill9() {
      child.kill('SIGKILL')
      await exited(child)
    },
    async setRoutes(routes) {
      writeRoutesFile(routesFile, routes)
      child.kill('SIGHUP')
      await waitFor(
        async () => sameRoutes(((await getJson(`${url}/v1/status`)) as { routes?: unknown }).routes, routes),
        'the proxy to load the new routes',
      )
    },
  }
}

// ---------------------------------------------------------------------------------------
// Fake destination regions
// ---------------------------------------------------------------------------------------

/** How a fake region answers one delivery: a status (and JSON), or never. */
export type FakeAnswer = number | { status: number; json: unknown } | 'hang'

export interface Delivery {
  path: string
  contentType: string | undefined
  bytes: Buffer
}

export interface FakeRegion {
  port: number
  /** The route base URL. */
  url: string
  /** Every delivery received, answered or not, in arrival order. */
  readonly deliveries: Delivery[]
  /** Decides each answer; replace it at any time. Default 200. */
  answer: (delivery: Delivery) => FakeAnswer
  /** Stops listening and cuts every connection, hanging ones included: the region is down. */
  close(): Promise<void>
  /** Listens again on the same port: the region is back. */
  reopen(): Promise<void>
}

export async function startFakeRegion(options: { port?: number; answer?: FakeRegion['answer'] } = {}): Promise<FakeRegion> {
  let server: Server | undefined
  const deliveries: Delivery[] = []
  const region: FakeRegion = {
    port: options.port ?? 0,
    url: '',
    deliveries,
    answer: options.answer ?? (() => 200),
    async close() {
      const closing = server
      server = undefined
      if (closing === undefined) return
      await new Promise<void>((resolve) => {
        closing.close(() => resolve())
        closing.closeAllConnections()
      })
    },
    async reopen() {
      await listen(region.port)
    },
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const delivery: Delivery = { path: req.url ?? '', contentType: req.headers['content-type'], bytes: Buffer.concat(chunks) }
      deliveries.push(delivery)
      const answer = region.answer(delivery)
      if (answer === 'hang') return
      const { status, json } = typeof answer === 'number' ? { status: answer, json: {} } : answer
      const payload = Buffer.from(JSON.stringify(json))
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': payload.length })
      res.end(payload)
    })
  }

  async function listen(port: number): Promise<void> {
    const next = createServer(handle)
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject)
      next.listen(port, '127.0.0.1', () => resolve())
    })
    server = next
    region.port = (next.address() as AddressInfo).port
    region.url = `http://127.0.0.1:${region.port}`
  }

  await listen(region.port)
  return region
}

/** A port that nothing listens on (it was free a moment ago): a region that is down. */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

// ---------------------------------------------------------------------------------------
// Envelopes and polling
// ---------------------------------------------------------------------------------------

export interface TestEnvelope {
  messageId: string
  from: string
  to: string
  /** base64, as in a real envelope; random, so that every envelope is distinct. */
  body: string
  signatureValue: string
  bytes: Buffer
}

/**
 * A valid envelope whose bytes no JSON serializer would produce (odd spacing, field
 * order, escapes, an extra field), so that any re-serialization by the relay shows.
 */
export function makeEnvelope(fields: { messageId?: string; from?: string; to?: string; bodyBytes?: number } = {}): TestEnvelope {
  const messageId = fields.messageId ?? randomUUID()
  const from = fields.from ?? 'us-east-1'
  const to = fields.to ?? 'eu-west-1'
  const body = randomBytes(fields.bodyBytes ?? 300).toString('base64')
  const signatureValue = randomBytes(96).toString('base64')
  const text =
    `{ "signature" : {"value":"${signatureValue}",  "keyId":"${randomBytes(16).toString('hex')}"},\n` +
    `\t"v":1 ,"to":"${to}","from":"${from}",  "messageId":"${messageId}", "note":"caf\\u00e9 é",\r\n "body":"${body}"}\n`
  return { messageId, from, to, body, signatureValue, bytes: Buffer.from(text, 'utf8') }
}

export async function postEnvelope(proxyUrl: string, bytes: Uint8Array): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${proxyUrl}/v1/envelopes`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bytes })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

export async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url)
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`)
  return response.json()
}

/** Polls until `condition` holds; fails after a generous deadline, never on timing. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await condition()) return
    } catch {
      // Not there yet (a process still starting, say): poll again.
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
