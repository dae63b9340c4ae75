/**
 * The benchmark's ceiling as several processes behind one port (bench/ceiling-server.ts
 * `--processes N`, the `ceiling-cluster` target): every worker holds the same keys, so a
 * ciphertext made by one opens in any other, whichever worker a connection lands on; and
 * the workers go when the primary does.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { freePortRange } from '../helpers/partition.js'

const CEILING_MAIN = fileURLToPath(new URL('../../bench/ceiling-server.js', import.meta.url))

/** One request on a connection of its own: round robin sends each to the next worker. */
function call(port: number, operation: string, input: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent: false,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }),
        )
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify(input))
  })
}

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
  return text === '' ? [] : text.split(/\s+/).map(Number)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function startCluster(processes: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePortRange(1)
  const child = spawn(process.execPath, [CEILING_MAIN, String(port), '--processes', String(processes)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ceiling cluster: no ready message in 20 s')), 20_000)
    child.once('exit', (code) => reject(new Error(`ceiling cluster exited early (${code})`)))
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type !== 'ready') return
      clearTimeout(timer)
      assert.equal(message.port, port)
      resolve()
    })
  })
  return { child, port }
}

test(
  'ceiling-cluster: N workers behind one port share the keys, and go with the primary',
  { skip: process.platform !== 'linux' },
  async () => {
    const { child, port } = await startCluster(2)
    const primary = child.pid as number
    try {
      const workers = childrenOf(primary)
      assert.equal(workers.length, 2, 'two worker processes')
      for (const worker of workers) assert.match(readFileSync(`/proc/${worker}/cmdline`, 'utf8'), /--worker\0[01]\0?$/)

      const plaintext = Buffer.from('the same keys in every worker').toString('base64')
      // Encrypt on one connection; decrypt on eight more, which round robin spreads over both workers.
      const sealed = await call(port, 'Encrypt', { Plaintext: plaintext })
      assert.equal(sealed.status, 200)
      const blob = sealed.body.CiphertextBlob
      assert.equal(typeof blob, 'string')
      for (let attempt = 0; attempt < 8; attempt++) {
        const opened = await call(port, 'Decrypt', { CiphertextBlob: blob })
        assert.equal(opened.status, 200, `decrypt ${attempt}: ${JSON.stringify(opened.body)}`)
        assert.equal(opened.body.Plaintext, plaintext)
      }
      const tampered = Buffer.from(blob as string, 'base64')
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
      assert.equal((await call(port, 'Decrypt', { CiphertextBlob: tampered.toString('base64') })).status, 400)

      child.kill('SIGTERM')
      const deadline = Date.now() + 10_000
      while (workers.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.deepEqual(workers.filter(isAlive), [], 'no worker outlives the primary')
    } finally {
      if (isAlive(primary)) child.kill('SIGKILL')
    }
  },
)
