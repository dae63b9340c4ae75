/**
 * Several nodes of one region in the test's process: each a real KMS and API server with
 * its own HSM (all unsealing the same domain key) over its own handle of one shared store,
 * as `--nodes N` runs them in separate processes. For the consistency tests, which drive
 * every node through the AWS SDK.
 */
import { createSecretKey, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inProcessHsmForTests } from '../../src/hsm/in-process-hsm.js'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import { SqliteStorage } from '../../src/storage/sqlite-storage.js'
import type { Storage } from '../../src/storage/storage.js'
import { startInProcessRegion, type InProcessRegion } from './in-process-region.js'

/** N handles of one store, and how to remove it afterwards. */
export interface SharedStore {
  name: string
  handles: Storage[]
  cleanUp(): void
}

export type SharedStoreFactory = (nodes: number) => Promise<SharedStore>

export const memoryStore: SharedStoreFactory = (nodes) => {
  const first = new MemoryStorage({ shared: true })
  const handles: Storage[] = [first]
  for (let index = 1; index < nodes; index++) handles.push(first.connectAnother())
  return Promise.resolve({ name: 'memory', handles, cleanUp: () => undefined })
}

export const sqliteStore: SharedStoreFactory = (nodes) => {
  const dir = mkdtempSync(join(tmpdir(), 'trent-nodes-'))
  const handles = Array.from({ length: nodes }, () => new SqliteStorage(join(dir, 'trent.db'), { shared: true }))
  return Promise.resolve({ name: 'sqlite', handles, cleanUp: () => rmSync(dir, { recursive: true, force: true }) })
}

export interface RegionNodes {
  nodes: InProcessRegion[]
  close(): Promise<void>
}

export async function startRegionNodes(store: SharedStore, region = 'us-east-1'): Promise<RegionNodes> {
  const domainKey = createSecretKey(randomBytes(32))
  const nodes: InProcessRegion[] = []
  for (const storage of store.handles) {
    nodes.push(await startInProcessRegion({ region, storage, hsm: inProcessHsmForTests(domainKey) }))
  }
  return {
    nodes,
    async close() {
      for (const node of nodes) await node.close()
      store.cleanUp()
    },
  }
}
