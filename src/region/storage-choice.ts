/**
 * Which store a region keeps its state in (`--store`, docs/spec/storage.md §1): the
 * embedded SQLite file in its data dir (the default), or a schema of its own in a
 * PostgreSQL database, which the nodes of a region on several hosts share.
 *
 * @module
 */
import { join } from 'node:path'
import { PostgresStorage, redactPostgresUrl, schemaForRegion } from '../storage/postgres-storage.js'
import { SqliteStorage } from '../storage/sqlite-storage.js'
import type { Storage } from '../storage/storage.js'

export interface RegionStorageChoice {
  /** `sqlite` (or nothing) for `<dataDir>/trent.db`; a `postgres://` or `postgresql://` URL for PostgreSQL. */
  store?: string | undefined
  region: string
  dataDir: string
  /** Other nodes of the region write the same store (storage.ts, `shared`). */
  shared?: boolean | undefined
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i

/** Why `store` is not a store Trent knows, or undefined when it is one. Never repeats a password. */
export function invalidStore(store: string | undefined): string | undefined {
  if (store === undefined || store === 'sqlite' || POSTGRES_URL.test(store)) return undefined
  return `--store must be 'sqlite' or a postgres:// URL, not ${/^[a-z][a-z0-9+.-]*:\/\//i.test(store) ? redactPostgresUrl(store) : JSON.stringify(store.slice(0, 40))}`
}

/** The store in words for logs: the file, or the URL without its password and the schema. */
export function describeStore(choice: RegionStorageChoice): string {
  if (choice.store === undefined || choice.store === 'sqlite') return `SQLite ${join(choice.dataDir, 'trent.db')}`
  return `PostgreSQL ${redactPostgresUrl(choice.store)}, schema ${schemaForRegion(choice.region)}`
}

export async function createRegionStorage(choice: RegionStorageChoice): Promise<Storage> {
  const problem = invalidStore(choice.store)
  if (problem !== undefined) throw new Error(problem)
  const shared = choice.shared ?? false
  if (choice.store === undefined || choice.store === 'sqlite') return new SqliteStorage(join(choice.dataDir, 'trent.db'), { shared })
  return PostgresStorage.open({ url: choice.store, schema: schemaForRegion(choice.region), shared })
}
