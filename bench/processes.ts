/**
 * Child processes of the benchmark: started with their output in a log file (a pipe nobody
 * reads would stall them), tracked, and always stopped — by stopAll() on the normal path,
 * and by a synchronous SIGKILL on process exit if anything is still running then.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { join } from 'node:path'

export class ManagedProcess {
  readonly exited: Promise<number | null>
  #hasExited = false

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null): void => {
        this.#hasExited = true
        running.delete(this)
        resolve(code)
      }
      child.once('exit', (code) => finish(code))
      // A command that cannot be started emits 'error' and never 'exit'.
      child.once('error', () => {
        if (child.pid === undefined) finish(null)
      })
    })
  }

  get isRunning(): boolean {
    return !this.#hasExited
  }

  /** The last lines it wrote: what a failure message needs. */
  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.isRunning) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

const running = new Set<ManagedProcess>()

process.on('exit', () => {
  for (const managed of running) managed.child.kill('SIGKILL')
})

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => managed.stop()))
}

export interface StartOptions {
  logDir: string
  env?: NodeJS.ProcessEnv
  /** Opens an IPC channel: children that watch 'disconnect' then die with us. */
  ipc?: boolean
  /** Where files a process drops in its working directory (V8 logs, say) should land. */
  cwd?: string
}

export function startProcess(name: string, command: string, args: string[], options: StartOptions): ManagedProcess {
  const logFile = join(options.logDir, `${name}.log`)
  const fd = openSync(logFile, 'a')
  try {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      stdio: options.ipc === true ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd],
    })
    const managed = new ManagedProcess(name, child, logFile)
    running.add(managed)
    return managed
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd)
  }
}

/** Resolves with the first IPC message the predicate accepts; rejects on exit or timeout. */
export function waitForMessage<T>(managed: ManagedProcess, accept: (message: unknown) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${managed.name}: no ready message within ${timeoutMs} ms`)), timeoutMs)
    const onMessage = (message: unknown): void => {
      const accepted = accept(message)
      if (accepted !== undefined) finish(undefined, accepted)
    }
    const onExit = (): void => finish(new Error(`${managed.name} exited early:\n${managed.logTail()}`))
    function finish(err: Error | undefined, value?: T): void {
      clearTimeout(timer)
      managed.child.off('message', onMessage)
      managed.child.off('exit', onExit)
      if (err !== undefined) reject(err)
      else resolve(value as T)
    }
    managed.child.on('message', onMessage)
    managed.child.once('exit', onExit)
  })
}

function httpStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

/** Polls url until it answers `status` (any answer when undefined). */
export async function waitForHttp(managed: ManagedProcess, url: string, timeoutMs: number, status?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!managed.isRunning) throw new Error(`${managed.name} exited early:\n${managed.logTail()}`)
    const answered = await httpStatus(url)
    if (answered !== undefined && (status === undefined || answered === status)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(
    `${managed.name}: ${url} did not answer${status !== undefined ? ` ${status}` : ''} within ${timeoutMs} ms:\n${managed.logTail()}`,
  )
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A port P such that P..P+count-1 are all free now (the partition takes P for its gateway
 * and P+1.. for its regions' nodes and replication proxy). Searched below Linux's
 * ephemeral range (32768 and up), where outgoing connections never take a port between
 * this check and the partition's bind; another program could still take one before we
 * do, and the start then fails loudly (and is retried) rather than measuring the wrong thing.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count))
    let allFree = true
    for (let offset = 0; offset < count && allFree; offset++) allFree = await canListen(base + offset)
    if (allFree) return base
  }
  throw new Error(`no ${count} consecutive free ports found below 32768`)
}
