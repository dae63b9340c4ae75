/**
 * What the audit trail costs (docs/spec/audit-trail.md §7): a record appended the way a
 * cryptographic operation's is (written within the turn of the event loop, fdatasync'd
 * later), the way a change's is (fdatasync'd before the answer; alone, and 16 at a time,
 * which share their syncs), and Encrypt through the AWS SDK against an in-process region
 * with and without a trail.
 *
 *   node dist/bench/audit.js [--records N]   (default 20000; durable ones: N/20)
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { EncryptCommand, CreateKeyCommand } from '@aws-sdk/client-kms'
import { buildRecord, userIdentityOf, type AuditRecord } from '../src/audit/record.js'
import { FileAuditTrail } from '../src/audit/trail.js'
import { startInProcessRegion } from '../test/helpers/in-process-region.js'

const { values } = parseArgs({ options: { records: { type: 'string', default: '20000' } } })
const RECORDS = Number(values.records)
const DURABLE = Math.max(50, Math.floor(RECORDS / 20))
const ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'

function encryptRecord(n: number): AuditRecord {
  return buildRecord({
    eventName: 'Encrypt',
    eventType: 'AwsApiCall',
    region: 'us-east-1',
    accountId: '111122223333',
    time: Date.now(),
    requestId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    eventId: crypto.randomUUID(),
    userIdentity: userIdentityOf('111122223333', 'arn:aws:iam::111122223333:root', 'AKIDBENCH'),
    sourceIPAddress: '127.0.0.1',
    userAgent: 'aws-sdk-js/3 bench',
    requestParameters: { keyId: ARN, encryptionContext: { purpose: 'bench' } },
    responseElements: null,
    resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN }],
    readOnly: true,
  })
}

const perRecord = (ms: number, n: number): string => `${((ms * 1000) / n).toFixed(1)} µs/record`
const dir = mkdtempSync(join(tmpdir(), 'trent-bench-audit-'))
try {
  const trail = new FileAuditTrail({ regionDir: dir, region: 'us-east-1', node: 0 })
  // Buffered: 100 records per turn of the event loop, as under load.
  let started = performance.now()
  for (let n = 0; n < RECORDS; n++) {
    trail.append(encryptRecord(n), { durable: false, time: Date.now() })
    if (n % 100 === 99) await new Promise((resolve) => setImmediate(resolve))
  }
  await new Promise((resolve) => setImmediate(resolve))
  console.log(`buffered (crypto operations): ${perRecord(performance.now() - started, RECORDS)}, ${RECORDS} records`)
  started = performance.now()
  for (let n = 0; n < DURABLE; n++) await trail.append(encryptRecord(n), { durable: true, time: Date.now() })
  console.log(`durable, one at a time (changes): ${perRecord(performance.now() - started, DURABLE)}`)
  started = performance.now()
  for (let n = 0; n < DURABLE; n += 16) {
    await Promise.all(Array.from({ length: 16 }, (_, i) => trail.append(encryptRecord(n + i), { durable: true, time: Date.now() })))
  }
  console.log(`durable, 16 concurrent (changes sharing syncs): ${perRecord(performance.now() - started, DURABLE)}`)
  await trail.close()

  // Alternated, twice each: the first runs also warm the JIT up.
  for (const withTrail of [false, true, false, true]) {
    const region = await startInProcessRegion()
    const regionTrail = withTrail ? new FileAuditTrail({ regionDir: join(dir, 'e2e'), region: 'us-east-1', node: 0 }) : undefined
    if (regionTrail !== undefined) region.kms.audit = regionTrail
    const client = region.client()
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    const plaintext = new Uint8Array(64)
    for (let n = 0; n < 200; n++) await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))
    const count = 2000
    started = performance.now()
    for (let n = 0; n < count; n += 8) {
      await Promise.all(Array.from({ length: 8 }, () => client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))))
    }
    const ms = performance.now() - started
    console.log(`Encrypt via the SDK, 8 concurrent, ${withTrail ? 'with' : 'without'} a trail: ${(count / (ms / 1000)).toFixed(0)}/s`)
    await regionTrail?.close()
    await region.close()
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
