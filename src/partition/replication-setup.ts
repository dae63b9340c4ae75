/**
 * What the local partition adds for multi-Region keys (docs/spec/replication.md §11):
 * a partition id, the proxy process, and a trust store in every region pinning every
 * region's Replication Signing Keys.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../log/logger.js'
import type { MetricsSnapshot } from '../metrics/gather.js'
import type { MetricsRequests } from './metrics-requests.js'
import {
  RSK_EXPORT_FILE,
  TRUST_STORE_FILE,
  formatTrustDocument,
  parseRskExport,
  type TrustStoreDocument,
} from '../wire/replication-trust.js'

const PROXY_MAIN = fileURLToPath(new URL('../proxy/main.js', import.meta.url))

function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text)
  renameSync(`${path}.tmp`, path)
}

/** The partition id, created once and kept in the data dir. */
export function ensurePartitionId(dataDir: string): string {
  const path = join(dataDir, 'partition.json')
  if (existsSync(path)) {
    const id = (JSON.parse(readFileSync(path, 'utf8')) as { partition?: unknown }).partition
    if (typeof id === 'string' && id !== '') return id
  }
  const id = `trent-${randomBytes(8).toString('hex')}`
  writeAtomically(path, `${JSON.stringify({ partition: id }, null, 2)}\n`)
  return id
}

/**
 * Pins every region's signing keys in every region: reads each region's published
 * `rsk-public.json` and writes the same trust store into each region's folder; regions
 * re-read it when it changes.
 */
export class PartitionTrust {
  constructor(
    private readonly partition: string,
    private readonly regionDirs: ReadonlyMap<string, string>,
  ) {}

  refresh(): void {
    const regions: TrustStoreDocument['regions'] = {}
    for (const [region, dir] of this.regionDirs) {
      try {
        const path = join(dir, RSK_EXPORT_FILE)
        if (!existsSync(path)) continue
        const exported = parseRskExport(readFileSync(path, 'utf8'))
        regions[region] = exported.keys.map((k) => ({ id: k.id, publicKey: k.publicKey, status: 'active' }))
      } catch {
        // A region whose folder is unusable cannot have published keys; it is pinned once it has.
      }
    }
    const text = formatTrustDocument({ partition: this.partition, regions })
    for (const dir of this.regionDirs.values()) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        const path = join(dir, TRUST_STORE_FILE)
        if (existsSync(path) && readFileSync(path, 'utf8') === text) continue
        writeAtomically(path, text)
      } catch {
        // The region cannot start from an unusable folder either; the next refresh retries.
      }
    }
  }
}

/** Keeps the proxy process running on one port, restarting it if it dies. */
export class ProxySupervisor {
  private child: ChildProcess | undefined
  private stopping = false
  private routes: Record<string, string> = {}
  port: number

  constructor(
    private readonly dataDir: string,
    private readonly host: string,
    port: number,
    private readonly logger: Logger,
    /** Further arguments for the proxy (its listener limits). */
    private readonly extraArgs: readonly string[] = [],
    /** Where the proxy's answers to metrics requests go (docs/metrics.md). */
    private readonly metricsRequests?: MetricsRequests,
  ) {
    this.port = port
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  }

  get url(): string {
    return `http://${this.host === '0.0.0.0' ? '127.0.0.1' : this.host}:${this.port}`
  }

  setRoute(region: string, url: string | undefined): void {
    if (url === undefined) delete this.routes[region]
    else this.routes[region] = url
    writeAtomically(join(this.dataDir, 'routes.json'), `${JSON.stringify(this.routes, null, 2)}\n`)
  }

  /** Starts the proxy and resolves once it listens (so its port is known). */
  start(): Promise<void> {
    writeAtomically(join(this.dataDir, 'routes.json'), `${JSON.stringify(this.routes, null, 2)}\n`)
    const child = fork(
      PROXY_MAIN,
      [
        '--data-dir',
        this.dataDir,
        '--port',
        String(this.port),
        '--host',
        this.host,
        '--routes-file',
        join(this.dataDir, 'routes.json'),
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: process.execArgv.filter((flag) => !flag.startsWith('--inspect')) },
    )
    this.child = child
    if (child.stdout !== null) createInterface({ input: child.stdout }).on('line', (line) => process.stdout.write(`${line}\n`))
    child.on('exit', (code, signal) => {
      if (this.child !== child || this.stopping) return
      this.logger.error('proxy died; restarting it', { code, signal })
      setTimeout(() => void this.start().catch(() => undefined), 500).unref()
    })
    return new Promise((resolve, reject) => {
      child.once('exit', () => reject(new Error('the proxy exited before it was ready')))
      child.on('message', (message: { type?: string; port?: number; id?: unknown; metrics?: unknown }) => {
        if (message.type === 'metrics' && typeof message.id === 'number') {
          this.metricsRequests?.settle(message.id, message.metrics)
          return
        }
        if (message.type === 'ready' && typeof message.port === 'number') {
          // Keep the port across restarts: regions were told this URL.
          this.port = message.port
          resolve()
        }
      })
    })
  }

  /** The proxy's metrics registry, if it answers (the launcher's GET /metrics gathers it). */
  metrics(): Promise<MetricsSnapshot | undefined> {
    return this.metricsRequests === undefined ? Promise.resolve(undefined) : this.metricsRequests.ask(this.child)
  }

  async stop(): Promise<void> {
    this.stopping = true
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((done) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
      child.once('exit', () => {
        clearTimeout(force)
        done()
      })
      child.kill('SIGTERM')
    })
  }

  kill(): void {
    this.stopping = true
    this.child?.kill('SIGKILL')
  }
}
