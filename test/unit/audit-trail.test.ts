/**
 * The audit trail's chain (docs/spec/audit-trail.md §3): a trail written by the real
 * FileAuditTrail, checked by `trent audit verify` run as a real process, intact and then
 * tampered with every way the spec names (a changed byte, a dropped, swapped, inserted or
 * replaced record): verify must exit non-zero naming the record that was tampered with.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'
import { buildRecord, requestParameters, responseElements, userIdentityOf, type AuditRecord } from '../../src/audit/record.js'
import { FileAuditTrail } from '../../src/audit/trail.js'
import { parseLine, recordHash } from '../../src/audit/chain.js'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const REGION = 'us-east-1'
const ACCOUNT = '111122223333'
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
const root = mkdtempSync(join(tmpdir(), 'trent-audit-unit-'))
after(() => rmSync(root, { recursive: true, force: true }))

function record(n: number, eventName = 'Encrypt'): AuditRecord {
  return buildRecord({
    eventName,
    eventType: 'AwsApiCall',
    region: REGION,
    accountId: ACCOUNT,
    time: Date.UTC(2026, 0, 1, 0, 0, n),
    requestId: `request-${n}`,
    eventId: `event-${n}`,
    userIdentity: userIdentityOf(ACCOUNT, `arn:aws:iam::${ACCOUNT}:root`, 'AKIDTEST'),
    sourceIPAddress: '127.0.0.1',
    userAgent: 'test',
    requestParameters: { keyId: KEY_ARN },
    responseElements: null,
    resources: [{ accountId: ACCOUNT, type: 'AWS::KMS::Key', ARN: KEY_ARN }],
    readOnly: true,
  })
}

/** A partition's data dir holding one region with one node's trail of `count` records. */
async function writeTrail(name: string, count: number): Promise<{ dir: string; file: string }> {
  const dir = join(root, name)
  const regionDir = join(dir, 'regions', REGION)
  mkdirSync(regionDir, { recursive: true })
  const trail = new FileAuditTrail({ regionDir, region: REGION, node: 0 })
  for (let n = 1; n <= count; n++) await trail.append(record(n), { durable: n % 3 === 0, time: Date.UTC(2026, 0, 1, 0, 0, n) })
  await trail.close()
  return { dir, file: join(regionDir, 'audit', 'node-0.jsonl') }
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

const verify = (dir: string) => runCli(['audit', 'verify', '--data-dir', dir, '--region', REGION])

function lines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
}
function writeLines(file: string, content: string[]): void {
  writeFileSync(file, `${content.join('\n')}\n`)
}

test('an intact trail verifies, and events prints its records oldest first', async () => {
  const { dir } = await writeTrail('intact', 6)
  const result = await verify(dir)
  assert.equal(result.code, 0, result.stdout + result.stderr)
  assert.match(result.stdout, /6 record\(s\), chain intact/)
  const events = await runCli(['audit', 'events', '--data-dir', dir, '--region', REGION])
  assert.equal(events.code, 0, events.stderr)
  const printed = events.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord)
  assert.deepEqual(
    printed.map((r) => r.eventID),
    ['event-1', 'event-2', 'event-3', 'event-4', 'event-5', 'event-6'],
  )
  // Filters: by time (inclusive), by name, by key.
  const since = await runCli(['audit', 'events', '--data-dir', dir, '--region', REGION, '--since', '2026-01-01T00:00:04Z'])
  assert.deepEqual(
    since.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as AuditRecord).eventID),
    ['event-4', 'event-5', 'event-6'],
  )
  const other = await runCli(['audit', 'events', '--data-dir', dir, '--region', REGION, '--event-name', 'Decrypt'])
  assert.equal(other.stdout, '')
  const byKey = await runCli(['audit', 'events', '--data-dir', dir, '--region', REGION, '--key-id', '1234abcd-12ab-34cd-56ef-1234567890ab'])
  assert.equal(byKey.stdout.trim().split('\n').length, 6)
})

test('a trail reopened continues the same chain', async () => {
  const { dir } = await writeTrail('reopened', 3)
  const regionDir = join(dir, 'regions', REGION)
  const trail = new FileAuditTrail({ regionDir, region: REGION, node: 0 })
  trail.append(record(4), { durable: false, time: Date.UTC(2026, 0, 1, 0, 0, 4) })
  await trail.close()
  const result = await verify(dir)
  assert.equal(result.code, 0, result.stdout)
  assert.match(result.stdout, /4 record\(s\)/)
})

/** Each tampering, and the line verify must name. */
const TAMPERINGS: Array<{ name: string; change: (l: string[]) => string[]; line: number; reason: RegExp }> = [
  {
    name: 'one byte of a record changed',
    change: (l) => l.map((line, i) => (i === 2 ? line.replace('"request-3"', '"request-X"') : line)),
    line: 3,
    reason: /altered/,
  },
  {
    name: 'the time of a record changed',
    change: (l) => l.map((line, i) => (i === 1 ? line.replace(/"time":(\d+)/, (_, t: string) => `"time":${Number(t) + 1}`) : line)),
    line: 2,
    reason: /altered/,
  },
  { name: 'a record dropped', change: (l) => l.filter((_, i) => i !== 2), line: 3, reason: /record 3 is missing/ },
  { name: 'two records swapped', change: (l) => [l[0]!, l[1]!, l[3]!, l[2]!, l[4]!, l[5]!], line: 3, reason: /sequence 4 where 3 was due/ },
  {
    name: 'a copy of a record inserted',
    change: (l) => [l[0]!, l[1]!, l[1]!, ...l.slice(2)],
    line: 3,
    reason: /sequence 2 where 3 was due/,
  },
  {
    name: 'the hash of the last record changed',
    change: (l) => [...l.slice(0, 5), l[5]!.replace(/"hash":"[0-9a-f]{64}"/, `"hash":"${'ab'.repeat(32)}"`)],
    line: 6,
    reason: /altered/,
  },
  {
    name: 'a record replaced by one with a recomputed hash',
    change: (l) => {
      const parsed = parseLine(l[2]!)!
      const forged = parsed.recordJson.replace('"Encrypt"', '"Decrypt"')
      const hash = recordHash({ region: REGION, node: '0' }, parsed.seq, parsed.time, parsed.prev, forged)
      return l.map((line, i) =>
        i === 2 ? `{"seq":${parsed.seq},"time":${parsed.time},"prev":"${parsed.prev}","hash":"${hash}","record":${forged}}` : line,
      )
    },
    line: 3,
    reason: /replaced/,
  },
  { name: 'a truncated line', change: (l) => [...l.slice(0, 4), l[4]!.slice(0, 40)], line: 5, reason: /malformed/ },
]

for (const tampering of TAMPERINGS) {
  test(`verify names the record when ${tampering.name}`, async () => {
    const { dir, file } = await writeTrail(`tamper-${TAMPERINGS.indexOf(tampering)}`, 6)
    const original = lines(file)
    writeLines(file, tampering.change(original))
    const result = await verify(dir)
    assert.equal(result.code, 1, result.stdout + result.stderr)
    assert.match(result.stdout, new RegExp(`bad record at line ${tampering.line}\\b`))
    assert.match(result.stdout, tampering.reason)
    // The original verifies again: the failure was the tampering's.
    writeLines(file, original)
    assert.equal((await verify(dir)).code, 0)
  })
}

test('a record moved to another node or region does not verify there', async () => {
  const { dir, file } = await writeTrail('moved', 2)
  const moved = join(dir, 'regions', REGION, 'audit', 'node-1.jsonl')
  copyFileSync(file, moved)
  const result = await verify(dir)
  assert.equal(result.code, 1)
  assert.match(result.stdout, /node-1\.jsonl: bad record at line 1/)
})

test('no byte array reaches a record: request parameters and response elements drop them', () => {
  const secret = new Uint8Array([1, 2, 3, 4])
  const params = requestParameters({
    KeyId: 'k',
    Plaintext: secret,
    EncryptionContext: { a: 'b' },
    Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: secret },
  })
  assert.deepEqual(params, { keyId: 'k', encryptionContext: { a: 'b' }, recipient: { keyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } })
  // Cryptographic operations record no response elements at all.
  assert.equal(responseElements('Encrypt', { CiphertextBlob: secret, KeyId: KEY_ARN }), null)
  assert.equal(responseElements('GenerateRandom', { Plaintext: secret }), null)
  const created = responseElements('CreateKey', { KeyMetadata: { KeyId: 'k', AWSAccountId: ACCOUNT, CreationDate: 1_605_662_958 } })
  assert.deepEqual(created, { keyMetadata: { keyId: 'k', aWSAccountId: ACCOUNT, creationDate: 'Nov 18, 2020, 1:29:18 AM' } })
})

test('a denied request is recorded with the caller and AccessDeniedException; an unsupported one with its name', async () => {
  const { startInProcessRegion } = await import('../helpers/in-process-region.js')
  const { CreateKeyCommand, EncryptCommand, GenerateRandomCommand } = await import('@aws-sdk/client-kms')
  const alice = { accessKeyId: 'AKIDALICE00000000001', secretAccessKey: 'alice-secret-access-key-0000000000000000' }
  const region = await startInProcessRegion({
    identities: [{ ...alice, caller: { principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`, identityPolicies: [] } }],
  })
  const regionDir = join(root, 'denied')
  const trail = new FileAuditTrail({ regionDir, region: REGION, node: 0 })
  region.kms.audit = trail
  try {
    const keyId = (await region.client().send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    const denied = await region
      .clientAs(alice)
      .send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([9, 9, 9]) }))
      .catch((err: Error & { $metadata: { requestId?: string } }) => err)
    assert.equal((denied as Error).name, 'AccessDeniedException')
    const unsupported = await region
      .client()
      // Nitro Enclaves attestation is refused on purpose (README, "Not yet").
      .send(
        new GenerateRandomCommand({
          NumberOfBytes: 16,
          Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: new Uint8Array(64) },
        }),
      )
      .catch((err: Error) => err)
    assert.equal((unsupported as Error).name, 'UnsupportedOperationException')
    await trail.close()
    const recorded = lines(join(regionDir, 'audit', 'node-0.jsonl')).map((l) => JSON.parse(parseLine(l)!.recordJson) as AuditRecord)
    const record = recorded.find((r) => r.requestID === (denied as Error & { $metadata: { requestId?: string } }).$metadata.requestId)
    assert.ok(record !== undefined, 'the denied request is recorded')
    assert.equal(record.errorCode, 'AccessDeniedException')
    assert.match(record.errorMessage ?? '', /alice/)
    assert.deepEqual(record.userIdentity, {
      type: 'IAMUser',
      principalId: 'alice',
      arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
      accountId: ACCOUNT,
      accessKeyId: alice.accessKeyId,
      userName: 'alice',
    })
    assert.deepEqual(record.requestParameters, { keyId })
    assert.deepEqual(
      record.resources.map((r) => r.ARN),
      [`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`],
    )
    assert.equal(record.readOnly, true)
    const refused = recorded.find((r) => r.eventName === 'GenerateRandom')
    assert.equal(refused?.errorCode, 'UnsupportedOperationException')
  } finally {
    await region.close()
  }
})
