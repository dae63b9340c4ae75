/**
 * A region of several nodes over one shared store: the consistency suite over the
 * in-memory store and over SQLite shared by two handles (as two node processes on one
 * host share the file). The PostgreSQL run is in test/concurrency/nodes-postgres.test.ts.
 */
import { memoryStore, sqliteStore } from '../helpers/region-nodes.js'
import { runNodeConsistencySuite } from '../helpers/node-consistency-suite.js'

runNodeConsistencySuite('in-memory', memoryStore)
runNodeConsistencySuite('SQLite', sqliteStore)
