/**
 * Regressions of issue 10's findings at the partition's doors: slow and abandoned
 * connections, connection floods, malformed HTTP, the replication endpoint on public
 * ports, and log flooding. Every listener is attacked: the gateway's front door, a
 * region's KMS port, its replication listener and the proxy. Deadlines here only turn a
 * hang into a readable failure; they are several times the configured timeouts.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, ListKeysCommand } from '@aws-sdk/client-kms'
import { getHealth, kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'
import { closedWithin, openRaw, TLS_CLIENT_HELLO, type RawConnection } from '../helpers/raw-socket.js'
import { sendRaw } from '../helpers/signed-http.js'

const HEADER_TIMEOUT_MS = 1_000
const REQUEST_TIMEOUT_MS = 3_000
/** Far above the timeouts: only a connection the server never closes misses it. */
const CLOSE_DEADLINE_MS = 20_000

interface Door {
  name: string
  port: number
  /** Where a POST has its body read (elsewhere it may be answered before the body comes). */
  postPath: string
}

/** A signed-looking head (the front door hands it to the region it names) with a body still to come. */
function headAwaitingBody(region: string, contentLength: number, path = '/'): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.ListKeys\r\n` +
    `X-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/${region}/kms/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}\r\n` +
    `Content-Length: ${contentLength}\r\n\r\n`
  )
}

function logLines(partition: RunningPartition): Array<Record<string, unknown>> {
  return partition
    .output()
    .stdout.split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('every listener times out slow and silent clients, and refuses what is not HTTP/1.1', () => {
  let partition: RunningPartition
  const doors: Door[] = []

  before(async () => {
    partition = await startPartition({
      regions: ['us-east-1', 'eu-west-1'],
      env: { TRENT_LOG_LEVEL: 'info' },
      extraArgs: [
        '--header-timeout-ms',
        String(HEADER_TIMEOUT_MS),
        '--request-timeout-ms',
        String(REQUEST_TIMEOUT_MS),
        '--keep-alive-timeout-ms',
        '1000',
      ],
    })
    const ready = logLines(partition).find((line) => line.msg === 'region ready' && line.region === 'us-east-1')
    const proxy = /replication proxy on http:\/\/[^:]+:(\d+)/.exec(partition.output().stderr)
    doors.push(
      { name: 'gateway', port: partition.port, postPath: '/' },
      { name: 'region KMS port', port: partition.regionPorts.get('us-east-1') ?? assert.fail('no region port'), postPath: '/' },
      {
        name: 'region replication listener',
        port: Number(ready?.replicationPort ?? assert.fail('no replication port in the region ready line')),
        postPath: '/replication/v1/envelopes',
      },
      { name: 'proxy', port: Number(proxy?.[1] ?? assert.fail('no proxy port in the banner')), postPath: '/v1/envelopes' },
    )
  })
  after(stopAllPartitions)

  it('closes connections that send nothing, half a header block, or a body one byte at a time', async () => {
    const held: Array<{ what: string; connection: RawConnection; trickle?: NodeJS.Timeout }> = []
    for (const door of doors) {
      held.push({ what: `${door.name}: nothing sent`, connection: await openRaw(door.port) })
      held.push({
        what: `${door.name}: partial headers`,
        connection: await openRaw(door.port, 'POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Tar'),
      })
      const trickling = await openRaw(door.port, headAwaitingBody('us-east-1', 1_000, door.postPath))
      const trickle = setInterval(() => trickling.socket.write('x'), 300)
      held.push({ what: `${door.name}: body trickled`, connection: trickling, trickle })
    }
    try {
      await Promise.all(held.map(({ what, connection }) => closedWithin(connection, CLOSE_DEADLINE_MS, what)))
    } finally {
      for (const { connection, trickle } of held) {
        clearInterval(trickle)
        connection.socket.destroy()
      }
    }
    for (const { what, connection } of held) {
      if (what.endsWith('nothing sent')) continue
      // A request begun and not finished is answered (Node's or Trent's 408), not just reset.
      assert.match(connection.received(), /^HTTP\/1\.1 408/, what)
    }
  })

  it('answers a bare-LF request, an HTTP/0.9 request line and a TLS ClientHello with 400 and a close', async () => {
    const cases: Array<[string, string | Buffer]> = [
      ['bare LF', 'GET /health HTTP/1.1\nHost: localhost\n\n'],
      ['HTTP/0.9', 'GET /\r\n\r\n'],
      ['HTTP/0.9 with a version', 'GET / HTTP/0.9\r\n\r\n'],
      ['TLS ClientHello', TLS_CLIENT_HELLO],
      ['garbage', Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 13, 10, 13, 10])],
    ]
    for (const door of doors) {
      for (const [what, bytes] of cases) {
        const connection = await openRaw(door.port, bytes)
        await closedWithin(connection, CLOSE_DEADLINE_MS, `${door.name}: ${what}`)
        assert.match(connection.received(), /^HTTP\/1\.1 400 /, `${door.name}: ${what}`)
      }
      // A bare HTTP/0.9 request line: the front door refuses it at once; Node's parser waits
      // for the rest of a head, and the header timeout answers it.
      const lineAlone = await openRaw(door.port, 'GET /\r\n')
      await closedWithin(lineAlone, CLOSE_DEADLINE_MS, `${door.name}: HTTP/0.9 line alone`)
      assert.match(
        lineAlone.received(),
        door.name === 'gateway' ? /^HTTP\/1\.1 400 / : /^HTTP\/1\.1 (400|408) /,
        `${door.name}: HTTP/0.9 line alone`,
      )
    }
  })

  it('does not serve replication on public ports: answered as any unknown path, with nothing about why', async () => {
    const post = (port: number, path: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path,
            agent: false,
            headers: { authorization: 'anything', 'content-type': 'application/json' },
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
          },
        )
        req.on('error', reject)
        req.end('{"v":1,"messageId":"m","from":"eu-west-1","to":"us-east-1","body":"e30=","signature":{"keyId":"k","value":"AA=="}}')
      })
    for (const port of [partition.port, partition.regionPorts.get('us-east-1') ?? 0]) {
      const replication = await post(port, '/replication/v1/envelopes')
      const unknown = await post(port, '/no/such/path')
      assert.equal(replication.status, unknown.status, replication.body)
      assert.equal((JSON.parse(replication.body) as { __type?: string }).__type, 'UnknownOperationException')
      assert.equal((JSON.parse(unknown.body) as { __type?: string }).__type, 'UnknownOperationException')
      assert.doesNotMatch(replication.body, /refused|reason|signature|trust/i)
    }
  })

  it('logs a client that drops mid-body at debug, without a stack, and rate-limits failures before authentication', async () => {
    const region = 'us-east-1'
    const before = logLines(partition).length
    for (let index = 0; index < 20; index++) {
      const connection = await openRaw(partition.port, `${headAwaitingBody(region, 500)}{"partial`)
      await new Promise((resolve) => setTimeout(resolve, 5))
      connection.socket.destroy()
    }
    // 400 requests with a bad signature: each is a 'request failed' line before the limit.
    const bad = { accessKeyId: partition.credentials.accessKeyId, secretAccessKey: 'not-the-secret' }
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          sendRaw({ endpoint: partition.gatewayUrl, region, target: 'TrentService.ListKeys', body: '{}', credentials: bad }),
        ),
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    const lines = logLines(partition).slice(before)
    assert.equal(lines.filter((line) => line.level === 'error').length, 0, JSON.stringify(lines.filter((line) => line.level === 'error')))
    assert.ok(!lines.some((line) => 'stack' in line), 'no stack trace in the log')
    const failures = lines.filter((line) => line.msg === 'request failed')
    // A burst of 20 per message and process, then 2 a second: far fewer lines than requests.
    assert.ok(failures.length < 100, `${failures.length} 'request failed' lines for 400 refused requests`)
    assert.ok(failures.length > 0, 'refusals are still logged')
  })

  it('still serves well-behaved clients afterwards', async () => {
    assert.equal((await getHealth(partition)).status, 200)
    const kms = kmsClient(partition, 'eu-west-1')
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}))
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: KeyMetadata?.KeyId, Plaintext: Buffer.from('ok') }))
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob }))).Plaintext ?? []).toString(), 'ok')
  })
})

describe('a partition keeps serving while someone holds thousands of connections', () => {
  /** The launcher and regions get this many descriptors, fewer than the connections held. */
  const OPEN_FILE_LIMIT = 1_024
  const HELD = 3_000
  let partition: RunningPartition
  const held: RawConnection[] = []

  before(async () => {
    partition = await startPartition({ regions: ['us-east-1'], openFileLimit: OPEN_FILE_LIMIT, env: { TRENT_LOG_LEVEL: 'warn' } })
  })
  after(async () => {
    for (const connection of held) connection.socket.destroy()
    await stopAllPartitions()
  })

  it(`holds ${HELD} idle connections to the gateway and ${HELD / 2} to a region, and answers /health and signed requests`, async () => {
    const regionPort = partition.regionPorts.get('us-east-1') ?? assert.fail('no region port')
    for (let index = 0; index < HELD; index++) held.push(await openRaw(partition.port))
    for (let index = 0; index < HELD / 2; index++) held.push(await openRaw(regionPort, 'POST / HTTP/1.1\r\nHost: x\r\n'))
    const kms = kmsClient(partition, 'us-east-1', { maxAttempts: 3 })
    const direct = kmsClient(partition, 'us-east-1', { maxAttempts: 3, endpoint: `http://127.0.0.1:${regionPort}` })
    for (let round = 0; round < 5; round++) {
      assert.equal((await getHealth(partition)).status, 200)
      assert.ok(Array.isArray((await kms.send(new ListKeysCommand({}))).Keys))
      assert.ok(Array.isArray((await direct.send(new ListKeysCommand({}))).Keys))
      // More arrive while the client works.
      for (let index = 0; index < 200; index++) held.push(await openRaw(partition.port))
    }
    // Room was made by closing the oldest idle connections, not by refusing new ones.
    await waitFor('the oldest held connections to be closed', () => (held.filter((c) => c.isClosed()).length > HELD / 2 ? true : undefined))
  })
})
