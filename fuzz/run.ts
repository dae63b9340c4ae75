/**
 * `npm run fuzz`: sends a partition at least 100,000 requests (structured requests over
 * every operation and member of the model, malformed HTTP, SigV4 attacks, cryptographic
 * misuse) and reports every 5xx, hang, crash, accepted attack, stack trace and leak with
 * a replayable request. Exits 1 if there is any finding.
 *
 * Flags:
 *   --requests N          requests to send (default 100000)
 *   --seed S              the run's seed (default: random; always printed, so a run can be repeated)
 *   --categories a,b      any of structured,http,sigv4,crypto (default all)
 *   --concurrency N       requests in flight (default 24)
 *   --hang-ms MS          no complete answer and no close within this long is a hang (default 30000)
 *   --out FILE            findings as JSON lines (default: trent-fuzz-<seed>.jsonl in the temp dir)
 *   --regions a,b         regions of the partition started (default us-east-1,eu-west-1)
 *   --endpoint URL        fuzz a partition that already runs, with the admin credentials in
 *                         TRENT_ACCESS_KEY_ID / TRENT_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID /
 *                         AWS_SECRET_ACCESS_KEY); its regions from --regions or its /health
 *   --replay FILE         send the cases of a findings file again and print what comes back
 *                         (the first 3 findings of each group of alike ones, 8 at a time)
 *   --case N              with --replay: only the findings of case N; without --replay: send
 *                         case N of --seed (the same case the run with that seed sent) and print
 *   --all                 with --replay: every finding, not 3 of each group
 *
 * Without --endpoint it starts its own partition with the real launcher
 * (dist/src/partition/main.js, forked with IPC as the tests do) in a temp data dir, and
 * stops it at the end.
 *
 * @module
 */
import { randomInt } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildFixtures } from './fixtures.js'
import { KmsClient } from './kms-client.js'
import { hashSeed } from './prng.js'
import { CATEGORIES, type Category } from './recipe.js'
import { readFindings, replayFindings, sendCases } from './replay.js'
import { generateCase } from './engine.js'
import { runSession, signerFor } from './session.js'
import { attachToEndpoint, startOwnPartition, type Target } from './target.js'

const USAGE = `Usage: npm run fuzz -- [flags]   (or: node dist/fuzz/run.js [flags])

  --requests N          requests to send (default 100000)
  --seed S              the run's seed (default: random; always printed, so a run can be repeated)
  --categories a,b      any of ${CATEGORIES.join(',')} (default all)
  --concurrency N       requests in flight (default 24)
  --hang-ms MS          no complete answer and no close within this long is a hang (default 30000)
  --out FILE            findings as JSON lines (default: trent-fuzz-<seed>.jsonl in the temp dir)
  --regions a,b         regions of the partition started (default us-east-1,eu-west-1)
  --endpoint URL        fuzz a partition that already runs, with its admin credentials in
                        TRENT_ACCESS_KEY_ID / TRENT_SECRET_ACCESS_KEY
  --replay FILE         send the cases of a findings file again and print what comes back
                        (the first 3 findings of each group of alike ones, 8 at a time)
  --case N              with --replay: only the findings of case N; without --replay: send
                        case N of --seed (the case a run with that seed sent) and print
  --all                 with --replay: every finding, not 3 of each group

Exit status: 0 without findings, 1 with findings (or, with --replay, if any reproduced), 2 on bad usage.
`

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n`)
  process.exit(2)
}

function log(line: string): void {
  process.stderr.write(`[fuzz] ${line}\n`)
}

/** By default, --replay sends this many findings of each group of alike ones... */
const REPLAYED_PER_GROUP = 3
/** ...this many at once (a hang takes the whole deadline). */
const REPLAY_CONCURRENCY = 8

function nonNegativeInteger(value: string, flag: string): number {
  if (!/^\d+$/.test(value)) fail(`${flag} must be a number, not '${value}'`)
  return Number(value)
}

function positiveInteger(value: string, flag: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1) fail(`${flag} must be a positive integer, not '${value}'`)
  return parsed
}

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    categories: { type: 'string', default: CATEGORIES.join(',') },
    concurrency: { type: 'string', default: '24' },
    'hang-ms': { type: 'string', default: '30000' },
    out: { type: 'string' },
    regions: { type: 'string' },
    endpoint: { type: 'string' },
    replay: { type: 'string' },
    case: { type: 'string' },
    all: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})

if (flags.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const categories = flags.categories
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '')
for (const name of categories)
  if (!(CATEGORIES as readonly string[]).includes(name)) fail(`--categories: unknown category '${name}' (known: ${CATEGORIES.join(', ')})`)
if (categories.length === 0) fail('--categories names no category')
const seedText = flags.seed ?? String(randomInt(0, 2 ** 32))
const seed = /^\d+$/.test(seedText) && Number(seedText) < 2 ** 32 ? Number(seedText) : hashSeed(seedText)
const regions = flags.regions
  ?.split(',')
  .map((region) => region.trim())
  .filter((region) => region !== '')
const hangMs = positiveInteger(flags['hang-ms'], '--hang-ms')

async function openTarget(): Promise<Target> {
  if (flags.endpoint === undefined) {
    log(`starting a partition (${(regions ?? ['us-east-1', 'eu-west-1']).join(', ')}) with the real launcher`)
    return startOwnPartition(regions ?? ['us-east-1', 'eu-west-1'])
  }
  const accessKeyId = process.env.TRENT_ACCESS_KEY_ID ?? process.env.AWS_ACCESS_KEY_ID
  const secretAccessKey = process.env.TRENT_SECRET_ACCESS_KEY ?? process.env.AWS_SECRET_ACCESS_KEY
  if (accessKeyId === undefined || secretAccessKey === undefined)
    fail('--endpoint needs TRENT_ACCESS_KEY_ID and TRENT_SECRET_ACCESS_KEY (the partition admin credentials)')
  return attachToEndpoint(flags.endpoint, regions, { accessKeyId, secretAccessKey })
}

async function replay(target: Target, file: string): Promise<number> {
  const findings = readFindings(file)
  log(`replaying ${findings.length} finding(s) of ${file} against ${target.description}`)
  const signer = signerFor(target)
  const client = new KmsClient(target.endpoint, signer)
  try {
    const fixtures = await buildFixtures(client, target.regions, randomInt(0, 2 ** 32).toString(16), log)
    const onlyCase = flags.case === undefined ? undefined : nonNegativeInteger(flags.case, '--case')
    const summary = await replayFindings(
      findings,
      { target, signer, fixtures: fixtures.values, hangMs, secrets: [target.credentials.secretAccessKey] },
      { onlyCase, perGroup: flags.all ? undefined : REPLAYED_PER_GROUP, concurrency: REPLAY_CONCURRENCY },
      (line) => process.stdout.write(`${line}\n`),
    )
    const more = summary.skipped > 0 ? `; ${summary.skipped} more like them not replayed (--all replays every one)` : ''
    process.stdout.write(`\nreplayed ${summary.replayed} finding(s): ${summary.reproduced} showed a problem again${more}\n`)
    return summary.reproduced > 0 ? 1 : 0
  } finally {
    client.close()
  }
}

/** `--seed S --case N`: case N of seed S, made and sent again, without a findings file. */
async function sendOneCase(target: Target, caseIndex: number): Promise<number> {
  if (flags.seed === undefined) fail('--case without --replay needs the --seed of the run')
  const signer = signerFor(target)
  const client = new KmsClient(target.endpoint, signer)
  try {
    const fixtures = await buildFixtures(client, target.regions, randomInt(0, 2 ** 32).toString(16), log)
    const fuzzCase = generateCase(seed, caseIndex, categories as Category[], {
      primary: fixtures.primaryRegion,
      secondary: fixtures.secondaryRegion,
    })
    const outcome = await sendCases(`case ${caseIndex} of seed ${seedText} (${fuzzCase.category})`, [fuzzCase], seedText, true, {
      target,
      signer,
      fixtures: fixtures.values,
      hangMs,
      secrets: [target.credentials.secretAccessKey],
    })
    process.stdout.write(`${outcome.lines.join('\n')}\n`)
    return outcome.reproduced ? 1 : 0
  } finally {
    client.close()
  }
}

async function fuzz(target: Target): Promise<number> {
  const requests = positiveInteger(flags.requests, '--requests')
  const outFile = flags.out ?? join(tmpdir(), `trent-fuzz-${seedText.replace(/[^\w.-]/g, '_')}.jsonl`)
  log(`seed ${seedText}: ${requests} requests (${categories.join(', ')}) against ${target.description}; findings to ${outFile}`)
  const result = await runSession(target, {
    seed,
    seedText,
    requests,
    categories: categories as Category[],
    concurrency: positiveInteger(flags.concurrency, '--concurrency'),
    hangMs,
    outFile,
    log,
  })
  const seconds = result.campaignMs / 1000
  const header = [
    `Trent fuzz: ${result.report.requests} requests in ${seconds.toFixed(1)} s (${(result.report.requests / seconds).toFixed(0)}/s; key pool ${(result.fixtures.ms / 1000).toFixed(1)} s, ${(result.ms / 1000).toFixed(1)} s in all), seed ${seedText}`,
    ...(result.cpu !== undefined ? [result.cpu] : []),
    `after the run: GET /health ${result.after.healthStatus}; a pool key ${result.after.roundTrip === 'ok' ? 'still encrypts and decrypts' : `fails: ${result.after.roundTrip}`}`,
    `repeat: npm run fuzz -- --seed ${seedText} --requests ${requests}${flags.categories !== CATEGORIES.join(',') ? ` --categories ${flags.categories}` : ''}${flags.endpoint !== undefined ? ` --endpoint ${flags.endpoint}` : ''}${flags.regions !== undefined ? ` --regions ${flags.regions}` : ''}`,
  ].join('\n')
  process.stdout.write(`${result.report.summary(header)}\n`)
  if (result.report.findings > 0)
    process.stdout.write(`\nfindings written to ${outFile}; replay them with: npm run fuzz -- --replay ${outFile}\n`)
  return result.report.findings > 0 ? 1 : 0
}

const target = await openTarget().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)))
let exitCode = 2
try {
  if (flags.replay !== undefined) exitCode = await replay(target, flags.replay)
  else if (flags.case !== undefined) exitCode = await sendOneCase(target, nonNegativeInteger(flags.case, '--case'))
  else exitCode = await fuzz(target)
} catch (err) {
  // The key pool could not be made, or the partition went away under the run.
  process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)}\n`)
} finally {
  await target.stop()
}
process.exit(exitCode)
