/**
 * One region's KMS: its keys, key materials and aliases in memory, written through to
 * storage, and the HSM that holds the material. Operations (operations/*.ts) read the
 * maps directly and change them only through `mutate`, which serialises changes and
 * commits each batch durably before it becomes visible.
 *
 * When the region's store is shared by several nodes, each node keeps the same maps: a
 * mutation first catches up with every change the other nodes committed (the storage
 * port's change log), and a follower applies their changes as they come, so a change
 * acknowledged by one node is seen by every other within a fraction of a second
 * (docs/architecture.md, "Consistency").
 *
 * @module
 */
import type { AuditSink } from '../audit/trail.js'
import type { Hsm, MaterialRef } from '../hsm/hsm.js'
import type {
  AliasRecord,
  AnsweredSessionRecord,
  GrantRecord,
  KeyRecord,
  MaterialRecord,
  OutboxRecord,
  SessionRecord,
  TombstoneRecord,
  Write,
} from '../storage/records.js'
import type { ChainDigest, ChangePosition, CommittedChange, LoadedState, Storage } from '../storage/storage.js'
import { keyArn, partitionOf } from '../wire/arn.js'
import type { AuditIntentSource } from './audit-intent.js'
import type { Clock } from './clock.js'

export interface KmsConfig {
  region: string
  accountId: string
  clock: Clock
}

/** What the multi-Region machinery needs from outside the KMS (docs/spec/replication.md). */
export interface PartitionView {
  /** The partition id, once the trust store names one. */
  partitionId(): string | undefined
  /** Regions whose signing keys are pinned: where keys may be replicated. */
  regions(): string[]
  verify(region: string, keyId: string, body: Uint8Array, signature: Uint8Array): boolean
}

const NO_PARTITION: PartitionView = { partitionId: () => undefined, regions: () => [], verify: () => false }

/** A KMS that keeps no audit trail (unit tests); the region wires a FileAuditTrail in. */
function noAuditTrail(since: number): AuditSink {
  return { node: 0, append: () => undefined, lastUsage: () => undefined, trackingStartedAt: () => since }
}

/** How often a node of a shared store looks for its peers' changes, at the latest. */
const FOLLOW_INTERVAL_MS = 200
/**
 * How long requests wait, at most, for a node to apply a change its store announced
 * (docs/architecture.md, "Consistency"): past it they go on with what the node has, and
 * the follower goes on catching up.
 */
const ANNOUNCED_CHANGE_WAIT_MS = 500

export class Kms {
  readonly region: string
  readonly accountId: string
  readonly partition: string
  readonly clock: Clock
  readonly hsm: Hsm
  readonly keys = new Map<string, KeyRecord>()
  /** Key id → its material versions, ascending. */
  readonly materials = new Map<string, MaterialRecord[]>()
  readonly aliases = new Map<string, AliasRecord>()
  /** Destination side: open material-transfer sessions. */
  readonly sessions = new Map<string, SessionRecord>()
  /** Source side: what was answered per session, to answer duplicates identically. */
  readonly answered = new Map<string, AnsweredSessionRecord>()
  /** Messages waiting to be signed and sent, in order. */
  readonly outbox = new Map<string, OutboxRecord>()
  /** Replicas deleted here (spec §9.2). */
  readonly tombstones = new Map<string, TombstoneRecord>()
  /** Grant id → grant (CreateGrant). */
  readonly grants = new Map<string, GrantRecord>()
  /** Key id → its grants by id: authorization looks at one key's grants on every request. */
  readonly #grantsByKey = new Map<string, Map<string, GrantRecord>>()
  peers: PartitionView = NO_PARTITION
  /**
   * How long ReplicateKey waits, after committing, for the replica region to show the new
   * replica (kms/multi-region/replica-visibility.ts). 0, the default, answers at once: the
   * in-memory test partitions deliver messages only when a test lets them. A region process
   * sets it (--replica-visibility-wait-ms).
   */
  replicaVisibilityWaitMs = 0
  /** Where every request and replication event is recorded (docs/spec/audit-trail.md). */
  audit: AuditSink
  /** Called after a commit that queued messages, so the sender wakes at once. */
  onOutbox: () => void = () => undefined
  readonly #storage: Storage
  #nextSequence = 1
  #mutations: Promise<unknown> = Promise.resolve()
  /** The last change of the store that these maps include. */
  #position: ChangePosition = 0
  /**
   * The store's chain digest at #position, when it told it (storage.ts chainDigest): given
   * back with every read of the log, so that a store whose history is no longer the one
   * this node applied (restored, or failed over, to a copy whose log went on differently)
   * is noticed, and this node loads its state again instead of building on another history.
   */
  #digest: ChainDigest | undefined
  #follower: NodeJS.Timeout | undefined
  #unwatch: (() => void) | undefined
  #following: Promise<void> | undefined
  /** A sync() queued and not yet started, which later callers join. */
  #queuedSync: Promise<void> | undefined
  /**
   * Counts every change to the maps from the store: a load, peers' changes applied, this
   * node's own commit. A request that was refused compares it before and after catching up
   * (access.ts): the catch-up that brought the news may be the follower's, not its own.
   */
  #stateVersion = 0
  /** The newest change position the store announced (watch), which this node may lack. */
  #announced: ChangePosition = 0
  /** While this node lacks an announced change: settles once it has it (or waited enough). */
  #awaitingAnnounced: { applied: Promise<void>; settle: () => void; timer: NodeJS.Timeout } | undefined
  /** Settles at the end of the current turn of the event loop (announcementsHeard); one for all its requests. */
  #turnEnd: Promise<void> | undefined

  private constructor(config: KmsConfig, hsm: Hsm, storage: Storage) {
    this.region = config.region
    this.accountId = config.accountId
    this.partition = partitionOf(config.region)
    this.clock = config.clock
    this.hsm = hsm
    this.#storage = storage
    this.audit = noAuditTrail(config.clock.now())
  }

  static async open(config: KmsConfig, hsm: Hsm, storage: Storage): Promise<Kms> {
    const kms = new Kms(config, hsm, storage)
    kms.#load(await storage.load())
    if (storage.shared) kms.#startFollowing()
    return kms
  }

  /** The store's state as this node last saw it: every map, and the log position it is at. */
  #load(state: LoadedState): void {
    for (const map of [
      this.keys,
      this.materials,
      this.aliases,
      this.sessions,
      this.answered,
      this.outbox,
      this.tombstones,
      this.grants,
      this.#grantsByKey,
    ])
      map.clear()
    for (const key of state.keys) this.#applyWrite({ kind: 'putKey', key })
    for (const material of state.materials) this.#applyWrite({ kind: 'putMaterial', material })
    for (const alias of state.aliases) this.#applyWrite({ kind: 'putAlias', alias })
    for (const session of state.sessions) this.#applyWrite({ kind: 'putSession', session })
    for (const answered of state.answered) this.#applyWrite({ kind: 'putAnswered', answered })
    for (const message of state.outbox) this.#applyWrite({ kind: 'putOutbox', message })
    for (const tombstone of state.tombstones) this.#applyWrite({ kind: 'putTombstone', tombstone })
    for (const grant of state.grants) this.#applyWrite({ kind: 'putGrant', grant })
    this.#position = state.position
    this.#digest = state.digest
    this.#advanced(true)
  }

  /** Applies changes other nodes committed, in log order. */
  #applyChanges(changes: readonly CommittedChange[]): void {
    let outbox = false
    for (const change of changes) {
      if (change.position !== this.#position + 1) throw new Error(`kms: change ${change.position} follows ${this.#position}`)
      for (const write of change.writes) this.#applyWrite(write)
      outbox ||= change.writes.some((w) => w.kind === 'putOutbox')
      this.#position = change.position
      this.#digest = change.digest
    }
    if (changes.length > 0) this.#advanced()
    if (outbox) this.onOutbox()
  }

  /**
   * Follows the changes other nodes commit: at once when the store announces one, and at
   * least every FOLLOW_INTERVAL_MS. Runs in the mutation queue, so it never interleaves
   * with a change of this node's.
   */
  #startFollowing(): void {
    const follow = (): void => {
      if (this.#following !== undefined) return
      const run = this.#mutations.then(() => this.#catchUp())
      this.#mutations = run.catch(() => undefined)
      this.#following = run.finally(() => (this.#following = undefined))
      void this.#following.catch(() => undefined)
    }
    this.#follower = setInterval(follow, FOLLOW_INTERVAL_MS)
    this.#follower.unref()
    this.#unwatch = this.#storage.watch?.((position) => this.#announce(position))
  }

  /**
   * A peer (or this node) committed the change at `position`, or, with no position,
   * may have committed something. Until this node has applied it, the requests it starts
   * to answer wait for it (catchingUp): a client that heard the peer acknowledge a change
   * and then asks this node is answered after it. The store's announcement usually
   * arrives before that client's next request; what is left is the window between the
   * two (docs/architecture.md, "Consistency").
   */
  #announce(position: ChangePosition | undefined): void {
    // A commit this node has applied already (its own, mostly): nothing to read or wait for.
    if (position !== undefined && position <= this.#position) return
    // A catch-up that starts now, not one already reading the log from before the commit.
    void this.#queueCatchUp().catch(() => undefined)
    if (position === undefined) return
    if (this.#awaitingAnnounced !== undefined) {
      this.#announced = Math.max(this.#announced, position)
      return
    }
    this.#announced = position
    let settle: () => void = () => undefined
    const applied = new Promise<void>((resolve) => (settle = resolve))
    const timer = setTimeout(() => this.#stopAwaitingAnnounced(), ANNOUNCED_CHANGE_WAIT_MS)
    timer.unref()
    this.#awaitingAnnounced = { applied, settle, timer }
  }

  /**
   * What this node shows changed: count it, and let go of requests waiting for it. After
   * a load the node shows the store as it is, whatever was announced before (a store that
   * went back, in a failover that lost commits, may never reach that position again).
   */
  #advanced(loaded = false): void {
    this.#stateVersion++
    if (this.#awaitingAnnounced !== undefined && (loaded || this.#position >= this.#announced)) this.#stopAwaitingAnnounced()
  }

  #stopAwaitingAnnounced(): void {
    const awaiting = this.#awaitingAnnounced
    if (awaiting === undefined) return
    this.#awaitingAnnounced = undefined
    clearTimeout(awaiting.timer)
    awaiting.settle()
  }

  /**
   * Settles once the I/O due in this turn of the event loop has been handled, undefined on
   * a node that does not listen for announcements (it shares no store, or its store has no
   * watch).
   * A store's announcement and a request can arrive together: the request is then
   * read first when its socket's callback comes first, and would decide before the
   * announcement it came after is heard. Deciding at the end of the turn (setImmediate
   * runs after the turn's I/O callbacks) closes that gap for the price of one timer per
   * turn, shared by all the requests that start in it. Measured with bench/consistency.ts.
   */
  announcementsHeard(): Promise<void> | undefined {
    if (this.#unwatch === undefined) return undefined
    this.#turnEnd ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#turnEnd = undefined
        resolve()
      }),
    )
    return this.#turnEnd
  }

  /**
   * Settles once this node has applied every change its store announced (or has waited
   * ANNOUNCED_CHANGE_WAIT_MS for them); undefined, the usual case, when it lacks none.
   */
  get catchingUp(): Promise<void> | undefined {
    return this.#awaitingAnnounced?.applied
  }

  /** Applies what the node missed. */
  async #catchUp(): Promise<void> {
    const changes = await this.#storage.changesSince(this.#position, this.#digest)
    // Pruned past this node's position (it has been away too long to replay), or the store
    // holds another history: start afresh from the store's state.
    if (changes === undefined) this.#load(await this.#storage.load())
    else if (changes.length > 0) this.#applyChanges(changes)
  }

  /** The last change of the store these maps include. */
  get position(): ChangePosition {
    return this.#position
  }

  /** Whether other nodes write this region's store: what this node shows may lag theirs briefly. */
  get followsPeers(): boolean {
    return this.#storage.shared
  }

  /**
   * Changes whenever what this node shows changes (a load, its peers' changes applied, its
   * own commit): equal before and after a sync() means the node had missed nothing.
   */
  get stateVersion(): number {
    return this.#stateVersion
  }

  /**
   * Brings this node up to date with the store now: a catch-up that starts after every
   * change of this node queued so far. Callers that ask while one is queued share it: a
   * burst of refusals (each asks, see access.ts) reads the store once, not once each.
   * Whether it brought anything, whoever's catch-up it was, stateVersion tells.
   */
  sync(): Promise<void> {
    return this.#queueCatchUp()
  }

  /** sync(), for the store's announcements (a refused request's sync() is public: access.ts). */
  #queueCatchUp(): Promise<void> {
    if (this.#queuedSync !== undefined) return this.#queuedSync
    const run = this.#mutations.then(() => {
      this.#queuedSync = undefined
      return this.#catchUp()
    })
    this.#queuedSync = run
    this.#mutations = run.catch(() => undefined)
    return run
  }

  arnOf(keyId: string): string {
    return keyArn(this.partition, this.region, this.accountId, keyId)
  }

  /** A key known to exist (just created or resolved); throws if it does not. */
  keyById(keyId: string): KeyRecord {
    const key = this.keys.get(keyId)
    if (key === undefined) throw new Error(`kms: key ${keyId} vanished`)
    return key
  }

  nextSequence(): number {
    return this.#nextSequence++
  }

  /** The material new ciphertexts of `key` use. */
  currentMaterial(key: KeyRecord): MaterialRecord {
    const material = this.materialOf(key.keyId, key.currentMaterialVersion)
    if (material === undefined) throw new Error(`kms: key ${key.keyId} lacks its current material`)
    return material
  }

  materialOf(keyId: string, version: number): MaterialRecord | undefined {
    return this.materials.get(keyId)?.find((m) => m.version === version)
  }

  /** What the HSM needs to use a material version: the token and the binding it was sealed for. */
  refOf(material: MaterialRecord): MaterialRef {
    const key = this.keyById(material.keyId)
    return { keyId: material.keyId, materialVersion: material.version, keySpec: key.keySpec, token: material.token }
  }

  /** The grants on a key, oldest first. */
  grantsOf(keyId: string): GrantRecord[] {
    const grants = this.#grantsByKey.get(keyId)
    return grants === undefined ? [] : [...grants.values()]
  }

  /**
   * Runs `change` alone (no other mutation interleaves), commits the writes it returns
   * in one durable batch, then applies them to memory, and only then resolves: what a
   * caller is told has happened has happened on disk.
   */
  mutate<T>(
    change: () => Promise<{ writes: Write[]; result: T }> | { writes: Write[]; result: T },
    auditIntent?: AuditIntentSource,
    auditDetail?: Readonly<Record<string, string>>,
  ): Promise<T> {
    const run = this.#mutations.then(async () => {
      let written: Write[] = []
      const commit = (): Promise<{ position: ChangePosition; digest?: ChainDigest; result: T }> =>
        this.#storage.commitChange(
          this.#position,
          (changes) => this.#applyChanges(changes),
          async () => {
            const decision = await change()
            written = decision.writes
            // The record of the request making this change, in the same commit (audit-intent.ts).
            const intent = written.length > 0 ? auditIntent : undefined
            if (intent === undefined) return decision
            const keyIds = written.flatMap((w) => (w.kind === 'putKey' ? [w.key.keyId] : w.kind === 'deleteKey' ? [w.keyId] : []))
            written = [...written, { kind: 'auditIntent', ...intent(keyIds, auditDetail) }]
            return { ...decision, writes: written }
          },
          this.#digest,
        )
      let committed: { position: ChangePosition; digest?: ChainDigest; result: T }
      try {
        committed = await commit()
      } catch (err) {
        // The store cannot continue from where this node is (pruned past it, it went back:
        // a failover that lost commits, or it holds another history): take the store's
        // state as it is, and decide again on it. A node never builds on a history its
        // store does not have.
        if (!(err instanceof Error) || err.name !== 'ChangeLogMismatchError') throw err
        this.#load(await this.#storage.load())
        committed = await commit()
      }
      const { position, digest, result } = committed
      if (written.length > 0) {
        for (const write of written) this.#applyWrite(write)
        this.#position = position
        this.#digest = digest
        this.#advanced()
        if (written.some((w) => w.kind === 'putOutbox')) this.onOutbox()
      }
      return result
    })
    this.#mutations = run.catch(() => undefined)
    return run
  }

  async close(): Promise<void> {
    clearInterval(this.#follower)
    this.#unwatch?.()
    await this.#mutations
    await this.#storage.close()
    await this.hsm.close()
  }

  #applyWrite(write: Write): void {
    switch (write.kind) {
      case 'putKey':
        this.keys.set(write.key.keyId, write.key)
        this.#nextSequence = Math.max(this.#nextSequence, write.key.sequence + 1)
        break
      case 'deleteKey':
        this.keys.delete(write.keyId)
        this.materials.delete(write.keyId)
        for (const grantId of this.#grantsByKey.get(write.keyId)?.keys() ?? []) this.grants.delete(grantId)
        this.#grantsByKey.delete(write.keyId)
        break
      case 'deleteMaterial': {
        const remaining = (this.materials.get(write.keyId) ?? []).filter((m) => m.version !== write.version)
        if (remaining.length > 0) this.materials.set(write.keyId, remaining)
        else this.materials.delete(write.keyId)
        break
      }
      case 'putGrant': {
        this.grants.set(write.grant.grantId, write.grant)
        const ofKey = this.#grantsByKey.get(write.grant.keyId) ?? new Map<string, GrantRecord>()
        ofKey.set(write.grant.grantId, write.grant)
        this.#grantsByKey.set(write.grant.keyId, ofKey)
        break
      }
      case 'deleteGrant': {
        const grant = this.grants.get(write.grantId)
        this.grants.delete(write.grantId)
        if (grant !== undefined) this.#grantsByKey.get(grant.keyId)?.delete(write.grantId)
        break
      }
      case 'putMaterial': {
        const list = (this.materials.get(write.material.keyId) ?? []).filter((m) => m.version !== write.material.version)
        list.push(write.material)
        list.sort((a, b) => a.version - b.version)
        this.materials.set(write.material.keyId, list)
        break
      }
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
        // Nothing in memory: a node's trail reads it from the change log when it starts.
        break
      case 'putTombstone':
        this.tombstones.set(write.tombstone.keyId, write.tombstone)
        break
      case 'deleteTombstone':
        this.tombstones.delete(write.keyId)
        break
    }
    for (const listener of this.#appliedListeners) listener(write)
  }

  readonly #appliedListeners = new Set<(write: Write) => void>()

  /**
   * Calls `listener` with each write this node applies from now on, just after it is in
   * memory: its own committed changes, its peers' as it follows them, and a reload's.
   * For waiting on an event instead of polling for it; returns the unsubscribe.
   */
  onApplied(listener: (write: Write) => void): () => void {
    this.#appliedListeners.add(listener)
    return () => this.#appliedListeners.delete(listener)
  }
}
