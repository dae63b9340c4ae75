/**
 * The benchmark's results: their JSON shape and the markdown summary table.
 *
 * @module
 */
import type { LoadResult } from './load-protocol.js'
import type { TargetName } from './targets.js'

/** Issue target: Trent at least half the ceiling's throughput, for every operation. */
export const CEILING_RATIO_TARGET = 0.5

export interface Measurement {
  target: TargetName
  operation: string
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
  machine: { cpus: number; cpuModel: string; totalMemoryMiB: number; node: string; platform: string; loadAverageAtStart: number[] }
  settings: { connections: number; warmupSeconds: number; durationSeconds: number; requestPoolSize: number; loadGenerator: string }
  targets: Partial<Record<TargetName, TargetInfo>>
  measurements: Measurement[]
}

function find(report: BenchReport, target: TargetName, operation: string): Measurement | undefined {
  return report.measurements.find((m) => m.target === target && m.operation === operation)
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

function rate(measurement: Measurement | undefined): string {
  if (measurement === undefined) return '—'
  if (measurement.result === undefined) return 'failed'
  return integer.format(measurement.result.requestsPerSecond)
}

function milliseconds(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1)
}

function latency(measurement: Measurement | undefined): string {
  if (measurement?.result === undefined) return '—'
  return `${milliseconds(measurement.result.latencyMs.p50)} / ${milliseconds(measurement.result.latencyMs.p99)}`
}

export function ratio(numerator: Measurement | undefined, denominator: Measurement | undefined): number | undefined {
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
  return lines.join('\n')
}

export function progressLine(measurement: Measurement): string {
  const head = `${measurement.target.padEnd(8)} ${measurement.operation.padEnd(24)}`
  if (measurement.result === undefined) return `${head} FAILED: ${measurement.error ?? 'unknown'}`
  const { requestsPerSecond, latencyMs, non2xx, errors } = measurement.result
  const faults = non2xx + errors > 0 ? `  (${non2xx} non-2xx, ${errors} errors)` : ''
  return `${head} ${integer.format(requestsPerSecond).padStart(7)} req/s   p50 ${milliseconds(latencyMs.p50).padStart(6)} ms   p99 ${milliseconds(latencyMs.p99).padStart(6)} ms${faults}`
}
