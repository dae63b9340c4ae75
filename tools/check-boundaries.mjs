#!/usr/bin/env node
// Fails when an import in src/ crosses a boundary that docs/architecture.md forbids.
// Rules: for each top-level folder of src/, which folders it may import at run time,
// and which only with `import type`.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'

const RULES = {
  wire: { runtime: [], typeOnly: [] },
  log: { runtime: [], typeOnly: [] },
  // Prometheus registries (prom-client) of each kind of process; they read plain data.
  metrics: { runtime: [], typeOnly: [] },
  // Listener hardening (timeouts, connection limits) shared by every HTTP listener.
  http: { runtime: ['log'], typeOnly: [] },
  hsm: { runtime: ['wire'], typeOnly: [] },
  storage: { runtime: ['wire'], typeOnly: [] },
  // kms drives the replication protocol with its codecs (envelopes, messages), which hold no state.
  kms: { runtime: ['wire', 'replication'], typeOnly: ['hsm', 'storage', 'log', 'audit'] },
  // The audit trail: the record format, the chain, the trail files (docs/spec/audit-trail.md).
  audit: { runtime: [], typeOnly: [] },
  api: { runtime: ['wire', 'kms', 'log', 'http', 'audit'], typeOnly: ['metrics'] },
  gateway: { runtime: ['wire', 'api', 'log', 'http'], typeOnly: [] },
  partition: { runtime: ['wire', 'gateway', 'console', 'log', 'http', 'metrics'], typeOnly: [] },
  // The web console reaches regions only through the KMS API (SigV4-signed HTTP calls to
  // the partition's endpoint): never the HSM, the store, the KMS layer or the API's internals.
  console: { runtime: ['wire', 'log', 'http'], typeOnly: [] },
  replication: { runtime: ['wire'], typeOnly: ['hsm', 'storage', 'log'] },
  proxy: { runtime: ['wire', 'log', 'http', 'metrics'], typeOnly: [] },
  cli: { runtime: ['wire', 'audit'], typeOnly: [] },
  region: { runtime: '*', typeOnly: [] },
}
// Narrow exceptions, each with its reason.
const ALLOWED = [
  // kms/crypto-keys reads HsmError codes to map them to InvalidCiphertextException.
  { from: 'src/kms/crypto-keys.ts', to: 'src/hsm/hsm.ts' },
  // The region's own work (deletion, rotation) builds its audit records with the pure record format; no trail I/O.
  { from: 'src/kms/service-events.ts', to: 'src/audit/record.ts' },
  // The gateway reuses the SigV4 scope parser and the JSON error writer, nothing that verifies or decides.
  { from: 'src/gateway/', to: 'src/api/auth/sigv4.ts' },
  { from: 'src/gateway/', to: 'src/api/protocol.ts' },
]
const api = RULES.api
api.runtime = api.runtime.filter((f) => f !== 'hsm' && f !== 'storage')

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

const problems = []
for (const file of files('src')) {
  const from = relative('src', file).split('/')[0]
  const rule = RULES[from]
  if (rule === undefined) {
    problems.push(`${file}: folder src/${from} has no rule in tools/check-boundaries.mjs`)
    continue
  }
  const text = readFileSync(file, 'utf8')
  for (const match of text.matchAll(/^(import|export)\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
    const typeOnly = match[2] !== undefined
    const target = relative('.', resolve(dirname(file), match[3])).replace(/\.js$/, '.ts')
    const to = relative('src', target).split('/')[0]
    if (to === from || rule.runtime === '*') continue
    if (ALLOWED.some((a) => file.startsWith(a.from) && target === a.to)) continue
    if (rule.runtime.includes(to)) continue
    if (typeOnly && rule.typeOnly.includes(to)) continue
    problems.push(`${file}: ${typeOnly ? 'type ' : ''}import of ${target} crosses src/${from} → src/${to}`)
  }
}
if (problems.length > 0) {
  console.error(`boundary check failed:\n${problems.join('\n')}`)
  process.exit(1)
}
console.log('boundary check: ok')
