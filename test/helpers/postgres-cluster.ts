/**
 * Real, throw-away PostgreSQL clusters: a fresh data directory under a temp dir, a free
 * loopback port below 32768, trust authentication, fsync on. Shared by the tests (through
 * test/helpers/postgres.ts, which also removes every cluster when the test process exits
 * or is interrupted) and the benchmark (bench/run.ts), which decides for itself what
 * happens on a signal.
 *
 *   const cluster = await startPostgresCluster()
 *   new pg.Client({ connectionString: cluster.url })
 *   await cluster.stop(); await cluster.start(); await cluster.kill9(); cluster.freeze()
 *
 *   // A streaming standby of it (pg_basebackup -R), synchronous: the primary's COMMIT
 *   // returns only once the standby has the commit's WAL on disk.
 *   const standby = await startPostgresStandby(cluster, { synchronous: true })
 *   await cluster.kill9(); await standby.promote()   // failover
 *   await removeAllPostgresClusters()      // or removeAllPostgresClustersNow() in an 'exit' hook
 *
 * The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest found; .ci/run
 * installs them). `initdb` and the server refuse to run as root, so as root they run as
 * the `postgres` user (`runuser`), in a temp dir that user owns.
 *
 * @module
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import pg from 'pg'
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
  /** Runs `sql` on it (as `postgres`, on a connection of its own) and returns the rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<R[]>
}

/** A streaming standby of another cluster (see {@link startPostgresStandby}). */
export interface PostgresStandby extends PostgresCluster {
  /** Makes it a primary (`pg_ctl promote`), waiting until it accepts writes. */
  promote(): Promise<void>
}

export interface StandbyOptions {
  /**
   * Make the primary wait for this standby at every commit (`synchronous_standby_names`
   * on the primary, with its `synchronous_commit = on`): a commit acknowledged by the
   * primary is then on the standby's disk too. Default true.
   */
  synchronous?: boolean
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

class Cluster implements PostgresStandby {
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

  /**
   * A copy of `primary` taken with `pg_basebackup -R` (which writes `standby.signal` and
   * the `primary_conninfo` to stream from it), with this cluster's own socket directory.
   */
  async initStandby(primary: PostgresCluster): Promise<void> {
    await run(join(this.#bin, 'pg_basebackup'), [
      '-D',
      this.dataDir,
      '-h',
      '127.0.0.1',
      '-p',
      String(primary.port),
      '-U',
      'postgres',
      '-X',
      'stream',
      '-R',
      '--checkpoint=fast',
      '--no-sync',
    ])
    appendFileSync(
      join(this.dataDir, 'postgresql.conf'),
      [
        '',
        '# test/helpers/postgres.ts: a standby',
        `unix_socket_directories = '${this.#root}'`,
        "cluster_name = 'trent_standby'",
        'hot_standby = on',
        '',
      ].join('\n'),
    )
  }

  async promote(): Promise<void> {
    await run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, '-w', '-t', '60', 'promote'])
  }

  /** Tells a running server to read its configuration again. */
  async reload(): Promise<void> {
    await run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, 'reload'])
  }

  async query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, query_timeout: 30_000 })
    // A server that goes away while we wait must not end the test process.
    client.on('error', () => undefined)
    await client.connect()
    try {
      return (await client.query<R>(sql)).rows
    } finally {
      await client.end().catch(() => undefined)
    }
  }

  /** Appends settings to its postgresql.conf (read at the next start or reload). */
  configure(lines: readonly string[]): void {
    appendFileSync(join(this.dataDir, 'postgresql.conf'), ['', '# test/helpers/postgres.ts', ...lines, ''].join('\n'))
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
        throw new Error(`${err instanceof Error ? err.message : String(err)}\nserver log:\n${log.slice(-4_000)}`, { cause: err })
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
    if (this.#running || this.#postmaster() !== undefined)
      runSync(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', 'stop'])
    rmSync(this.#root, { recursive: true, force: true })
  }
}

/** A new temp dir for a cluster, owned by the user the server runs as. */
function ownedTempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'trent-pg-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(root, uid, gid)
  }
  return root
}

function settingValue(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value)
  return `'${value.replaceAll("'", "''")}'`
}

/** Makes a new cluster in a temp dir and starts it. */
export async function startPostgresCluster(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin')
  const cluster = new Cluster(ownedTempDir(), bin, await freePort(), options.settings)
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

/**
 * Starts a streaming standby of `primary` (a cluster started here) in a temp dir of its
 * own, and waits until the primary sees it streaming (and, when synchronous, as its
 * synchronous standby). Removed like any cluster by {@link removeAllPostgresClusters}.
 */
export async function startPostgresStandby(primary: PostgresCluster, options: StandbyOptions = {}): Promise<PostgresStandby> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin')
  const primaryCluster = [...clusters].find((cluster) => cluster === primary)
  if (primaryCluster === undefined) throw new Error('startPostgresStandby: the primary must be a cluster started by this helper')
  const standby = new Cluster(ownedTempDir(), bin, await freePort())
  clusters.add(standby)
  try {
    await standby.initStandby(primary)
    await standby.start()
    if (options.synchronous ?? true) {
      // Any standby (there is one) is the synchronous one; COMMIT waits for its flush.
      primaryCluster.configure(["synchronous_standby_names = '*'", 'synchronous_commit = on'])
      await primaryCluster.reload()
    }
    const wanted = (options.synchronous ?? true) ? 'sync' : 'async'
    const deadline = Date.now() + RUN_TIMEOUT_MS
    for (;;) {
      const rows = await primary.query<{ state: string; sync_state: string }>('SELECT state, sync_state FROM pg_stat_replication')
      if (rows.some((row) => row.state === 'streaming' && row.sync_state === wanted)) break
      if (Date.now() > deadline) throw new Error(`the standby did not become a ${wanted} streaming standby: ${JSON.stringify(rows)}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } catch (err) {
    await standby.remove().catch(() => undefined)
    throw err
  }
  return standby
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
