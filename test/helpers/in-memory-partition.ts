/**
 * Several regions in the test's own process, joined by an in-memory "proxy" that the
 * test controls: every envelope a region sends is queued, and the test decides when
 * (and whether, and how altered) it is delivered. Modelled on Vault's InmemLayer.
 * Each region is real but for storage and the HSM's heap: the KMS, the API server
 * with SigV4, the replication state machine and the HSM's cryptography.
 */
import { createPublicKey, verify } from 'node:crypto'
import { inProcessHsmForTests } from '../../src/hsm/in-process-hsm.js'
import type { PartitionView } from '../../src/kms/kms.js'
import { receiveEnvelope, type InboundResult } from '../../src/kms/multi-region/inbound.js'
import { reconcile } from '../../src/kms/multi-region/reconcile.js'
import { startOutboxSender, type OutboxSender } from '../../src/kms/multi-region/sender.js'
import { SOLE_WRITER_LEASE } from '../../src/kms/lease.js'
import { sweepDeletions, rotateDueKeys } from '../../src/kms/background.js'
import { createLogger } from '../../src/log/logger.js'
import { parseEnvelope } from '../../src/replication/envelope.js'
import type { Storage } from '../../src/storage/storage.js'
import { signingInput } from '../../src/replication/trust-store.js'
import { startInProcessRegion, type InProcessRegion } from './in-process-region.js'

export interface Pinned {
  region: string
  id: string
  spki: Uint8Array
}

/** A trust store held in memory; tests can pin, unpin and retire keys. */
export class MemoryTrustStore implements PartitionView {
  pinned: Pinned[] = []
  constructor(readonly partition: string) {}
  partitionId(): string {
    return this.partition
  }
  regions(): string[] {
    return [...new Set(this.pinned.map((p) => p.region))]
  }
  verify(region: string, keyId: string, body: Uint8Array, signature: Uint8Array): boolean {
    const pin = this.pinned.find((p) => p.region === region && p.id === keyId)
    if (pin === undefined || signature.length !== 96) return false
    const key = createPublicKey({ key: Buffer.from(pin.spki), format: 'der', type: 'spki' })
    return verify('sha384', signingInput(body), { key, dsaEncoding: 'ieee-p1363' }, signature)
  }
}

export interface InFlight {
  /** Where the envelope was addressed by its sender. */
  to: string
  from: string
  bytes: Uint8Array
  /** The message type, read from the body (the test is allowed to peek). */
  type: string
}

export interface Delivery extends InFlight {
  deliveredTo: string
  result: InboundResult
}

/** Decides what reaches whom: return the envelopes to deliver (altered, duplicated, redirected) or none. */
export type Interceptor = (envelope: InFlight) => Array<{ to: string; bytes: Uint8Array }>

export interface InMemoryPartition {
  regions: Map<string, InProcessRegion>
  trust: MemoryTrustStore
  queue: InFlight[]
  deliveries: Delivery[]
  intercept: Interceptor | undefined
  region(name: string): InProcessRegion
  /** Delivers queued envelopes (through the interceptor) until nothing moves. */
  settle(maxRounds?: number): Promise<void>
  /** Runs every region's reconciliation once, then settles. */
  reconcileAll(): Promise<void>
  /** Advances one region's KMS clock and runs its background work, then settles. */
  advance(region: string, seconds: number): Promise<void>
  close(): Promise<void>
}

function typeOf(bytes: Uint8Array): string {
  try {
    const { body } = parseEnvelope(bytes)
    return String((JSON.parse(Buffer.from(body).toString('utf8')) as { type?: unknown }).type)
  } catch {
    return 'unparseable'
  }
}

/**
 * `basePort`: region i's API listens on basePort + i (default: any free port).
 * `storageOf`: each region's store (default: a MemoryStorage of its own).
 */
export async function startInMemoryPartition(
  names: string[],
  partitionId = 'trent-test-partition',
  basePort?: number,
  storageOf?: (region: string) => Storage,
): Promise<InMemoryPartition> {
  const trust = new MemoryTrustStore(partitionId)
  const regions = new Map<string, InProcessRegion>()
  const senders = new Map<string, OutboxSender>()
  const logger = createLogger({}, 'error')
  const partition: InMemoryPartition = {
    regions,
    trust,
    queue: [],
    deliveries: [],
    intercept: undefined,
    region(name) {
      const r = regions.get(name)
      if (r === undefined) throw new Error(`no region ${name}`)
      return r
    },
    async settle(maxRounds = 200) {
      for (let round = 0; round < maxRounds; round++) {
        for (const sender of senders.values()) await sender.flush()
        if (partition.queue.length === 0) return
        const batch = partition.queue.splice(0)
        for (const envelope of batch) {
          const targets = partition.intercept?.(envelope) ?? [{ to: envelope.to, bytes: envelope.bytes }]
          for (const target of targets) {
            const destination = regions.get(target.to)
            if (destination === undefined) continue
            const result = await receiveEnvelope(destination.kms, target.bytes)
            partition.deliveries.push({ ...envelope, bytes: target.bytes, deliveredTo: target.to, result })
          }
        }
      }
      throw new Error('the partition did not settle')
    },
    async reconcileAll() {
      for (const r of regions.values()) await reconcile(r.kms, { resendAfterMs: 0 })
      await partition.settle()
    },
    async advance(name, seconds) {
      const r = partition.region(name)
      r.clock.advance(seconds * 1000)
      await sweepDeletions(r.kms, logger)
      await rotateDueKeys(r.kms, logger)
      await partition.settle()
    },
    async close() {
      for (const sender of senders.values()) await sender.stop()
      for (const r of regions.values()) await r.close()
    },
  }
  for (const name of names) {
    const hsm = inProcessHsmForTests()
    const region = await startInProcessRegion({
      region: name,
      hsm,
      ...(basePort !== undefined ? { port: basePort + names.indexOf(name) } : {}),
      ...(storageOf !== undefined ? { storage: storageOf(name) } : {}),
    })
    region.kms.peers = trust
    for (const key of await hsm.replicationSigningKeys()) trust.pinned.push({ region: name, id: key.id, spki: key.publicKey })
    senders.set(
      name,
      startOutboxSender(
        region.kms,
        {
          send(bytes) {
            partition.queue.push({ from: name, to: parseEnvelope(bytes).envelope.to, bytes, type: typeOf(bytes) })
            return Promise.resolve()
          },
        },
        logger,
        SOLE_WRITER_LEASE,
      ),
    )
    regions.set(name, region)
  }
  return partition
}
