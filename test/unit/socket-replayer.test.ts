/**
 * The benchmark's load replayer (bench/socket-replayer.ts) against a real node:http server:
 * it counts every answer by status, measures only 2xx latencies, reopens a connection the
 * server closes, and counts as errors the answers it cannot trust (a chunked body, a
 * server that hangs up mid-answer).
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { encodeRequest, parseResponseHead, replay } from '../../bench/socket-replayer.js'

async function listen(server: Server): Promise<URL> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
}

const REQUEST = { method: 'POST' as const, path: '/', headers: { 'x-kind': 'ok' }, body: '{"a":1}' }

test('encodes a request with its length and host, and parses an answer head', () => {
  const bytes = encodeRequest(REQUEST, '127.0.0.1:1').toString('latin1')
  assert.match(bytes, /^POST \/ HTTP\/1\.1\r\n/)
  assert.match(bytes, /\r\nContent-Length: 7\r\n/)
  assert.match(bytes, /\r\nHost: 127\.0\.0\.1:1\r\n/)
  assert.ok(bytes.endsWith('\r\n\r\n{"a":1}'))
  assert.deepEqual(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n'), {
    status: 200,
    contentLength: 12,
    close: false,
  })
  assert.equal(parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n'), undefined)
  assert.equal(parseResponseHead('HTTP/1.1 200 OK\r\n'), undefined, 'no length: not measurable')
  assert.equal(parseResponseHead('garbage\r\n'), undefined)
})

test('counts statuses, reopens closed connections, and reports only 2xx latencies', async () => {
  let served = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    req.on('end', () => {
      served++
      assert.equal(body, '{"a":1}')
      const status = req.headers['x-kind'] === 'ok' ? 200 : 400
      // Every fifth answer closes its connection, as a server under pressure may.
      if (served % 5 === 0) res.setHeader('Connection', 'close')
      res.writeHead(status, { 'Content-Length': 2 })
      res.end('{}')
    })
  })
  const url = await listen(server)
  try {
    const latencies: number[] = []
    const run = await replay({
      url,
      connections: 4,
      durationSeconds: 0.5,
      requests: [REQUEST, { ...REQUEST, headers: { 'x-kind': 'bad' } }],
      timeoutSeconds: 5,
      onLatency: (ms) => latencies.push(ms),
    })
    assert.equal(run.errors, 0)
    assert.ok(run.completed2xx > 10, `answered: ${run.completed2xx}`)
    assert.equal(run.completed2xx + run.non2xx, served)
    assert.equal(run.statusCodes['200'], run.completed2xx)
    assert.equal(run.statusCodes['400'], run.non2xx)
    assert.equal(latencies.length, run.completed2xx)
    assert.ok(latencies.every((ms) => ms > 0 && ms < 5000))
  } finally {
    server.closeAllConnections()
    server.close()
  }
})

test('a chunked answer and a hang-up mid-answer are errors, not answers', async () => {
  let served = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      served++
      if (served % 2 === 0) {
        res.writeHead(200)
        res.end('chunked, since it has no length')
      } else {
        res.writeHead(200, { 'Content-Length': 100 })
        res.write('short')
        res.socket?.destroy()
      }
    })
  })
  const url = await listen(server)
  try {
    const run = await replay({ url, connections: 2, durationSeconds: 0.3, requests: [REQUEST], timeoutSeconds: 5 })
    assert.equal(run.completed2xx, 0)
    assert.ok(run.errors > 0)
  } finally {
    server.closeAllConnections()
    server.close()
  }
})
