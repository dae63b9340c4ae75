/**
 * Interop: the unmodified AWS CLI v2 (`/usr/bin/aws`, Debian package `awscli`) against a
 * local partition, configured only with `--endpoint-url` and `--region`.
 *
 * Credentials reach the CLI the two ordinary ways: the shared-credentials file the
 * launcher generates (`AWS_SHARED_CREDENTIALS_FILE=DIR/credentials --profile trent`), and
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. No user configuration can interfere: every
 * AWS_* variable of the test's environment is dropped and AWS_CONFIG_FILE is /dev/null.
 *
 * Blobs: the CLI v2 reads `fileb://` files as raw bytes, but a blob given inline is
 * base64 by default (`cli_binary_format = base64`) and raw text only with
 * `--cli-binary-format raw-in-base64-out`; blobs in its JSON output (CiphertextBlob,
 * Plaintext) are always base64. Every round trip here is compared byte for byte.
 *
 * The CLI missing is a failure (CI installs it), unless TRENT_SKIP_AWS_CLI=1.
 * No timing assertions: the only deadlines turn a hung process into a readable failure.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { removeTempDir, startPartition, type RunningPartition } from '../helpers/partition.js'

const AWS_CLI = '/usr/bin/aws'
const HOME_REGION = 'us-east-1'
const OTHER_REGION = 'eu-west-1'
const ACCOUNT_ID = '111122223333'
const ABSENT_KEY_ID = '11111111-2222-3333-4444-555555555555'
/** Only to turn a hung CLI into a failure; not an assertion about speed. */
const CLI_DEADLINE_MS = 120_000
const SKIP = process.env.TRENT_SKIP_AWS_CLI === '1'

interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  command: string
}

type CredentialMode = 'profile' | 'env'

let partition: RunningPartition | undefined
let workDir: string | undefined
const liveChildren = new Set<ChildProcess>()

function started(): RunningPartition {
  if (partition === undefined) throw new Error('the partition did not start (see the before hook)')
  return partition
}

function work(): string {
  if (workDir === undefined) throw new Error('no work dir')
  return workDir
}

let fileCounter = 0
/** Writes `bytes` to a fresh file of the work dir; returns its path. */
function writeBlob(bytes: Uint8Array, name = 'blob'): string {
  fileCounter += 1
  const path = join(work(), `${name}-${fileCounter}.bin`)
  writeFileSync(path, bytes)
  return path
}

/** The test's environment with every AWS_* setting removed, plus what makes the CLI hermetic. */
function cliEnvironment(mode: CredentialMode): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    // /usr/bin/aws runs the system python: a PYTHONPATH/PYTHONHOME meant for another one must not reach it.
    if (name.startsWith('AWS_') || name === 'PYTHONPATH' || name === 'PYTHONHOME') continue
    env[name] = value
  }
  env.AWS_CONFIG_FILE = '/dev/null'
  env.AWS_PAGER = ''
  env.AWS_EC2_METADATA_DISABLED = 'true'
  const p = started()
  if (mode === 'profile') {
    env.AWS_SHARED_CREDENTIALS_FILE = join(p.dataDir, 'credentials')
  } else {
    env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null'
    env.AWS_ACCESS_KEY_ID = p.credentials.accessKeyId
    env.AWS_SECRET_ACCESS_KEY = p.credentials.secretAccessKey
  }
  return env
}

function runProcess(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const command = [file, ...args].join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    liveChildren.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    const deadline = setTimeout(() => child.kill('SIGKILL'), CLI_DEADLINE_MS)
    child.once('error', (error) => {
      clearTimeout(deadline)
      liveChildren.delete(child)
      reject(new Error(`cannot run ${command}: ${error.message}`))
    })
    child.once('close', (code, signal) => {
      clearTimeout(deadline)
      liveChildren.delete(child)
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        command,
      })
    })
  })
}

/** `aws <args>` against the partition, for `region`, with credentials from `mode`. */
function aws(mode: CredentialMode, region: string, args: readonly string[]): Promise<CliResult> {
  const p = started()
  const globals = ['--endpoint-url', p.gatewayUrl, '--region', region, '--output', 'json', '--no-cli-pager']
  if (mode === 'profile') globals.push('--profile', 'trent')
  return runProcess(AWS_CLI, [...globals, ...args], cliEnvironment(mode))
}

function describeResult(result: CliResult): string {
  return `${result.command}\nexit ${String(result.code)} signal ${String(result.signal)}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`
}

/** Runs a command that must succeed; returns its JSON output (or {} when it prints nothing). */
async function awsJson(mode: CredentialMode, region: string, args: readonly string[]): Promise<Record<string, unknown>> {
  const result = await aws(mode, region, args)
  assert.equal(result.code, 0, `the AWS CLI failed:\n${describeResult(result)}`)
  if (result.stdout.trim() === '') return {}
  try {
    return JSON.parse(result.stdout) as Record<string, unknown>
  } catch {
    assert.fail(`the AWS CLI printed something other than JSON:\n${describeResult(result)}`)
  }
}

/** Runs a command that must fail with the service error `code`; returns the CLI's stderr. */
async function awsError(mode: CredentialMode, region: string, args: readonly string[], code: string, operation: string): Promise<string> {
  const result = await aws(mode, region, args)
  // 254: "the command was parsed and a request made, but the service returned an error".
  assert.equal(result.code, 254, `expected the AWS CLI to fail with a service error:\n${describeResult(result)}`)
  assert.match(result.stderr, new RegExp(`An error occurred \\(${code}\\) when calling the ${operation} operation`), describeResult(result))
  return result.stderr
}

function field<T = string>(object: Record<string, unknown>, ...path: string[]): T {
  let value: unknown = object
  for (const name of path) {
    assert.ok(typeof value === 'object' && value !== null, `no ${path.join('.')} in ${JSON.stringify(object)}`)
    value = (value as Record<string, unknown>)[name]
  }
  assert.notEqual(value, undefined, `no ${path.join('.')} in ${JSON.stringify(object)}`)
  return value as T
}

/** A blob of the CLI's JSON output: base64 text, always. */
function blob(object: Record<string, unknown>, name: string): Buffer {
  const text = field(object, name)
  assert.equal(typeof text, 'string', `${name} should be a base64 string`)
  assert.match(text, /^[A-Za-z0-9+/]*={0,2}$/, `${name} should be base64`)
  return Buffer.from(text, 'base64')
}

async function createKey(mode: CredentialMode, region: string, description: string): Promise<{ keyId: string; arn: string }> {
  const created = await awsJson(mode, region, ['kms', 'create-key', '--description', description])
  return { keyId: field(created, 'KeyMetadata', 'KeyId'), arn: field(created, 'KeyMetadata', 'Arn') }
}

async function listKeyIds(mode: CredentialMode, region: string, extra: readonly string[] = []): Promise<string[]> {
  const listed = await awsJson(mode, region, ['kms', 'list-keys', ...extra])
  return field<Array<{ KeyId: string }>>(listed, 'Keys').map((key) => key.KeyId)
}

/** Every byte value, then some UTF-8: no encoding step can go unnoticed. */
const PLAINTEXT = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('héllo wörld ✓\n\r\0end', 'utf8')])

describe('AWS CLI v2 against a local partition', { skip: SKIP ? 'TRENT_SKIP_AWS_CLI=1' : false }, () => {
  before(async () => {
    if (!existsSync(AWS_CLI)) {
      throw new Error(
        `${AWS_CLI} is missing: install the AWS CLI v2 (Debian/Ubuntu: apt-get install awscli), ` +
          'or set TRENT_SKIP_AWS_CLI=1 to skip these interop tests',
      )
    }
    workDir = mkdtempSync(join(tmpdir(), 'trent-aws-cli-'))
    partition = await startPartition({ regions: [HOME_REGION, OTHER_REGION], env: { TRENT_LOG_LEVEL: 'warn' } })
  })

  after(async () => {
    for (const child of liveChildren) child.kill('SIGKILL')
    try {
      await partition?.stop()
    } finally {
      if (workDir !== undefined) removeTempDir(workDir)
    }
  })

  it('is the AWS CLI v2', async () => {
    const result = await runProcess(AWS_CLI, ['--version'], cliEnvironment('env'))
    assert.equal(result.code, 0, describeResult(result))
    // v1 prints its version on stderr, v2 on stdout: look at both, demand v2.
    assert.match(`${result.stdout}${result.stderr}`, /^aws-cli\/2\.\d+\.\d+ /, describeResult(result))
  })

  it('works with the generated credentials file (--profile trent): keys, tags, encrypt, decrypt, data keys', async () => {
    const mode = 'profile'
    const created = await awsJson(mode, HOME_REGION, [
      'kms',
      'create-key',
      '--description',
      'aws cli interop key',
      '--tags',
      'TagKey=team,TagValue=security',
      'TagKey=env,TagValue=test',
    ])
    const keyId = field(created, 'KeyMetadata', 'KeyId')
    const arn = field(created, 'KeyMetadata', 'Arn')
    assert.match(keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    assert.equal(arn, `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${keyId}`)
    assert.equal(field(created, 'KeyMetadata', 'Description'), 'aws cli interop key')
    assert.equal(field(created, 'KeyMetadata', 'KeyState'), 'Enabled')
    assert.equal(field(created, 'KeyMetadata', 'KeyUsage'), 'ENCRYPT_DECRYPT')
    assert.equal(field(created, 'KeyMetadata', 'KeySpec'), 'SYMMETRIC_DEFAULT')
    // The CLI renders timestamps it parsed as ISO 8601: it understood the epoch seconds.
    assert.match(field(created, 'KeyMetadata', 'CreationDate'), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/)

    for (const id of [keyId, arn]) {
      const described = await awsJson(mode, HOME_REGION, ['kms', 'describe-key', '--key-id', id])
      assert.equal(field(described, 'KeyMetadata', 'KeyId'), keyId)
      assert.equal(field(described, 'KeyMetadata', 'Arn'), arn)
      assert.equal(field(described, 'KeyMetadata', 'Description'), 'aws cli interop key')
      assert.equal(field(described, 'KeyMetadata', 'KeyManager'), 'CUSTOMER')
      assert.deepEqual(field(described, 'KeyMetadata', 'EncryptionAlgorithms'), ['SYMMETRIC_DEFAULT'])
    }

    const tags = await awsJson(mode, HOME_REGION, ['kms', 'list-resource-tags', '--key-id', keyId])
    const sortedTags = field<Array<{ TagKey: string; TagValue: string }>>(tags, 'Tags').sort((a, b) => a.TagKey.localeCompare(b.TagKey))
    assert.deepEqual(sortedTags, [
      { TagKey: 'env', TagValue: 'test' },
      { TagKey: 'team', TagValue: 'security' },
    ])

    assert.ok((await listKeyIds(mode, HOME_REGION)).includes(keyId), 'list-keys should list the new key')

    // Encrypt a file of raw bytes, with an encryption context in shorthand syntax.
    const encrypted = await awsJson(mode, HOME_REGION, [
      'kms',
      'encrypt',
      '--key-id',
      keyId,
      '--plaintext',
      `fileb://${writeBlob(PLAINTEXT, 'plaintext')}`,
      '--encryption-context',
      'purpose=interop,client=aws-cli',
    ])
    assert.equal(field(encrypted, 'KeyId'), arn)
    assert.equal(field(encrypted, 'EncryptionAlgorithm'), 'SYMMETRIC_DEFAULT')
    const ciphertext = blob(encrypted, 'CiphertextBlob')
    assert.ok(ciphertext.length > PLAINTEXT.length)
    const ciphertextFile = `fileb://${writeBlob(ciphertext, 'ciphertext')}`

    // Decrypt, with and without --key-id; the context in shorthand and in JSON.
    const decryptions = [
      ['--encryption-context', 'purpose=interop,client=aws-cli'],
      ['--encryption-context', '{"client":"aws-cli","purpose":"interop"}', '--key-id', keyId],
      ['--encryption-context', 'purpose=interop,client=aws-cli', '--key-id', arn],
    ]
    for (const extra of decryptions) {
      const decrypted = await awsJson(mode, HOME_REGION, ['kms', 'decrypt', '--ciphertext-blob', ciphertextFile, ...extra])
      assert.equal(field(decrypted, 'KeyId'), arn)
      assert.equal(field(decrypted, 'EncryptionAlgorithm'), 'SYMMETRIC_DEFAULT')
      assert.ok(blob(decrypted, 'Plaintext').equals(PLAINTEXT), `plaintext should round-trip byte for byte (${extra.join(' ')})`)
    }

    // The context is bound to the ciphertext: a different or missing one is refused.
    await awsError(
      mode,
      HOME_REGION,
      ['kms', 'decrypt', '--ciphertext-blob', ciphertextFile, '--encryption-context', 'purpose=other,client=aws-cli'],
      'InvalidCiphertextException',
      'Decrypt',
    )
    await awsError(mode, HOME_REGION, ['kms', 'decrypt', '--ciphertext-blob', ciphertextFile], 'InvalidCiphertextException', 'Decrypt')
    // A flipped bit anywhere in the blob, too.
    const tampered = Buffer.from(ciphertext)
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
    await awsError(
      mode,
      HOME_REGION,
      ['kms', 'decrypt', '--ciphertext-blob', `fileb://${writeBlob(tampered)}`, '--encryption-context', 'purpose=interop,client=aws-cli'],
      'InvalidCiphertextException',
      'Decrypt',
    )

    // Data keys: the plaintext and the wrapped copy are the same key.
    const dataKey = await awsJson(mode, HOME_REGION, [
      'kms',
      'generate-data-key',
      '--key-id',
      keyId,
      '--key-spec',
      'AES_256',
      '--encryption-context',
      'file=report.pdf',
    ])
    assert.equal(field(dataKey, 'KeyId'), arn)
    const dataKeyPlaintext = blob(dataKey, 'Plaintext')
    assert.equal(dataKeyPlaintext.length, 32)
    const unwrapped = await awsJson(mode, HOME_REGION, [
      'kms',
      'decrypt',
      '--ciphertext-blob',
      `fileb://${writeBlob(blob(dataKey, 'CiphertextBlob'))}`,
      '--encryption-context',
      'file=report.pdf',
    ])
    assert.ok(blob(unwrapped, 'Plaintext').equals(dataKeyPlaintext), 'the wrapped data key should decrypt to the plaintext data key')

    const short = await awsJson(mode, HOME_REGION, ['kms', 'generate-data-key', '--key-id', keyId, '--number-of-bytes', '16'])
    assert.equal(blob(short, 'Plaintext').length, 16)
    const withoutPlaintext = await awsJson(mode, HOME_REGION, [
      'kms',
      'generate-data-key-without-plaintext',
      '--key-id',
      keyId,
      '--key-spec',
      'AES_128',
    ])
    assert.equal(withoutPlaintext.Plaintext, undefined)
    const unwrappedShort = await awsJson(mode, HOME_REGION, [
      'kms',
      'decrypt',
      '--ciphertext-blob',
      `fileb://${writeBlob(blob(withoutPlaintext, 'CiphertextBlob'))}`,
    ])
    assert.equal(blob(unwrappedShort, 'Plaintext').length, 16)

    const random = await awsJson(mode, HOME_REGION, ['kms', 'generate-random', '--number-of-bytes', '64'])
    assert.equal(blob(random, 'Plaintext').length, 64)
  })

  it('works with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: aliases and inline blobs', async () => {
    const mode = 'env'
    const first = await createKey(mode, HOME_REGION, 'alias target one')
    const second = await createKey(mode, HOME_REGION, 'alias target two')
    const aliasName = 'alias/aws-cli-interop'
    const aliasArn = `arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:${aliasName}`

    // create-alias prints nothing on success.
    assert.deepEqual(
      await awsJson(mode, HOME_REGION, ['kms', 'create-alias', '--alias-name', aliasName, '--target-key-id', first.keyId]),
      {},
    )
    type Alias = { AliasName: string; AliasArn: string; TargetKeyId?: string; CreationDate?: string }
    const listedForKey = field<Alias[]>(await awsJson(mode, HOME_REGION, ['kms', 'list-aliases', '--key-id', first.keyId]), 'Aliases')
    assert.deepEqual(
      listedForKey.map((a) => ({ name: a.AliasName, arn: a.AliasArn, target: a.TargetKeyId })),
      [{ name: aliasName, arn: aliasArn, target: first.keyId }],
    )
    assert.match(listedForKey[0]?.CreationDate ?? '', /^\d{4}-\d{2}-\d{2}T/)
    const described = await awsJson(mode, HOME_REGION, ['kms', 'describe-key', '--key-id', aliasName])
    assert.equal(field(described, 'KeyMetadata', 'KeyId'), first.keyId)
    await awsError(
      mode,
      HOME_REGION,
      ['kms', 'create-alias', '--alias-name', aliasName, '--target-key-id', second.keyId],
      'AlreadyExistsException',
      'CreateAlias',
    )

    // Inline blobs are base64 by default in the CLI v2...
    const base64Input = await awsJson(mode, HOME_REGION, [
      'kms',
      'encrypt',
      '--key-id',
      aliasName,
      '--plaintext',
      Buffer.from('inline, as base64').toString('base64'),
    ])
    assert.equal(field(base64Input, 'KeyId'), first.arn)
    // ...and raw text with --cli-binary-format raw-in-base64-out.
    const rawInput = await awsJson(mode, HOME_REGION, [
      'kms',
      'encrypt',
      '--key-id',
      aliasArn,
      '--plaintext',
      'inline, raw text',
      '--cli-binary-format',
      'raw-in-base64-out',
    ])
    assert.equal(field(rawInput, 'KeyId'), first.arn)
    // A ciphertext can go back inline too, as the base64 the CLI printed.
    const inlineDecrypt = await awsJson(mode, HOME_REGION, ['kms', 'decrypt', '--ciphertext-blob', field(base64Input, 'CiphertextBlob')])
    assert.equal(blob(inlineDecrypt, 'Plaintext').toString('utf8'), 'inline, as base64')
    const rawDecrypt = await awsJson(mode, HOME_REGION, [
      'kms',
      'decrypt',
      '--ciphertext-blob',
      `fileb://${writeBlob(blob(rawInput, 'CiphertextBlob'))}`,
      '--key-id',
      aliasName,
    ])
    assert.equal(blob(rawDecrypt, 'Plaintext').toString('utf8'), 'inline, raw text')

    // update-alias moves it; ciphertexts keep naming the key they were made with.
    assert.deepEqual(
      await awsJson(mode, HOME_REGION, ['kms', 'update-alias', '--alias-name', aliasName, '--target-key-id', second.keyId]),
      {},
    )
    const movedTo = await awsJson(mode, HOME_REGION, ['kms', 'describe-key', '--key-id', aliasName])
    assert.equal(field(movedTo, 'KeyMetadata', 'KeyId'), second.keyId)
    const allAliases = field<Alias[]>(await awsJson(mode, HOME_REGION, ['kms', 'list-aliases']), 'Aliases')
    assert.deepEqual(
      allAliases.filter((a) => a.AliasName === aliasName).map((a) => a.TargetKeyId),
      [second.keyId],
    )
    assert.deepEqual(field<Alias[]>(await awsJson(mode, HOME_REGION, ['kms', 'list-aliases', '--key-id', first.keyId]), 'Aliases'), [])
    const afterMove = await awsJson(mode, HOME_REGION, ['kms', 'decrypt', '--ciphertext-blob', field(base64Input, 'CiphertextBlob')])
    assert.equal(field(afterMove, 'KeyId'), first.arn)
    assert.equal(blob(afterMove, 'Plaintext').toString('utf8'), 'inline, as base64')
    // Decrypting with --key-id naming the alias now names the wrong key.
    await awsError(
      mode,
      HOME_REGION,
      ['kms', 'decrypt', '--ciphertext-blob', field(base64Input, 'CiphertextBlob'), '--key-id', aliasName],
      'IncorrectKeyException',
      'Decrypt',
    )

    assert.deepEqual(await awsJson(mode, HOME_REGION, ['kms', 'delete-alias', '--alias-name', aliasName]), {})
    const afterDelete = field<Alias[]>(await awsJson(mode, HOME_REGION, ['kms', 'list-aliases']), 'Aliases')
    assert.ok(!afterDelete.some((a) => a.AliasName === aliasName), 'delete-alias should remove the alias')
    const stderr = await awsError(mode, HOME_REGION, ['kms', 'describe-key', '--key-id', aliasName], 'NotFoundException', 'DescribeKey')
    assert.ok(stderr.includes(aliasName), stderr)
  })

  it('lets the CLI paginate list-keys by itself (--page-size) and by hand (--max-items/--starting-token)', async () => {
    const mode = 'env'
    const keys = [
      await createKey(mode, HOME_REGION, 'page 1'),
      await createKey(mode, HOME_REGION, 'page 2'),
      await createKey(mode, HOME_REGION, 'page 3'),
    ]
    const all = await listKeyIds(mode, HOME_REGION)
    for (const key of keys) assert.ok(all.includes(key.keyId))
    // --page-size 1: one request per key, which the CLI chains through NextMarker.
    assert.deepEqual(await listKeyIds(mode, HOME_REGION, ['--page-size', '1']), all)
    const firstPage = await awsJson(mode, HOME_REGION, ['kms', 'list-keys', '--max-items', '2'])
    assert.equal(field<unknown[]>(firstPage, 'Keys').length, 2)
    const token = field(firstPage, 'NextToken')
    const rest = await awsJson(mode, HOME_REGION, ['kms', 'list-keys', '--starting-token', token])
    assert.deepEqual(
      [...field<Array<{ KeyId: string }>>(firstPage, 'Keys'), ...field<Array<{ KeyId: string }>>(rest, 'Keys')].map((k) => k.KeyId),
      all,
    )
  })

  it('reports service errors the way the CLI expects them', async () => {
    for (const mode of ['profile', 'env'] as const) {
      const stderr = await awsError(
        mode,
        HOME_REGION,
        ['kms', 'describe-key', '--key-id', ABSENT_KEY_ID],
        'NotFoundException',
        'DescribeKey',
      )
      assert.ok(stderr.includes(`arn:aws:kms:${HOME_REGION}:${ACCOUNT_ID}:key/${ABSENT_KEY_ID}`), stderr)
    }
    await awsError('env', HOME_REGION, ['kms', 'encrypt', '--key-id', ABSENT_KEY_ID, '--plaintext', 'eA=='], 'NotFoundException', 'Encrypt')

    const key = await createKey('env', HOME_REGION, 'to disable')
    await awsJson('env', HOME_REGION, ['kms', 'disable-key', '--key-id', key.keyId])
    const disabled = await awsError(
      'env',
      HOME_REGION,
      ['kms', 'encrypt', '--key-id', key.keyId, '--plaintext', 'eA=='],
      'DisabledException',
      'Encrypt',
    )
    assert.ok(disabled.includes(key.arn), disabled)
    await awsJson('env', HOME_REGION, ['kms', 'enable-key', '--key-id', key.keyId])

    const pending = await awsJson('env', HOME_REGION, [
      'kms',
      'schedule-key-deletion',
      '--key-id',
      key.keyId,
      '--pending-window-in-days',
      '7',
    ])
    assert.equal(field(pending, 'KeyState'), 'PendingDeletion')
    assert.match(field(pending, 'DeletionDate'), /^\d{4}-\d{2}-\d{2}T/)
    await awsError(
      'env',
      HOME_REGION,
      ['kms', 'encrypt', '--key-id', key.keyId, '--plaintext', 'eA=='],
      'KMSInvalidStateException',
      'Encrypt',
    )
    await awsJson('env', HOME_REGION, ['kms', 'cancel-key-deletion', '--key-id', key.keyId])

    await awsError('env', HOME_REGION, ['kms', 'generate-random', '--number-of-bytes', '1025'], 'ValidationException', 'GenerateRandom')

    // Credentials Trent does not know are refused before anything else.
    const unknown = await runProcess(
      AWS_CLI,
      ['--endpoint-url', started().gatewayUrl, '--region', HOME_REGION, '--output', 'json', '--no-cli-pager', 'kms', 'list-keys'],
      { ...cliEnvironment('env'), AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00', AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
    )
    assert.equal(unknown.code, 254, describeResult(unknown))
    assert.match(
      unknown.stderr,
      /An error occurred \(UnrecognizedClientException\) when calling the ListKeys operation/,
      describeResult(unknown),
    )
    const wrongSecret = await runProcess(
      AWS_CLI,
      ['--endpoint-url', started().gatewayUrl, '--region', HOME_REGION, '--output', 'json', '--no-cli-pager', 'kms', 'list-keys'],
      { ...cliEnvironment('env'), AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
    )
    assert.equal(wrongSecret.code, 254, describeResult(wrongSecret))
    assert.match(
      wrongSecret.stderr,
      /An error occurred \(InvalidSignatureException\) when calling the ListKeys operation/,
      describeResult(wrongSecret),
    )
  })

  it('routes by --region: eu-west-1 does not see us-east-1 keys, and the other way round', async () => {
    // With the profile: the region that decides is --region, whatever the profile holds.
    const mode = 'profile'
    const home = await createKey(mode, HOME_REGION, 'home key')
    const encrypted = await awsJson(mode, HOME_REGION, [
      'kms',
      'encrypt',
      '--key-id',
      home.keyId,
      '--plaintext',
      `fileb://${writeBlob(PLAINTEXT)}`,
    ])

    assert.ok(!(await listKeyIds(mode, OTHER_REGION)).includes(home.keyId), `${OTHER_REGION} should not list a ${HOME_REGION} key`)
    const stderr = await awsError(mode, OTHER_REGION, ['kms', 'describe-key', '--key-id', home.keyId], 'NotFoundException', 'DescribeKey')
    assert.ok(stderr.includes(`arn:aws:kms:${OTHER_REGION}:`), `the error should name ${OTHER_REGION}: ${stderr}`)
    await awsError(mode, OTHER_REGION, ['kms', 'describe-key', '--key-id', home.arn], 'NotFoundException', 'DescribeKey')
    // The ciphertext names a key the other region does not have.
    const foreign = await aws(mode, OTHER_REGION, ['kms', 'decrypt', '--ciphertext-blob', field(encrypted, 'CiphertextBlob')])
    assert.equal(foreign.code, 254, describeResult(foreign))
    assert.match(
      foreign.stderr,
      /An error occurred \((InvalidCiphertextException|NotFoundException)\) when calling the Decrypt operation/,
      describeResult(foreign),
    )

    const away = await createKey(mode, OTHER_REGION, 'away key')
    assert.equal(away.arn, `arn:aws:kms:${OTHER_REGION}:${ACCOUNT_ID}:key/${away.keyId}`)
    assert.ok((await listKeyIds(mode, OTHER_REGION)).includes(away.keyId))
    assert.ok(!(await listKeyIds(mode, HOME_REGION)).includes(away.keyId), `${HOME_REGION} should not list an ${OTHER_REGION} key`)
    // And the home region still decrypts its own ciphertext.
    const decrypted = await awsJson(mode, HOME_REGION, ['kms', 'decrypt', '--ciphertext-blob', field(encrypted, 'CiphertextBlob')])
    assert.ok(blob(decrypted, 'Plaintext').equals(PLAINTEXT))
  })

  it('signs, verifies, hands out public keys and computes MACs; openssl verifies the CLI-made signature', async () => {
    const mode = 'profile'
    const created = await awsJson(mode, HOME_REGION, ['kms', 'create-key', '--key-spec', 'ECC_NIST_P384', '--key-usage', 'SIGN_VERIFY'])
    const keyId = field(created, 'KeyMetadata', 'KeyId')
    assert.deepEqual(field(created, 'KeyMetadata', 'SigningAlgorithms'), ['ECDSA_SHA_384'])
    const message = writeBlob(PLAINTEXT)
    const signed = await awsJson(mode, HOME_REGION, [
      'kms',
      'sign',
      '--key-id',
      keyId,
      '--message',
      `fileb://${message}`,
      '--signing-algorithm',
      'ECDSA_SHA_384',
    ])
    const signature = blob(signed, 'Signature')
    const verified = await awsJson(mode, HOME_REGION, [
      'kms',
      'verify',
      '--key-id',
      keyId,
      '--message',
      `fileb://${message}`,
      '--signature',
      `fileb://${writeBlob(signature)}`,
      '--signing-algorithm',
      'ECDSA_SHA_384',
    ])
    assert.equal(field(verified, 'SignatureValid'), true)
    const flipped = Buffer.from(signature)
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1
    await awsError(
      mode,
      HOME_REGION,
      [
        'kms',
        'verify',
        '--key-id',
        keyId,
        '--message',
        `fileb://${message}`,
        '--signature',
        `fileb://${writeBlob(flipped)}`,
        '--signing-algorithm',
        'ECDSA_SHA_384',
      ],
      'KMSInvalidSignatureException',
      'Verify',
    )
    const publicKey = blob(await awsJson(mode, HOME_REGION, ['kms', 'get-public-key', '--key-id', keyId]), 'PublicKey')
    const opensslResult = await runProcess(
      'openssl',
      ['dgst', '-sha384', '-keyform', 'DER', '-verify', writeBlob(publicKey), '-signature', writeBlob(signature), message],
      process.env,
    )
    assert.match(opensslResult.stdout, /Verified OK/, describeResult(opensslResult))

    const hmacKey = field(
      await awsJson(mode, HOME_REGION, ['kms', 'create-key', '--key-spec', 'HMAC_256', '--key-usage', 'GENERATE_VERIFY_MAC']),
      'KeyMetadata',
      'KeyId',
    )
    const mac = blob(
      await awsJson(mode, HOME_REGION, [
        'kms',
        'generate-mac',
        '--key-id',
        hmacKey,
        '--message',
        `fileb://${message}`,
        '--mac-algorithm',
        'HMAC_SHA_256',
      ]),
      'Mac',
    )
    assert.equal(mac.length, 32)
    const macOk = await awsJson(mode, HOME_REGION, [
      'kms',
      'verify-mac',
      '--key-id',
      hmacKey,
      '--message',
      `fileb://${message}`,
      '--mac',
      `fileb://${writeBlob(mac)}`,
      '--mac-algorithm',
      'HMAC_SHA_256',
    ])
    assert.equal(field(macOk, 'MacValid'), true)
  })
})
