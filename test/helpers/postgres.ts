/**
 * Real, throw-away PostgreSQL clusters for tests (test/helpers/postgres-cluster.ts):
 *
 *   const cluster = await startPostgresCluster()
 *   after(removeAllPostgresClusters)
 *   new pg.Client({ connectionString: cluster.url })
 *   await cluster.stop(); await cluster.start(); await cluster.kill9(); cluster.freeze()
 *   const standby = await startPostgresStandby(cluster, { synchronous: true })
 *   await cluster.kill9(); await standby.promote()   // failover
 *
 * Every cluster started is stopped and its files removed by
 * {@link removeAllPostgresClusters}, and, should the test process exit or be interrupted
 * first, then.
 *
 * @module
 */
import { removeAllPostgresClustersNow } from './postgres-cluster.js'

export * from './postgres-cluster.js'

process.on('exit', removeAllPostgresClustersNow)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeAllPostgresClustersNow()
    // Then die of the signal, as without this handler.
    process.kill(process.pid, signal)
  })
}
