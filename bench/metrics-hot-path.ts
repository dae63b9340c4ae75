/**
 * What counting a request costs the API server: one `RegionMetrics.observeRequest` per
 * request (src/metrics/request-stats.ts), next to what prom-client's own Counter.inc and
 * Histogram.observe cost for the same labels, each timed over many calls against a loop
 * that does the same work but counts nothing, with the label sets a busy region sees.
 * Run: `node dist/bench/metrics-hot-path.js` (single-threaded, a few seconds).
 *
 * @module
 */
import { performance } from 'node:perf_hooks'
import { Counter, Histogram, Registry } from 'prom-client'
import { RegionMetrics } from '../src/metrics/region-metrics.js'
import { LATENCY_BUCKETS_SECONDS } from '../src/metrics/names.js'

const CALLS = 2_000_000
const ROUNDS = 5
const metrics = new RegionMetrics({
  region: 'us-east-1',
  node: 0,
  sources: { hsmInFlight: () => 0, keysByState: () => new Map(), replicationLag: () => [] },
})
const registers = [new Registry()]
const promCounter = new Counter({ name: 'c_total', help: 'c', labelNames: ['operation', 'outcome'], registers })
const promHistogram = new Histogram({ name: 'h', help: 'h', labelNames: ['operation'], buckets: [...LATENCY_BUCKETS_SECONDS], registers })
type Observe = (operation: string, outcome: string, seconds: number) => void
const variants: Record<string, Observe> = {
  'RegionMetrics.observeRequest': (operation, outcome, seconds) => metrics.observeRequest(operation, outcome, seconds),
  'prom-client Counter.inc + Histogram.observe': (operation, outcome, seconds) => {
    promCounter.inc({ operation, outcome })
    promHistogram.observe({ operation }, seconds)
  },
}
const operations = ['Encrypt', 'Decrypt', 'GenerateDataKey', 'Sign', 'DescribeKey'] as const
const outcomes = ['success', 'success', 'success', 'NotFoundException'] as const

function run(observe: Observe | undefined): number {
  const started = performance.now()
  let sink = 0
  for (let i = 0; i < CALLS; i++) {
    const operation = operations[i % operations.length] ?? 'Encrypt'
    const outcome = outcomes[i % outcomes.length] ?? 'success'
    const seconds = (i % 1000) / 100_000
    if (observe !== undefined) observe(operation, outcome, seconds)
    else sink += operation.length + outcome.length + seconds
  }
  if (sink < 0) console.log(sink)
  return performance.now() - started
}

for (const [name, observe] of Object.entries(variants)) {
  run(observe) // warm up
  const costs: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const baseline = run(undefined)
    const counted = run(observe)
    costs.push(((counted - baseline) * 1e6) / CALLS)
  }
  costs.sort((a, b) => a - b)
  console.log(
    `${name}: median ${costs[Math.floor(ROUNDS / 2)]?.toFixed(0)} ns per request (rounds: ${costs.map((c) => c.toFixed(0)).join(', ')} ns)`,
  )
}
