/**
 * Where the CPU went during a measurement, from Linux's /proc: per process of ours (and
 * per thread, to tell a region's main thread from its HSM worker), and how much the rest
 * of the machine took. On a 2-core machine the load generator, the gateway and the region
 * share the cores, so these numbers explain a throughput as much as the throughput itself;
 * and CPU used by someone else's processes during a run makes that run's numbers suspect.
 *
 * Processes that are not descendants of ours but are part of what is measured (a
 * PostgreSQL cluster, whose postmaster `pg_ctl` detaches) are added with
 * {@link watchProcessGroup}: each such group counts as one process, all of its processes
 * together.
 *
 * A process's CPU includes that of its children that ended (and were waited for) by the
 * second sample: a child that lived wholly inside the window, as each of the load
 * generator's wrk runs does, is counted in full. One that was alive at the first sample
 * and ended in the window is counted from its start, an over-count of the time before
 * the window; no process here ends that way during a measurement.
 *
 * Elsewhere than Linux every function returns undefined and the report goes without.
 *
 * @module
 */
import { readFileSync, readdirSync } from 'node:fs'
import { cpus } from 'node:os'

interface ProcessTicks {
  pid: number
  parentPid: number
  /** Which of the root's children (or watched group) this process descends from: whose it is. */
  top: number
  label: string
  /** User + system ticks of the whole process, threads that have ended included. */
  ticks: number
  /** Live thread id → user + system ticks. The main thread's id is the pid. */
  threads: Map<number, number>
}

export interface CpuSample {
  machineBusyTicks: number
  machineTotalTicks: number
  processes: Map<number, ProcessTicks>
}

export interface ProcessCpu {
  label: string
  pid: number
  /**
   * The child of the bench driver this process descends from (its own pid for a direct
   * child, the group's root for a watched group): which target's process it is.
   */
  top: number
  /** CPU used, in cores (1 = one core busy for the whole window). */
  cores: number
  mainThreadCores: number
  /** The busiest thread but the main one: in a region process, the HSM worker. */
  busiestOtherThreadCores: number
}

export interface CpuUsage {
  /** All cores of the machine, busy, in cores. */
  machineBusyCores: number
  machineCores: number
  ours: ProcessCpu[]
  /** Busy cores not accounted for by our processes: other work on the machine. */
  othersCores: number
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** Fields of /proc/<pid>/stat after the command name, which may itself hold spaces. */
function statFields(path: string): string[] | undefined {
  const text = readText(path)
  if (text === undefined) return undefined
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

function ticksOf(fields: string[]): number {
  // utime and stime: fields 14 and 15 of stat, 11 and 12 after the command name.
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
}

/** cutime and cstime (fields 16 and 17): the children this process has waited for. */
function reapedChildrenTicksOf(fields: string[]): number {
  return Number(fields[13] ?? 0) + Number(fields[14] ?? 0)
}

/** Process trees outside ours that are measured too: root pid → label. */
const watchedGroups = new Map<number, string>()

/**
 * Counts `rootPid` and all its descendants, as one process named `label`, in every later
 * sample: a server whose processes are not our children (PostgreSQL's postmaster and its
 * backends). Its CPU includes that of processes that ended in between (the root's
 * reaped children); its "main thread" is the root process, its "busiest other thread"
 * the busiest other process.
 */
export function watchProcessGroup(rootPid: number, label: string): void {
  watchedGroups.set(rootPid, label)
}

export function unwatchProcessGroup(rootPid: number): void {
  watchedGroups.delete(rootPid)
}

/** A name a reader recognises, from the command line. */
function labelOf(pid: number): string {
  const args = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter((arg) => arg !== '')
  const script = args.find((arg) => arg.endsWith('.js') || arg === 'moto.server') ?? args[0] ?? String(pid)
  if (script.endsWith('region/main.js')) {
    const region = args[args.indexOf('--region') + 1]
    // A region of several nodes (the launcher's --nodes, which passes --shared-store): which node.
    const node = args.includes('--shared-store') && args.includes('--node-id') ? ` node ${args[args.indexOf('--node-id') + 1] ?? '?'}` : ''
    return `region ${region ?? ''}${node}`.trim()
  }
  if (script.endsWith('proxy/main.js')) return 'replication proxy'
  if (script.endsWith('partition/main.js')) return 'partition launcher + gateway'
  if (script.endsWith('load-generator.js')) return 'load generator'
  if (script.endsWith('ceiling-server.js')) {
    // With --processes N: node:cluster's primary, and workers it names with --worker i.
    if (args.includes('--worker')) return `ceiling server ${args[args.indexOf('--worker') + 1] ?? '?'}`
    return args.includes('--processes') ? 'ceiling primary' : 'ceiling server'
  }
  if (script === 'moto.server') return 'moto'
  if (script.endsWith('bench/run.js')) return 'bench driver'
  // Anything else by its last two path segments: 'proxy/main.js' says more than 'main.js'.
  return script.split('/').slice(-2).join('/')
}

function machineTicks(): { busy: number; total: number } | undefined {
  const line = readText('/proc/stat')?.split('\n')[0]
  if (line?.startsWith('cpu ') !== true) return undefined
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is inside user already).
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0)
  const idle = (values[3] ?? 0) + (values[4] ?? 0)
  return { busy: total - idle, total }
}

/** A snapshot of the machine and of `rootPid` with all its descendants. */
export function sampleCpu(rootPid: number = process.pid): CpuSample | undefined {
  const machine = machineTicks()
  if (machine === undefined) return undefined
  const parents = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(`/proc/${entry}/stat`)
    if (fields !== undefined) parents.set(Number(entry), Number(fields[1]))
  }
  // pid → the child of rootPid it descends from (rootPid for rootPid itself).
  const ours = new Map([[rootPid, rootPid]])
  // Parents have lower pids than their children only usually: iterate to a fixed point.
  for (let grew = true; grew;) {
    grew = false
    for (const [pid, parent] of parents) {
      const parentTop = ours.get(parent)
      if (!ours.has(pid) && parentTop !== undefined) {
        ours.set(pid, parent === rootPid ? pid : parentTop)
        grew = true
      }
    }
  }
  const processes = new Map<number, ProcessTicks>()
  for (const [pid, top] of ours) {
    const processFields = statFields(`/proc/${pid}/stat`)
    if (processFields === undefined) continue
    const threads = new Map<number, number>()
    let taskIds: string[]
    try {
      taskIds = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of taskIds) {
      const fields = statFields(`/proc/${pid}/task/${tid}/stat`)
      if (fields !== undefined) threads.set(Number(tid), ticksOf(fields))
    }
    // A child that ended and was waited for is in its parent's cutime and cstime from then
    // on: wrk, which the load generator starts for each run, is counted that way. (The
    // bench driver's own are left out: its children are the targets, each counted apart.)
    const reaped = pid === rootPid ? 0 : reapedChildrenTicksOf(processFields)
    processes.set(pid, { pid, parentPid: parents.get(pid) ?? 0, top, label: labelOf(pid), ticks: ticksOf(processFields) + reaped, threads })
  }
  for (const [groupRoot, label] of watchedGroups) {
    if (ours.has(groupRoot)) continue
    const group = sampleGroup(groupRoot, label, parents)
    if (group !== undefined) processes.set(groupRoot, group)
  }
  return { machineBusyTicks: machine.busy, machineTotalTicks: machine.total, processes }
}

/**
 * A watched group as one entry: its processes stand for the threads (keyed by pid), and
 * its ticks are all of theirs plus those of the root's children that have ended.
 */
function sampleGroup(rootPid: number, label: string, parents: ReadonlyMap<number, number>): ProcessTicks | undefined {
  const rootFields = statFields(`/proc/${rootPid}/stat`)
  if (rootFields === undefined) return undefined
  const members = new Set([rootPid])
  for (let grew = true; grew;) {
    grew = false
    for (const [pid, parent] of parents) {
      if (!members.has(pid) && members.has(parent)) {
        members.add(pid)
        grew = true
      }
    }
  }
  const threads = new Map<number, number>()
  let ticks = reapedChildrenTicksOf(rootFields)
  for (const pid of members) {
    const fields = pid === rootPid ? rootFields : statFields(`/proc/${pid}/stat`)
    if (fields === undefined) continue
    threads.set(pid, ticksOf(fields))
    ticks += ticksOf(fields)
  }
  return { pid: rootPid, parentPid: parents.get(rootPid) ?? 0, top: rootPid, label, ticks, threads }
}

/** CPU used between two samples, in cores. Processes that started in between count from zero. */
export function cpuBetween(before: CpuSample | undefined, after: CpuSample | undefined): CpuUsage | undefined {
  if (before === undefined || after === undefined) return undefined
  const machineCores = cpus().length
  const totalTicks = after.machineTotalTicks - before.machineTotalTicks
  if (totalTicks <= 0) return undefined
  // /proc/stat counts ticks of all cores together: a window of T ticks per core is
  // machineCores × T of them, so one fully busy core is totalTicks / machineCores.
  const toCores = (ticks: number): number => (ticks * machineCores) / totalTicks
  const ours: ProcessCpu[] = []
  let oursTicks = 0
  for (const [pid, later] of after.processes) {
    const earlier = before.processes.get(pid)
    // The process total, not the sum of its threads: a thread-per-connection server
    // (moto) has ended most of its threads by the second sample.
    const total = later.ticks - (earlier?.ticks ?? 0)
    let main = 0
    let busiestOther = 0
    for (const [tid, ticks] of later.threads) {
      const used = ticks - (earlier?.threads.get(tid) ?? 0)
      if (tid === pid) main = used
      else busiestOther = Math.max(busiestOther, used)
    }
    oursTicks += total
    ours.push({
      label: later.label,
      pid,
      top: later.top,
      cores: toCores(total),
      mainThreadCores: toCores(main),
      busiestOtherThreadCores: toCores(busiestOther),
    })
  }
  ours.sort((a, b) => b.cores - a.cores)
  const machineBusy = after.machineBusyTicks - before.machineBusyTicks
  return {
    machineBusyCores: toCores(machineBusy),
    machineCores,
    ours,
    othersCores: Math.max(0, toCores(machineBusy - oursTicks)),
  }
}

/**
 * One line: each process's CPU in cores and in CPU microseconds per answered request.
 * The latter is the cost that contention cannot hide: a process that needs 400 µs of CPU
 * per request caps the whole machine at cores / 400 µs, whatever else runs.
 */
export function describeCpu(usage: CpuUsage, requestsPerSecond: number): string {
  const perRequest = (cores: number): string => (requestsPerSecond > 0 ? `${Math.round((cores * 1e6) / requestsPerSecond)} µs/req` : '')
  const parts = usage.ours
    .filter((process) => process.cores >= 0.01)
    .map((process) => {
      const threads =
        process.busiestOtherThreadCores >= 0.05
          ? ` [main thread ${perRequest(process.mainThreadCores)}, busiest other thread ${perRequest(process.busiestOtherThreadCores)}]`
          : ''
      return `${process.label} ${process.cores.toFixed(2)} cores = ${perRequest(process.cores)}${threads}`
    })
  return `cpu: ${parts.join('; ')}; other processes on the machine ${usage.othersCores.toFixed(2)} cores (of ${usage.machineCores})`
}

/** "label pid, ..." for our descendants: which profile or log belongs to which process. */
export function describeProcessTree(): string | undefined {
  const sample = sampleCpu()
  if (sample === undefined) return undefined
  return [...sample.processes.values()]
    .filter((entry) => entry.pid !== process.pid)
    .map((entry) => `${entry.label} pid ${entry.pid}`)
    .join(', ')
}
