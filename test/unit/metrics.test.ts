/**
 * The metrics' parts on their own (docs/metrics.md): the request statistics against
 * prom-client's own Histogram, the gatherer's merge of several processes' registries, the
 * IPC messages that carry them, and the strict text-format parser the interop test relies
 * on, which must refuse what the format does not allow.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { MetricsGatherer, isMetricsSnapshot, type MetricsSnapshot } from '../../src/metrics/gather.js'
import { LATENCY_BUCKETS_SECONDS } from '../../src/metrics/names.js'
import { RegionMetrics, type ReplicaLag } from '../../src/metrics/region-metrics.js'
import { ProxyMetrics } from '../../src/metrics/proxy-metrics.js'
import { isLauncherToRegionMessage, isRegionToLauncherMessage } from '../../src/wire/region-messages.js'
import { checkHistogram, parsePrometheusText, samplesOf, sumOf } from '../helpers/prometheus-text.js'

function regionMetrics(
  region: string,
  node: number,
  lag: () => ReplicaLag[] = () => [],
  states = new Map([['Enabled', 2]]),
): RegionMetrics {
  return new RegionMetrics({ region, node, sources: { hsmInFlight: () => 3, keysByState: () => states, replicationLag: lag } })
}

describe('request statistics', () => {
  it('give the same buckets, sum and count as prom-client’s Histogram for the same observations, bounds included', async () => {
    const ours = regionMetrics('us-east-1', 0)
    const reference = new Registry()
    const histogram = new Histogram({
      name: 'trent_request_duration_seconds',
      help: 'x',
      labelNames: ['operation'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers: [reference],
    })
    const counter = new Counter({ name: 'trent_requests_total', help: 'x', labelNames: ['operation', 'outcome'], registers: [reference] })
    // Every bound exactly (le is "at most"), between bounds, and past the last.
    const observations = [0, ...LATENCY_BUCKETS_SECONDS, 0.0007, 0.003, 0.7, 42].flatMap((seconds, index) => [
      { operation: index % 2 === 0 ? 'Encrypt' : 'Decrypt', outcome: index % 3 === 0 ? 'NotFoundException' : 'success', seconds },
    ])
    for (const { operation, outcome, seconds } of observations) {
      ours.observeRequest(operation, outcome, seconds)
      histogram.observe({ operation }, seconds)
      counter.inc({ operation, outcome })
    }
    const mine = parsePrometheusText((await ours.text()).body)
    const theirs = parsePrometheusText(await reference.metrics())
    for (const name of [
      'trent_request_duration_seconds_bucket',
      'trent_request_duration_seconds_sum',
      'trent_request_duration_seconds_count',
      'trent_requests_total',
    ]) {
      const expected = samplesOf(theirs, name)
      assert.ok(expected.length > 0)
      for (const sample of expected) {
        const found = samplesOf(mine, name, { ...sample.labels, region: 'us-east-1', node: '0' })
        assert.equal(found.length, 1, `${name} ${JSON.stringify(sample.labels)}`)
        assert.ok(
          Math.abs((found[0]?.value ?? NaN) - sample.value) < 1e-9,
          `${name} ${JSON.stringify(sample.labels)}: ${found[0]?.value} vs ${sample.value}`,
        )
      }
      assert.equal(samplesOf(mine, name).length, expected.length)
    }
    assert.equal(checkHistogram(mine.get('trent_request_duration_seconds') ?? assert.fail('no histogram')), 2)
    assert.equal(sumOf(mine, 'trent_hsm_requests_in_flight', { region: 'us-east-1' }), 3)
  })
})

describe('gathering the processes’ registries', () => {
  it('merges them into one answer, each series under its own labels, and marks a process that does not answer', async () => {
    let rows: ReplicaLag[] = [
      {
        keyId: 'mrk-1',
        replicaRegion: 'eu-west-1',
        syncVersionsBehind: 2,
        missingMaterialVersions: 1,
        state: 'PENDING',
        lastSyncedAt: 1_700_000_000_000,
      },
      { keyId: 'mrk-2', replicaRegion: 'eu-west-1', syncVersionsBehind: 0, missingMaterialVersions: 0, state: 'CREATING' },
    ]
    const us = regionMetrics('us-east-1', 0, () => rows)
    const eu = regionMetrics(
      'eu-west-1',
      0,
      () => [],
      new Map([
        ['Enabled', 1],
        ['Disabled', 4],
      ]),
    )
    const proxy = new ProxyMetrics(() => ({ 'eu-west-1': { pending: 5, inFlight: 1, oldestPendingAgeMs: 1500, consecutiveFailures: 2 } }))
    us.observeRequest('Encrypt', 'success', 0.002)
    eu.observeRequest('Encrypt', 'success', 0.004)
    eu.observeRequest('Encrypt', 'success', 0.004)
    proxy.observeAttempt('eu-west-1', 'failed')
    proxy.observeAttempt('eu-west-1', 'delivered')
    const launcher = new Registry()
    new Gauge({ name: 'trent_node_up', help: 'x', labelNames: ['region', 'node'], registers: [launcher] }).set(
      { region: 'us-east-1', node: '0' },
      1,
    )
    const gatherer = new MetricsGatherer(launcher, 200)
    const sources = [
      {
        labels: { source: 'region', region: 'us-east-1', node: '0' },
        snapshot: async () => (await us.registry.getMetricsAsJSON()) as MetricsSnapshot,
      },
      {
        labels: { source: 'region', region: 'eu-west-1', node: '0' },
        snapshot: async () => (await eu.registry.getMetricsAsJSON()) as MetricsSnapshot,
      },
      { labels: { source: 'proxy' }, snapshot: async () => (await proxy.registry.getMetricsAsJSON()) as MetricsSnapshot },
      // Frozen: never answers.
      {
        labels: { source: 'region', region: 'ap-southeast-2', node: '0' },
        snapshot: () => new Promise<MetricsSnapshot | undefined>(() => undefined),
      },
    ]
    const merged = parsePrometheusText(await gatherer.gather(sources))
    assert.equal(sumOf(merged, 'trent_requests_total', { region: 'us-east-1', operation: 'Encrypt', outcome: 'success' }), 1)
    assert.equal(sumOf(merged, 'trent_requests_total', { region: 'eu-west-1', operation: 'Encrypt', outcome: 'success' }), 2)
    assert.equal(checkHistogram(merged.get('trent_request_duration_seconds') ?? assert.fail('no histogram')), 2)
    assert.equal(sumOf(merged, 'trent_keys', { region: 'eu-west-1', state: 'Disabled' }), 4)
    assert.equal(sumOf(merged, 'trent_keys', { region: 'us-east-1', state: 'Enabled' }), 2)
    assert.equal(sumOf(merged, 'trent_replication_lag_versions', { region: 'us-east-1', key_id: 'mrk-1', replica_region: 'eu-west-1' }), 2)
    assert.equal(sumOf(merged, 'trent_replication_missing_material_versions', { key_id: 'mrk-1' }), 1)
    assert.equal(sumOf(merged, 'trent_replication_replica_in_sync', { key_id: 'mrk-2' }), 0)
    assert.equal(sumOf(merged, 'trent_replication_last_sync_timestamp_seconds', { key_id: 'mrk-1' }), 1_700_000_000)
    assert.equal(samplesOf(merged, 'trent_replication_last_sync_timestamp_seconds', { key_id: 'mrk-2' }).length, 0)
    assert.equal(sumOf(merged, 'trent_proxy_queue_depth', { region: 'eu-west-1', component: 'proxy' }), 5)
    assert.equal(sumOf(merged, 'trent_proxy_oldest_pending_age_seconds', { region: 'eu-west-1' }), 1.5)
    assert.equal(sumOf(merged, 'trent_proxy_retries_total', { region: 'eu-west-1' }), 1)
    assert.equal(sumOf(merged, 'trent_proxy_delivery_attempts_total', { region: 'eu-west-1', outcome: 'delivered' }), 1)
    assert.equal(sumOf(merged, 'trent_node_up', { region: 'us-east-1' }), 1)
    assert.equal(sumOf(merged, 'trent_metrics_source_up', { source: 'region', region: 'us-east-1' }), 1)
    assert.equal(sumOf(merged, 'trent_metrics_source_up', { source: 'proxy' }), 1)
    assert.equal(sumOf(merged, 'trent_metrics_source_up', { source: 'region', region: 'ap-southeast-2' }), 0)

    // A replica that went away leaves no series behind.
    rows = []
    const later = parsePrometheusText(await gatherer.gather(sources.slice(0, 1)))
    assert.equal(samplesOf(later, 'trent_replication_lag_versions').length, 0)
    assert.equal(samplesOf(later, 'trent_metrics_source_up').length, 1)
  })

  it('takes only snapshot-shaped answers over IPC', () => {
    assert.equal(isMetricsSnapshot([{ name: 'x', type: 'gauge', help: '', values: [] }]), true)
    assert.equal(isMetricsSnapshot([{ name: 'x', type: 'gauge' }]), false)
    assert.equal(isMetricsSnapshot({ name: 'x' }), false)
    assert.equal(isRegionToLauncherMessage({ type: 'metrics', region: 'us-east-1', nodeId: 0, id: 7, metrics: [] }), true)
    assert.equal(isRegionToLauncherMessage({ type: 'metrics', region: 'us-east-1', id: -1, metrics: [] }), false)
    assert.equal(isRegionToLauncherMessage({ type: 'ready', region: 'us-east-1', port: 1, replicationPort: 2 }), false)
    assert.equal(isLauncherToRegionMessage({ type: 'metrics-request', id: 3 }), true)
    assert.equal(isLauncherToRegionMessage({ type: 'metrics-request', id: 'x' }), false)
  })
})

describe('the strict Prometheus text parser (test helper)', () => {
  it('reads what prom-client writes, escaped label values included', async () => {
    const registry = new Registry()
    new Counter({ name: 'a_total', help: 'line one\nline \\two', labelNames: ['v'], registers: [registry] }).inc(
      { v: 'quote " backslash \\ newline \n end' },
      3,
    )
    const families = parsePrometheusText(await registry.metrics())
    const family = families.get('a_total') ?? assert.fail('no family')
    assert.equal(family.type, 'counter')
    assert.equal(family.help, 'line one\nline \\two')
    assert.deepEqual(family.samples, [{ name: 'a_total', labels: { v: 'quote " backslash \\ newline \n end' }, value: 3 }])
  })

  const refused: Array<[string, string]> = [
    ['a value that is no number', '# TYPE x gauge\nx{a="1"} one\n'],
    ['an unterminated label value', '# TYPE x gauge\nx{a="1} 1\n'],
    ['a bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n'],
    ['a label given twice', '# TYPE x gauge\nx{a="1",a="2"} 1\n'],
    ['a bad metric name', '# TYPE 1x gauge\n'],
    ['an unknown type', '# TYPE x meter\n'],
    ['a second TYPE', '# TYPE x gauge\n# TYPE x gauge\n'],
    ['TYPE after samples', 'x 1\n# TYPE x gauge\n'],
    ['the same series twice', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['samples of a family apart', '# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a="2"} 1\n'],
    ['a bucket without le', '# TYPE h histogram\nh_bucket{a="1"} 1\n'],
    ['a negative counter', '# TYPE c counter\nc -1\n'],
    ['a reserved label name', '# TYPE x gauge\nx{__name__="y"} 1\n'],
    ['garbage after the value', '# TYPE x gauge\nx 1 2 3\n'],
  ]
  for (const [what, text] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parsePrometheusText(text), /metrics line \d+/)
    })
  }

  it('finds inconsistent histograms', () => {
    const histogram = (lines: string): void => {
      checkHistogram(parsePrometheusText(`# TYPE h histogram\n${lines}`).get('h') ?? assert.fail('no h'))
    }
    histogram('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n')
    assert.throws(() => histogram('h_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'), /below/)
    assert.throws(() => histogram('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 5\n'), /\+Inf bucket/)
    assert.throws(() => histogram('h_bucket{le="1"} 1\nh_sum 3\nh_count 1\n'), /no \+Inf/)
    assert.throws(() => histogram('h_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 3\nh_count 1\n'), /after/)
    assert.throws(() => histogram('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_count 1\n'), /no _sum/)
  })
})
