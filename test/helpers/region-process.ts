/**
 * A region as its own OS process, started exactly as the launcher starts it, for tests
 * that kill it, or that run it on a "host" of its own (a network namespace: pass
 * `commandPrefix: ['ip', 'netns', 'exec', name]`, see test/helpers/netns.ts).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { TEST_CREDENTIALS } from './in-process-region.js'

const REGION_MAIN = fileURLToPath(new URL('../../src/region/main.js', import.meta.url))
const DEFAULT_READY_TIMEOUT_MS = 30_000
/** After SIGTERM, beyond the region's own 10 s stop deadline. */
const STOP_DEADLINE_MS = 15_000
/** Output kept for diagnostics; older output is dropped. */
const MAX_KEPT_OUTPUT = 64 * 1024

export interface RegionProcess {
  region: string
  port: number
  /**
   * Where the region serves replication deliveries: the port its `ready` message names as
   * `replicationPort` when it has a replication listener of its own, else its API port.
   */
  replicationPort: number
  pid: number
  child: ChildProcess
  /** The API endpoint clients use. */
  endpoint: string
  /** An SDK client for the region's API (no retries unless `config` says otherwise); destroyed when the region stops. */
  client(config?: Partial<KMSClientConfig>): KMSClient
  /** The tail of what the region wrote (stdout: JSON log lines; stderr). */
  output(): string
  kill9(): Promise<void>
  /** SIGTERM, and SIGKILL if the region has not exited after a deadline. */
  stop(): Promise<void>
}

export interface StartRegionProcessOptions {
  region?: string
  dataDir: string
  /** --port; default 0 (a free port). */
  port?: number
  /** --host, the address the API listens on; default the region's own (127.0.0.1). */
  host?: string
  /** The address clients connect to; default `host` (127.0.0.1 when that is a wildcard). */
  clientHost?: string
  extraArgs?: string[]
  /** Default: {@link TEST_CREDENTIALS}. */
  credentials?: { accessKeyId: string; secretAccessKey: string }
  /** Merged over the region's environment (TRENT_MASTER_KEY, say). */
  env?: Readonly<Record<string, string>>
  /**
   * Runs `node <region main>` under this command, e.g. `['ip', 'netns', 'exec', name]`.
   * The command must exec node in place (as `ip netns exec` does), so that the IPC
   * channel, the pid and the signals are the region's own.
   */
  commandPrefix?: readonly string[]
  /** How long to wait for the region's `ready` message; default 30 s. */
  readyTimeoutMs?: number
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

export async function startRegionProcess(options: StartRegionProcessOptions): Promise<RegionProcess> {
  const region = options.region ?? 'us-east-1'
  const credentials = options.credentials ?? TEST_CREDENTIALS
  const args = ['--region', region, '--data-dir', options.dataDir, '--port', String(options.port ?? 0)]
  if (options.host !== undefined) args.push('--host', options.host)
  args.push(...(options.extraArgs ?? []))
  const env = {
    ...process.env,
    TRENT_ACCESS_KEY_ID: credentials.accessKeyId,
    TRENT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    TRENT_LOG_LEVEL: 'warn',
    ...options.env,
  }
  const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc']
  const prefix = options.commandPrefix ?? []
  const [command, ...prefixArgs] = prefix
  const child =
    command === undefined
      ? fork(REGION_MAIN, args, { env, stdio })
      : spawn(command, [...prefixArgs, process.execPath, REGION_MAIN, ...args], { env, stdio })

  let kept = ''
  const keep = (text: string): void => {
    kept = (kept + text).slice(-MAX_KEPT_OUTPUT)
  }
  child.stdout?.setEncoding('utf8').on('data', keep)
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    keep(text)
    process.stderr.write(text)
  })

  const ready = await new Promise<{ port: number; replicationPort: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`region ${region} did not become ready\n${kept}`)),
      options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    )
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`region ${region} exited early with ${String(code)}\n${kept}`))
    })
    child.on('message', (message: { type?: string; port?: number; replicationPort?: unknown }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer)
        resolve({
          port: message.port,
          replicationPort: typeof message.replicationPort === 'number' ? message.replicationPort : message.port,
        })
      }
    })
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL')
    await exited(child)
    throw err
  })

  const listenHost = options.host ?? '127.0.0.1'
  const clientHost = options.clientHost ?? (isWildcard(listenHost) ? '127.0.0.1' : listenHost)
  const endpoint = `http://${clientHost}:${ready.port}`
  const clients: KMSClient[] = []
  const destroyClients = (): void => {
    for (const c of clients.splice(0)) c.destroy()
  }
  return {
    region,
    port: ready.port,
    replicationPort: ready.replicationPort,
    pid: child.pid ?? 0,
    child,
    endpoint,
    client(config = {}) {
      const client = new KMSClient({ region, endpoint, credentials: { ...credentials }, maxAttempts: 1, ...config })
      clients.push(client)
      return client
    },
    output: () => kept,
    async kill9() {
      child.kill('SIGKILL')
      await exited(child)
      destroyClients()
    },
    async stop() {
      const force = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS)
      child.kill('SIGTERM')
      await exited(child)
      clearTimeout(force)
      destroyClients()
    },
  }
}
