/**
 * The keep-alive load through wrk (Debian's `wrk`, an event loop in C), when the machine
 * has it: the same pre-encoded requests as bench/socket-replayer.ts, cycled in the same
 * order, pipelining 1, over `connections` keep-alive sockets on one wrk thread.
 *
 * Why: on a machine whose cores the load shares with the servers it measures, the load's
 * CPU is taken from them. Measured on the 2-core machine against the ceiling server,
 * Encrypt 32 B: wrk spent about 20 µs of CPU per request, most of it in the kernel's
 * loopback send and receive; the Node replayer spent 34–41 µs. The CPU is still counted:
 * wrk is a child of the load generator, and bench/cpu-usage.ts adds the CPU of a
 * process's reaped children to it.
 *
 * The requests reach wrk as a Lua script that holds them as string literals (every byte
 * outside printable ASCII, and `"` and `\`, as a decimal escape: Lua's long strings would
 * turn CRLF into LF) and hands the next one to each `request()` call. No `response()` is
 * defined, so wrk calls no Lua per answer; it frames answers with its HTTP parser and
 * counts those with status ≥ 400 as errors. `done()` prints one line of JSON, the counts
 * and latencies read from it.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import type { LatencySummary, WireRequest } from './load-protocol.js'
import { encodeRequest, type ReplayRun } from './socket-replayer.js'

export interface WrkOptions {
  url: URL
  connections: number
  /** Whole seconds: wrk takes no fraction of one (a fraction is rounded up). */
  durationSeconds: number
  requests: readonly WireRequest[]
  timeoutSeconds: number
  /** Where to write the Lua script that carries the requests. */
  scriptPath: string
}

/** What a wrk run saw; unlike the Node replayer, its latencies come summarised. */
export interface WrkRun extends ReplayRun {
  latencyMs: LatencySummary
}

const RESULT_MARKER = 'TRENT_WRK_RESULT '

/** True if `wrk` is on the PATH (`wrk -v` prints its version and exits 1). */
export function wrkAvailable(): boolean {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  return probe.error === undefined && /^wrk /m.test(`${probe.stdout}${probe.stderr}`)
}

/** A Lua string literal holding exactly these bytes. */
export function luaStringLiteral(bytes: Uint8Array): string {
  let literal = '"'
  for (const byte of bytes) {
    const printable = byte >= 0x20 && byte <= 0x7e && byte !== 0x22 && byte !== 0x5c
    // Three digits always: "\1" followed by a digit would read as a longer escape.
    literal += printable ? String.fromCharCode(byte) : `\\${byte.toString().padStart(3, '0')}`
  }
  return `${literal}"`
}

/** The Lua script: the requests in order, `request()` cycling through them, `done()` reporting. */
export function wrkScript(requests: readonly WireRequest[], hostHeader: string): string {
  const literals = requests.map((wire) => `  ${luaStringLiteral(encodeRequest(wire, hostHeader))},`)
  return [
    '-- Written by bench/wrk-replayer.ts for one load job.',
    'local pool = {',
    ...literals,
    '}',
    'local next_index = 0',
    'function request()',
    '  next_index = next_index % #pool + 1',
    '  return pool[next_index]',
    'end',
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    `  io.write(string.format('${RESULT_MARKER}{"requests":%d,"durationMicros":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"mean":%f,"max":%d}\\n',`,
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))',
    'end',
    '',
  ].join('\n')
}

interface WrkReport {
  requests: number
  durationMicros: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
  p50: number
  p99: number
  mean: number
  max: number
}

function parseReport(stdout: string): WrkReport {
  const line = stdout.split('\n').find((text) => text.startsWith(RESULT_MARKER))
  if (line === undefined) throw new Error(`wrk printed no result: ${stdout.slice(-500)}`)
  return JSON.parse(line.slice(RESULT_MARKER.length)) as WrkReport
}

export async function replayWithWrk(options: WrkOptions): Promise<WrkRun> {
  if (options.requests.length === 0) throw new Error('replay: no requests')
  writeFileSync(options.scriptPath, wrkScript(options.requests, options.url.host))
  const args = [
    '--threads',
    '1',
    '--connections',
    String(options.connections),
    '--duration',
    `${Math.max(1, Math.ceil(options.durationSeconds))}s`,
    '--timeout',
    `${Math.max(1, Math.ceil(options.timeoutSeconds))}s`,
    '--script',
    options.scriptPath,
    options.url.href,
  ]
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
    child.on('error', reject)
    // 'close': the process has been reaped (its CPU is in our cutime) and its output read.
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }))
  })
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${stderr.trim() || stdout.slice(-500)}`)
  const report = parseReport(stdout)
  const errors = report.connect + report.read + report.write + report.timeout
  const completed2xx = report.requests - report.status
  const statusCodes: Record<string, number> = {}
  if (completed2xx > 0) statusCodes['2xx/3xx'] = completed2xx
  if (report.status > 0) statusCodes['4xx/5xx'] = report.status
  return {
    completed2xx,
    non2xx: report.status,
    errors,
    timeouts: report.timeout,
    durationSeconds: report.durationMicros / 1e6,
    statusCodes,
    latencyMs: { p50: report.p50 / 1000, p99: report.p99 / 1000, mean: report.mean / 1000, max: report.max / 1000 },
  }
}
