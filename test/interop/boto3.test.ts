/**
 * Interop: an unmodified boto3 `kms` client (Python) against a local partition, with only
 * `endpoint_url` overridden and credentials from the ordinary environment variables.
 *
 * test/interop/boto3_client.py does the calls and prints a JSON summary of what it saw:
 * one entry per step, each either observations (bytes compared byte for byte in Python)
 * or the exception boto3 raised where none was expected. This file runs it once against
 * a fresh partition and asserts on each step. boto3 missing is a failure, not a skip.
 *
 * No timing assertions: the only deadline turns a hung script into a readable failure.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { startPartition, type RunningPartition } from '../helpers/partition.js'

// Compiled to dist/test/interop/; the script stays in the source tree.
const SCRIPT = fileURLToPath(new URL('../../../test/interop/boto3_client.py', import.meta.url))
const PYTHON = 'python3'
const HOME_REGION = 'us-east-1'
const OTHER_REGION = 'eu-west-1'
const ACCOUNT_ID = '111122223333'
const ABSENT_KEY_ID = '11111111-2222-3333-4444-555555555555'
/** Only to turn a hung script into a failure; not an assertion about speed. */
const SCRIPT_DEADLINE_MS = 300_000

interface ProcessResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

interface ServiceError {
  code: string | null
  message?: string | null
  httpStatus?: number
  operation?: string
  unexpectedSuccess?: unknown
}

type Step = Record<string, unknown> & { unexpected?: Record<string, unknown> }

interface Summary {
  versions: { python: string; boto3: string; botocore: string }
  steps: Record<string, Step>
}

let partition: RunningPartition | undefined
let summary: Summary | undefined
const liveChildren = new Set<ChildProcess>()

function run(args: readonly string[], env: NodeJS.ProcessEnv, deadlineMs: number): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    liveChildren.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    const deadline = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
    child.once('error', (error) => {
      clearTimeout(deadline)
      liveChildren.delete(child)
      reject(new Error(`cannot run ${PYTHON} (is Python 3 installed and on PATH?): ${error.message}`))
    })
    child.once('close', (code, signal) => {
      clearTimeout(deadline)
      liveChildren.delete(child)
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
  })
}

/** The test's environment without any AWS_* setting of its own, so that nothing but ours reaches boto3. */
function pythonEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_')) env[name] = value
  return { ...env, AWS_CONFIG_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true', ...extra }
}

function describeResult(result: ProcessResult): string {
  return `exit ${String(result.code)} signal ${String(result.signal)}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`
}

/** One step's observations; fails with what boto3 raised if the step did not complete. */
function step(name: string): Step {
  if (summary === undefined) throw new Error('the boto3 script did not run (see the before hook)')
  const result = summary.steps[name]
  assert.ok(result !== undefined, `the boto3 script reported no step '${name}'`)
  if (result.unexpected !== undefined) {
    const { traceback, ...rest } = result.unexpected
    assert.fail(`step '${name}': boto3 raised ${JSON.stringify(rest)}${typeof traceback === 'string' ? `\n${traceback}` : ''}`)
  }
  return result
}

function serviceError(value: unknown): ServiceError {
  assert.ok(typeof value === 'object' && value !== null, `not an error: ${JSON.stringify(value)}`)
  return value as ServiceError
}

function assertServiceError(value: unknown, code: string, operation: string, message?: string | RegExp): void {
  const error = serviceError(value)
  assert.equal(error.code, code, `expected ${code} from ${operation}, got ${JSON.stringify(error)}`)
  assert.equal(error.operation, operation)
  assert.equal(error.httpStatus, 400, JSON.stringify(error))
  assert.equal(typeof error.message, 'string', `boto3 should find a message string in the error: ${JSON.stringify(error)}`)
  if (typeof message === 'string') assert.equal(error.message, message)
  else if (message !== undefined) assert.match(error.message ?? '', message)
}

describe('boto3 against a local partition', () => {
  before(async () => {
    assert.ok(existsSync(SCRIPT), `${SCRIPT} is missing`)
    const probe = await run(['-c', 'import boto3, botocore, sys; print(sys.executable, boto3.__version__)'], pythonEnvironment({}), 60_000)
    if (probe.code !== 0) {
      throw new Error(
        `boto3 is not importable by '${PYTHON}' on PATH; install it (pip install boto3, or apt-get install python3-boto3):\n` +
          describeResult(probe),
      )
    }
    partition = await startPartition({ regions: [HOME_REGION, OTHER_REGION], env: { TRENT_LOG_LEVEL: 'warn' } })
    const result = await run(
      [SCRIPT],
      pythonEnvironment({
        TRENT_ENDPOINT: partition.gatewayUrl,
        TRENT_REGION: HOME_REGION,
        TRENT_OTHER_REGION: OTHER_REGION,
        AWS_ACCESS_KEY_ID: partition.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: partition.credentials.secretAccessKey,
        AWS_SHARED_CREDENTIALS_FILE: join(partition.dataDir, 'credentials'),
      }),
      SCRIPT_DEADLINE_MS,
    )
    assert.equal(result.code, 0, `the boto3 script failed:\n${describeResult(result)}`)
    try {
      summary = JSON.parse(result.stdout) as Summary
    } catch {
      assert.fail(`the boto3 script printed something other than its JSON summary:\n${describeResult(result)}`)
    }
  })

  after(async () => {
    for (const child of liveChildren) child.kill('SIGKILL')
    await partition?.stop()
  })

  it('creates a key with a description and tags, and describes it by id and by ARN', () => {
    const created = step('createKey')
    const keyId = created.keyId as string
    assert.match(keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    assert.deepEqual(created, {
      keyId,
      arn: `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${keyId}`,
      description: 'boto3 interop key',
      keyState: 'Enabled',
      enabled: true,
      keyUsage: 'ENCRYPT_DECRYPT',
      keySpec: 'SYMMETRIC_DEFAULT',
      // botocore parsed the timestamp: it understood Trent's epoch seconds.
      creationDateType: 'datetime',
    })
    assert.deepEqual(step('describeKey'), {
      keyId,
      arn: `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${keyId}`,
      description: 'boto3 interop key',
      keyManager: 'CUSTOMER',
      origin: 'AWS_KMS',
      encryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      byArnKeyId: keyId,
      creationDateType: 'datetime',
    })
  })

  it('lists keys with the list_keys paginator', () => {
    const listed = step('listKeysPaginated')
    const ids = listed.listed as string[]
    assert.ok((listed.pageCount as number) >= 3, `5 keys in pages of 2 make at least 3 pages: ${JSON.stringify(listed)}`)
    assert.equal(listed.maxPageSize, 2)
    assert.equal(listed.distinct, true, 'no key should be listed twice across pages')
    assert.equal(listed.arnsMatchIds, true)
    for (const id of listed.expected as string[]) assert.ok(ids.includes(id), `${id} missing from the paginated list`)
    assert.deepEqual(ids, listed.unpaged, 'pages should add up to the unpaged list, in the same order')
    assert.equal(listed.lastPageTruncated, false)
  })

  it('encrypts and decrypts with an encryption context, with and without KeyId, byte for byte', () => {
    const result = step('encryptDecrypt')
    const arn = step('createKey').arn
    assert.equal(result.ciphertextType, 'bytes')
    assert.equal(result.plaintextType, 'bytes')
    assert.equal(result.encryptKeyId, arn)
    assert.equal(result.decryptKeyId, arn)
    assert.equal(result.encryptionAlgorithm, 'SYMMETRIC_DEFAULT')
    assert.equal(result.roundTripWithKeyId, true)
    assert.equal(result.roundTripWithoutKeyId, true)
    assertServiceError(result.wrongContext, 'InvalidCiphertextException', 'Decrypt')
    assertServiceError(result.missingContext, 'InvalidCiphertextException', 'Decrypt')
  })

  it('generates data keys (with and without plaintext) that unwrap to the same bytes', () => {
    assert.deepEqual(step('generateDataKey'), {
      aes256Length: 32,
      bytes16Length: 16,
      keyId: step('createKey').arn,
      unwrapsToSamePlaintext: true,
      withoutPlaintextHasPlaintext: false,
      withoutPlaintextUnwrappedLength: 16,
    })
  })

  it('generates random bytes', () => {
    assert.deepEqual(step('generateRandom'), { type: 'bytes', length32: 32, length1024: 1024, differ: true })
  })

  it('creates, lists (paginated), updates and deletes aliases', () => {
    const result = step('aliases')
    const keyId = step('createKey').keyId
    const other = (step('listKeysPaginated').expected as string[])[1]
    const aliasArn = `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:alias/boto3-interop`
    assert.deepEqual(result.listedForKey, [{ name: 'alias/boto3-interop', target: keyId, arn: aliasArn }])
    assert.equal(result.describedViaAlias, keyId)
    assert.equal(result.encryptViaAliasKeyId, step('createKey').arn)
    assertServiceError(result.duplicate, 'AlreadyExistsException', 'CreateAlias', /alias\/boto3-interop/)
    assert.equal(result.afterUpdate, other)
    assert.equal(result.oldCiphertextDecrypts, true)
    assert.ok((result.paginatedNames as string[]).includes('alias/boto3-interop'), JSON.stringify(result.paginatedNames))
    assert.ok(!(result.afterDelete as string[]).includes('alias/boto3-interop'))
    assertServiceError(result.describeDeleted, 'NotFoundException', 'DescribeKey', /alias\/boto3-interop/)
  })

  it('tags and untags a key', () => {
    assert.deepEqual(step('tags'), {
      initial: [
        { TagKey: 'env', TagValue: 'test' },
        { TagKey: 'team', TagValue: 'security' },
      ],
      final: [
        { TagKey: 'env', TagValue: 'prod' },
        { TagKey: 'owner', TagValue: 'alice' },
      ],
    })
  })

  it('enables rotation, rotates on demand, lists rotations; old ciphertexts still decrypt', () => {
    const keyId = step('createKey').keyId
    assert.deepEqual(step('rotation'), {
      enabledBefore: false,
      enabledAfter: true,
      rotationPeriodInDays: 90,
      onDemandKeyId: keyId, // AWS answers RotateKeyOnDemand with the bare key id (its API reference example)
      rotationCount: 1,
      rotationTypes: ['ON_DEMAND'],
      rotationKeyIds: [keyId],
      rotationDateType: ['datetime'],
      oldCiphertextDecrypts: true,
      newCiphertextDecrypts: true,
    })
  })

  it('schedules and cancels key deletion', () => {
    const result = step('deletion')
    const keyId = (step('listKeysPaginated').expected as string[])[2]
    const arn = `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${keyId}`
    assert.equal(result.scheduledKeyId, arn)
    assert.equal(result.scheduledKeyState, 'PendingDeletion')
    assert.equal(result.pendingWindowInDays, 7)
    assert.equal(result.deletionDateType, 'datetime')
    assert.equal(result.describedState, 'PendingDeletion')
    assert.equal(result.describedHasDeletionDate, true)
    assertServiceError(result.encryptWhilePending, 'KMSInvalidStateException', 'Encrypt', `${arn} is pending deletion.`)
    assert.equal(result.cancelledKeyId, arn)
    assert.equal(result.stateAfterCancel, 'Disabled')
    assert.equal(result.stateAfterEnable, 'Enabled')
  })

  it('raises NotFoundException, with the AWS message, for an absent key or alias', () => {
    const result = step('errorNotFound')
    const message = `Key 'arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${ABSENT_KEY_ID}' does not exist`
    assertServiceError(result.describe, 'NotFoundException', 'DescribeKey', message)
    assertServiceError(result.encrypt, 'NotFoundException', 'Encrypt', message)
    assertServiceError(
      result.alias,
      'NotFoundException',
      'DescribeKey',
      `Alias arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:alias/does-not-exist is not found.`,
    )
  })

  it('raises InvalidCiphertextException for a tampered or foreign blob', () => {
    const result = step('errorInvalidCiphertext')
    for (const name of ['tamperedTag', 'tamperedBody', 'garbage']) {
      assertServiceError(result[name], 'InvalidCiphertextException', 'Decrypt')
    }
  })

  it('raises DisabledException for a disabled key, and works again once enabled', () => {
    const result = step('errorDisabled')
    const keyId = (step('listKeysPaginated').expected as string[])[3]
    const message = `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${keyId} is disabled.`
    assert.equal(result.stateDisabled, 'Disabled')
    assertServiceError(result.encrypt, 'DisabledException', 'Encrypt', message)
    assertServiceError(result.decrypt, 'DisabledException', 'Decrypt', message)
    assertServiceError(result.generateDataKey, 'DisabledException', 'GenerateDataKey', message)
    assert.equal(result.decryptsAfterEnable, true)
  })

  it('raises ValidationException for out-of-range input', () => {
    const result = step('errorValidation')
    assertServiceError(result.randomTooMany, 'ValidationException', 'GenerateRandom', /numberOfBytes/)
    assertServiceError(result.badAliasName, 'ValidationException', 'CreateAlias', /alias\//)
  })

  it('keeps regions apart: a client for eu-west-1 sees none of us-east-1 keys', () => {
    const result = step('otherRegion')
    const home = step('createKey')
    assert.ok(!(result.listed as string[]).includes(home.keyId as string), JSON.stringify(result.listed))
    assertServiceError(
      result.describeHomeKey,
      'NotFoundException',
      'DescribeKey',
      `Key 'arn:aws:kms:${OTHER_REGION}:${ACCOUNT_ID}:key/${String(home.keyId)}' does not exist`,
    )
    assert.match(result.createdArn as string, new RegExp(`^arn:aws:kms:${OTHER_REGION}:${ACCOUNT_ID}:key/`))
    assert.equal(result.createdKeyVisibleAtHome, false)
    const foreign = serviceError(result.decryptHomeCiphertext)
    assert.ok(
      foreign.code === 'InvalidCiphertextException' || foreign.code === 'NotFoundException',
      `decrypting another region's ciphertext should fail as AWS does: ${JSON.stringify(foreign)}`,
    )
  })

  it('signs (ECDSA P-384, RSA-PSS) with signatures pyca/cryptography verifies, and MACs with HMAC_512', () => {
    const result = step('signAndMac') as Record<string, unknown>
    for (const [spec, algorithm] of [
      ['ECC_NIST_P384', 'ECDSA_SHA_384'],
      ['RSA_2048', 'RSASSA_PSS_SHA_256'],
    ] as const) {
      const signing = result[spec] as Record<string, unknown>
      assert.equal(signing.signatureType, 'bytes')
      assert.equal(signing.signingAlgorithm, algorithm)
      assert.equal(signing.verifiedByPyca, true, `${spec}: pyca/cryptography verifies Trent's signature`)
      assert.equal(signing.verifiedByTrent, true)
      assertServiceError(signing.tampered, 'KMSInvalidSignatureException', 'Verify')
    }
    assert.equal(result.macLength, 64)
    assert.equal(result.macValid, true)
    assertServiceError(result.macOtherMessage, 'KMSInvalidMacException', 'VerifyMac')
  })

  it('reads the generated credentials file through an explicit boto3 profile', () => {
    assert.deepEqual(step('profileSession'), {
      accessKeyIdMatchesEnvironment: true,
      profileRegion: HOME_REGION,
      seesHomeKey: true,
    })
  })

  it('ran every step of the script', () => {
    if (summary === undefined) throw new Error('the boto3 script did not run')
    assert.deepEqual(Object.keys(summary.steps).sort(), [
      'aliases',
      'createKey',
      'deletion',
      'describeKey',
      'encryptDecrypt',
      'errorDisabled',
      'errorInvalidCiphertext',
      'errorNotFound',
      'errorValidation',
      'generateDataKey',
      'generateRandom',
      'listKeysPaginated',
      'otherRegion',
      'profileSession',
      'rotation',
      'signAndMac',
      'tags',
    ])
    // Which Python and boto3 ran, for whoever reads the test output.
    assert.match(summary.versions.boto3, /^\d+\.\d+\.\d+/)
  })
})
