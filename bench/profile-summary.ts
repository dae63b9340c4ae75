/**
 * Summarises V8 CPU profiles (`.cpuprofile`, as written by `node --cpu-prof`, which
 * `npm run bench -- --cpu-prof DIR` turns on for every Trent process): where each
 * process's thread spent its time, by function (self time), by source file, and the
 * inclusive time of the functions named on the command line.
 *
 *   node dist/bench/profile-summary.js DIR [--top N] [--inclusive name1,name2,...]
 *
 * Read with care on a loaded machine: V8 samples by wall clock, so the time a thread
 * spends preempted is charged to whatever it was running — typically a syscall that woke
 * another thread (postMessage, writev). For on-CPU time, use Linux perf on the process
 * (`--trent-node-flags=--perf-basic-prof` gives it the JIT frames' names).
 *
 * @module
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** Functions whose inclusive time says most about a KMS request's cost, unless --inclusive says otherwise. */
const DEFAULT_INCLUSIVE = [
  // region main thread
  'verifySigV4',
  'parseJsonBody',
  'parseOperationInput',
  '#call',
  'sendJson',
  // HSM worker
  'kbkdfCounterHmacSha256',
  // gateway
  'readCredentialScopeUnverified',
  'forward',
]

function shortUrl(url: string): string {
  if (url === '') return '(native)'
  const dist = url.indexOf('/dist/')
  if (dist >= 0) return url.slice(dist + 1)
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) return url.slice(modules + 1)
  return url.replace(/^file:\/\//, '')
}

function frameKey(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  return frame.url === '' ? name : `${name}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
}

function summarise(path: string, top: number, inclusiveNames: string[]): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMicros = new Map<number, number>()
  profile.samples.forEach((id, index) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0))
  })
  const totalMicros = profile.endTime - profile.startTime
  const idleIds = new Set(profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id))
  let idleMicros = 0
  for (const id of idleIds) idleMicros += selfMicros.get(id) ?? 0
  const busyMicros = Math.max(1, totalMicros - idleMicros)

  const selfByFunction = new Map<string, number>()
  const selfByFile = new Map<string, number>()
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id)
    if (node === undefined || idleIds.has(id)) continue
    const key = frameKey(node.callFrame)
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + micros)
    const file = node.callFrame.url === '' ? node.callFrame.functionName : shortUrl(node.callFrame.url)
    selfByFile.set(file, (selfByFile.get(file) ?? 0) + micros)
  }

  // Inclusive time: a node's self time plus its subtree's, counted once per name on a
  // path (a recursive function must not count its subtree twice).
  const inclusive = new Map<string, number>()
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  for (const [id, micros] of selfMicros) {
    const seen = new Set<string>()
    for (let current: number | undefined = id; current !== undefined; current = parentOf.get(current)) {
      const name = byId.get(current)?.callFrame.functionName ?? ''
      if (inclusiveNames.includes(name) && !seen.has(name)) {
        seen.add(name)
        inclusive.set(name, (inclusive.get(name) ?? 0) + micros)
      }
    }
  }

  const percent = (micros: number): string => `${((100 * micros) / busyMicros).toFixed(1).padStart(5)}%`
  const ms = (micros: number): string => `${(micros / 1000).toFixed(0).padStart(7)} ms`
  const rows = (entries: Map<string, number>): string[] =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, micros]) => `  ${ms(micros)} ${percent(micros)}  ${key}`)

  return [
    `== ${basename(path)}: ${(totalMicros / 1e6).toFixed(1)} s profiled, ${(busyMicros / 1e6).toFixed(1)} s busy (percentages are of busy time)`,
    'self time by function:',
    ...rows(selfByFunction),
    'self time by file:',
    ...rows(selfByFile),
    'inclusive time:',
    ...inclusiveNames
      .filter((name) => inclusive.has(name))
      .map((name) => `  ${ms(inclusive.get(name) ?? 0)} ${percent(inclusive.get(name) ?? 0)}  ${name}`),
    '',
  ].join('\n')
}

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' }, inclusive: { type: 'string' } },
  allowPositionals: true,
  strict: true,
})
const top = Number(values.top)
const inclusiveNames = values.inclusive?.split(',') ?? DEFAULT_INCLUSIVE
const target = positionals[0]
if (target === undefined) {
  process.stderr.write('usage: node dist/bench/profile-summary.js DIR|FILE.cpuprofile [--top N] [--inclusive a,b]\n')
  process.exit(2)
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((name) => name.endsWith('.cpuprofile'))
      .map((name) => join(target, name))
  : [target]
for (const file of files) process.stdout.write(summarise(file, top, inclusiveNames))
