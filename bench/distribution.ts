/**
 * Summaries of measured values, shared by the benchmarks that report latencies.
 *
 * @module
 */

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] ?? Number.NaN
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length
}

export interface Distribution {
  count: number
  min: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: mean(sorted),
  }
}

/** Milliseconds for a table: a dash where nothing was measured. */
export function ms(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—'
}
