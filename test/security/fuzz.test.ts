/**
 * A seeded run of the fuzzer (fuzz/, `npm run fuzz`) of about 10,000 requests, every
 * category, against a fresh partition started with the real launcher: structured
 * requests over every operation and member of the model, malformed HTTP, SigV4 attacks
 * and cryptographic misuse. Nothing may answer 5xx, hang, crash a process, accept an
 * attack or a request that must fail, or show a stack trace or key material; afterwards
 * the partition still answers /health with 200 and a key made before the run (with the
 * AWS SDK, independently of the fuzzer) still encrypts and decrypts.
 *
 * A failure lists the findings by kind, each with a case to replay: the findings file
 * named in the message replays with `npm run fuzz -- --replay FILE`, and the whole run
 * repeats with `npm run fuzz -- --seed 20261206 --requests 10000`.
 */
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { CreateKeyCommand, DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms'
import type { FindingKind } from '../../fuzz/oracle.js'
import type { Finding } from '../../fuzz/report.js'
import { runSession, type SessionResult } from '../../fuzz/session.js'
import { partitionTarget, type Target } from '../../fuzz/target.js'
import { getHealth, kmsClient, startPartition, stopAllPartitions, type RunningPartition } from '../helpers/partition.js'

const SEED = 20261206
const REQUESTS = 10_000
/**
 * Past this, a request with neither an answer nor a close is a hang. `npm run fuzz` waits
 * 30 s; here 20 s, twice the header timeout the server is getting (10 s), keeps the run,
 * whose last malformed requests wait this long, inside its time budget.
 */
const HANG_MS = 20_000
const REGIONS = ['us-east-1', 'eu-west-1']
const FINDINGS_FILE = join(tmpdir(), `trent-fuzz-test-${process.pid}.jsonl`)

let partition: RunningPartition
let target: Target
let kms: KMSClient
let keyMadeBefore: string
let result: SessionResult
const log: string[] = []

before(async () => {
  partition = await startPartition({ regions: REGIONS, env: { TRENT_LOG_LEVEL: 'warn' } })
  kms = kmsClient(partition, REGIONS[0] ?? 'us-east-1')
  keyMadeBefore =
    (await kms.send(new CreateKeyCommand({ Description: 'made before the fuzz run' }))).KeyMetadata?.KeyId ??
    assert.fail('CreateKey returned no key id')
  target = partitionTarget(partition)
  result = await runSession(target, {
    seed: SEED,
    seedText: String(SEED),
    requests: REQUESTS,
    categories: ['structured', 'http', 'sigv4', 'crypto'],
    concurrency: 24,
    hangMs: HANG_MS,
    outFile: FINDINGS_FILE,
    log: (line) => log.push(line),
  })
})

after(async () => {
  await stopAllPartitions()
})

/** Findings of these kinds, one readable paragraph per group, for an assertion message. */
function describeFindings(kinds: readonly FindingKind[]): string {
  const groups = result.report.findingGroups().filter((group) => kinds.includes(group.first.kind))
  const lines = groups.map(({ count, first }: { count: number; first: Finding }) => {
    const answer =
      first.answer !== undefined
        ? ` HTTP ${first.answer.status}${first.answer.errorType !== undefined ? ` ${first.answer.errorType}` : ''}`
        : ''
    return [
      `  [${first.kind}] ${first.category} ${first.operation}${answer} ×${count}: ${first.summary}`,
      `      e.g. case ${first.caseIndex}: ${first.label}`,
      ...(first.sent !== undefined ? [`      sent: ${JSON.stringify(first.sent.text.slice(0, 240))}`] : []),
      ...(first.output !== undefined ? [`      server: ${first.output.split('\n')[0]?.slice(0, 400) ?? ''}`] : []),
    ].join('\n')
  })
  return (
    `${groups.reduce((sum, group) => sum + group.count, 0)} finding(s):\n${lines.join('\n')}\n` +
    `replay: npm run fuzz -- --replay ${FINDINGS_FILE}\nrepeat: npm run fuzz -- --seed ${SEED} --requests ${REQUESTS}`
  )
}

function assertNone(kinds: readonly FindingKind[]): void {
  const count = kinds.reduce((sum, kind) => sum + result.report.countOf(kind), 0)
  assert.equal(count, 0, describeFindings(kinds))
}

describe(`a seeded fuzz run (seed ${SEED}, ${REQUESTS} requests, every category)`, { timeout: 240_000 }, () => {
  test('sent its requests, in every category', () => {
    assert.ok(result.report.requests >= REQUESTS, `only ${result.report.requests} requests were sent`)
    for (const category of ['structured', 'http', 'sigv4', 'crypto'] as const) {
      assert.ok(
        (result.report.categoryCounts().get(category)?.['4xx'] ?? 0) > 0,
        `no ${category} request was answered 4xx: the fuzzer did not reach the server`,
      )
    }
    assert.ok(
      (result.report.categoryCounts().get('structured')?.['2xx'] ?? 0) > 0,
      'no structured request succeeded: the pool-aware requests did not work',
    )
  })

  test('no answer is a 5xx', () => assertNone(['5xx']))
  test('no request hangs', () => assertNone(['hang']))
  test('no process crashes', () => assertNone(['crash']))
  test('no attack, misuse or invalid request is accepted', () => assertNone(['accepted']))
  test('no answer shows a stack trace, a source path or key material', () => assertNone(['stack-trace', 'leak']))
  test('every well-formed request is answered with well-formed HTTP', () => assertNone(['no-answer', 'bad-response']))
  test('key states and error names are what AWS specifies', () => assertNone(['state', 'wrong-error']))

  test('afterwards the partition answers /health 200 and a key made before the run still works', async () => {
    assert.equal((await getHealth(partition)).status, 200)
    const plaintext = Buffer.from('made before the fuzz run, used after it')
    const encrypted = await kms.send(new EncryptCommand({ KeyId: keyMadeBefore, Plaintext: plaintext }))
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }))
    assert.deepEqual(Buffer.from(decrypted.Plaintext ?? new Uint8Array()), plaintext)
    assert.equal(decrypted.KeyId?.endsWith(keyMadeBefore), true)
  })
})
