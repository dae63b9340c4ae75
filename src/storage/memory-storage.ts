/**
 * An in-memory Storage, for tests. Records are copied in and out, so that a test sees
 * exactly what a real store would give back.
 *
 * @module
 */
import type { AliasRecord, KeyRecord, MaterialRecord, Snapshot, Write } from './records.js'
import type { Storage } from './storage.js'

export class MemoryStorage implements Storage {
  readonly #keys = new Map<string, KeyRecord>()
  readonly #materials = new Map<string, MaterialRecord>()
  readonly #aliases = new Map<string, AliasRecord>()

  load(): Promise<Snapshot> {
    return Promise.resolve(
      structuredClone({
        keys: [...this.#keys.values()],
        materials: [...this.#materials.values()],
        aliases: [...this.#aliases.values()],
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
      }
    }
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
