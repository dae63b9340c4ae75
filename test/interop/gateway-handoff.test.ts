/**
 * The gateway hands each connection to its region's process after reading the first
 * request's headers (src/gateway/handoff.ts). Whatever the client sends around that
 * moment must reach the region intact: a body sent after its headers, requests pipelined
 * behind the first, and requests for another region on the same connection.
 */
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../../src/wire/node-sha256.js'
import { startPartition, stopAllPartitions, type RunningPartition } from '../helpers/partition.js'

async function signedRequest(
  partition: RunningPartition,
  region: string,
  target: string,
  body: string,
): Promise<{ head: string; body: string }> {
  const url = new URL(partition.gatewayUrl)
  const signer = new SignatureV4({ service: 'kms', region, credentials: partition.credentials, sha256: NodeSha256 })
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    headers: {
      host: url.host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `TrentService.${target}`,
      'content-length': String(Buffer.byteLength(body)),
    },
    body,
  })
  const lines = Object.entries(signed.headers).map(([name, value]) => `${name}: ${String(value)}`)
  return { head: `POST / HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, body }
}

/** Reads `count` HTTP responses (Content-Length framed) off the socket. */
function readResponses(socket: Socket, count: number): Promise<Array<{ status: number; body: string }>> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0)
    const responses: Array<{ status: number; body: string }> = []
    const timer = setTimeout(() => reject(new Error(`only ${responses.length} of ${count} responses arrived`)), 20_000)
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      for (;;) {
        const end = data.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = data.subarray(0, end).toString('latin1')
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? '0')
        if (data.length < end + 4 + length) return
        responses.push({ status: Number(head.split(' ')[1]), body: data.subarray(end + 4, end + 4 + length).toString('utf8') })
        data = data.subarray(end + 4 + length)
        if (responses.length === count) {
          clearTimeout(timer)
          resolve(responses)
          return
        }
      }
    })
    socket.on('error', reject)
  })
}

describe('connections handed from the gateway to a region', () => {
  let partition: RunningPartition
  before(async () => {
    partition = await startPartition({ regions: ['us-east-1', 'eu-west-1'] })
  })
  after(async () => {
    await stopAllPartitions()
  })

  it('a body sent after its headers still arrives', async () => {
    const request = await signedRequest(partition, 'us-east-1', 'GenerateRandom', JSON.stringify({ NumberOfBytes: 16 }))
    const socket = connect(Number(new URL(partition.gatewayUrl).port), '127.0.0.1')
    const answers = readResponses(socket, 1)
    socket.write(request.head)
    await new Promise((resolve) => setTimeout(resolve, 300))
    socket.write(request.body)
    const [answer] = await answers
    socket.destroy()
    assert.equal(answer?.status, 200, answer?.body)
    assert.equal(Buffer.from((JSON.parse(answer?.body ?? '{}') as { Plaintext: string }).Plaintext, 'base64').length, 16)
  })

  it('a body that follows its headers by a moment, on many fresh connections, always arrives', async () => {
    // The body may reach the region's socket before the region has put the headers back in
    // front of it; the region must still hand the parser headers first.
    for (let i = 0; i < 60; i++) {
      const request = await signedRequest(partition, 'us-east-1', 'GenerateRandom', JSON.stringify({ NumberOfBytes: 8 }))
      const socket = connect(Number(new URL(partition.gatewayUrl).port), '127.0.0.1')
      socket.setNoDelay(true)
      const answers = readResponses(socket, 1)
      socket.write(request.head)
      await new Promise((resolve) => setTimeout(resolve, i % 6))
      socket.write(request.body)
      const [answer] = await answers
      socket.destroy()
      assert.equal(answer?.status, 200, `attempt ${i}: ${answer?.body ?? ''}`)
    }
  })

  it('pipelined requests, and a request for another region on the same connection, are all answered', async () => {
    const first = await signedRequest(partition, 'us-east-1', 'GenerateRandom', JSON.stringify({ NumberOfBytes: 8 }))
    const second = await signedRequest(partition, 'us-east-1', 'ListKeys', '{}')
    const other = await signedRequest(partition, 'eu-west-1', 'GenerateRandom', JSON.stringify({ NumberOfBytes: 24 }))
    const socket = connect(Number(new URL(partition.gatewayUrl).port), '127.0.0.1')
    const answers = readResponses(socket, 3)
    socket.write(first.head + first.body + second.head + second.body)
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.write(other.head + other.body)
    const responses = await answers
    socket.destroy()
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 200],
      JSON.stringify(responses),
    )
    assert.equal(Buffer.from((JSON.parse(responses[2]?.body ?? '{}') as { Plaintext: string }).Plaintext, 'base64').length, 24)
  })
})
