/**
 * An in-memory Storage, for tests. Records are copied in and out, so that a test sees
 * exactly what a real store would give back. Several handles can share one store
 * (`connectAnother`), as the nodes of a region share theirs: each commit is exclusive and
 * goes into a change log the others follow.
 *
 * @module
 */
import type {
  AliasRecord,
  AnsweredSessionRecord,
  KeyRecord,
  MaterialRecord,
  OutboxRecord,
  SessionRecord,
  TombstoneRecord,
  GrantRecord,
  Write,
} from './records.js'
import { encodeWrites } from './write-codec.js'
import {
  ChangeLogMismatchError,
  GENESIS_DIGEST,
  chainDigest,
  type ChainDigest,
  type ChangePosition,
  type CommittedChange,
  type Decision,
  type LoadedState,
  type Storage,
} from './storage.js'

/** Changes kept for followers by default; older ones make a follower load again. */
const KEPT_CHANGES = 10_000

/** The store itself, which every handle of it shares. */
class MemoryBacking {
  constructor(readonly keptChanges: number) {}

  readonly keys = new Map<string, KeyRecord>()
  readonly materials = new Map<string, MaterialRecord>()
  readonly aliases = new Map<string, AliasRecord>()
  readonly sessions = new Map<string, SessionRecord>()
  readonly answered = new Map<string, AnsweredSessionRecord>()
  readonly outbox = new Map<string, OutboxRecord>()
  readonly tombstones = new Map<string, TombstoneRecord>()
  readonly grants = new Map<string, GrantRecord>()
  readonly changes: CommittedChange[] = []
  readonly leases = new Map<string, { holder: string; expiresAt: number }>()
  readonly watchers = new Set<(position?: ChangePosition) => void>()
  head: ChangePosition = 0
  headDigest: ChainDigest = GENESIS_DIGEST
  /** Serialises commits: the exclusive section of commitChange. */
  exclusive: Promise<unknown> = Promise.resolve()

  apply(writes: readonly Write[]): void {
    for (const write of structuredClone(writes)) {
      switch (write.kind) {
        case 'putKey':
          this.keys.set(write.key.keyId, write.key)
          break
        case 'deleteKey':
          this.keys.delete(write.keyId)
          for (const id of this.materials.keys()) if (id.startsWith(`${write.keyId}/`)) this.materials.delete(id)
          for (const [id, grant] of this.grants) if (grant.keyId === write.keyId) this.grants.delete(id)
          break
        case 'deleteMaterial':
          this.materials.delete(`${write.keyId}/${write.version}`)
          break
        case 'putGrant':
          this.grants.set(write.grant.grantId, write.grant)
          break
        case 'deleteGrant':
          this.grants.delete(write.grantId)
          break
        case 'putMaterial':
          this.materials.set(`${write.material.keyId}/${write.material.version}`, write.material)
          break
        case 'putAlias':
          this.aliases.set(write.alias.aliasName, write.alias)
          break
        case 'deleteAlias':
          this.aliases.delete(write.aliasName)
          break
        case 'putSession':
          this.sessions.set(write.session.sessionId, write.session)
          break
        case 'deleteSession':
          this.sessions.delete(write.sessionId)
          break
        case 'putAnswered':
          this.answered.set(write.answered.sessionId, write.answered)
          break
        case 'deleteAnswered':
          this.answered.delete(write.sessionId)
          break
        case 'putOutbox':
          this.outbox.set(write.message.id, write.message)
          break
        case 'deleteOutbox':
          this.outbox.delete(write.id)
          break
        case 'auditIntent':
          // The change log alone holds it.
          break
        case 'putTombstone':
          this.tombstones.set(write.tombstone.keyId, write.tombstone)
          break
        case 'deleteTombstone':
          this.tombstones.delete(write.keyId)
          break
      }
    }
  }
}

export class MemoryStorage implements Storage {
  readonly shared: boolean
  readonly #backing: MemoryBacking

  /**
   * `shared`: other handles (`connectAnother`) write the same store, and this one follows
   * them. `keptChanges`: how many changes the log keeps (default 10,000).
   */
  constructor(options: { shared?: boolean; keptChanges?: number } = {}, backing = new MemoryBacking(options.keptChanges ?? KEPT_CHANGES)) {
    this.shared = options.shared ?? false
    this.#backing = backing
  }

  /** Another writer of this store, as a second node of the region would be. */
  connectAnother(): MemoryStorage {
    if (!this.shared) throw new Error('memory storage: create it with { shared: true } to connect another writer')
    return new MemoryStorage({ shared: true }, this.#backing)
  }

  load(): Promise<LoadedState> {
    const b = this.#backing
    return Promise.resolve(
      structuredClone({
        keys: [...b.keys.values()],
        materials: [...b.materials.values()],
        aliases: [...b.aliases.values()],
        sessions: [...b.sessions.values()],
        answered: [...b.answered.values()],
        outbox: [...b.outbox.values()],
        tombstones: [...b.tombstones.values()],
        grants: [...b.grants.values()],
        position: b.head,
        digest: b.headDigest,
      }),
    )
  }

  commitChange<T>(
    since: ChangePosition,
    catchUp: (changes: readonly CommittedChange[]) => void,
    decide: () => Promise<Decision<T>> | Decision<T>,
    sinceDigest?: ChainDigest,
  ): Promise<{ position: ChangePosition; digest?: ChainDigest; result: T }> {
    const b = this.#backing
    const run = b.exclusive.then(async () => {
      const missed = this.#since(since, sinceDigest)
      if (missed === undefined) throw new ChangeLogMismatchError(`memory storage: cannot continue the change log from ${since}; load again`)
      if (missed.length > 0) catchUp(structuredClone(missed))
      const position = b.head
      const { writes, result } = await decide()
      if (writes.length === 0) return { position, digest: b.headDigest, result }
      b.apply(writes)
      b.head += 1
      b.headDigest = chainDigest(b.headDigest, b.head, encodeWrites(writes))
      b.changes.push({ position: b.head, writes: structuredClone(writes), digest: b.headDigest })
      if (b.changes.length > b.keptChanges) b.changes.splice(0, b.changes.length - b.keptChanges)
      for (const watcher of b.watchers) watcher(b.head)
      return { position: b.head, digest: b.headDigest, result }
    })
    b.exclusive = run.catch(() => undefined)
    return run
  }

  changesSince(since: ChangePosition, sinceDigest?: ChainDigest): Promise<CommittedChange[] | undefined> {
    const missed = this.#since(since, sinceDigest)
    return Promise.resolve(missed === undefined ? undefined : structuredClone(missed))
  }

  #since(since: ChangePosition, sinceDigest: ChainDigest | undefined): CommittedChange[] | undefined {
    const b = this.#backing
    if (since > b.head) return undefined
    if (sinceDigest !== undefined) {
      const known = since === b.head ? b.headDigest : since === 0 ? GENESIS_DIGEST : b.changes.find((c) => c.position === since)?.digest
      if (known !== undefined && known !== sinceDigest) return undefined
    }
    if (since === b.head) return []
    const first = b.changes[0]
    if (first === undefined || first.position > since + 1) return undefined
    return b.changes.slice(since + 1 - first.position)
  }

  holdLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now()
    const lease = this.#backing.leases.get(name)
    if (lease !== undefined && lease.holder !== holder && lease.expiresAt > now) return Promise.resolve(false)
    this.#backing.leases.set(name, { holder, expiresAt: now + ttlMs })
    return Promise.resolve(true)
  }

  releaseLease(name: string, holder: string): Promise<void> {
    if (this.#backing.leases.get(name)?.holder === holder) this.#backing.leases.delete(name)
    return Promise.resolve()
  }

  watch(listener: (position?: ChangePosition) => void): () => void {
    this.#backing.watchers.add(listener)
    return () => this.#backing.watchers.delete(listener)
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
