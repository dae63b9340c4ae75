/**
 * The benchmark's wrk load (bench/wrk-replayer.ts) against a real node:http server: the
 * Lua script carries every request byte for byte (CRLF, quotes, backslashes, bytes above
 * ASCII), wrk cycles through the whole pool, and its counts of answers by status match
 * what the server served.
 *
 * wrk is Debian's `wrk`, which .ci/run installs. Without it these tests are skipped,
 * except in CI, where they fail.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { WireRequest } from '../../bench/load-protocol.js'
import { luaStringLiteral, replayWithWrk, wrkAvailable } from '../../bench/wrk-replayer.js'

const available = wrkAvailable()
if (!available && process.env.CI !== undefined) throw new Error('wrk not found (apt-get install wrk); CI installs it')
const skip = available ? false : 'wrk not installed (apt-get install wrk)'

async function listen(server: Server): Promise<URL> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
}

test('a Lua literal escapes quotes, backslashes, CR, LF and non-ASCII bytes, three digits each', () => {
  const bytes = Buffer.from('a"b\\c\r\n\u00e9\u0001' + '1', 'utf8')
  assert.equal(luaStringLiteral(bytes), '"a\\034b\\092c\\013\\010\\195\\169\\0011"')
})

test('sends every request of the pool exactly and counts answers by status', { skip }, async () => {
  const pool: WireRequest[] = Array.from({ length: 5 }, (_, index) => ({
    method: 'POST',
    path: `/p${index}`,
    headers: { 'x-index': String(index), 'x-amz-target': 'TrentService.Encrypt' },
    // A body no Lua long string could carry as is: CRLF, quotes, a backslash, UTF-8.
    body: JSON.stringify({ index, text: 'line\r\nquote " back \\ é ✓' }),
  }))
  const served = new Map<number, number>()
  let mismatched = 0
  let answered = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const index = Number(req.headers['x-index'])
      const expected = pool[index]
      const body = Buffer.concat(chunks).toString('utf8')
      if (expected === undefined || body !== expected.body || req.url !== expected.path) mismatched++
      served.set(index, (served.get(index) ?? 0) + 1)
      answered++
      // The last request of the pool is refused: wrk counts it as a status error.
      const status = index === 4 ? 400 : 200
      res.writeHead(status, { 'Content-Length': 2 })
      res.end('{}')
    })
  })
  const url = await listen(server)
  const dir = mkdtempSync(join(tmpdir(), 'wrk-test-'))
  try {
    const run = await replayWithWrk({
      url,
      connections: 4,
      durationSeconds: 1,
      requests: pool,
      timeoutSeconds: 5,
      scriptPath: join(dir, 'load.lua'),
    })
    assert.equal(mismatched, 0, 'every request arrived exactly as encoded')
    assert.equal(run.errors, 0)
    assert.ok(run.completed2xx > 50, `answered: ${run.completed2xx}`)
    // wrk may stop with answers still in flight; what it counted the server served.
    assert.ok(run.completed2xx + run.non2xx <= answered)
    assert.ok(answered - (run.completed2xx + run.non2xx) <= 4, `served ${answered}, counted ${run.completed2xx + run.non2xx}`)
    // The pool is cycled in order: every request is sent, about equally often.
    for (let index = 0; index < pool.length; index++) assert.ok((served.get(index) ?? 0) >= answered / pool.length - 4)
    const refused = served.get(4) ?? 0
    assert.ok(Math.abs(run.non2xx - refused) <= 4, `non-2xx ${run.non2xx}, refused ${refused}`)
    assert.ok(run.latencyMs.p50 > 0 && run.latencyMs.p50 <= run.latencyMs.p99 && run.latencyMs.p99 <= run.latencyMs.max)
    assert.ok(run.durationSeconds >= 0.9 && run.durationSeconds < 5)
  } finally {
    server.closeAllConnections()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a server that answers nothing is reported as errors, not answers', { skip }, async () => {
  const server = createServer((req) => {
    req.resume()
    req.on('end', () => req.socket.destroy())
  })
  const url = await listen(server)
  const dir = mkdtempSync(join(tmpdir(), 'wrk-test-'))
  try {
    const run = await replayWithWrk({
      url,
      connections: 2,
      durationSeconds: 1,
      requests: [{ method: 'POST', path: '/', headers: {}, body: '{}' }],
      timeoutSeconds: 5,
      scriptPath: join(dir, 'load.lua'),
    })
    assert.equal(run.completed2xx, 0)
    assert.ok(run.errors > 0)
  } finally {
    server.closeAllConnections()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
