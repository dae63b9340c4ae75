/**
 * `npm run bench`: Trent's hot-path throughput and latency against a ceiling and moto,
 * a region of several nodes on PostgreSQL next to one node, then replication
 * (bench/replication.ts).
 *
 * One run: start a fresh partition (one region, us-east-1) in a temp dir the way a user
 * does, a partition whose region is `--nodes` processes on PostgreSQL (`trent-pg`: a
 * throw-away cluster of its own, bench/postgres.ts), the ceiling server
 * (bench/ceiling-server.ts), the ceiling as `--nodes` processes behind one port
 * (`ceiling-cluster`, on the same operations as trent-pg: what that many bare processes
 * get out of this machine) and moto; make a key and fixtures in each with the AWS SDK;
 * then for each of Encrypt and Decrypt (32 B and 1 KiB), GenerateDataKey (AES_256), Sign
 * and GenerateMac, replay a pool of pre-signed SigV4 requests (bench/socket-replayer.ts), in a child
 * process, against each target in turn (Trent through its gateway; trent-pg on Encrypt,
 * Decrypt and GenerateDataKey only). Then CreateKey per second, a durable commit each,
 * on SQLite (one node) and PostgreSQL (trent-pg), with --createkey-connections requests
 * in flight. Prints markdown tables and writes bench/results/latest.json
 * (latest-direct.json with --direct, latest-nodes.json with --only nodes).
 *
 * Every measurement records the CPU of every process (the gateway/launcher, each node,
 * the replication proxy, PostgreSQL's processes summed), printed as µs per request; and
 * for trent-pg the statements PostgreSQL received meanwhile (it logs each one): the hot
 * path should send none, and the nodes' own traffic (following the change log, renewing
 * the region's lease) is given per second.
 *
 * Flags:
 *   --only kms|nodes|replication  one part: kms (every target and operation above, no
 *                       replication), nodes (trent, trent-pg, the ceiling and
 *                       ceiling-cluster on Encrypt, Decrypt and GenerateDataKey, and
 *                       CreateKey), replication
 *                       (bench/replication.ts alone). Default: all of it.
 *   --direct            load the region's own port instead of the gateway (diagnosis;
 *                       not with trent-pg, whose nodes are reached through the gateway)
 *   --duration S        measured seconds per operation (default 5)
 *   --warmup S          unmeasured seconds before each (default 1)
 *   --connections N     keep-alive connections (default 32)
 *   --pool N            distinct pre-signed requests per operation (default 128)
 *   --targets a,b       any of trent,trent-pg,ceiling,ceiling-cluster,moto (default all
 *                       five; with --only nodes trent,trent-pg,ceiling,ceiling-cluster)
 *   --operations a,b    only these (AWS names: Encrypt, Decrypt, GenerateDataKey, Sign,
 *                       GenerateMac, CreateKey)
 *   --nodes N           node processes of trent-pg's region, and ceiling-cluster's
 *                       processes (default 2)
 *   --createkey-connections N  CreateKey requests in flight (default 16); 0 skips CreateKey,
 *                       which runs whenever trent-pg is a target (and --operations, if
 *                       given, names it: `--operations CreateKey` runs it alone)
 *   --region R          region to start and sign for (default us-east-1)
 *   --cpu-prof DIR      write V8 CPU profiles of every Trent process to DIR (see
 *                       bench/profile-summary.ts); implies --targets trent unless given
 *   --trent-node-flags="F ..."  extra node flags for the Trent processes, e.g.
 *                       "--perf-basic-prof" to read their JIT frames with Linux perf
 *                       (V8 then leaves /tmp/perf-<pid>.map files behind)
 *   --load wrk|node     who sends a keep-alive load: wrk (bench/wrk-replayer.ts; the
 *                       default when the machine has it: about half the CPU per request)
 *                       or node (bench/socket-replayer.ts). Keep one choice across runs
 *                       whose figures you compare.
 *   --repeat N          measure each operation N times over, the targets interleaved
 *                       (A B C, A B C, …), and report each target's median round, with
 *                       every round's req/s in the JSON (default 1): on a noisy machine,
 *                       ratios that one busy moment does not decide
 *   --out FILE          where to write the JSON results
 *
 * @module
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { LoadEngine, LoadGeneratorMessage, LoadJob, LoadResult, WireRequest } from './load-protocol.js'
import {
  cpuBetween,
  describeCpu,
  describeProcessTree,
  sampleCpu,
  unwatchProcessGroup,
  watchProcessGroup,
  type CpuSample,
  type CpuUsage,
} from './cpu-usage.js'
import {
  BENCH_OPERATIONS,
  CREATE_KEY_OPERATION,
  NODES_OPERATIONS,
  makeFixtures,
  sendOnce,
  type BenchOperation,
  type Fixtures,
  type ProbeAnswer,
} from './operations.js'
import { BenchPostgres, type StatementWindow } from './postgres.js'
import { startProcess, stopAll, waitForMessage, type ManagedProcess } from './processes.js'
import {
  BUSY_MACHINE_CORES,
  cpuTable,
  createKeyTable,
  describeMachine,
  markdownTable,
  nodesCpuTable,
  nodesTable,
  ownedProcesses,
  progressLine,
  type BenchReport,
  type Measurement,
} from './report.js'
// Then the replication part; takes --only kms|nodes|replication off argv.
import { onlyPart, replicationAfterKms } from './replication.js'
import { createRequestSigner, type Credentials } from './signing.js'
import { wrkAvailable } from './wrk-replayer.js'
import {
  partitionLauncherBuilt,
  probeMoto,
  startCeiling,
  startMoto,
  startTrentPartition,
  type RunningTarget,
  type TargetName,
} from './targets.js'

// The SDK (used here only to make fixtures) warns about Node 20 on every run; not our news.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LOAD_GENERATOR_MAIN = fileURLToPath(new URL('./load-generator.js', import.meta.url))
const ALL_TARGETS: readonly TargetName[] = ['trent', 'trent-pg', 'ceiling', 'ceiling-cluster', 'moto']
const NODES_TARGETS: readonly TargetName[] = ['trent', 'trent-pg', 'ceiling', 'ceiling-cluster']
/** Targets of several processes, measured next to the region of several nodes. */
const MULTI_PROCESS_TARGETS: ReadonlySet<TargetName> = new Set<TargetName>(['trent-pg', 'ceiling-cluster'])
/** Bench-only credentials: the partition is fresh, private to this run, and gone after it. */
const CREDENTIALS: Credentials = { accessKeyId: 'AKIABENCHMARK0000001', secretAccessKey: 'bench-secret-access-key-not-a-real-one' }

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(2)
}

function positiveInteger(value: string, flag: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1) fail(`${flag} must be a positive integer`)
  return parsed
}

function wholeNumber(value: string, flag: string): number {
  return value === '0' ? 0 : positiveInteger(value, flag)
}

const LOAD_ENGINE_DESCRIPTIONS: Record<LoadEngine, string> = {
  wrk: 'wrk (bench/wrk-replayer.ts), one thread, a child of the load generator; pipelining 1, keep-alive',
  node: 'bench/socket-replayer.ts, one child process, pipelining 1, keep-alive',
}

/** `--load`, or wrk when the machine has it. */
function loadEngineOf(flag: string | undefined): LoadEngine {
  if (flag === undefined) return wrkAvailable() ? 'wrk' : 'node'
  if (flag !== 'wrk' && flag !== 'node') fail('--load must be wrk or node')
  if (flag === 'wrk' && !wrkAvailable()) fail('--load wrk: no wrk on this machine (apt-get install wrk)')
  return flag
}

/** parseArgs, with a bad flag reported as one line rather than a stack trace. */
function parseFlags<T>(parse: () => T): T {
  try {
    return parse()
  } catch (err: unknown) {
    fail(`${err instanceof Error ? err.message : String(err)} (the flags are listed at the top of bench/run.ts)`)
  }
}

const { values: flags } = parseFlags(() =>
  parseArgs({
    options: {
      direct: { type: 'boolean', default: false },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '32' },
      pool: { type: 'string', default: '128' },
      targets: { type: 'string' },
      /** Only these operations (comma-separated AWS names, e.g. Sign,GenerateMac). */
      operations: { type: 'string' },
      region: { type: 'string', default: 'us-east-1' },
      nodes: { type: 'string', default: '2' },
      'createkey-connections': { type: 'string', default: '16' },
      'cpu-prof': { type: 'string' },
      'trent-node-flags': { type: 'string' },
      load: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      out: { type: 'string' },
    },
    strict: true,
  }),
)

const settings = {
  direct: flags.direct,
  durationSeconds: positiveInteger(flags.duration, '--duration'),
  warmupSeconds: flags.warmup === '0' ? 0 : positiveInteger(flags.warmup, '--warmup'),
  connections: positiveInteger(flags.connections, '--connections'),
  poolSize: positiveInteger(flags.pool, '--pool'),
  region: flags.region,
  nodes: positiveInteger(flags.nodes, '--nodes'),
  createKeyConnections: wholeNumber(flags['createkey-connections'], '--createkey-connections'),
  cpuProfileDir: flags['cpu-prof'] !== undefined ? resolve(flags['cpu-prof']) : undefined,
  trentNodeFlags: (flags['trent-node-flags'] ?? '').split(/\s+/).filter((flag) => flag !== ''),
  loadEngine: loadEngineOf(flags.load),
  repeat: positiveInteger(flags.repeat, '--repeat'),
}
const nodesOnly = onlyPart === 'nodes'
const onlyOperations = flags.operations?.split(',').map((name) => name.trim())
const operations = BENCH_OPERATIONS.filter(
  (operation) =>
    (onlyOperations === undefined || onlyOperations.includes(operation.operation)) &&
    (!nodesOnly || NODES_OPERATIONS.has(operation.operation)),
)
/** `--operations CreateKey` (alone or with others) keeps the CreateKey part; naming others only leaves it out. */
const createKeyNamed = onlyOperations === undefined || onlyOperations.includes('CreateKey')
if (operations.length === 0 && !createKeyNamed)
  fail(`--operations ${flags.operations ?? ''} names no benchmarked operation${nodesOnly ? ' of --only nodes' : ''}`)
const defaultTargets =
  settings.cpuProfileDir !== undefined
    ? ['trent']
    : (nodesOnly ? NODES_TARGETS : ALL_TARGETS).filter((name) => !settings.direct || !MULTI_PROCESS_TARGETS.has(name))
const targets = (flags.targets?.split(',') ?? defaultTargets).map((name) => name.trim()).filter((name) => name !== '') as TargetName[]
for (const name of targets) if (!ALL_TARGETS.includes(name)) fail(`--targets: unknown target ${name}`)
if (settings.direct && targets.includes('trent-pg'))
  fail('--direct loads one node of a region: trent-pg is measured through the gateway only')

/**
 * V8 compiles each process's hot code on its own: a region of N nodes warms up N times
 * over, each node on 1/N of the load. Its warm-up lasts N times as long, so that each of
 * its nodes serves about as many warm-up requests as the one-node region's process.
 */
function warmupSecondsOf(target: TargetName): number {
  return MULTI_PROCESS_TARGETS.has(target) ? settings.warmupSeconds * settings.nodes : settings.warmupSeconds
}

/** What each target is measured on: trent-pg and ceiling-cluster on the symmetric hot path only. */
function measuredOn(target: TargetName, operation: BenchOperation): boolean {
  return !MULTI_PROCESS_TARGETS.has(target) || NODES_OPERATIONS.has(operation.operation)
}
/** CreateKey: on each store, next to a region of several nodes. */
const createKeyTargets: TargetName[] =
  createKeyNamed && settings.createKeyConnections > 0 && targets.includes('trent-pg')
    ? targets.filter((name) => name === 'trent' || name === 'trent-pg')
    : []
if (operations.length === 0 && createKeyTargets.length === 0)
  fail('--operations CreateKey: CreateKey is measured next to trent-pg, with --createkey-connections above 0')
const outFile = resolve(
  flags.out ?? join(REPO_ROOT, 'bench/results', settings.direct ? 'latest-direct.json' : nodesOnly ? 'latest-nodes.json' : 'latest.json'),
)

/**
 * The whole run must bound itself: each load job is bounded by its duration,
 * and everything else (starts, fixtures) gets a generous fixed allowance, more with a
 * PostgreSQL cluster to make: 45 + 60 + 28 × 8 + 6 × 1 = 335 s with the defaults. On
 * expiry every child is killed and the run fails.
 */
const jobSeconds = (target: TargetName): number => warmupSecondsOf(target) + settings.durationSeconds + 2
const jobsSeconds =
  settings.repeat *
    targets.reduce((sum, target) => sum + operations.filter((operation) => measuredOn(target, operation)).length * jobSeconds(target), 0) +
  createKeyTargets.reduce((sum, target) => sum + jobSeconds(target), 0)
const timeBudgetMs = (45 + (targets.includes('trent-pg') ? 60 : 0) + jobsSeconds) * 1000

/** The load generator child (bench/load-generator.ts): started once, fed one job at a time. */
class LoadGenerator {
  #nextId = 1

  private constructor(readonly managed: ManagedProcess) {}

  static async start(logDir: string): Promise<LoadGenerator> {
    const managed = startProcess('load-generator', process.execPath, [LOAD_GENERATOR_MAIN], { logDir, ipc: true })
    await waitForMessage(managed, (message) => ((message as LoadGeneratorMessage).type === 'ready' ? true : undefined), 10_000)
    return new LoadGenerator(managed)
  }

  /**
   * Runs one job; samples the CPU of our process tree over its measured window, and opens
   * and closes `window` (PostgreSQL's statements) with it.
   */
  async run(
    url: string,
    requests: WireRequest[],
    connectionMode: LoadJob['connectionMode'],
    options: { connections?: number; warmupSeconds?: number; window?: StatementWindow } = {},
  ): Promise<{ result: LoadResult; cpu?: CpuUsage }> {
    const job: LoadJob = {
      type: 'job',
      id: this.#nextId++,
      url,
      connectionMode,
      engine: settings.loadEngine,
      connections: options.connections ?? settings.connections,
      warmupSeconds: options.warmupSeconds ?? settings.warmupSeconds,
      durationSeconds: settings.durationSeconds,
      requests,
    }
    let before: CpuSample | undefined
    const onMeasuring = (message: LoadGeneratorMessage): void => {
      if (message.type === 'measuring' && message.id === job.id) {
        options.window?.begin()
        before = sampleCpu()
      }
    }
    this.managed.child.on('message', onMeasuring)
    const answer = waitForMessage(
      this.managed,
      (message) => {
        const typed = message as LoadGeneratorMessage
        return (typed.type === 'result' || typed.type === 'failed') && typed.id === job.id ? typed : undefined
      },
      (job.warmupSeconds + settings.durationSeconds + 30) * 1000,
    )
    this.managed.child.send(job)
    try {
      const settled = await answer
      if (settled.type === 'failed') throw new Error(`load generator: ${settled.message}`)
      const cpu = cpuBetween(before, sampleCpu())
      return cpu !== undefined ? { result: settled.result, cpu } : { result: settled.result }
    } finally {
      this.managed.child.off('message', onMeasuring)
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Signs the pool, checks one answer by hand, then loads the target with the pool. */
async function measure(
  target: RunningTarget,
  operation: BenchOperation,
  fixtures: Fixtures,
  loadGenerator: LoadGenerator,
  connections = settings.connections,
): Promise<Measurement> {
  const base = { target: target.name, operation: operation.label, targetPids: target.pids }
  const signer = createRequestSigner(settings.region, CREDENTIALS)
  // Signed now, used within the next warm-up + duration seconds: far inside SigV4's 5 minutes.
  const requests = await Promise.all(operation.inputs(fixtures).map((input) => signer.sign(target.host, operation.operation, input)))
  const first = requests[0]
  if (first === undefined) return { ...base, error: 'empty request pool' }
  let probe: ProbeAnswer
  try {
    probe = await sendOnce(target.url, first)
    if (probe.status !== 200) return { ...base, error: `probe answered ${probe.status}: ${probe.body.slice(0, 300)}` }
    const wrong = operation.check(JSON.parse(probe.body) as Record<string, unknown>, fixtures, 0)
    if (wrong !== undefined) return { ...base, error: `probe: ${wrong}` }
  } catch (err: unknown) {
    return { ...base, error: `probe failed: ${errorText(err)}` }
  }
  const connectionMode = probe.closesConnection ? 'per-request' : 'keep-alive'
  const window = target.name === 'trent-pg' ? postgres?.window() : undefined
  const { result, cpu } = await loadGenerator.run(target.url, requests, connectionMode, {
    connections,
    warmupSeconds: warmupSecondsOf(target.name),
    ...(window !== undefined ? { window } : {}),
  })
  const statements = window?.end()
  const measurement: Measurement = {
    ...base,
    connectionMode,
    result,
    ...(cpu !== undefined ? { cpu } : {}),
    ...(statements !== undefined ? { postgres: statements } : {}),
  }
  if (result.non2xx > 0 || result.errors > 0) {
    measurement.error = `${result.non2xx} non-2xx answers (${JSON.stringify(result.statusCodes)}), ${result.errors} connection errors`
  }
  return measurement
}

/** trent-pg's PostgreSQL, while it runs: every measurement of trent-pg counts its statements. */
let postgres: BenchPostgres | undefined

/** Starts a target; undefined when it cannot run on this machine (moto without python, trent-pg without PostgreSQL). */
async function startTarget(name: TargetName, dataDir: string, logDir: string, report: BenchReport): Promise<RunningTarget | undefined> {
  const trentOptions = {
    region: settings.region,
    dataDir: join(dataDir, name),
    logDir,
    credentials: CREDENTIALS,
    direct: settings.direct,
    nodeFlags: [
      ...(settings.cpuProfileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfileDir}`] : []),
      ...settings.trentNodeFlags,
    ],
  }
  switch (name) {
    case 'trent': {
      if (!partitionLauncherBuilt()) throw new Error('dist/src/partition/main.js does not exist: build the project first (npm run build)')
      return startTrentPartition(trentOptions)
    }
    case 'trent-pg': {
      if (!partitionLauncherBuilt()) throw new Error('dist/src/partition/main.js does not exist: build the project first (npm run build)')
      const unavailable = BenchPostgres.unavailableReason()
      if (unavailable !== undefined) {
        process.stdout.write(`trent-pg: SKIPPED — ${unavailable}\n`)
        report.targets[name] = { skipped: unavailable }
        return undefined
      }
      const cluster = await BenchPostgres.start()
      postgres = cluster
      const postmaster = cluster.cluster.postmasterPid()
      const stopCluster = async (): Promise<void> => {
        postgres = undefined
        if (postmaster !== undefined) unwatchProcessGroup(postmaster)
        await cluster.stop()
      }
      try {
        // pg_ctl detaches the postmaster from us: its processes are counted as a group.
        if (postmaster !== undefined) watchProcessGroup(postmaster, 'postgres (all its processes)')
        const partition = await startTrentPartition({
          ...trentOptions,
          name,
          nodes: settings.nodes,
          store: cluster.url,
          storeDescription: `PostgreSQL (the bench's cluster :${cluster.cluster.port}, log_statement = all)`,
        })
        return {
          ...partition,
          pids: [...partition.pids, ...(postmaster !== undefined ? [postmaster] : [])],
          stop: async () => {
            await partition.stop()
            await stopCluster()
          },
        }
      } catch (err: unknown) {
        await stopCluster()
        throw err
      }
    }
    case 'ceiling':
      return startCeiling(logDir)
    case 'ceiling-cluster': {
      if (settings.nodes < 2) {
        const skipped = '--nodes 1: the ceiling as one process is the ceiling target itself'
        process.stdout.write(`ceiling-cluster: SKIPPED — ${skipped}\n`)
        report.targets[name] = { skipped }
        return undefined
      }
      return startCeiling(logDir, settings.nodes)
    }
    case 'moto': {
      const moto = probeMoto()
      if ('unavailable' in moto) {
        process.stdout.write(`moto: SKIPPED — ${moto.unavailable}\n`)
        report.targets.moto = { skipped: moto.unavailable }
        return undefined
      }
      return startMoto(logDir, moto.version)
    }
  }
}

/** The commit measured, and whether the working tree differed from it (others edit as we run). */
function sourceRevision(): { commit: string; dirty: boolean } | undefined {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (head.status !== 0) return undefined
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' })
  return { commit: head.stdout.trim(), dirty: status.stdout.trim() !== '' }
}

/** Data dirs and logs of this run's processes; removed unless they explain a failure. */
const workDir = mkdtempSync(join(tmpdir(), 'trent-bench-'))

async function main(): Promise<number> {
  const logDir = join(workDir, 'logs')
  mkdirSync(logDir)
  if (settings.cpuProfileDir !== undefined) mkdirSync(settings.cpuProfileDir, { recursive: true })
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    mode: settings.direct ? 'direct' : 'gateway',
    region: settings.region,
    machine: describeMachine(),
    settings: {
      connections: settings.connections,
      warmupSeconds: settings.warmupSeconds,
      durationSeconds: settings.durationSeconds,
      requestPoolSize: settings.poolSize,
      loadGenerator: LOAD_ENGINE_DESCRIPTIONS[settings.loadEngine],
      repeat: settings.repeat,
      ...(targets.some((name) => MULTI_PROCESS_TARGETS.has(name)) ? { nodes: settings.nodes } : {}),
      ...(createKeyTargets.length > 0 ? { createKeyConnections: settings.createKeyConnections } : {}),
    },
    targets: {},
    measurements: [],
  }
  const revision = sourceRevision()
  if (revision !== undefined) report.source = revision
  process.stdout.write(
    `bench: ${targets.join(', ')}; ${settings.connections} connections, ${settings.warmupSeconds} s warm-up` +
      `${targets.some((name) => MULTI_PROCESS_TARGETS.has(name)) ? ` (${settings.nodes} processes: ${warmupSecondsOf('trent-pg')} s)` : ''} + ${settings.durationSeconds} s per operation; ` +
      `load to ${settings.direct ? 'the region port (--direct)' : 'the gateway'} by ${settings.loadEngine === 'wrk' ? 'wrk' : 'the Node replayer'}${
        flags.load === undefined && settings.loadEngine === 'node'
          ? ' (no wrk on this machine: apt-get install wrk for a load that takes less CPU)'
          : ''
      }; time budget ${Math.round(timeBudgetMs / 1000)} s; logs in ${logDir}\n`,
  )

  // A second of the machine at rest: someone else's load now will be in every number.
  const restStart = sampleCpu()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const atRest = cpuBetween(restStart, sampleCpu())
  if (atRest !== undefined) {
    report.machine.otherProcessesCoresBeforeRun = atRest.othersCores
    const warning = atRest.othersCores > BUSY_MACHINE_CORES ? ' — the machine is busy; expect low, noisy numbers' : ''
    process.stdout.write(
      `machine before the run: other processes used ${atRest.othersCores.toFixed(2)} of ${atRest.machineCores} cores${warning}\n`,
    )
  }

  let failed = false
  const loadGenerator = await LoadGenerator.start(logDir)
  // Every target is started (and given its fixtures) up front, and the operations are
  // then measured target after target for each operation: the measurements a ratio
  // compares are seconds apart, so load that comes and goes on a shared machine moves
  // both sides of it alike. An idle target costs nothing meanwhile (see cpu in the JSON).
  const ready: { target: RunningTarget; fixtures: Fixtures }[] = []
  const running: RunningTarget[] = []
  try {
    for (const name of targets) {
      if (shuttingDown) break
      try {
        const target = await startTarget(name, workDir, logDir, report)
        if (target === undefined) continue
        running.push(target)
        report.targets[name] = { description: target.description }
        process.stdout.write(`${name}: ${target.description}\n`)
        const fixtures = await makeFixtures({
          endpoint: target.url,
          region: settings.region,
          credentials: CREDENTIALS,
          poolSize: settings.poolSize,
          ...(target.existingKeys !== undefined ? { existingKeys: target.existingKeys } : {}),
        })
        ready.push({ target, fixtures })
      } catch (err: unknown) {
        failed = true
        report.targets[name] = { ...report.targets[name], error: errorText(err) }
        if (!shuttingDown) process.stdout.write(`${name}: FAILED — ${errorText(err)}\n`)
      }
    }
    process.stdout.write(`processes: ${describeProcessTree() ?? 'unknown'}\n`)

    const measureAndPrint = async (
      target: RunningTarget,
      operation: BenchOperation,
      fixtures: Fixtures,
      connections?: number,
    ): Promise<Measurement> => {
      let measurement: Measurement
      try {
        measurement = await measure(target, operation, fixtures, loadGenerator, connections)
      } catch (err: unknown) {
        measurement = { target: target.name, operation: operation.label, error: errorText(err) }
      }
      if (measurement.error !== undefined) failed = true
      process.stdout.write(`${progressLine(measurement)}\n`)
      if (measurement.cpu !== undefined && measurement.result !== undefined) {
        const cpu = { ...measurement.cpu, ours: ownedProcesses(measurement) }
        process.stdout.write(`${' '.repeat(9)}${describeCpu(cpu, measurement.result.requestsPerSecond)}\n`)
      }
      const statements = measurement.postgres
      if (statements !== undefined) {
        const kinds = Object.entries(statements.byKind).map(([kind, count]) => `${kind} ${count}`)
        process.stdout.write(
          `${' '.repeat(9)}postgres: ${statements.total} statements in ${statements.seconds.toFixed(1)} s (${kinds.join(', ') || 'none'}); ` +
            `${statements.other} not the nodes' own traffic\n`,
        )
      }
      return measurement
    }

    for (const operation of operations) {
      // Rounds interleave the targets (A B C, A B C, …): what the machine does meanwhile
      // falls on every target alike, and each target's median round is the one reported.
      const rounds = new Map<TargetName, Measurement[]>()
      for (let round = 1; round <= settings.repeat && !shuttingDown; round++) {
        if (settings.repeat > 1) process.stdout.write(`${operation.label}, round ${round} of ${settings.repeat}:\n`)
        for (const { target, fixtures } of ready) {
          if (shuttingDown) break
          if (!measuredOn(target.name, operation)) continue
          rounds.set(target.name, [...(rounds.get(target.name) ?? []), await measureAndPrint(target, operation, fixtures)])
        }
      }
      for (const measured of rounds.values()) report.measurements.push(medianRound(measured))
    }

    // Writes last: the keys they make do not change what the reads above measured.
    const writers = ready.filter(({ target }) => createKeyTargets.includes(target.name))
    if (writers.length > 0 && !shuttingDown) {
      report.createKey = []
      process.stdout.write(`CreateKey, ${settings.createKeyConnections} requests in flight:\n`)
      for (const { target, fixtures } of writers) {
        if (shuttingDown) break
        report.createKey.push(await measureAndPrint(target, CREATE_KEY_OPERATION, fixtures, settings.createKeyConnections))
      }
    }
  } finally {
    await Promise.all(running.map((target) => target.stop()))
  }
  await loadGenerator.managed.stop()
  if (shuttingDown) return 1

  report.finishedAt = new Date().toISOString()
  if (!nodesOnly && targets.some((name) => name === 'trent' || name === 'ceiling' || name === 'moto')) {
    process.stdout.write(`\n${markdownTable(report)}\n\n`)
    const cpuPerRequest = cpuTable(report)
    if (cpuPerRequest !== undefined) {
      process.stdout.write(
        `CPU µs per request, by process (region: main thread + busiest other thread, i.e. the HSM worker):\n\n${cpuPerRequest}\n\n`,
      )
    }
  }
  const nodes = targets.includes('trent-pg') ? nodesTable(report) : undefined
  if (nodes !== undefined) {
    process.stdout.write(
      `\nA region of ${settings.nodes} nodes on PostgreSQL, next to one node on SQLite and the ceiling (through the gateway${
        settings.repeat > 1 ? `; each the median of ${settings.repeat} interleaved rounds` : ''
      }):\n\n${nodes}\n\n`,
    )
    const nodesCpu = nodesCpuTable(report)
    if (nodesCpu !== undefined) process.stdout.write(`CPU µs per request of every process:\n\n${nodesCpu}\n\n`)
  }
  const createKey = createKeyTable(report)
  if (createKey !== undefined)
    process.stdout.write(`CreateKey per second (each a durable commit), through the gateway:\n\n${createKey}\n\n`)
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`)
  process.stdout.write(`raw results: ${outFile}\n`)
  if (settings.cpuProfileDir !== undefined) {
    process.stdout.write(
      `CPU profiles: ${settings.cpuProfileDir} (summarise: node dist/bench/profile-summary.js ${settings.cpuProfileDir})\n`,
    )
  }
  // Logs are kept when something failed: they are the only account of why.
  if (failed) process.stdout.write(`some measurements failed; logs kept in ${logDir}\n`)
  else rmSync(workDir, { recursive: true, force: true })
  return failed ? 1 : 0
}

/**
 * The round a target's figures come from: the one of median throughput (the lower middle
 * of an even count), with every round's req/s beside it; a failed round, if any, so that
 * the failure is what the report shows.
 */
function medianRound(measured: readonly Measurement[]): Measurement {
  const failed = measured.find((measurement) => measurement.error !== undefined || measurement.result === undefined)
  if (measured.length === 1 || failed !== undefined) return failed ?? (measured[0] as Measurement)
  const throughput = (measurement: Measurement): number => measurement.result?.requestsPerSecond ?? 0
  const sorted = [...measured].sort((a, b) => throughput(a) - throughput(b))
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as Measurement
  return { ...median, rounds: measured.map(throughput) }
}

/** Set once an interrupt or the time budget ends the run: main() then stops where it is. */
let shuttingDown = false

async function shutDown(code: number, message?: string, keepWorkDir = false): Promise<never> {
  shuttingDown = true
  if (message !== undefined) process.stderr.write(`bench: ${message}\n`)
  await stopAll()
  if (keepWorkDir) process.stderr.write(`bench: logs kept in ${join(workDir, 'logs')}\n`)
  else if (code > 1) rmSync(workDir, { recursive: true, force: true })
  process.exit(code)
}

const budget = setTimeout(
  () => void shutDown(1, `exceeded its time budget of ${Math.round(timeBudgetMs / 1000)} s; stopped everything`, true),
  timeBudgetMs,
)
budget.unref()
// Interrupted on purpose: nothing to diagnose, leave nothing behind.
process.once('SIGINT', () => void shutDown(130, 'interrupted'))
process.once('SIGTERM', () => void shutDown(143, 'terminated'))

main().then(
  async (code) => (clearTimeout(budget), shutDown(await replicationAfterKms(code))),
  (err: unknown) => shutDown(1, errorText(err), true),
)
