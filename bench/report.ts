/**
 * The benchmark's results: their JSON shape and the markdown summary table.
 *
 * @module
 */
import { cpus, loadavg, totalmem } from 'node:os'
import type { CpuUsage, ProcessCpu } from './cpu-usage.js'
import type { LoadResult } from './load-protocol.js'
import type { StatementCounts, StatementKind } from './postgres.js'
import type { TargetName } from './targets.js'

/** Issue target: Trent at least half the ceiling's throughput, for every operation. */
export const CEILING_RATIO_TARGET = 0.5
/** Issue 11: a region of two nodes on PostgreSQL at least 1.3× one node on SQLite... */
export const NODES_RATIO_TARGET = 1.3
/** ...and at least the single-process ceiling. */
export const NODES_CEILING_RATIO_TARGET = 1.0
/**
 * CPU used by processes not ours above which a measurement is flagged: on two cores,
 * a quarter of a core taken by someone else moves throughput by more than run-to-run noise.
 */
export const BUSY_MACHINE_CORES = 0.25

export interface Measurement {
  target: TargetName
  operation: string
  /** 'per-request' when the target closes every connection (moto), so each request pays a TCP connect. */
  connectionMode?: 'keep-alive' | 'per-request'
  /** Where the CPU went during the measured window (Linux only). */
  cpu?: CpuUsage
  /** The target's processes (cpu.ours[].top): whose CPU is whose. */
  targetPids?: number[]
  /** The statements PostgreSQL received during the measured window (trent-pg only). */
  postgres?: StatementCounts
  /** Absent when the target could not be measured for this operation; see `error`. */
  result?: LoadResult
  error?: string
  /** With --repeat: every round's req/s, in order; this measurement is the median round. */
  rounds?: number[]
}

export interface TargetInfo {
  description?: string
  /** Why the target was not measured at all. */
  skipped?: string
  error?: string
}

export interface BenchReport {
  startedAt: string
  finishedAt: string
  /** 'gateway': load sent to the partition's gateway; 'direct': to the region's own port. */
  mode: 'gateway' | 'direct'
  region: string
  /** The git commit of the code measured; `dirty` when src/ had uncommitted changes. */
  source?: { commit: string; dirty: boolean }
  machine: MachineDescription & {
    /** CPU other processes used during one second before the run (Linux only). */
    otherProcessesCoresBeforeRun?: number
  }
  settings: {
    connections: number
    warmupSeconds: number
    durationSeconds: number
    requestPoolSize: number
    loadGenerator: string
    /** Rounds of each operation (--repeat); each target's figures are its median round. */
    repeat: number
    /** Nodes of the trent-pg partition's region. */
    nodes?: number
    /** Connections (requests in flight) of the CreateKey measurements. */
    createKeyConnections?: number
  }
  targets: Partial<Record<TargetName, TargetInfo>>
  measurements: Measurement[]
  /** CreateKey through the gateway: one node on SQLite, and the trent-pg partition. */
  createKey?: Measurement[]
}

function find(report: BenchReport, target: TargetName, operation: string): Measurement | undefined {
  return report.measurements.find((m) => m.target === target && m.operation === operation)
}

/**
 * The processes of a measurement's CPU sample that belong to its target, and the load
 * generator; not the driver, nor the other targets idling meanwhile.
 */
export function ownedProcesses(measurement: Measurement): ProcessCpu[] {
  const pids = measurement.targetPids
  return (measurement.cpu?.ours ?? []).filter(
    (usage) => usage.label !== 'bench driver' && (pids === undefined || usage.label === 'load generator' || pids.includes(usage.top)),
  )
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

function disturbed(measurement: Measurement | undefined): boolean {
  return (measurement?.cpu?.othersCores ?? 0) > BUSY_MACHINE_CORES
}

function rate(measurement: Measurement | undefined): string {
  if (measurement === undefined) return '—'
  if (measurement.result === undefined) return 'failed'
  return `${integer.format(measurement.result.requestsPerSecond)}${disturbed(measurement) ? ' ⚠' : ''}`
}

function milliseconds(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1)
}

function latency(measurement: Measurement | undefined): string {
  if (measurement?.result === undefined) return '—'
  return `${milliseconds(measurement.result.latencyMs.p50)} / ${milliseconds(measurement.result.latencyMs.p99)}`
}

function ratio(numerator: Measurement | undefined, denominator: Measurement | undefined): number | undefined {
  const top = numerator?.result?.requestsPerSecond
  const bottom = denominator?.result?.requestsPerSecond
  return top !== undefined && bottom !== undefined && bottom > 0 ? top / bottom : undefined
}

function formatRatio(value: number | undefined, target?: number): string {
  if (value === undefined) return '—'
  const text = value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`
  if (target === undefined) return text
  return `${text} ${value >= target ? '✓' : '✗'}`
}

/** The machine a report was measured on, as both benchmarks record it. */
export interface MachineDescription {
  cpus: number
  cpuModel: string
  totalMemoryMiB: number
  node: string
  platform: string
  loadAverageAtStart: number[]
}

export function describeMachine(): MachineDescription {
  const cpuList = cpus()
  return {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverageAtStart: loadavg(),
  }
}

export function operationsIn(report: BenchReport): string[] {
  return [...new Set(report.measurements.map((m) => m.operation))]
}

export function markdownTable(report: BenchReport): string {
  const kmsTargets: TargetName[] = ['trent', 'ceiling', 'moto']
  const trentLabel = report.mode === 'direct' ? 'Trent (direct to region)' : 'Trent (via gateway)'
  const lines = [
    `| Operation | ${trentLabel} req/s | Trent p50 / p99 ms | Ceiling req/s | Ceiling p50 / p99 ms | Trent / ceiling (≥ ${CEILING_RATIO_TARGET}) | moto req/s | moto p50 / p99 ms | Trent / moto |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const operation of operationsIn(report)) {
    if (!kmsTargets.some((target) => find(report, target, operation) !== undefined)) continue
    const trent = find(report, 'trent', operation)
    const ceiling = find(report, 'ceiling', operation)
    const moto = find(report, 'moto', operation)
    lines.push(
      `| ${operation} | ${rate(trent)} | ${latency(trent)} | ${rate(ceiling)} | ${latency(ceiling)} | ` +
        `${formatRatio(ratio(trent, ceiling), CEILING_RATIO_TARGET)} | ${rate(moto)} | ${latency(moto)} | ${formatRatio(ratio(trent, moto))} |`,
    )
  }
  if (report.measurements.some((m) => kmsTargets.includes(m.target) && disturbed(m))) {
    lines.push(
      '',
      `⚠ other processes on the machine used more than ${BUSY_MACHINE_CORES} cores during that measurement, ` +
        'which lowers its throughput by about that share (cpu.othersCores in the JSON).',
    )
  }
  for (const [name, info] of Object.entries(report.targets)) {
    if (!kmsTargets.includes(name as TargetName)) continue
    if (info.skipped !== undefined) lines.push('', `${name}: not measured — ${info.skipped}`)
    else if (info.error !== undefined) lines.push('', `${name}: FAILED — ${info.error.split('\n')[0] ?? ''}`)
  }
  const perRequest = [...new Set(report.measurements.filter((m) => m.connectionMode === 'per-request').map((m) => m.target))]
  if (perRequest.length > 0) {
    lines.push(
      '',
      `${perRequest.join(', ')}: the server answers \`Connection: close\`, so every request there opens a new connection ` +
        '(as any client of it must); all other columns use keep-alive connections.',
    )
  }
  return lines.join('\n')
}

export function progressLine(measurement: Measurement): string {
  const head = `${measurement.target.padEnd(8)} ${measurement.operation.padEnd(24)}`
  if (measurement.result === undefined) return `${head} FAILED: ${measurement.error ?? 'unknown'}`
  const { requestsPerSecond, latencyMs, non2xx, errors } = measurement.result
  const faults = non2xx + errors > 0 ? `  (${non2xx} non-2xx, ${errors} errors)` : ''
  const mode = measurement.connectionMode === 'per-request' ? '  [new connection per request]' : ''
  return `${head} ${integer.format(requestsPerSecond).padStart(7)} req/s   p50 ${milliseconds(latencyMs.p50).padStart(6)} ms   p99 ${milliseconds(latencyMs.p99).padStart(6)} ms${faults}${mode}`
}

/**
 * The throughput a measurement's CPU costs allow on this machine with nobody else on it:
 * no thread can exceed one core, and all of them together cannot exceed every core. It
 * is a model (it ignores scheduling, and contention inflates the costs it starts from a
 * little), but unlike a throughput it barely moves when someone else's tests take a core
 * halfway through a run, so it says whether a low ratio is Trent's or the machine's.
 */
export function cpuBoundRequestsPerSecond(measurement: Measurement | undefined): number | undefined {
  const rps = measurement?.result?.requestsPerSecond
  const cpu = measurement?.cpu
  if (measurement === undefined || rps === undefined || rps <= 0 || cpu === undefined) return undefined
  let totalCores = 0
  let busiestThreadCores = 0
  for (const usage of ownedProcesses(measurement)) {
    totalCores += usage.cores
    busiestThreadCores = Math.max(busiestThreadCores, usage.mainThreadCores, usage.busiestOtherThreadCores)
  }
  if (totalCores <= 0 || busiestThreadCores <= 0) return undefined
  return Math.min(rps / busiestThreadCores, (rps * cpu.machineCores) / totalCores)
}

/**
 * CPU microseconds per answered request, by process: where the cost of a request is
 * paid, independent of how busy the machine was; and the Trent / ceiling ratio the costs
 * predict for an otherwise idle machine (see cpuBoundRequestsPerSecond).
 */
export function cpuTable(report: BenchReport, targets: readonly TargetName[] = ['trent', 'ceiling', 'moto']): string | undefined {
  const columns: { target: TargetName; label: string }[] = []
  for (const measurement of report.measurements) {
    if (!targets.includes(measurement.target)) continue
    for (const usage of ownedProcesses(measurement)) {
      // Idle bystanders (targets waiting their turn) are noise.
      if (usage.cores < 0.05) continue
      if (!columns.some((column) => column.target === measurement.target && column.label === usage.label)) {
        columns.push({ target: measurement.target, label: usage.label })
      }
    }
  }
  if (columns.length === 0) return undefined
  const lines = [
    `| Operation | ${columns.map((column) => `${column.target}: ${column.label}`).join(' | ')} | Trent / ceiling predicted by CPU cost |`,
    `|---|${columns.map(() => '--:').join('|')}|--:|`,
  ]
  for (const operation of operationsIn(report)) {
    if (!targets.some((target) => find(report, target, operation) !== undefined)) continue
    const cells = columns.map((column) => {
      const measurement = find(report, column.target, operation)
      const usage = measurement === undefined ? undefined : ownedProcesses(measurement).find((entry) => entry.label === column.label)
      const rps = measurement?.result?.requestsPerSecond ?? 0
      if (usage === undefined || rps <= 0) return '—'
      const micros = (cores: number): number => Math.round((cores * 1e6) / rps)
      // A region's busiest other thread is its HSM worker: show the split.
      const split =
        usage.busiestOtherThreadCores >= 0.05 ? ` (main ${micros(usage.mainThreadCores)} + ${micros(usage.busiestOtherThreadCores)})` : ''
      return `${micros(usage.cores)}${split}`
    })
    const trent = cpuBoundRequestsPerSecond(find(report, 'trent', operation))
    const ceiling = cpuBoundRequestsPerSecond(find(report, 'ceiling', operation))
    const predicted = trent !== undefined && ceiling !== undefined ? formatRatio(trent / ceiling, CEILING_RATIO_TARGET) : '—'
    lines.push(`| ${operation} | ${cells.join(' | ')} | ${predicted} |`)
  }
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------
// A region of several nodes on PostgreSQL (issue 11): `trent-pg` next to `trent` (one
// node, SQLite) and the ceiling; CreateKey per second on each store.
// ---------------------------------------------------------------------------------------

function nodesLabel(report: BenchReport): string {
  const nodes = report.settings.nodes ?? 2
  return `${nodes} node${nodes === 1 ? '' : 's'}`
}

function ceilingsLabel(report: BenchReport): string {
  return `${report.settings.nodes ?? 2} ceiling processes`
}

/**
 * Statements per request: the statement window is a little longer than the load's
 * measured seconds (it closes once the result is back), so rates are compared, not counts.
 */
function perRequest(count: number, measurement: Measurement): number | undefined {
  const seconds = measurement.postgres?.seconds ?? 0
  const rps = measurement.result?.requestsPerSecond ?? 0
  return seconds > 0 && rps > 0 ? count / seconds / rps : undefined
}

/** "0 ✓" or "3 (0.21 per 1000 requests) ✗": what the hot path asked of PostgreSQL. */
function hotPathStatements(measurement: Measurement | undefined): string {
  const counts = measurement?.postgres
  if (measurement === undefined || counts === undefined) return '—'
  if (counts.other === 0) return '0 ✓'
  const each = perRequest(counts.other, measurement)
  return `**${counts.other}**${each !== undefined ? ` (${(each * 1000).toFixed(2)} per 1000 requests)` : ''} ✗`
}

function backgroundRate(measurement: Measurement | undefined): string {
  const counts = measurement?.postgres
  return counts === undefined ? '—' : `${counts.backgroundPerSecond.toFixed(1)}/s`
}

/**
 * Encrypt, Decrypt and GenerateDataKey: the N-node region on PostgreSQL next to one node
 * on SQLite and the ceiling, measured seconds apart, with the issue's targets; next to
 * them, what N ceiling processes get over one on this machine (its own scaling, the
 * reference for N nodes over one); and what PostgreSQL was sent meanwhile. Undefined when
 * trent-pg measured nothing.
 */
export function nodesTable(report: BenchReport): string | undefined {
  const operations = operationsIn(report).filter((operation) => find(report, 'trent-pg', operation) !== undefined)
  const info = report.targets['trent-pg']
  if (operations.length === 0) {
    if (info?.skipped !== undefined) return `trent-pg: not measured — ${info.skipped}`
    if (info?.error !== undefined) return `trent-pg: FAILED — ${info.error.split('\n')[0] ?? ''}`
    return undefined
  }
  const nodes = nodesLabel(report)
  const ceilings = ceilingsLabel(report)
  const lines = [
    `| Operation | 1 node, SQLite req/s | p50 / p99 ms | ${nodes}, PostgreSQL req/s | p50 / p99 ms | Ceiling req/s | ${ceilings} req/s | ` +
      `${nodes} / 1 node (≥ ${NODES_RATIO_TARGET.toFixed(1)}) | ${nodes} / ceiling (≥ ${NODES_CEILING_RATIO_TARGET.toFixed(1)}) | ` +
      `${ceilings} / ceiling | PostgreSQL statements on the hot path | nodes' own traffic |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const operation of operations) {
    const one = find(report, 'trent', operation)
    const many = find(report, 'trent-pg', operation)
    const ceiling = find(report, 'ceiling', operation)
    const ceilingCluster = find(report, 'ceiling-cluster', operation)
    lines.push(
      `| ${operation} | ${rate(one)} | ${latency(one)} | ${rate(many)} | ${latency(many)} | ${rate(ceiling)} | ${rate(ceilingCluster)} | ` +
        `${formatRatio(ratio(many, one), NODES_RATIO_TARGET)} | ${formatRatio(ratio(many, ceiling), NODES_CEILING_RATIO_TARGET)} | ` +
        `${formatRatio(ratio(ceilingCluster, ceiling))} | ${hotPathStatements(many)} | ${backgroundRate(many)} |`,
    )
  }
  const measured = operations.map((operation) => find(report, 'trent-pg', operation))
  if (
    measured.some(disturbed) ||
    operations.some((operation) =>
      (['trent', 'ceiling', 'ceiling-cluster'] as const).some((target) => disturbed(find(report, target, operation))),
    )
  ) {
    lines.push(
      '',
      `⚠ other processes on the machine used more than ${BUSY_MACHINE_CORES} cores during that measurement (cpu.othersCores in the JSON).`,
    )
  }
  const misses = operations.flatMap((operation) => {
    const many = find(report, 'trent-pg', operation)
    const miss: string[] = []
    const overOne = ratio(many, find(report, 'trent', operation))
    const overCeiling = ratio(many, find(report, 'ceiling', operation))
    if (overOne !== undefined && overOne < NODES_RATIO_TARGET)
      miss.push(`${operation}: ${nodes} / 1 node ${overOne.toFixed(2)} < ${NODES_RATIO_TARGET.toFixed(1)}`)
    if (overCeiling !== undefined && overCeiling < NODES_CEILING_RATIO_TARGET) {
      miss.push(`${operation}: ${nodes} / ceiling ${overCeiling.toFixed(2)} < ${NODES_CEILING_RATIO_TARGET.toFixed(1)}`)
    }
    return miss
  })
  if (misses.length > 0) lines.push('', `✗ below target: ${misses.join('; ')}.`)
  const machineScaling = machineScalingSummary(report, operations)
  if (machineScaling !== undefined) lines.push('', machineScaling)
  lines.push('', postgresTrafficSummary(measured))
  return lines.join('\n')
}

/**
 * What N bare processes got over one on this machine, next to what N nodes got over one
 * node: a target of N nodes over one that N ceiling processes do not reach here asks more
 * of the nodes than the machine gives the bare server.
 */
function machineScalingSummary(report: BenchReport, operations: readonly string[]): string | undefined {
  const rows = operations.flatMap((operation) => {
    const machine = ratio(find(report, 'ceiling-cluster', operation), find(report, 'ceiling', operation))
    const nodes = ratio(find(report, 'trent-pg', operation), find(report, 'trent', operation))
    return machine === undefined || nodes === undefined ? [] : [{ operation, machine, nodes }]
  })
  if (rows.length === 0) return undefined
  const list = rows.map((row) => `${row.operation} ${row.machine.toFixed(2)}× (nodes ${row.nodes.toFixed(2)}×)`).join('; ')
  return `This machine's own scaling, ${ceilingsLabel(report)} over one (${nodesLabel(report)} over one node in brackets): ${list}.`
}

const KIND_ORDER: readonly StatementKind[] = [
  'follower: read changes',
  'lease: renew',
  'listener: ping',
  'commit without writes',
  'commit: BEGIN + write lock + catch-up',
  'commit: write',
  'commit: writes + log entry + COMMIT',
  'commit: COMMIT',
  'lease: release',
  'listener: LISTEN',
  'ROLLBACK',
  'load',
  'other',
]

function kindsList(byKind: Partial<Record<StatementKind, number>>, scale: (count: number) => number, unit: string, digits: number): string {
  return KIND_ORDER.filter((kind) => (byKind[kind] ?? 0) > 0)
    .map((kind) => `${kind} ${scale(byKind[kind] ?? 0).toFixed(digits)}${unit}`)
    .join(', ')
}

/** The statements of the hot-path windows together: none from requests, and the nodes' own, per second. */
function postgresTrafficSummary(measured: ReadonlyArray<Measurement | undefined>): string {
  const windows = measured.flatMap((m) => (m?.postgres === undefined ? [] : [m.postgres]))
  if (windows.length === 0) return 'PostgreSQL statements: not counted.'
  const seconds = windows.reduce((sum, w) => sum + w.seconds, 0)
  const byKind: Partial<Record<StatementKind, number>> = {}
  for (const window of windows) {
    for (const [kind, count] of Object.entries(window.byKind) as [StatementKind, number][]) byKind[kind] = (byKind[kind] ?? 0) + count
  }
  const other = windows.reduce((sum, w) => sum + w.other, 0)
  const requests = measured.reduce((sum, m) => sum + (m?.result?.completed2xx ?? 0), 0)
  const samples = [...new Set(windows.flatMap((w) => w.otherSamples))].slice(0, 3)
  return (
    `PostgreSQL statements during these ${windows.length} windows (${seconds.toFixed(1)} s, ${integer.format(requests)} requests; ` +
    `log_statement = all on the bench's own cluster): ${other} for requests` +
    (samples.length > 0 ? ` (e.g. ${samples.map((sample) => `\`${sample}\``).join(', ')})` : '') +
    `; the nodes' own traffic, per second: ${kindsList(byKind, (count) => count / seconds, '/s', 1) || 'none'}.`
  )
}

/**
 * CPU µs per request by process, one row per operation and target: where a request's
 * cost goes in one node, in N nodes with PostgreSQL, and in the ceiling; with the ratios
 * those costs predict for an otherwise idle machine (cpuBoundRequestsPerSecond).
 */
export function nodesCpuTable(report: BenchReport): string | undefined {
  const rows: string[] = []
  const targetLabel: Partial<Record<TargetName, string>> = {
    trent: '1 node, SQLite',
    'trent-pg': `${nodesLabel(report)}, PostgreSQL`,
    ceiling: 'ceiling',
    'ceiling-cluster': ceilingsLabel(report),
  }
  const measurementsOf = (operation: string): Array<[TargetName, Measurement | undefined]> =>
    (['trent', 'trent-pg', 'ceiling', 'ceiling-cluster'] as const).map((target) => [target, find(report, target, operation)])
  const operations = operationsIn(report).filter((operation) => find(report, 'trent-pg', operation) !== undefined)
  const createKey = report.createKey ?? []
  const all: Array<[string, TargetName, Measurement]> = [
    ...operations.flatMap((operation) =>
      measurementsOf(operation).flatMap(([target, m]): Array<[string, TargetName, Measurement]> =>
        m === undefined ? [] : [[operation, target, m]],
      ),
    ),
    ...createKey.map((m): [string, TargetName, Measurement] => [m.operation, m.target, m]),
  ]
  for (const [operation, target, measurement] of all) {
    const rps = measurement.result?.requestsPerSecond ?? 0
    const processes = ownedProcesses(measurement)
    if (rps <= 0 || processes.length === 0) continue
    const micros = (cores: number): number => Math.round((cores * 1e6) / rps)
    const server = processes.filter((usage) => usage.label !== 'load generator')
    const total = server.reduce((sum, usage) => sum + usage.cores, 0)
    const cells = processes
      .filter((usage) => usage.cores >= 0.005)
      .map((usage) => {
        const split =
          usage.busiestOtherThreadCores >= 0.05 ? ` (main ${micros(usage.mainThreadCores)} + ${micros(usage.busiestOtherThreadCores)})` : ''
        return `${usage.label} ${micros(usage.cores)}${split}`
      })
    rows.push(`| ${operation} | ${targetLabel[target] ?? target} | ${integer.format(rps)} | ${micros(total)} | ${cells.join(' · ')} |`)
  }
  if (rows.length === 0) return undefined
  const lines = [
    '| Operation | Target | req/s | server CPU µs/req (all its processes) | by process, µs/req (main thread + busiest other thread or process) |',
    '|---|---|--:|--:|---|',
    ...rows,
  ]
  const predicted = operations.map((operation) => {
    const one = cpuBoundRequestsPerSecond(find(report, 'trent', operation))
    const many = cpuBoundRequestsPerSecond(find(report, 'trent-pg', operation))
    const ceiling = cpuBoundRequestsPerSecond(find(report, 'ceiling', operation))
    const ceilings = cpuBoundRequestsPerSecond(find(report, 'ceiling-cluster', operation))
    const overOne = one !== undefined && many !== undefined ? formatRatio(many / one, NODES_RATIO_TARGET) : '—'
    const overCeiling = ceiling !== undefined && many !== undefined ? formatRatio(many / ceiling, NODES_CEILING_RATIO_TARGET) : '—'
    const machine = ceiling !== undefined && ceilings !== undefined ? formatRatio(ceilings / ceiling) : '—'
    return `| ${operation} | ${overOne} | ${overCeiling} | ${machine} |`
  })
  lines.push(
    '',
    `| Operation | ${nodesLabel(report)} / 1 node, predicted by CPU cost | ${nodesLabel(report)} / ceiling, predicted by CPU cost | ` +
      `${ceilingsLabel(report)} / ceiling, predicted by CPU cost |`,
    '|---|--:|--:|--:|',
    ...predicted,
  )
  return lines.join('\n')
}

/** CreateKey per second, each a durable commit: PostgreSQL (N nodes) next to SQLite (one node). */
export function createKeyTable(report: BenchReport): string | undefined {
  const measurements = report.createKey ?? []
  if (measurements.length === 0) return undefined
  const sqlite = measurements.find((m) => m.target === 'trent')
  const lines = [
    `| Store | Nodes | Requests in flight | CreateKey/s | p50 / p99 ms | / SQLite | PostgreSQL statements per CreateKey |`,
    '|---|--:|--:|--:|--:|--:|---|',
  ]
  for (const m of measurements) {
    const isPg = m.target === 'trent-pg'
    const total = m.postgres === undefined ? undefined : perRequest(m.postgres.total, m)
    const statements =
      m.postgres === undefined || total === undefined
        ? '—'
        : `${total.toFixed(1)}: ${kindsList(m.postgres.byKind, (count) => perRequest(count, m) ?? Number.NaN, '', 2)}`
    lines.push(
      `| ${isPg ? 'PostgreSQL' : 'SQLite'} | ${isPg ? (report.settings.nodes ?? 2) : 1} | ${report.settings.createKeyConnections ?? '—'} | ` +
        `${m.result === undefined ? `failed: ${m.error ?? ''}` : rate(m)} | ${latency(m)} | ${isPg ? formatRatio(ratio(m, sqlite)) : ''} | ${statements} |`,
    )
  }
  return lines.join('\n')
}
