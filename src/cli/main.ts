#!/usr/bin/env node
/**
 * `trent`: operator commands that the AWS CLI does not cover.
 *
 *   trent rsk export  --data-dir <region dir>
 *   trent rsk import  --data-dir <region dir> --partition <id> <export.json>...
 *   trent rsk retire  --data-dir <region dir> --region <r> --key-id <rsk id>
 *   trent rsk rotate  --endpoint <url> --region <r> [--credentials-file <file>]
 *   trent replication status --endpoint <url> --region <r> --key-id <mrk id or ARN>
 *        [--credentials-file <file> [--profile trent]]
 *   trent audit events --data-dir <partition dir> --region <r> [--key-id <k>] [--event-name <n>]
 *        [--since <time>] [--until <time>]
 *   trent audit verify --data-dir <partition dir> --region <r>
 *
 * `rsk export` prints a region's Replication Signing Key public keys; `rsk import` pins
 * another region's keys in this region's trust store (docs/spec/replication.md §3.1), for
 * partitions whose regions run on separate hosts. The region re-reads its trust store
 * when the file changes. `audit events` prints a region's audit records as JSON lines,
 * oldest first; `audit verify` checks every chain of the region and exits 1 naming the
 * first bad record (docs/spec/audit-trail.md §5).
 *
 * @module
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { callTrent, type Credentials } from './sign.js'
import {
  RSK_EXPORT_FILE,
  TRUST_STORE_FILE,
  formatTrustDocument,
  parseRskExport,
  parseTrustStore,
  type TrustStoreDocument,
} from '../wire/replication-trust.js'
import { readEvents, trailFiles, verifyRegion, type EventFilter } from '../audit/read.js'

const USAGE = `usage:
  trent rsk export  --data-dir <region dir>
  trent rsk import  --data-dir <region dir> --partition <id> <export.json>...
  trent rsk retire  --data-dir <region dir> --region <r> --key-id <rsk id>
  trent rsk rotate  --endpoint <url> --region <r> [--credentials-file <f>] [--profile <p>]
  trent replication status --endpoint <url> --region <r> --key-id <key> [--credentials-file <f>] [--profile <p>]
  trent audit events --data-dir <partition dir> --region <r> [--key-id <k>] [--event-name <n>] [--since <time>] [--until <time>]
  trent audit verify --data-dir <partition dir> --region <r>`

function fail(message: string): never {
  process.stderr.write(`trent: ${message}\n`)
  process.exit(2)
}

function readTrustStore(path: string, partition?: string): TrustStoreDocument {
  if (!existsSync(path)) return { partition: partition ?? '', regions: {} }
  let document: TrustStoreDocument
  try {
    document = parseTrustStore(readFileSync(path, 'utf8'))
  } catch (err) {
    fail(`${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (partition !== undefined && document.partition !== '' && document.partition !== partition) {
    fail(`the trust store belongs to partition ${document.partition}, not ${partition}`)
  }
  return { ...document, partition: partition ?? document.partition }
}

function writeTrustStore(path: string, document: TrustStoreDocument): void {
  writeFileSync(`${path}.tmp`, formatTrustDocument(document), { mode: 0o644 })
  renameSync(`${path}.tmp`, path)
}

function credentialsFrom(file: string | undefined, profile: string): Credentials {
  if (file !== undefined) {
    const text = readFileSync(file, 'utf8')
    const section = text.split(/^\[/m).find((s) => s.startsWith(`${profile}]`)) ?? fail(`no profile [${profile}] in ${file}`)
    const value = (name: string): string =>
      new RegExp(`^${name}\\s*=\\s*(\\S+)`, 'm').exec(section)?.[1] ?? fail(`${name} missing in [${profile}]`)
    return { accessKeyId: value('aws_access_key_id'), secretAccessKey: value('aws_secret_access_key') }
  }
  const accessKeyId = process.env.TRENT_ACCESS_KEY_ID ?? process.env.AWS_ACCESS_KEY_ID
  const secretAccessKey = process.env.TRENT_SECRET_ACCESS_KEY ?? process.env.AWS_SECRET_ACCESS_KEY
  if (accessKeyId === undefined || secretAccessKey === undefined)
    fail('no credentials: set TRENT_ACCESS_KEY_ID/TRENT_SECRET_ACCESS_KEY or pass --credentials-file')
  return { accessKeyId, secretAccessKey }
}

async function main(argv: string[]): Promise<void> {
  const [group, command, ...rest] = argv
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      partition: { type: 'string' },
      region: { type: 'string' },
      'key-id': { type: 'string' },
      endpoint: { type: 'string' },
      'credentials-file': { type: 'string' },
      profile: { type: 'string', default: 'trent' },
      'event-name': { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
    },
  })
  const dataDir = values['data-dir']
  if (group === 'rsk' && command === 'export') {
    if (dataDir === undefined) fail('--data-dir is required')
    const path = join(dataDir, RSK_EXPORT_FILE)
    if (!existsSync(path)) fail(`${path} does not exist: is ${dataDir} a region's data folder, and has the region started once?`)
    process.stdout.write(readFileSync(path, 'utf8'))
    return
  }
  if (group === 'rsk' && command === 'import') {
    if (dataDir === undefined || values.partition === undefined || positionals.length === 0) fail(USAGE)
    if (!existsSync(dataDir)) fail(`${dataDir} does not exist`)
    const path = join(dataDir, TRUST_STORE_FILE)
    const document = readTrustStore(path, values.partition)
    const report: string[] = []
    for (const file of positionals) {
      if (!existsSync(file)) fail(`${file} does not exist`)
      let exported
      try {
        exported = parseRskExport(readFileSync(file, 'utf8'))
      } catch (err) {
        fail(`${file}: ${err instanceof Error ? err.message : String(err)}`)
      }
      const pinned = document.regions[exported.region] ?? []
      for (const key of exported.keys) {
        if (!pinned.some((p) => p.id === key.id)) pinned.push({ id: key.id, publicKey: key.publicKey, status: 'active' })
      }
      document.regions[exported.region] = pinned
      report.push(`pinned ${exported.keys.length} key(s) of ${exported.region}`)
    }
    // Report only what was written.
    writeTrustStore(path, document)
    process.stdout.write(`${report.join('\n')}\n`)
    return
  }
  if (group === 'rsk' && command === 'retire') {
    if (dataDir === undefined || values.region === undefined || values['key-id'] === undefined) fail(USAGE)
    const path = join(dataDir, TRUST_STORE_FILE)
    const document = readTrustStore(path)
    const key = document.regions[values.region]?.find((k) => k.id === values['key-id']) ?? fail('no such pinned key')
    key.status = 'retired'
    writeTrustStore(path, document)
    process.stdout.write(`retired ${key.id} of ${values.region}\n`)
    return
  }
  if (group === 'rsk' && command === 'rotate') {
    if (values.endpoint === undefined || values.region === undefined) fail(USAGE)
    const credentials = credentialsFrom(values['credentials-file'], values.profile)
    const answer = await callTrent(values.endpoint, values.region, credentials, 'TrentAdmin.RotateReplicationSigningKey', {})
    process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`)
    if (answer.status !== 200) process.exit(1)
    return
  }
  if (group === 'replication' && command === 'status') {
    if (values.endpoint === undefined || values.region === undefined || values['key-id'] === undefined) fail(USAGE)
    const credentials = credentialsFrom(values['credentials-file'], values.profile)
    const answer = await callTrent(values.endpoint, values.region, credentials, 'TrentAdmin.DescribeReplication', {
      KeyId: values['key-id'],
    })
    process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`)
    if (answer.status !== 200) process.exit(1)
    return
  }
  if (group === 'audit' && (command === 'events' || command === 'verify')) {
    if (dataDir === undefined || values.region === undefined) fail(USAGE)
    const regionDir = auditRegionDir(dataDir, values.region)
    if (command === 'verify') {
      const results = verifyRegion(regionDir, values.region)
      if (results.length === 0) fail(`no audit trail in ${regionDir}`)
      let intact = true
      for (const { file, records, problem } of results) {
        if (problem === undefined) {
          process.stdout.write(`${file.path}: ${records} record(s), chain intact\n`)
          continue
        }
        intact = false
        const named = [
          `line ${problem.line}`,
          problem.seq !== undefined ? `seq ${problem.seq}` : '',
          problem.eventID !== undefined ? `eventID ${problem.eventID}` : '',
        ]
        process.stdout.write(`${file.path}: bad record at ${named.filter((n) => n !== '').join(', ')}: ${problem.reason}\n`)
      }
      if (!intact) process.exit(1)
      return
    }
    const filter: EventFilter = {
      ...(values['key-id'] !== undefined ? { keyId: values['key-id'] } : {}),
      ...(values['event-name'] !== undefined ? { eventName: values['event-name'] } : {}),
      ...(values.since !== undefined ? { since: parseTime(values.since, '--since') } : {}),
      ...(values.until !== undefined ? { until: parseTime(values.until, '--until') } : {}),
    }
    for (const record of readEvents(regionDir, filter)) process.stdout.write(`${JSON.stringify(record)}\n`)
    return
  }
  fail(USAGE)
}

/** A region's folder: `<dir>/regions/<region>` of a partition's data dir, or `<dir>` itself if it is the region's. */
function auditRegionDir(dataDir: string, region: string): string {
  const inPartition = join(dataDir, 'regions', region)
  if (existsSync(inPartition)) return inPartition
  if (trailFiles(dataDir).length > 0) return dataDir
  fail(`no region ${region} in ${dataDir} (looked for ${inPartition})`)
}

/** An ISO-8601 time or epoch seconds. */
function parseTime(text: string, option: string): number {
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(text)
  if (!Number.isFinite(ms)) fail(`${option}: '${text}' is not an ISO-8601 time or epoch seconds`)
  return ms
}

await main(process.argv.slice(2)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)))
