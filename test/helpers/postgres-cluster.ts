/**
 * Real, throw-away PostgreSQL clusters: a fresh data directory under a temp dir, a free
 * loopback port below 32768, trust authentication, fsync on. Shared by the tests
 * (through test/helpers/postgres.ts, which also removes every cluster when the test
 * process exits or is interrupted) and the benchmark (bench/run.ts), which decides for themselves what happens on a signal.
 *
 *   const cluster = await startPostgresCluster()
 *   new pg.Client({ connectionString: cluster.url })
 *   await cluster.stop(); await cluster.start(); await cluster.kill9(); cluster.freeze()
 *   await removeAllPostgresClusters()      // or removeAllPostgresClustersNow() in an 'exit' hook
 *
 * The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest found; .ci/run
 * installs them). `initdb` and the server refuse to run as root, so as root they run as
 * the `postgres` user (`runuser`), in a temp dir that user owns.
 *
 * @module
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Why the PostgreSQL tests cannot run here, or undefined when they can. In CI they must. */
export function postgresUnavailableReason(): string | undefined {
  if (postgresBinDir() !== undefined) return undefined
  const reason = 'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)'
  if (process.env.CI !== undefined) throw new Error(reason)
  return reason
}

/** The newest PostgreSQL server's bin dir, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'initdb')) && existsSync(join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
  const newest = versions[0]
  return newest === undefined ? undefined : join(root, newest, 'bin')
}

export interface PostgresCluster {
  /** The loopback port it listens on. */
  readonly port: number
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication: no password). */
  readonly url: string
  /** The same URL with a password in it (trust ignores it): for redaction tests. */
  urlWithPassword(password: string): string
  readonly dataDir: string
  /** The server's log (`pg_ctl -l`): what it logs, `log_statement` lines included. */
  readonly logFile: string
  /** The postmaster's pid while it runs: the root of the cluster's processes (backends are its children). */
  postmasterPid(): number | undefined
  start(): Promise<void>
  /** A clean, fast shutdown (`pg_ctl stop -m fast`): sessions are ended, then the server stops. */
  stop(): Promise<void>
  restart(): Promise<void>
  /** SIGKILL to the server and its backends: a crash; the next start recovers from the WAL. */
  kill9(): Promise<void>
  /** SIGSTOP to the server and its backends: a server that accepts nothing and answers nothing. */
  freeze(): void
  /** SIGCONT, after freeze(). */
  thaw(): void
  /** Stops it at once and removes its files. */
  remove(): Promise<void>
}

/** postgresql.conf settings, e.g. `{ log_statement: 'all' }`; strings are quoted for the file. */
export type PostgresSettings = Record<string, string | number | boolean>

export interface PostgresClusterOptions {
  /** Settings after (so over) this module's own. */
  settings?: PostgresSettings
}

const clusters = new Set<Cluster>()
const RUN_TIMEOUT_MS = 60_000

function asPostgresUser(command: string, args: readonly string[]): { file: string; args: string[] } {
  // initdb and postgres refuse root; run them as the `postgres` user then.
  if (process.getuid?.() === 0) return { file: 'runuser', args: ['-u', 'postgres', '--', command, ...args] }
  return { file: command, args: [...args] }
}

function run(command: string, args: readonly string[]): Promise<string> {
  const { file, args: argv } = asPostgresUser(command, args)
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: RUN_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`))
      else resolve(stdout)
    })
  })
}

function runSync(command: string, args: readonly string[]): void {
  const { file, args: argv } = asPostgresUser(command, args)
  spawnSync(file, argv, { timeout: 20_000, stdio: 'ignore' })
}

/** A loopback port below 32768 that nothing listens on now. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error('no free loopback port found for PostgreSQL')
}

/** The pids of `pid`'s children, from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      // The field after the command's closing parenthesis is the state, then the parent pid.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (parent === pid) children.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return children
}

/** Sends `signal` to each of `pids` that still exists (a backend may exit at any moment). */
function signalEach(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

class Cluster implements PostgresCluster {
  readonly dataDir: string
  readonly logFile: string
  readonly #root: string
  readonly #bin: string
  readonly #settings: PostgresSettings
  #port: number
  #running = false

  constructor(root: string, bin: string, port: number, settings: PostgresSettings = {}) {
    this.#root = root
    this.#bin = bin
    this.#port = port
    this.#settings = settings
    this.dataDir = join(root, 'data')
    this.logFile = join(root, 'server.log')
  }

  get port(): number {
    return this.#port
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.#port}/postgres`
  }

  urlWithPassword(password: string): string {
    return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${this.#port}/postgres`
  }

  async init(): Promise<void> {
    await run(join(this.#bin, 'initdb'), ['-D', this.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
    appendFileSync(
      join(this.dataDir, 'postgresql.conf'),
      [
        '',
        '# test/helpers/postgres.ts',
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${this.#root}'`,
        'fsync = on',
        'synchronous_commit = on',
        'max_connections = 100',
        'shared_buffers = 32MB',
        "log_min_messages = 'warning'",
        ...Object.entries(this.#settings).map(([name, value]) => `${name} = ${settingValue(value)}`),
        '',
      ].join('\n'),
    )
  }

  postmasterPid(): number | undefined {
    return this.#postmaster()
  }

  /** The postmaster's pid, from postmaster.pid, if it runs. */
  #postmaster(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
      return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined
    } catch {
      return undefined
    }
  }

  #processes(): number[] {
    const postmaster = this.#postmaster()
    return postmaster === undefined ? [] : [postmaster, ...childrenOf(postmaster)]
  }

  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', '-o', `-p ${this.#port}`, 'start'])
        this.#running = true
        return
      } catch (err) {
        // Another process may have taken the port since it was chosen: take another.
        const log = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : ''
        if (attempt < 3 && /could not bind|Address already in use/.test(log)) {
          this.#port = await freePort()
          continue
        }
        throw new Error(`${err instanceof Error ? err.message : String(err)}\nserver log:\n${log.slice(-4_000)}`)
      }
    }
  }

  async stop(): Promise<void> {
    if (this.#postmaster() === undefined) return
    await run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, '-w', '-t', '60', '-m', 'fast', 'stop'])
    this.#running = false
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async kill9(): Promise<void> {
    const pids = this.#processes()
    signalEach(pids, 'SIGKILL')
    const deadline = Date.now() + 10_000
    while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    this.#running = false
  }

  freeze(): void {
    signalEach(this.#processes(), 'SIGSTOP')
  }

  thaw(): void {
    const postmaster = this.#postmaster()
    if (postmaster === undefined) return
    // The children first: a postmaster thawed first might see them as stuck.
    signalEach([...childrenOf(postmaster), postmaster], 'SIGCONT')
  }

  async remove(): Promise<void> {
    this.thaw()
    if (this.#postmaster() !== undefined) {
      await run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, '-w', '-t', '30', '-m', 'immediate', 'stop']).catch(() => this.kill9())
    }
    this.#running = false
    rmSync(this.#root, { recursive: true, force: true })
    // Only now: until its files are gone, process exit still cleans it up.
    clusters.delete(this)
  }

  /** For process exit: synchronous, best effort. */
  removeNow(): void {
    this.thaw()
    if (this.#running || this.#postmaster() !== undefined) runSync(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', 'stop'])
    rmSync(this.#root, { recursive: true, force: true })
  }
}

function settingValue(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value)
  return `'${value.replaceAll("'", "''")}'`
}

/** Makes a new cluster in a temp dir and starts it. */
export async function startPostgresCluster(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin')
  const root = mkdtempSync(join(tmpdir(), 'trent-pg-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(root, uid, gid)
  }
  const cluster = new Cluster(root, bin, await freePort(), options.settings)
  clusters.add(cluster)
  try {
    await cluster.init()
    await cluster.start()
  } catch (err) {
    await cluster.remove().catch(() => undefined)
    throw err
  }
  return cluster
}

/** Stops every cluster started here and removes its files. */
export async function removeAllPostgresClusters(): Promise<void> {
  await Promise.all([...clusters].map((cluster) => cluster.remove()))
}

/**
 * The same, synchronously and best effort: for a process 'exit' hook, where nothing
 * asynchronous runs any more.
 */
export function removeAllPostgresClustersNow(): void {
  for (const cluster of clusters) cluster.removeNow()
  clusters.clear()
}
