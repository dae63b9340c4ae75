/**
 * The local partition as a user runs it: `node dist/src/partition/main.js --port ...
 * --regions ... --data-dir ...`, one gateway in the launcher and one OS process per
 * region, driven with the AWS SDK for JavaScript (and the AWS CLI when installed).
 *
 * No timing assertions: every wait polls with a generous deadline.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CreateKeyCommand, DescribeKeyCommand, KMSServiceException, ListKeysCommand, type KMSClient } from '@aws-sdk/client-kms'
import {
  createTempDir,
  getHealth,
  httpRequest,
  kmsClient,
  readCredentialsProfile,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  waitForHealth,
  waitForProcessesGone,
  type RunningPartition,
} from '../helpers/partition.js'

const ACCOUNT_ID = '111122223333'
const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1'

async function listKeyIds(client: KMSClient): Promise<string[]> {
  const ids: string[] = []
  let marker: string | undefined
  do {
    const page = await client.send(new ListKeysCommand(marker !== undefined ? { Marker: marker } : {}))
    for (const key of page.Keys ?? []) if (key.KeyId !== undefined) ids.push(key.KeyId)
    marker = page.Truncated === true ? page.NextMarker : undefined
  } while (marker !== undefined)
  return ids
}

async function createKey(client: KMSClient): Promise<{ keyId: string; arn: string }> {
  const { KeyMetadata } = await client.send(new CreateKeyCommand({}))
  assert.ok(KeyMetadata?.KeyId !== undefined && KeyMetadata.Arn !== undefined)
  return { keyId: KeyMetadata.KeyId, arn: KeyMetadata.Arn }
}

/** Asserts that `promise` fails with the AWS error `name`, and returns the error. */
async function rejectsWith(promise: Promise<unknown>, name: string): Promise<KMSServiceException> {
  let caught: unknown
  await promise.then(
    () => assert.fail(`expected ${name}, but the call succeeded`),
    (err: unknown) => (caught = err),
  )
  assert.ok(caught instanceof KMSServiceException, `expected a service error, got ${String(caught)}`)
  assert.equal(caught.name, name)
  return caught
}

function awsCliAvailable(): boolean {
  const probe = spawnSync('aws', ['--version'], { stdio: 'ignore' })
  return probe.error === undefined && probe.status === 0
}

describe('local partition', { timeout: 180_000 }, () => {
  const regions = ['us-east-1', 'eu-west-1']
  const dataDir = createTempDir()
  let partition: RunningPartition
  let usKey: { keyId: string; arn: string }
  let euKey: { keyId: string; arn: string }

  before(async () => {
    // The launcher's own port layout: regions right after the gateway port.
    // The launcher's own layout and messages with its default of one node per region (the
    // multi-node launcher: test/interop/nodes.test.ts); the store may be either.
    partition = await startPartition({ regions, dataDir, regionPortBase: 'launcher-default', nodes: 1 })
  })
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dataDir)
  })

  it('reports every region ready on /health, each on the port after the gateway', async () => {
    const health = await getHealth(partition)
    assert.equal(health.status, 200)
    // Each region's status and port, and its one node (the launcher's default --nodes 1).
    const summary = Object.fromEntries(
      Object.entries(health.body.regions).map(([region, report]) => [
        region,
        {
          status: report.status,
          port: report.port,
          nodes: report.nodes.map(({ node, pid, port, status, restarts }) => ({ node, pid, port, status, restarts })),
        },
      ]),
    )
    const node = (region: string, port: number) => ({ node: 0, pid: partition.regionPids.get(region), port, status: 'ready', restarts: 0 })
    assert.equal(health.body.status, 'ok')
    assert.deepEqual(summary, {
      'us-east-1': { status: 'ready', port: partition.port + 1, nodes: [node('us-east-1', partition.port + 1)] },
      'eu-west-1': { status: 'ready', port: partition.port + 2, nodes: [node('eu-west-1', partition.port + 2)] },
    })
    assert.equal(partition.regionPorts.get('us-east-1'), partition.port + 1)
    assert.equal(partition.regionPorts.get('eu-west-1'), partition.port + 2)
  })

  it('generates admin credentials into DIR/credentials (mode 0600, profile [trent]) and prints how to use them', () => {
    const path = join(dataDir, 'credentials')
    assert.equal(statSync(path).mode & 0o777, 0o600)
    const profile = readCredentialsProfile(path)
    assert.ok(profile !== undefined, 'a [trent] profile')
    assert.match(profile.get('aws_access_key_id') ?? '', /^AKIA[A-Z2-7]{16}$/)
    assert.equal(profile.get('aws_secret_access_key')?.length, 40)
    assert.equal(profile.get('region'), 'us-east-1')
    assert.equal(profile.get('aws_access_key_id'), partition.credentials.accessKeyId)

    const { stdout, stderr } = partition.output()
    assert.ok(
      stderr.includes(
        `AWS_SHARED_CREDENTIALS_FILE=${path} aws --profile trent --endpoint-url ${partition.gatewayUrl} ` +
          '--region us-east-1 kms list-keys',
      ),
      `the banner shows the AWS CLI example:\n${stderr}`,
    )
    assert.ok(stderr.includes(partition.credentials.secretAccessKey), 'the banner shows the generated secret')
    assert.ok(stderr.includes(`region eu-west-1 ready on http://127.0.0.1:${partition.port + 2}`))
    // stdout stays machine-readable: JSON lines only, the regions' among them.
    const lines = stdout.split('\n').filter((line) => line !== '')
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`)
  })

  it('routes each request to the region its signature is scoped to', async () => {
    const usEast = kmsClient(partition, 'us-east-1')
    const euWest = kmsClient(partition, 'eu-west-1')
    usKey = await createKey(usEast)
    euKey = await createKey(euWest)
    assert.ok(usKey.arn.startsWith(`arn:aws:kms:us-east-1:${ACCOUNT_ID}:key/`), usKey.arn)
    assert.ok(euKey.arn.startsWith(`arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/`), euKey.arn)

    const usKeys = await listKeyIds(usEast)
    const euKeys = await listKeyIds(euWest)
    assert.ok(usKeys.includes(usKey.keyId) && !usKeys.includes(euKey.keyId))
    assert.ok(euKeys.includes(euKey.keyId) && !euKeys.includes(usKey.keyId))
    await rejectsWith(euWest.send(new DescribeKeyCommand({ KeyId: usKey.keyId })), 'NotFoundException')
  })

  it("answers on every region's own port too", async () => {
    for (const [region, key] of [
      ['us-east-1', usKey],
      ['eu-west-1', euKey],
    ] as const) {
      const direct = kmsClient(partition, region, { endpoint: partition.regionUrl(region) })
      assert.ok((await listKeyIds(direct)).includes(key.keyId), region)
    }
  })

  it('refuses a credential scoped to a region outside the partition, as AWS does', async () => {
    const outside = kmsClient(partition, 'ap-southeast-2', { maxAttempts: 1 })
    const err = await rejectsWith(outside.send(new ListKeysCommand({})), 'InvalidSignatureException')
    assert.equal(err.message, "Credential should be scoped to a valid region, not 'ap-southeast-2'. ")
    assert.equal(err.$metadata.httpStatusCode, 400)

    // The presigned form carries its scope in the query string; it is routed the same way.
    const credential = encodeURIComponent(`${partition.credentials.accessKeyId}/20260101/mars-north-1/kms/aws4_request`)
    const presigned = await httpRequest(
      `${partition.gatewayUrl}/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${credential}&X-Amz-Date=20260101T000000Z`,
      { method: 'POST', headers: { 'content-type': JSON_CONTENT_TYPE, 'x-amz-target': 'TrentService.ListKeys' }, body: '{}' },
    )
    assert.equal(presigned.status, 400)
    assert.deepEqual(JSON.parse(presigned.body), {
      __type: 'InvalidSignatureException',
      message: "Credential should be scoped to a valid region, not 'mars-north-1'. ",
    })
  })

  it('answers an unsigned request with MissingAuthenticationTokenException', async () => {
    const response = await httpRequest(`${partition.gatewayUrl}/`, {
      method: 'POST',
      headers: { 'content-type': JSON_CONTENT_TYPE, 'x-amz-target': 'TrentService.ListKeys' },
      body: '{}',
    })
    assert.equal(response.status, 400)
    assert.equal(response.headers['content-type'], JSON_CONTENT_TYPE)
    assert.deepEqual(JSON.parse(response.body), {
      __type: 'MissingAuthenticationTokenException',
      message: 'Request is missing Authentication Token',
    })
  })

  it('brings back a region killed with kill -9, keys and all', async () => {
    const killedPid = partition.regionPids.get('eu-west-1')
    assert.ok(killedPid !== undefined)
    process.kill(killedPid, 'SIGKILL')
    const newPid = await partition.waitForRegionRestart('eu-west-1', killedPid)
    assert.notEqual(newPid, killedPid)
    await waitForHealth(partition, 200)
    assert.ok((await listKeyIds(kmsClient(partition, 'eu-west-1'))).includes(euKey.keyId))
    assert.match(partition.output().stderr, new RegExp(`region eu-west-1 \\(pid ${killedPid}\\) died`))
  })

  it('works with the AWS CLI command it prints', { skip: !awsCliAvailable() && 'the AWS CLI is not installed' }, () => {
    const example = partition
      .output()
      .stderr.split('\n')
      .map((line) => line.trim())
      .find((line) => line.startsWith('AWS_SHARED_CREDENTIALS_FILE='))
    assert.ok(example !== undefined)
    const result = spawnSync('sh', ['-c', example], {
      // Whatever the machine's own AWS configuration says must not matter.
      env: { ...process.env, AWS_CONFIG_FILE: join(dataDir, 'no-such-config'), AWS_PAGER: '', AWS_PROFILE: '' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.equal(result.status, 0, result.stderr)
    const listed = JSON.parse(result.stdout) as { Keys: { KeyId: string }[] }
    assert.ok(listed.Keys.some((key) => key.KeyId === usKey.keyId))
  })

  it('stops the gateway and every region on SIGTERM', async () => {
    const regionPids = [...partition.allRegionPids]
    assert.equal(regionPids.length, 3, 'two regions, one of them restarted once')
    const status = await partition.stop()
    assert.deepEqual(status, { code: 0, signal: null })
    assert.deepEqual(await waitForProcessesGone(regionPids), [])
    await assert.rejects(getHealth(partition), /ECONNREFUSED/)
  })

  it('reuses the stored credentials and keys when restarted on the same data dir', async () => {
    const restarted = await startPartition({ regions, dataDir, nodes: 1 })
    assert.deepEqual(restarted.credentials, partition.credentials)
    assert.ok((await listKeyIds(kmsClient(restarted, 'us-east-1'))).includes(usKey.keyId))
    assert.ok((await listKeyIds(kmsClient(restarted, 'eu-west-1'))).includes(euKey.keyId))
    assert.ok(restarted.output().stderr.includes('reused'))
    assert.deepEqual(await restarted.stop(), { code: 0, signal: null })
  })

  it('prefers credentials from the environment, and leaves the stored ones alone', async () => {
    const credentialsPath = join(dataDir, 'credentials')
    const storedFile = readFileSync(credentialsPath, 'utf8')
    const fromEnv = { accessKeyId: 'AKIAENVIRONMENT00001', secretAccessKey: 'environment-secret-0000000000000000000000' }
    const withEnv = await startPartition({
      regions,
      dataDir,
      nodes: 1,
      env: { TRENT_ACCESS_KEY_ID: fromEnv.accessKeyId, TRENT_SECRET_ACCESS_KEY: fromEnv.secretAccessKey },
    })
    assert.deepEqual(withEnv.credentials, fromEnv)
    assert.ok((await listKeyIds(kmsClient(withEnv, 'us-east-1'))).includes(usKey.keyId))
    const stored = kmsClient(withEnv, 'us-east-1', { credentials: { ...partition.credentials }, maxAttempts: 1 })
    await rejectsWith(stored.send(new ListKeysCommand({})), 'UnrecognizedClientException')
    assert.ok(!withEnv.output().stderr.includes(fromEnv.secretAccessKey), 'a secret from the environment is never printed')
    assert.equal(readFileSync(credentialsPath, 'utf8'), storedFile)
    assert.deepEqual(await withEnv.stop(), { code: 0, signal: null })
  })
})

describe('local partition with a region that cannot start yet', { timeout: 120_000 }, () => {
  const dataDir = createTempDir()
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dataDir)
  })

  it('reports 503 on /health, and 503 for that region, until the region comes up', async () => {
    // A file where eu-west-1's data folder belongs: the region fails until it is removed.
    const obstacle = join(dataDir, 'regions', 'eu-west-1')
    mkdirSync(join(dataDir, 'regions'), { recursive: true })
    writeFileSync(obstacle, 'not a directory')
    const partition = await startPartition({ regions: ['us-east-1', 'eu-west-1'], dataDir, waitForReady: false, nodes: 1 })

    const partial = await waitFor('us-east-1 ready while eu-west-1 is not', async () => {
      const health = await getHealth(partition)
      return health.body.regions['us-east-1']?.status === 'ready' ? health : undefined
    })
    assert.equal(partial.status, 503)
    assert.equal(partial.body.status, 'unavailable')
    const euWest = partial.body.regions['eu-west-1']
    assert.equal(euWest?.status, 'unavailable')
    assert.equal(euWest.port, undefined)
    assert.equal(euWest.nodes.length, 1)
    assert.notEqual(euWest.nodes[0]?.status, 'ready')
    assert.equal(euWest.nodes[0]?.port, null)

    const down = kmsClient(partition, 'eu-west-1', { maxAttempts: 1 })
    const err = await rejectsWith(down.send(new ListKeysCommand({})), 'KMSInternalException')
    assert.equal(err.$metadata.httpStatusCode, 503)
    assert.match(err.message, /eu-west-1/)
    await listKeyIds(kmsClient(partition, 'us-east-1'))
    assert.match(partition.output().stderr, /region eu-west-1 \(pid \d+\) failed to start/)

    rmSync(obstacle)
    await partition.waitUntilReady()
    assert.equal((await getHealth(partition)).status, 200)
    assert.deepEqual(await listKeyIds(kmsClient(partition, 'eu-west-1')), [])
    assert.deepEqual(await partition.stop(), { code: 0, signal: null })
  })
})

describe('local partition whose launcher is killed with kill -9', { timeout: 120_000 }, () => {
  after(stopAllPartitions)

  it('leaves no region process alive', async () => {
    const partition = await startPartition({ regions: ['us-east-1', 'us-west-2', 'eu-west-1'] })
    const regionPids = [...partition.regionPids.values()]
    assert.equal(regionPids.length, 3)
    const status = await partition.kill9()
    assert.equal(status.signal, 'SIGKILL')
    assert.deepEqual(await waitForProcessesGone(regionPids), [])
  })
})
