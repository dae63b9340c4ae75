/**
 * What one round trip between a thread and a worker thread costs when each side has to be
 * woken for it: the price of a crossing to the HSM worker that batching spreads over the
 * calls of a batch (src/hsm/worker-hsm.ts). A ping-pong of `--messages` messages, each
 * answered before the next is sent, through either
 *
 *   port     a MessagePort, as the HSM worker's batches go (a short JSON text and a moved
 *            64-byte buffer each way), or
 *   atomics  a SharedArrayBuffer: a counter bumped and Atomics.notify'd, the other side
 *            waiting in Atomics.waitAsync (no message at all).
 *
 * Prints the CPU of the whole process (both threads) and the wall time per round trip.
 * `node dist/bench/thread-round-trip.js [port|atomics|both] [--messages N]`.
 *
 * @module
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

type Mode = 'port' | 'atomics'

interface WorkerSetup {
  mode: Mode
  shared?: SharedArrayBuffer
}

/** Atomics.waitAsync (Node 16 and later), which the project's TypeScript lib (ES2022) does not declare yet. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> }
  }
).waitAsync.bind(Atomics)

/** Index 0: the main thread's count of requests; index 1: the worker's count of answers. */
const REQUESTS = 0
const ANSWERS = 1

async function measure(mode: Mode, messages: number): Promise<void> {
  const shared = mode === 'atomics' ? new SharedArrayBuffer(8) : undefined
  const setup: WorkerSetup = shared === undefined ? { mode } : { mode, shared }
  const worker = new Worker(new URL(import.meta.url), { workerData: setup })
  await new Promise((resolve) => worker.once('message', resolve))
  // Atomics.waitAsync does not keep the event loop alive on its own.
  const keepAlive = setInterval(() => undefined, 1000)
  const cpuBefore = process.cpuUsage()
  const wallBefore = performance.now()
  if (shared === undefined) {
    await new Promise<void>((resolve) => {
      let answered = 0
      const send = (): void => {
        const bytes = new ArrayBuffer(64)
        worker.postMessage(['{"op":"decrypt"}', bytes], [bytes])
      }
      worker.on('message', () => {
        if (++answered === messages) resolve()
        else send()
      })
      send()
    })
  } else {
    const counters = new Int32Array(shared)
    for (let sent = 0; sent < messages; sent++) {
      const answers = Atomics.load(counters, ANSWERS)
      Atomics.add(counters, REQUESTS, 1)
      Atomics.notify(counters, REQUESTS)
      const wait = waitAsync(counters, ANSWERS, answers)
      if (wait.async) await wait.value
    }
  }
  const cpu = process.cpuUsage(cpuBefore)
  const wallMicros = (performance.now() - wallBefore) * 1000
  clearInterval(keepAlive)
  await worker.terminate()
  const per = (micros: number): string => (micros / messages).toFixed(1)
  process.stdout.write(
    `${mode.padEnd(8)} CPU ${per(cpu.user + cpu.system)} µs per round trip (user ${per(cpu.user)}, system ${per(cpu.system)}), ` +
      `wall ${per(wallMicros)} µs; ${messages} round trips\n`,
  )
}

async function answer(setup: WorkerSetup): Promise<void> {
  const port = parentPort
  if (port === null) throw new Error('thread-round-trip: not a worker')
  if (setup.shared === undefined) {
    port.on('message', () => {
      const bytes = new ArrayBuffer(64)
      port.postMessage(['{"ok":true}', bytes], [bytes])
    })
    port.postMessage('ready')
    return
  }
  const counters = new Int32Array(setup.shared)
  setInterval(() => undefined, 1000)
  port.postMessage('ready')
  let requests = 0
  for (;;) {
    const wait = waitAsync(counters, REQUESTS, requests)
    if (wait.async) await wait.value
    requests = Atomics.load(counters, REQUESTS)
    Atomics.add(counters, ANSWERS, 1)
    Atomics.notify(counters, ANSWERS)
  }
}

if (isMainThread) {
  const args = process.argv.slice(2)
  const flag = args.indexOf('--messages')
  const messages = flag === -1 ? 50_000 : Number(args[flag + 1])
  if (!Number.isSafeInteger(messages) || messages < 1) throw new Error('thread-round-trip: --messages takes a whole number ≥ 1')
  const which = args[0] !== undefined && !args[0].startsWith('--') ? args[0] : 'both'
  const modes: readonly Mode[] = which === 'both' ? ['port', 'atomics'] : which === 'port' || which === 'atomics' ? [which] : []
  if (modes.length === 0) throw new Error('thread-round-trip: port, atomics or both')
  for (const mode of modes) await measure(mode, messages)
} else {
  await answer(workerData as WorkerSetup)
}
