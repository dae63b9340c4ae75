/**
 * An in-memory Storage, for tests. Records are copied in and out, so that a test sees
 * exactly what a real store would give back.
 *
 * @module
 */
import type { AliasRecord, AnsweredSessionRecord, KeyRecord, MaterialRecord, OutboxRecord, SessionRecord, Snapshot, TombstoneRecord, GrantRecord, Write } from './records.js'
import type { Storage } from './storage.js'

export class MemoryStorage implements Storage {
  readonly #keys = new Map<string, KeyRecord>()
  readonly #materials = new Map<string, MaterialRecord>()
  readonly #aliases = new Map<string, AliasRecord>()
  readonly #sessions = new Map<string, SessionRecord>()
  readonly #answered = new Map<string, AnsweredSessionRecord>()
  readonly #outbox = new Map<string, OutboxRecord>()
  readonly #tombstones = new Map<string, TombstoneRecord>()
  readonly #grants = new Map<string, GrantRecord>()

  load(): Promise<Snapshot> {
    return Promise.resolve(
      structuredClone({
        keys: [...this.#keys.values()],
        materials: [...this.#materials.values()],
        aliases: [...this.#aliases.values()],
        sessions: [...this.#sessions.values()],
        answered: [...this.#answered.values()],
        outbox: [...this.#outbox.values()],
        tombstones: [...this.#tombstones.values()],
        grants: [...this.#grants.values()],
      }),
    )
  }

  commit(writes: readonly Write[]): Promise<void> {
    for (const write of structuredClone(writes)) {
      switch (write.kind) {
        case 'putKey':
          this.#keys.set(write.key.keyId, write.key)
          break
        case 'deleteKey':
          this.#keys.delete(write.keyId)
          for (const id of this.#materials.keys()) if (id.startsWith(`${write.keyId}/`)) this.#materials.delete(id)
          for (const [id, grant] of this.#grants) if (grant.keyId === write.keyId) this.#grants.delete(id)
          break
        case 'deleteMaterial':
          this.#materials.delete(`${write.keyId}/${write.version}`)
          break
        case 'putGrant':
          this.#grants.set(write.grant.grantId, write.grant)
          break
        case 'deleteGrant':
          this.#grants.delete(write.grantId)
          break
        case 'putMaterial':
          this.#materials.set(`${write.material.keyId}/${write.material.version}`, write.material)
          break
        case 'putAlias':
          this.#aliases.set(write.alias.aliasName, write.alias)
          break
        case 'deleteAlias':
          this.#aliases.delete(write.aliasName)
          break
        case 'putSession':
          this.#sessions.set(write.session.sessionId, write.session)
          break
        case 'deleteSession':
          this.#sessions.delete(write.sessionId)
          break
        case 'putAnswered':
          this.#answered.set(write.answered.sessionId, write.answered)
          break
        case 'deleteAnswered':
          this.#answered.delete(write.sessionId)
          break
        case 'putOutbox':
          this.#outbox.set(write.message.id, write.message)
          break
        case 'deleteOutbox':
          this.#outbox.delete(write.id)
          break
        case 'putTombstone':
          this.#tombstones.set(write.tombstone.keyId, write.tombstone)
          break
        case 'deleteTombstone':
          this.#tombstones.delete(write.keyId)
          break
      }
    }
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
