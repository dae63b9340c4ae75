/**
 * The benchmark's results: their JSON shape and the markdown summary table.
 *
 * @module
 */
import { cpus, loadavg, totalmem } from 'node:os'
import type { CpuUsage } from './cpu-usage.js'
import type { LoadResult } from './load-protocol.js'
import type { TargetName } from './targets.js'

/** Issue target: Trent at least half the ceiling's throughput, for every operation. */
export const CEILING_RATIO_TARGET = 0.5
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
  /** Absent when the target could not be measured for this operation; see `error`. */
  result?: LoadResult
  error?: string
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
  settings: { connections: number; warmupSeconds: number; durationSeconds: number; requestPoolSize: number; loadGenerator: string }
  targets: Partial<Record<TargetName, TargetInfo>>
  measurements: Measurement[]
}

function find(report: BenchReport, target: TargetName, operation: string): Measurement | undefined {
  return report.measurements.find((m) => m.target === target && m.operation === operation)
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
  const trentLabel = report.mode === 'direct' ? 'Trent (direct to region)' : 'Trent (via gateway)'
  const lines = [
    `| Operation | ${trentLabel} req/s | Trent p50 / p99 ms | Ceiling req/s | Ceiling p50 / p99 ms | Trent / ceiling (≥ ${CEILING_RATIO_TARGET}) | moto req/s | moto p50 / p99 ms | Trent / moto |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const operation of operationsIn(report)) {
    const trent = find(report, 'trent', operation)
    const ceiling = find(report, 'ceiling', operation)
    const moto = find(report, 'moto', operation)
    lines.push(
      `| ${operation} | ${rate(trent)} | ${latency(trent)} | ${rate(ceiling)} | ${latency(ceiling)} | ` +
        `${formatRatio(ratio(trent, ceiling), CEILING_RATIO_TARGET)} | ${rate(moto)} | ${latency(moto)} | ${formatRatio(ratio(trent, moto))} |`,
    )
  }
  if (report.measurements.some(disturbed)) {
    lines.push(
      '',
      `⚠ other processes on the machine used more than ${BUSY_MACHINE_CORES} cores during that measurement, ` +
        'which lowers its throughput by about that share (cpu.othersCores in the JSON).',
    )
  }
  for (const [name, info] of Object.entries(report.targets)) {
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
  if (rps === undefined || rps <= 0 || cpu === undefined) return undefined
  let totalCores = 0
  let busiestThreadCores = 0
  for (const usage of cpu.ours) {
    if (usage.label === 'bench driver') continue
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
export function cpuTable(report: BenchReport): string | undefined {
  const columns: { target: TargetName; label: string }[] = []
  for (const measurement of report.measurements) {
    for (const usage of measurement.cpu?.ours ?? []) {
      // Idle bystanders (the driver, targets waiting their turn) are noise.
      if (usage.label === 'bench driver' || usage.cores < 0.05) continue
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
    const cells = columns.map((column) => {
      const measurement = find(report, column.target, operation)
      const usage = measurement?.cpu?.ours.find((entry) => entry.label === column.label)
      const rps = measurement?.result?.requestsPerSecond ?? 0
      if (usage === undefined || rps <= 0) return '—'
      const micros = (cores: number): number => Math.round((cores * 1e6) / rps)
      // A region's busiest other thread is its HSM worker: show the split.
      const split = usage.busiestOtherThreadCores >= 0.05 ? ` (main ${micros(usage.mainThreadCores)} + ${micros(usage.busiestOtherThreadCores)})` : ''
      return `${micros(usage.cores)}${split}`
    })
    const trent = cpuBoundRequestsPerSecond(find(report, 'trent', operation))
    const ceiling = cpuBoundRequestsPerSecond(find(report, 'ceiling', operation))
    const predicted = trent !== undefined && ceiling !== undefined ? formatRatio(trent / ceiling, CEILING_RATIO_TARGET) : '—'
    lines.push(`| ${operation} | ${cells.join(' | ')} | ${predicted} |`)
  }
  return lines.join('\n')
}
