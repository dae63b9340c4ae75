/**
 * One fuzzing session against a target: make the key pool, run the campaign, then check
 * that the partition survived it (GET /health is 200, and a key made before the run still
 * encrypts and decrypts). `npm run fuzz` and test/security/fuzz.test.ts both run this.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { cpuBetween, describeCpu, sampleCpu } from '../bench/cpu-usage.js'
import { runCampaign } from './engine.js'
import { buildFixtures, type Fixtures } from './fixtures.js'
import { KmsClient, valueAt } from './kms-client.js'
import { ENCRYPTION_CONTEXT, fixture } from './pool.js'
import type { Category } from './recipe.js'
import { Report } from './report.js'
import { RequestSigner } from './signer.js'
import type { Target } from './target.js'

export interface SessionOptions {
  seed: number
  /** The seed as the user gave it (or as it was drawn), for the report and findings. */
  seedText: string
  requests: number
  categories: readonly Category[]
  concurrency: number
  hangMs: number
  outFile: string | undefined
  log: (line: string) => void
}

export interface AfterRun {
  healthStatus: number
  healthBody: string
  /** Encrypt then Decrypt with the pool's first key, made before the run. */
  roundTrip: 'ok' | string
}

export interface SessionResult {
  report: Report
  fixtures: Fixtures
  after: AfterRun
  /** The campaign alone (without the key pool). */
  campaignMs: number
  /**
   * Where the CPU went during the campaign, per process, in µs per request: on a shared
   * 2-core machine a steadier figure than requests per second (Linux only).
   */
  cpu: string | undefined
  ms: number
}

export function signerFor(target: Target): RequestSigner {
  return new RequestSigner(target.credentials, `${target.endpoint.host}:${target.endpoint.port}`)
}

async function roundTrip(client: KmsClient, fixtures: Fixtures): Promise<'ok' | string> {
  const keyId = fixtures.values.get(fixture.keyId('sym'))
  if (keyId === undefined) return 'the pool has no key sym'
  const plaintext = randomBytes(48).toString('base64')
  try {
    const encrypted = await client.call(fixtures.primaryRegion, 'Encrypt', {
      KeyId: keyId,
      Plaintext: plaintext,
      EncryptionContext: ENCRYPTION_CONTEXT,
    })
    const decrypted = await client.call(fixtures.primaryRegion, 'Decrypt', {
      CiphertextBlob: valueAt(encrypted, 'CiphertextBlob'),
      EncryptionContext: ENCRYPTION_CONTEXT,
    })
    return valueAt(decrypted, 'Plaintext') === plaintext ? 'ok' : 'Decrypt returned another plaintext'
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

export async function runSession(target: Target, options: SessionOptions): Promise<SessionResult> {
  const started = Date.now()
  const signer = signerFor(target)
  const client = new KmsClient(target.endpoint, signer)
  const report = new Report(options.outFile)
  try {
    const fixtures = await buildFixtures(client, target.regions, randomBytes(4).toString('hex'), options.log)
    const regions = { primary: fixtures.primaryRegion, secondary: fixtures.secondaryRegion }
    const cpuBefore = sampleCpu()
    const campaignStarted = Date.now()
    await runCampaign(
      { target, signer, fixtures: fixtures.values, hangMs: options.hangMs, secrets: [target.credentials.secretAccessKey] },
      {
        seed: options.seed,
        seedText: options.seedText,
        requests: options.requests,
        categories: options.categories,
        concurrency: options.concurrency,
        regions,
        log: options.log,
      },
      report,
    )
    const campaignMs = Date.now() - campaignStarted
    const usage = cpuBetween(cpuBefore, sampleCpu())
    const cpu = usage === undefined ? undefined : describeCpu(usage, report.requests / (campaignMs / 1000))
    const health = await target.health()
    const after: AfterRun = { healthStatus: health.status, healthBody: health.body, roundTrip: await roundTrip(client, fixtures) }
    const problems = [
      ...(after.healthStatus === 200 ? [] : [`GET /health answers ${after.healthStatus} after the run: ${after.healthBody.slice(0, 300)}`]),
      ...(after.roundTrip === 'ok' ? [] : [`a key made before the run no longer encrypts and decrypts: ${after.roundTrip}`]),
    ]
    for (const summary of problems) {
      report.add({
        kind: 'crash',
        category: 'structured',
        operation: 'partition',
        summary,
        label: 'the check after the run',
        seed: options.seedText,
        caseIndex: -1,
        stepIndex: 0,
        atMs: Date.now(),
      })
    }
    return { report, fixtures, after, campaignMs, cpu, ms: Date.now() - started }
  } finally {
    client.close()
    report.close()
  }
}
