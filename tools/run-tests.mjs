#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's own test runner; then the
// interop suites that start real partitions once more, against partitions of two nodes per
// region on PostgreSQL (issue 11; test/helpers/partition.ts reads TRENT_TEST_STORE and
// TRENT_TEST_NODES).
// Usage: npm test [-- [--postgres-nodes] <substring filter on the test file path>...]
//   With filters, only the matching files run, and the PostgreSQL pass only with --postgres-nodes.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const root = 'dist/test'
const args = process.argv.slice(2)
const postgresPassAsked = args.includes('--postgres-nodes')
const filters = args.filter((arg) => arg !== '--postgres-nodes')

function collect(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...collect(path))
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

function run(files, env) {
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
    stdio: 'inherit',
    env: { ...process.env, TRENT_LOG_LEVEL: process.env.TRENT_LOG_LEVEL ?? 'warn', ...env },
  })
  return result.status ?? 1
}

const files = collect(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
let status = postgresPassAsked && filters.length > 0 ? 0 : run(files, {})

// The suites that drive real partitions (and do not choose their own nodes), again on
// PostgreSQL with two nodes per region.
const postgresPass =
  filters.length === 0 || postgresPassAsked
    ? files.filter(
        (f) => f.startsWith(join(root, 'interop')) && !f.endsWith('nodes.test.js') && readFileSync(f, 'utf8').includes('startPartition('),
      )
    : []
if (postgresPass.length > 0) {
  console.log(`\n# the interop suites again, on PostgreSQL with two nodes per region: ${postgresPass.length} files\n`)
  status = run(postgresPass, { TRENT_TEST_STORE: 'postgres', TRENT_TEST_NODES: '2' }) || status
}
process.exit(status)
