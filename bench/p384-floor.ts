/**
 * The cryptographic floor of one multi-Region key replication on this machine: what each
 * operation the protocol needs costs here, in one thread (node:crypto, the very functions
 * the soft HSM and the trust store call), how many of each one replication performs in
 * the two regions, and what that implies: CPU µs per replication, the replication rate
 * two cores could sustain if crypto were all there was, and the serial latency to
 * `Enabled` if every message on the critical path cost only its crypto.
 *
 *   node dist/bench/p384-floor.js [--json]
 *
 * bench/replication.ts prints the same table next to its measurements.
 *
 * What one replication of a key with one material version does (docs/spec/replication.md
 * §6, src/kms/multi-region/handlers.ts; every outgoing message is signed by the sender's
 * HSM — sender.ts — and every incoming one verified by the receiver's main thread —
 * inbound.ts, trust-store.ts), A = the primary's region, B = the replica's:
 *
 *   1. A: ReplicateKey commits and queues ReplicaCreate; A's HSM signs it.
 *   2. B: verifies ReplicaCreate; HSM openAgreement: RAKB keygen, point export; queues
 *      AgreementOffer, signed by B's HSM.
 *   3. A: verifies AgreementOffer; HSM wrapForTransfer: key token open, RAKA keygen, point
 *      export, RAKB point import, ECDH, HKDF, AES-GCM wrap; queues MaterialTransfer, signed.
 *   4. B: verifies MaterialTransfer; HSM unwrapTransfer: RAKA point import, ECDH, HKDF,
 *      AES-GCM unwrap, key token seal; the replica is Enabled once this commits.
 *   5. B: queues TransferComplete and SyncAck (2 signs); A verifies both. After Enabled:
 *      off the latency path, on the throughput one.
 *
 * So 5 signs and 5 verifies (one per envelope), 2 keygens, 2 ECDHs, 2 HKDFs, one wrap and
 * one unwrap. The signs, keygens, ECDH, HKDF and AES run in each region's HSM worker
 * thread; the verifies in each region's main thread.
 *
 * @module
 */
import { randomBytes, sign, verify, createPublicKey, diffieHellman, createSecretKey, type KeyObject } from 'node:crypto'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  deriveRwk,
  ecdhSharedSecret,
  pointOfPublicKey,
  publicKeyFromPoint,
  replicationSigningInput,
  unwrapMaterials,
  wrapMaterials,
  type PlainMaterial,
} from '../src/hsm/soft/replication-crypto.js'
import { generateP384KeyPair } from '../src/hsm/soft/replication-keys.js'
import { openKeyToken, sealKeyToken } from '../src/hsm/soft/key-token.js'
import type { TransferBinding } from '../src/hsm/hsm.js'

export type CryptoOp =
  'sign' | 'verify' | 'keygen' | 'pointExport' | 'pointImport' | 'ecdh' | 'hkdf' | 'wrap' | 'unwrap' | 'tokenOpen' | 'tokenSeal'

/** Where an operation runs: a region's HSM worker thread or its main (event loop) thread. */
export type Thread = 'A hsm' | 'A main' | 'B hsm' | 'B main'

export interface OpCost {
  op: CryptoOp
  label: string
  /**
   * The cost used everywhere below: the median over batches of CPU time per operation, µs.
   * CPU time, not wall time: on a shared machine, time spent preempted is not the
   * operation's cost (wall time is kept beside it to show how disturbed the run was).
   */
  microseconds: number
  /** Median over batches of wall time per operation, µs. */
  wallMicroseconds: number
  /** The least disturbed batch's wall time per operation, µs. */
  wallMicrosecondsMin: number
  iterations: number
}

export interface ProtocolStep {
  step: string
  thread: Thread
  ops: Partial<Record<CryptoOp, number>>
  /** On the path from ReplicateKey to the replica being Enabled. */
  critical: boolean
}

export interface FloorReport {
  node: string
  openssl: string
  /** Bytes signed and verified per message in the measurement (bodies are 1–2 KiB). */
  signedBytes: number
  ops: OpCost[]
  steps: ProtocolStep[]
  /** Per operation: count in A, in B, and µs per replication. */
  perReplication: Array<{ op: CryptoOp; label: string; countA: number; countB: number; microseconds: number }>
  /** Σ count × cost: CPU µs of crypto in one replication, both regions. */
  totalMicroseconds: number
  /** Σ over the critical path: ReplicateKey → Enabled if only crypto cost anything. */
  serialLatencyFloorMicroseconds: number
  /** Crypto µs per replication by thread. */
  byThread: Record<Thread, number>
  /** 2 cores / total: the rate if crypto were spread perfectly over both cores. */
  maxReplicationsPerSecondTwoCores: number
  /** 1 / busiest thread: each region's HSM is one thread, so this bounds it too. */
  maxReplicationsPerSecondBusiestThread: number
  busiestThread: Thread
}

/** One replication of a one-version key, step by step (module comment). */
export const PROTOCOL_STEPS: readonly ProtocolStep[] = [
  { step: 'A signs ReplicaCreate', thread: 'A hsm', ops: { sign: 1 }, critical: true },
  { step: 'B verifies ReplicaCreate', thread: 'B main', ops: { verify: 1 }, critical: true },
  { step: 'B HSM openAgreement (RAKB)', thread: 'B hsm', ops: { keygen: 1, pointExport: 1 }, critical: true },
  { step: 'B signs AgreementOffer', thread: 'B hsm', ops: { sign: 1 }, critical: true },
  { step: 'A verifies AgreementOffer', thread: 'A main', ops: { verify: 1 }, critical: true },
  {
    step: 'A HSM wrapForTransfer (RAKA, Z, RWK, wrap)',
    thread: 'A hsm',
    ops: { tokenOpen: 1, keygen: 1, pointExport: 1, pointImport: 1, ecdh: 1, hkdf: 1, wrap: 1 },
    critical: true,
  },
  { step: 'A signs MaterialTransfer', thread: 'A hsm', ops: { sign: 1 }, critical: true },
  { step: 'B verifies MaterialTransfer', thread: 'B main', ops: { verify: 1 }, critical: true },
  {
    step: 'B HSM unwrapTransfer (Z, RWK, unwrap, seal) → Enabled',
    thread: 'B hsm',
    ops: { pointImport: 1, ecdh: 1, hkdf: 1, unwrap: 1, tokenSeal: 1 },
    critical: true,
  },
  { step: 'B signs TransferComplete + SyncAck', thread: 'B hsm', ops: { sign: 2 }, critical: false },
  { step: 'A verifies TransferComplete + SyncAck', thread: 'A main', ops: { verify: 2 }, critical: false },
]

const LABELS: Record<CryptoOp, string> = {
  sign: 'ECDSA P-384/SHA-384 sign (p1363)',
  verify: 'ECDSA P-384/SHA-384 verify (p1363)',
  keygen: 'P-384 key pair generation',
  pointExport: 'P-384 public point export (SPKI)',
  pointImport: 'P-384 peer point import (on-curve check)',
  ecdh: 'ECDH P-384 derive (Z)',
  hkdf: 'HKDF-SHA384 (RWK, 32 B)',
  wrap: 'AES-256-GCM wrap 32 B (RWK)',
  unwrap: 'AES-256-GCM unwrap 32 B (RWK)',
  tokenOpen: 'key token open (AES-256-GCM, domain key)',
  tokenSeal: 'key token seal (AES-256-GCM, domain key)',
}

const OP_ORDER: readonly CryptoOp[] = [
  'sign',
  'verify',
  'keygen',
  'pointExport',
  'pointImport',
  'ecdh',
  'hkdf',
  'wrap',
  'unwrap',
  'tokenOpen',
  'tokenSeal',
]

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return 0
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

/**
 * CPU µs of this process so far: Linux accounts it to the nanosecond (user + system), and
 * the measurement runs in one thread, so it is that thread's time (plus a little GC).
 */
function cpuMicros(): number {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

/**
 * Times `run` in batches of about `batchMs` each, after a short warm-up, and returns the
 * median per-operation time over the batches: robust to a batch that another process
 * interrupted.
 */
function timeOp(
  run: () => unknown,
  batchMs: number,
  batches: number,
): { microseconds: number; wallMicroseconds: number; wallMicrosecondsMin: number; iterations: number } {
  // Warm-up and calibration: how many runs fill a batch.
  let calibrationRuns = 0
  const calibrationStart = performance.now()
  while (performance.now() - calibrationStart < Math.max(5, batchMs / 4)) {
    run()
    calibrationRuns++
  }
  const perRunMs = (performance.now() - calibrationStart) / calibrationRuns
  const batchSize = Math.max(1, Math.round(batchMs / perRunMs))
  const wall: number[] = []
  const cpu: number[] = []
  for (let batch = 0; batch < batches; batch++) {
    const cpuStart = cpuMicros()
    const start = performance.now()
    for (let i = 0; i < batchSize; i++) run()
    wall.push(((performance.now() - start) * 1000) / batchSize)
    cpu.push((cpuMicros() - cpuStart) / batchSize)
  }
  return {
    microseconds: median(cpu),
    wallMicroseconds: median(wall),
    wallMicrosecondsMin: Math.min(...wall),
    iterations: batchSize * batches + calibrationRuns,
  }
}

export interface FloorOptions {
  /** Milliseconds per timed batch (default 15). */
  batchMs?: number
  /** Batches per operation; the median is kept (default 9). */
  batches?: number
  /** Bytes signed and verified per message (default 1536: bodies are 1–2 KiB). */
  signedBytes?: number
}

/** Measures every operation, in this thread, with the functions the HSM and trust store use. */
export function measureP384Floor(options: FloorOptions = {}): FloorReport {
  const batchMs = options.batchMs ?? 15
  const batches = options.batches ?? 9
  const signedBytes = options.signedBytes ?? 1536

  // An RSK and its pinned public key, as the sender's HSM and the receiver's trust store hold them.
  const rsk = generateP384KeyPair()
  const pinned = createPublicKey({ key: rsk.publicKey.export({ format: 'der', type: 'spki' }), format: 'der', type: 'spki' })
  const body = Buffer.from(randomBytes(signedBytes).toString('base64').slice(0, signedBytes), 'utf8')
  const signature = sign('sha384', replicationSigningInput(body), { key: rsk.privateKey, dsaEncoding: 'ieee-p1363' })

  // One session's values: RAKB (destination) and RAKA (source), the binding, one material.
  const rakb = generateP384KeyPair()
  const raka = generateP384KeyPair()
  const rakbPoint = pointOfPublicKey(rakb.publicKey)
  const rakaPoint = pointOfPublicKey(raka.publicKey)
  const rakbPublic: KeyObject = publicKeyFromPoint(rakbPoint)
  const binding: TransferBinding = {
    sessionId: randomBytes(16).toString('hex'),
    partition: `trent-${randomBytes(8).toString('hex')}`,
    sourceRegion: 'us-east-1',
    destinationRegion: 'eu-west-1',
    keyId: `mrk-${randomBytes(16).toString('hex')}`,
  }
  const material: PlainMaterial = { materialVersion: 1, materialId: randomBytes(32).toString('hex'), material: randomBytes(32) }
  const sharedSecret = ecdhSharedSecret(raka.privateKey, rakbPoint)
  const rwk = deriveRwk(sharedSecret, binding, [1], rakaPoint, rakbPoint)
  const wrapped = wrapMaterials(rwk, binding, [material])
  const domainKey = createSecretKey(randomBytes(32))
  const tokenBinding = { keyId: binding.keyId, materialVersion: 1, keySpec: 'SYMMETRIC_DEFAULT' as const }
  const token = sealKeyToken(domainKey, 1, tokenBinding, material.material)

  const runs: Record<CryptoOp, () => unknown> = {
    sign: () => sign('sha384', replicationSigningInput(body), { key: rsk.privateKey, dsaEncoding: 'ieee-p1363' }),
    verify: () => {
      if (!verify('sha384', replicationSigningInput(body), { key: pinned, dsaEncoding: 'ieee-p1363' }, signature))
        throw new Error('verify failed')
    },
    keygen: () => generateP384KeyPair(),
    pointExport: () => pointOfPublicKey(rakb.publicKey),
    pointImport: () => publicKeyFromPoint(rakaPoint),
    ecdh: () => diffieHellman({ privateKey: raka.privateKey, publicKey: rakbPublic }),
    hkdf: () => deriveRwk(sharedSecret, binding, [1], rakaPoint, rakbPoint),
    wrap: () => wrapMaterials(rwk, binding, [material]),
    unwrap: () => unwrapMaterials(rwk, binding, wrapped),
    tokenOpen: () => openKeyToken(domainKey, tokenBinding, token),
    tokenSeal: () => sealKeyToken(domainKey, 1, tokenBinding, material.material),
  }

  const ops: OpCost[] = OP_ORDER.map((op) => ({ op, label: LABELS[op], ...timeOp(runs[op], batchMs, batches) }))
  return summarise(ops, signedBytes)
}

function summarise(ops: OpCost[], signedBytes: number): FloorReport {
  const cost = new Map(ops.map((o) => [o.op, o.microseconds]))
  const byThread: Record<Thread, number> = { 'A hsm': 0, 'A main': 0, 'B hsm': 0, 'B main': 0 }
  let serial = 0
  const counts = new Map<CryptoOp, { a: number; b: number }>()
  for (const step of PROTOCOL_STEPS) {
    for (const [op, count] of Object.entries(step.ops) as Array<[CryptoOp, number]>) {
      const microseconds = count * (cost.get(op) ?? 0)
      byThread[step.thread] += microseconds
      if (step.critical) serial += microseconds
      const entry = counts.get(op) ?? { a: 0, b: 0 }
      if (step.thread.startsWith('A')) entry.a += count
      else entry.b += count
      counts.set(op, entry)
    }
  }
  const perReplication = ops.map((o) => {
    const count = counts.get(o.op) ?? { a: 0, b: 0 }
    return { op: o.op, label: o.label, countA: count.a, countB: count.b, microseconds: (count.a + count.b) * o.microseconds }
  })
  const total = perReplication.reduce((sum, row) => sum + row.microseconds, 0)
  const [busiestThread, busiest] = (Object.entries(byThread) as Array<[Thread, number]>).reduce((best, entry) =>
    entry[1] > best[1] ? entry : best,
  )
  return {
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    signedBytes,
    ops,
    steps: [...PROTOCOL_STEPS],
    perReplication,
    totalMicroseconds: total,
    serialLatencyFloorMicroseconds: serial,
    byThread,
    maxReplicationsPerSecondTwoCores: total > 0 ? 2e6 / total : 0,
    maxReplicationsPerSecondBusiestThread: busiest > 0 ? 1e6 / busiest : 0,
    busiestThread,
  }
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length)
}

function padLeft(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text
}

/** The table of per-operation costs and counts, and what they imply. */
export function floorTable(report: FloorReport): string {
  const lines: string[] = []
  lines.push(
    `P-384 floor on this machine (node ${report.node}, OpenSSL ${report.openssl}, one thread; signed messages of ${report.signedBytes} B; ` +
      'cost = median CPU µs per op, wall µs beside it)',
  )
  lines.push('')
  lines.push(
    `${pad('operation', 44)}${padLeft('CPU µs', 9)}${padLeft('wall µs', 9)}${padLeft('in A', 6)}${padLeft('in B', 6)}${padLeft('µs/repl', 10)}`,
  )
  for (const row of report.perReplication) {
    const op = report.ops.find((o) => o.op === row.op)
    lines.push(
      `${pad(row.label, 44)}${padLeft((op?.microseconds ?? 0).toFixed(1), 9)}${padLeft((op?.wallMicroseconds ?? 0).toFixed(1), 9)}` +
        `${padLeft(String(row.countA), 6)}${padLeft(String(row.countB), 6)}${padLeft(row.microseconds.toFixed(0), 10)}`,
    )
  }
  lines.push(`${pad('total crypto per replication (both regions)', 74)}${padLeft(report.totalMicroseconds.toFixed(0), 10)}`)
  lines.push('')
  const thread = (name: Thread): string => `${name} ${report.byThread[name].toFixed(0)} µs`
  lines.push(`by thread: ${thread('A hsm')}, ${thread('A main')} (verifies), ${thread('B hsm')}, ${thread('B main')} (verifies)`)
  lines.push(
    `floor: ${report.totalMicroseconds.toFixed(0)} CPU µs per replication → at most ${report.maxReplicationsPerSecondTwoCores.toFixed(0)} replications/s on 2 cores ` +
      `(${report.maxReplicationsPerSecondBusiestThread.toFixed(0)}/s by the busiest thread, ${report.busiestThread}, as each HSM is one thread)`,
  )
  lines.push(
    `serial latency floor (critical path ReplicateKey → Enabled: 3 signs, 3 verifies, 2 keygens, 2 ECDH, 2 HKDF, wrap, unwrap): ` +
      `${(report.serialLatencyFloorMicroseconds / 1000).toFixed(2)} ms`,
  )
  return lines.join('\n')
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const report = measureP384Floor()
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else process.stdout.write(`${floorTable(report)}\n`)
}
