/**
 * A node notices when its store holds another history than the one it applied, and loads
 * the store's state again (docs/spec/storage.md §2, the chain digest).
 *
 * The case: a region's PostgreSQL is restored, or failed over, to a copy whose change log
 * went on differently, and as far as the node's: the same position, other changes. By
 * position alone the node is up to date, and it would go on serving a key the store no
 * longer has and missing what the store has instead. Here a node of a region on
 * PostgreSQL creates a key; then, in one transaction (so the node never sees a log that
 * went back), the store's last change is replaced by another at the same position; the
 * node must follow the store, not its memory.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CreateAliasCommand, CreateKeyCommand, ListAliasesCommand, ListKeysCommand } from '@aws-sdk/client-kms'
import pg from 'pg'
import { PostgresStorage } from '../../src/storage/postgres-storage.js'
import type { Write } from '../../src/storage/records.js'
import { GENESIS_DIGEST, chainDigest } from '../../src/storage/storage.js'
import { encodeWrites } from '../../src/storage/write-codec.js'
import { startInProcessRegion, type InProcessRegion } from '../helpers/in-process-region.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

describe('a store that holds another history', { skip: postgresUnavailableReason() ?? false }, () => {
  let cluster: PostgresCluster
  let node: InProcessRegion
  const schema = `trent_history_${process.pid}`

  before(async () => {
    cluster = await startPostgresCluster()
    node = await startInProcessRegion({ storage: await PostgresStorage.open({ url: cluster.url, schema, shared: true }) })
  })
  after(async () => {
    await node.close()
    await removeAllPostgresClusters()
  })

  it('is noticed at the same position, and the node takes the store’s state, then goes on from it', async () => {
    const client = node.client()
    const kept = (await client.send(new CreateKeyCommand({ Description: 'in both histories' }))).KeyMetadata?.KeyId ?? ''
    const lost = (await client.send(new CreateKeyCommand({ Description: 'only in the node’s history' }))).KeyMetadata?.KeyId ?? ''
    const position = node.kms.position
    assert.ok(node.kms.keys.has(lost))

    // The other history: at `position`, instead of creating `lost`, an alias for `kept`.
    const sql = new pg.Client({ connectionString: cluster.url })
    await sql.connect()
    try {
      const alias: Write = { kind: 'putAlias', alias: { aliasName: 'alias/other-history', keyId: kept, createdAt: 1, updatedAt: 1 } }
      const encoded = encodeWrites([alias])
      await sql.query('BEGIN')
      const before = await sql.query<{ digest: string | null }>(`SELECT digest FROM ${schema}.changes WHERE position = $1`, [position - 1])
      const digest = chainDigest(before.rows[0]?.digest ?? GENESIS_DIGEST, position, encoded)
      await sql.query(`DELETE FROM ${schema}.key_materials WHERE key_id = $1`, [lost])
      await sql.query(`DELETE FROM ${schema}.keys WHERE key_id = $1`, [lost])
      await sql.query(
        `INSERT INTO ${schema}.aliases (alias_name, key_id, created_at, updated_at) VALUES ('alias/other-history', $1, 1, 1)`,
        [kept],
      )
      await sql.query(`UPDATE ${schema}.changes SET writes = $2, digest = $3 WHERE position = $1`, [position, encoded, digest])
      await sql.query(`UPDATE ${schema}.change_head SET digest = $1 WHERE id = 1`, [digest])
      await sql.query('COMMIT')
      const head = await sql.query<{ position: string }>(`SELECT position FROM ${schema}.change_head`)
      assert.equal(Number(head.rows[0]?.position), position, 'the same position: nothing to see by position alone')
    } finally {
      await sql.end()
    }

    await node.kms.sync()
    assert.equal(node.kms.position, position)
    assert.equal(node.kms.keys.has(lost), false, 'the key of the replaced history is gone from the node')
    const keys = (await client.send(new ListKeysCommand({}))).Keys?.map((k) => k.KeyId) ?? []
    assert.ok(keys.includes(kept))
    assert.ok(!keys.includes(lost))
    const aliases = (await client.send(new ListAliasesCommand({}))).Aliases?.map((a) => a.AliasName) ?? []
    assert.ok(aliases.includes('alias/other-history'), 'the store’s change is the node’s')

    // And the node goes on from the store's history: its next change follows it.
    await client.send(new CreateAliasCommand({ AliasName: 'alias/after', TargetKeyId: kept }))
    assert.equal(node.kms.position, position + 1)
  })
})
