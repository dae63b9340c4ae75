/**
 * One region's KMS: its keys, key materials and aliases in memory, written through to
 * storage, and the HSM that holds the material. Operations (operations/*.ts) read the
 * maps directly and change them only through `mutate`, which serialises changes and
 * commits each batch durably before it becomes visible.
 *
 * @module
 */
import type { Hsm, MaterialRef } from '../hsm/hsm.js'
import type { AliasRecord, AnsweredSessionRecord, GrantRecord, KeyRecord, MaterialRecord, OutboxRecord, SessionRecord, TombstoneRecord, Write } from '../storage/records.js'
import type { Storage } from '../storage/storage.js'
import { keyArn, partitionOf } from '../wire/arn.js'
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
  /** Called after a commit that queued messages, so the sender wakes at once. */
  onOutbox: () => void = () => undefined
  readonly #storage: Storage
  #nextSequence = 1
  #mutations: Promise<unknown> = Promise.resolve()

  private constructor(config: KmsConfig, hsm: Hsm, storage: Storage) {
    this.region = config.region
    this.accountId = config.accountId
    this.partition = partitionOf(config.region)
    this.clock = config.clock
    this.hsm = hsm
    this.#storage = storage
  }

  static async open(config: KmsConfig, hsm: Hsm, storage: Storage): Promise<Kms> {
    const kms = new Kms(config, hsm, storage)
    const snapshot = await storage.load()
    for (const key of snapshot.keys) kms.#applyWrite({ kind: 'putKey', key })
    for (const material of snapshot.materials) kms.#applyWrite({ kind: 'putMaterial', material })
    for (const alias of snapshot.aliases) kms.#applyWrite({ kind: 'putAlias', alias })
    for (const session of snapshot.sessions) kms.#applyWrite({ kind: 'putSession', session })
    for (const answered of snapshot.answered) kms.#applyWrite({ kind: 'putAnswered', answered })
    for (const message of snapshot.outbox) kms.#applyWrite({ kind: 'putOutbox', message })
    for (const tombstone of snapshot.tombstones) kms.#applyWrite({ kind: 'putTombstone', tombstone })
    for (const grant of snapshot.grants) kms.#applyWrite({ kind: 'putGrant', grant })
    return kms
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
  mutate<T>(change: () => Promise<{ writes: Write[]; result: T }> | { writes: Write[]; result: T }): Promise<T> {
    const run = this.#mutations.then(async () => {
      const { writes, result } = await change()
      if (writes.length > 0) {
        await this.#storage.commit(writes)
        for (const write of writes) this.#applyWrite(write)
        if (writes.some((w) => w.kind === 'putOutbox')) this.onOutbox()
      }
      return result
    })
    this.#mutations = run.catch(() => undefined)
    return run
  }

  async close(): Promise<void> {
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
      case 'putTombstone':
        this.tombstones.set(write.tombstone.keyId, write.tombstone)
        break
      case 'deleteTombstone':
        this.tombstones.delete(write.keyId)
        break
    }
  }
}
