/**
 * `GET /metrics` of a real two-region partition (launcher, one OS process per region
 * node, the replication proxy), driven with `@aws-sdk/client-kms` through the gateway:
 * successful and failing calls and a ReplicateKey, then the gateway's answer parsed with
 * a strict Prometheus text-format parser (test/helpers/prometheus-text.ts) and checked:
 * request counters move by exactly what was sent, histograms are consistent and agree
 * with the counters, keys by state match DescribeKey, and the replica's replication lag
 * appears, grows while its region is frozen (SIGSTOP) and returns to zero after.
 *
 * No timing assertions: waits poll with generous deadlines.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  KMSServiceException,
  ListKeysCommand,
  ReplicateKeyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { callTrent } from '../../src/cli/sign.js'
import { kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'
import { checkHistogram, parsePrometheusText, samplesOf, sumOf, type MetricFamily } from '../helpers/prometheus-text.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const SYNC = { timeoutMs: 120_000, intervalMs: 250 }
const KEY_STATES = [
  'Creating',
  'Enabled',
  'Disabled',
  'PendingDeletion',
  'PendingImport',
  'PendingReplicaDeletion',
  'Unavailable',
  'Updating',
]

type Families = Map<string, MetricFamily>

async function scrape(url: string): Promise<Families> {
  const response = await fetch(`${url}/metrics`)
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return parsePrometheusText(await response.text())
}

async function failsWith(work: Promise<unknown>, name: string): Promise<void> {
  await work.then(
    () => assert.fail(`expected ${name}, but the call succeeded`),
    (err: unknown) => {
      assert.ok(err instanceof KMSServiceException, String(err))
      assert.equal(err.name, name)
    },
  )
}

describe('GET /metrics of a real partition', { timeout: 600_000 }, () => {
  let partition: RunningPartition
  // One attempt per call: an SDK retry would be a request the counts do not expect.
  const kms = (region: string): KMSClient => kmsClient(partition, region, { maxAttempts: 1 })
  const requests = (families: Families, region: string, operation: string, outcome: string): number =>
    sumOf(families, 'trent_requests_total', { region, operation, outcome })
  let mrkId = ''
  let startedAt = 0

  before(async () => {
    startedAt = Date.now()
    partition = await startPartition({
      regions: [US, EU],
      extraArgs: ['--reconcile-interval-ms', '500', '--allow-test-hooks'],
      timeoutMs: 60_000,
    })
  })
  after(stopAllPartitions)

  it('counts requests by region, operation and outcome, with consistent latency histograms', async () => {
    const before = await scrape(partition.gatewayUrl)
    for (const node of [...partition.regionNodes.values()].flatMap((nodes) => [...nodes.keys()])) {
      assert.equal(
        samplesOf(before, 'trent_metrics_source_up', { source: 'region', node: String(node) }).every((s) => s.value === 1),
        true,
      )
    }
    assert.equal(sumOf(before, 'trent_metrics_source_up', { source: 'proxy' }), 1)

    const us = kms(US)
    const key = (await us.send(new CreateKeyCommand({ Description: 'metrics' }))).KeyMetadata?.KeyId ?? assert.fail('no key id')
    for (let i = 0; i < 3; i++) await us.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from(`secret ${i}`) }))
    for (let i = 0; i < 2; i++)
      await failsWith(us.send(new DecryptCommand({ CiphertextBlob: Buffer.alloc(64, i + 1) })), 'InvalidCiphertextException')
    await failsWith(us.send(new DescribeKeyCommand({ KeyId: 'alias/no-such-alias' })), 'NotFoundException')
    await us.send(new DisableKeyCommand({ KeyId: key }))
    await failsWith(us.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })), 'DisabledException')
    await failsWith(kms(EU).send(new DescribeKeyCommand({ KeyId: 'alias/no-such-alias' })), 'NotFoundException')
    // A target naming no operation is counted as `unknown`, never under the client's name for it.
    const made = await callTrent(partition.gatewayUrl, US, partition.credentials, 'TrentService.MadeUpOperation', {})
    assert.equal((made.body as { __type?: string }).__type, 'UnknownOperationException')
    mrkId =
      (await us.send(new CreateKeyCommand({ MultiRegion: true, Description: 'metrics mrk' }))).KeyMetadata?.KeyId ??
      assert.fail('no mrk id')
    await us.send(new ReplicateKeyCommand({ KeyId: mrkId, ReplicaRegion: EU }))

    const after = await scrape(partition.gatewayUrl)
    const moved = (region: string, operation: string, outcome: string): number =>
      requests(after, region, operation, outcome) - requests(before, region, operation, outcome)
    assert.equal(moved(US, 'CreateKey', 'success'), 2)
    assert.equal(moved(US, 'Encrypt', 'success'), 3)
    assert.equal(moved(US, 'Encrypt', 'DisabledException'), 1)
    assert.equal(moved(US, 'Decrypt', 'InvalidCiphertextException'), 2)
    assert.equal(moved(US, 'DescribeKey', 'NotFoundException'), 1)
    assert.equal(moved(US, 'DisableKey', 'success'), 1)
    assert.equal(moved(US, 'ReplicateKey', 'success'), 1)
    assert.equal(moved(US, 'unknown', 'UnknownOperationException'), 1)
    assert.equal(moved(EU, 'DescribeKey', 'NotFoundException'), 1)
    // Nothing the test did not send: EU answered one request, US eleven.
    const total = (families: Families, region: string): number => sumOf(families, 'trent_requests_total', { region })
    assert.equal(total(after, EU) - total(before, EU), 1)
    assert.equal(total(after, US) - total(before, US), 12)
    assert.equal(
      samplesOf(after, 'trent_requests_total').some((s) => s.labels.operation === 'MadeUpOperation'),
      false,
    )
    for (const sample of samplesOf(after, 'trent_requests_total')) {
      assert.ok(sample.labels.region === US || sample.labels.region === EU, `a region label: ${JSON.stringify(sample.labels)}`)
      assert.match(sample.labels.node ?? '', /^\d+$/)
    }

    const latency = after.get('trent_request_duration_seconds') ?? assert.fail('no latency histogram')
    assert.ok(checkHistogram(latency) >= 8)
    // Each operation's histogram counts exactly its requests, whatever their outcome.
    for (const count of samplesOf(after, 'trent_request_duration_seconds_count')) {
      const { region = '', node = '', operation = '' } = count.labels
      assert.equal(count.value, sumOf(after, 'trent_requests_total', { region, node, operation }), `${region}/${node} ${operation}`)
    }
    const encryptsTimed =
      sumOf(after, 'trent_request_duration_seconds_count', { region: US, operation: 'Encrypt' }) -
      sumOf(before, 'trent_request_duration_seconds_count', { region: US, operation: 'Encrypt' })
    assert.equal(encryptsTimed, 4)
    assert.ok(sumOf(after, 'trent_request_duration_seconds_sum', { region: US, operation: 'Encrypt' }) > 0)
    assert.ok(sumOf(after, 'trent_gateway_connections_handed_off_total', { region: US }) >= 1)
    assert.equal(samplesOf(after, 'trent_hsm_requests_in_flight', { region: US }).length, partition.regionNodes.get(US)?.size)
  })

  it('reports keys by state as DescribeKey shows them, in every region', async () => {
    // The replica's state moves from Creating to Enabled on its own: wait for it to settle.
    await waitFor(
      'the replica enabled',
      async () => {
        const replica = await kms(EU)
          .send(new DescribeKeyCommand({ KeyId: mrkId }))
          .catch(() => undefined)
        return replica?.KeyMetadata?.KeyState === 'Enabled' ? true : undefined
      },
      SYNC,
    )
    for (const region of [US, EU]) {
      const client = kms(region)
      const keys = (await client.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? []
      const expected = new Map(KEY_STATES.map((state) => [state, 0]))
      for (const { KeyId } of keys) {
        const state = (await client.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata?.KeyState ?? assert.fail('no state')
        expected.set(state, (expected.get(state) ?? 0) + 1)
      }
      assert.ok(keys.length >= (region === US ? 2 : 0))
      // Every node of the region reports the region's keys; a peer may take a moment to catch up.
      const families = await waitFor(`${region} keys by state`, async () => {
        const scraped = await scrape(partition.gatewayUrl)
        const nodes = new Set(samplesOf(scraped, 'trent_keys', { region }).map((s) => s.labels.node))
        const agree = [...nodes].every((node) =>
          KEY_STATES.every((state) => sumOf(scraped, 'trent_keys', { region, node: node ?? '', state }) === expected.get(state)),
        )
        return nodes.size > 0 && agree ? scraped : undefined
      })
      for (const sample of samplesOf(families, 'trent_keys', { region }))
        assert.equal(sample.value, expected.get(sample.labels.state ?? ''), JSON.stringify(sample.labels))
    }
  })

  it('shows the replica’s replication lag, growing while its region is frozen and back to zero after', async () => {
    const replicaLabels = { region: US, key_id: mrkId, replica_region: EU }
    const inSync = await waitFor(
      'the replica in sync',
      async () => {
        const scraped = await scrape(partition.gatewayUrl)
        const synced = samplesOf(scraped, 'trent_replication_replica_in_sync', replicaLabels)
        return synced.length > 0 && synced.every((s) => s.value === 1) && sumOf(scraped, 'trent_proxy_queue_depth', { region: EU }) === 0
          ? scraped
          : undefined
      },
      SYNC,
    )
    for (const sample of samplesOf(inSync, 'trent_replication_lag_versions', replicaLabels)) assert.equal(sample.value, 0)
    for (const sample of samplesOf(inSync, 'trent_replication_missing_material_versions', replicaLabels)) assert.equal(sample.value, 0)
    const lastSync = samplesOf(inSync, 'trent_replication_last_sync_timestamp_seconds', replicaLabels)
    assert.ok(lastSync.length > 0)
    for (const sample of lastSync)
      assert.ok(sample.value * 1000 >= startedAt - 1000 && sample.value * 1000 <= Date.now() + 1000, String(sample.value))
    // Lag is the primary's view: the replica's region reports none for it.
    assert.equal(samplesOf(inSync, 'trent_replication_lag_versions', { region: EU, key_id: mrkId }).length, 0)
    assert.ok(sumOf(inSync, 'trent_proxy_delivery_attempts_total', { region: EU, outcome: 'delivered' }) >= 1)
    const retriesBefore = sumOf(inSync, 'trent_proxy_retries_total', { region: EU })

    // Freeze every node of the replica's region: the proxy cannot deliver to it, and it
    // cannot answer the launcher's metrics request either.
    const frozen = [...(partition.regionNodes.get(EU)?.values() ?? [])].map((node) => node.pid)
    assert.ok(frozen.length > 0)
    for (const pid of frozen) process.kill(pid, 'SIGSTOP')
    try {
      // Rotation is shared state: the primary must tell the replica.
      await kms(US).send(new EnableKeyRotationCommand({ KeyId: mrkId }))
      const behind = await waitFor(
        'the replica behind, its envelope queued',
        async () => {
          const scraped = await scrape(partition.gatewayUrl)
          const lag = sumOf(scraped, 'trent_replication_lag_versions', replicaLabels)
          return lag >= 1 && sumOf(scraped, 'trent_proxy_queue_depth', { region: EU }) >= 1 ? scraped : undefined
        },
        SYNC,
      )
      for (const sample of samplesOf(behind, 'trent_replication_replica_in_sync', replicaLabels)) assert.equal(sample.value, 0)
      assert.ok(samplesOf(behind, 'trent_metrics_source_up', { source: 'region', region: EU }).every((s) => s.value === 0))
      assert.ok(samplesOf(behind, 'trent_metrics_source_up', { source: 'region', region: US }).every((s) => s.value === 1))
      // A delivery to a frozen process times out and is retried.
      await waitFor(
        'a retried delivery',
        async () => {
          const scraped = await scrape(partition.gatewayUrl)
          return sumOf(scraped, 'trent_proxy_retries_total', { region: EU }) > retriesBefore ? true : undefined
        },
        SYNC,
      )
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT')
    }
    const caughtUp = await waitFor(
      'the replica in sync again',
      async () => {
        const scraped = await scrape(partition.gatewayUrl)
        const synced = samplesOf(scraped, 'trent_replication_replica_in_sync', replicaLabels)
        return synced.length > 0 && synced.every((s) => s.value === 1) && sumOf(scraped, 'trent_proxy_queue_depth', { region: EU }) === 0
          ? scraped
          : undefined
      },
      SYNC,
    )
    assert.equal(sumOf(caughtUp, 'trent_replication_lag_versions', replicaLabels), 0)
    assert.ok(samplesOf(caughtUp, 'trent_metrics_source_up', { source: 'region', region: EU }).every((s) => s.value === 1))
  })

  it('serves each region node’s own metrics on its KMS port', async () => {
    const gathered = await scrape(partition.gatewayUrl)
    const own = await scrape(partition.regionUrl(US))
    const samples = samplesOf(own, 'trent_requests_total')
    assert.ok(samples.length > 0)
    for (const sample of samples) assert.deepEqual([sample.labels.region, sample.labels.node], [US, '0'])
    // The same counts the gateway gathered from that node (nothing was sent in between).
    for (const sample of samples) {
      assert.equal(sumOf(gathered, 'trent_requests_total', { ...sample.labels }), sample.value, JSON.stringify(sample.labels))
    }
    checkHistogram(own.get('trent_request_duration_seconds') ?? assert.fail('no histogram'))
    // Not the gateway's: no proxy or launcher series here.
    assert.equal(own.has('trent_proxy_queue_depth'), false)
    assert.equal(own.has('trent_metrics_source_up'), false)
  })

  it('serves the proxy’s own metrics on its port, the same the gateway gathers', async () => {
    const proxyUrl = /replication proxy on (http:\/\/\S+)/.exec(partition.output().stderr)?.[1] ?? assert.fail('no proxy URL in the banner')
    const attemptsOf = (families: Families): string =>
      JSON.stringify(samplesOf(families, 'trent_proxy_delivery_attempts_total').map((sample) => [sample.labels, sample.value]))
    // A delivery between the two scrapes would make them differ: compare at a quiet moment,
    // the proxy's own answer unchanged before and after the gateway's.
    const { own, gathered } = await waitFor('a quiet moment of the proxy', async () => {
      const first = await scrape(proxyUrl)
      const gatheredNow = await scrape(partition.gatewayUrl)
      const second = await scrape(proxyUrl)
      return attemptsOf(first) === attemptsOf(second) ? { own: second, gathered: gatheredNow } : undefined
    })
    const attempts = samplesOf(own, 'trent_proxy_delivery_attempts_total')
    assert.ok(attempts.some((s) => s.labels.region === EU && s.labels.outcome === 'delivered' && s.value >= 1))
    for (const sample of attempts)
      assert.equal(
        sumOf(gathered, 'trent_proxy_delivery_attempts_total', { ...sample.labels }),
        sample.value,
        JSON.stringify(sample.labels),
      )
    assert.ok(samplesOf(own, 'trent_proxy_queue_depth').every((s) => s.labels.component === 'proxy'))
    assert.equal(own.has('trent_requests_total'), false)
  })
})
