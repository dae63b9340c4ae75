/**
 * The two-node consistency suite on PostgreSQL: two handles of one region schema, as two
 * node processes of a region share it (`--nodes 2 --store postgres://…`).
 */
import { after } from 'node:test'
import { randomBytes } from 'node:crypto'
import { PostgresStorage } from '../../src/storage/postgres-storage.js'
import { postgresUnavailableReason, removeAllPostgresClusters, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js'
import { runNodeConsistencySuite } from '../helpers/node-consistency-suite.js'

const unavailable = postgresUnavailableReason()
let cluster: PostgresCluster | undefined
after(removeAllPostgresClusters)

if (unavailable === undefined) {
  runNodeConsistencySuite('PostgreSQL', async (nodes) => {
    cluster ??= await startPostgresCluster()
    const url = cluster.url
    // A schema of its own per suite run, like a region of its own.
    const schema = `trent_nodes_${randomBytes(4).toString('hex')}`
    const handles = []
    for (let index = 0; index < nodes; index++) handles.push(await PostgresStorage.open({ url, schema, shared: true }))
    return { name: 'postgres', handles, cleanUp: () => undefined }
  })
}
