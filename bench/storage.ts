/**
 * `npm run bench:storage`: what one commit costs on each store. A CreateKey-like change
 * (a key record and its sealed material) committed through `commitChange`, one after
 * another from one writer, then from two writers of the same store at once (two nodes of
 * a region). SQLite on a file of a temp dir; PostgreSQL on a throw-away local cluster
 * (test/helpers/postgres.ts; fsync and synchronous_commit on, as in production).
 *
 *   node dist/bench/storage.js [--commits N]   (default 500 per writer)
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PostgresStorage } from '../src/storage/postgres-storage.js'
import type { Write } from '../src/storage/records.js'
import { SqliteStorage } from '../src/storage/sqlite-storage.js'
import type { ChangePosition, Storage } from '../src/storage/storage.js'
import { removeAllPostgresClusters, startPostgresCluster } from '../test/helpers/postgres.js'

const { values } = parseArgs({ options: { commits: { type: 'string', default: '500' } } })
const COMMITS = Number(values.commits)

let keyNumber = 0
function createKeyWrites(): Write[] {
  const keyId = `00000000-0000-4000-8000-${String(++keyNumber).padStart(12, '0')}`
  return [
    {
      kind: 'putKey',
      key: {
        keyId,
        sequence: keyNumber,
        createdAt: Date.now(),
        description: 'bench',
        keyUsage: 'ENCRYPT_DECRYPT',
        keySpec: 'SYMMETRIC_DEFAULT',
        origin: 'AWS_KMS',
        state: 'Enabled',
        policy:
          '{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}',
        tags: [],
        rotation: { enabled: false, periodInDays: 365, onDemandCount: 0 },
        currentMaterialVersion: 1,
        multiRegion: false,
      },
    },
    {
      kind: 'putMaterial',
      material: { keyId, version: 1, materialId: 'a'.repeat(64), createdAt: Date.now(), token: new Uint8Array(120).fill(7) },
    },
  ]
}

/** One writer's view: where it is in the log. */
async function writer(storage: Storage, commits: number, latencies: number[]): Promise<void> {
  let position: ChangePosition = (await storage.load()).position
  for (let i = 0; i < commits; i++) {
    const started = performance.now()
    const done = await storage.commitChange(
      position,
      (changes) => (position = changes.at(-1)?.position ?? position),
      () => ({ writes: createKeyWrites(), result: undefined }),
    )
    position = done.position
    latencies.push(performance.now() - started)
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

async function measure(name: string, open: () => Promise<Storage>): Promise<void> {
  for (const writers of [1, 2]) {
    const stores = await Promise.all(Array.from({ length: writers }, open))
    // Warm-up: connections, statement plans, the file's pages.
    await writer(stores[0] as Storage, 20, [])
    const latencies: number[] = []
    const started = performance.now()
    await Promise.all(stores.map((store) => writer(store, COMMITS, latencies)))
    const seconds = (performance.now() - started) / 1000
    latencies.sort((a, b) => a - b)
    console.log(
      `| ${name} | ${writers} | ${writers * COMMITS} | ${Math.round((writers * COMMITS) / seconds)} | ${percentile(latencies, 50).toFixed(2)} | ${percentile(latencies, 99).toFixed(2)} |`,
    )
    await Promise.all(stores.map((store) => store.close()))
  }
}

const dir = mkdtempSync(join(tmpdir(), 'trent-bench-storage-'))
const cluster = await startPostgresCluster()
try {
  console.log('| store | writers | commits | commits/s | p50 ms | p99 ms |')
  console.log('|---|---|---|---|---|---|')
  await measure('SQLite (WAL, synchronous=FULL)', () => Promise.resolve(new SqliteStorage(join(dir, 'bench.db'), { shared: true })))
  await measure('PostgreSQL (local, synchronous_commit=on)', () =>
    PostgresStorage.open({ url: cluster.url, schema: 'trent_bench', shared: true }),
  )
} finally {
  await removeAllPostgresClusters()
  rmSync(dir, { recursive: true, force: true })
}
