/**
 * A real partition started with an identities file (`--identities FILE`, or the
 * TRENT_IDENTITIES environment variable): its IAM users call every region through the
 * gateway with their own access keys, and a rewritten file takes effect in every region
 * while the partition runs, unless it does not parse, in which case the previous
 * identities stay in force (src/region/identities.ts).
 *
 * No timing assertions: a change is awaited by polling, with a generous deadline that only
 * turns a hang into a readable failure.
 */
import assert from 'node:assert/strict'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  KMSServiceException,
  ListKeysCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import {
  createTempDir,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'
import { rejectsWith } from '../helpers/aws-errors.js'
import { sendRaw } from '../helpers/signed-http.js'

const ACCOUNT = '111122223333'
const REGIONS = ['us-east-1', 'eu-west-1'] as const
const PLAINTEXT = Buffer.from('identities partition test')
/** How long a change of the file may take to reach every region (they poll it every 500 ms). */
const CHANGE_DEADLINE_MS = 15_000

interface User {
  name: string
  accessKeyId: string
  secretAccessKey: string
}

const ALICE: User = { name: 'alice', accessKeyId: 'AKIAALICE0000000000A', secretAccessKey: 'alice-secret-access-key-0000000000' }
const BOB: User = { name: 'bob', accessKeyId: 'AKIABOB00000000000B0', secretAccessKey: 'bob-secret-access-key-00000000000000' }
const MALLORY: User = { name: 'mallory', accessKeyId: 'AKIAMALLORY0000000M0', secretAccessKey: 'mallory-secret-access-key-00000000' }

const userArn = (user: User): string => `arn:aws:iam::${ACCOUNT}:user/${user.name}`

function identitiesFile(entries: { user: User; actions: string[] }[]): string {
  return JSON.stringify(
    {
      users: entries.map(({ user, actions }) => ({
        name: user.name,
        accessKeyId: user.accessKeyId,
        secretAccessKey: user.secretAccessKey,
        policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] }],
      })),
    },
    null,
    2,
  )
}

/** Replaces the file in one step, so that a region never reads it half written. */
function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.tmp`
  writeFileSync(temporary, text)
  renameSync(temporary, path)
}

/** The AWS error name a call fails with, or 'ok'. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'ok'
  } catch (err) {
    if (err instanceof KMSServiceException) return err.name
    throw err
  }
}

/** Lines of the partition's stdout (JSON log lines) with this message, by region. */
function logCount(partition: RunningPartition, message: string, region: string): number {
  let count = 0
  for (const line of partition.output().stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const record = JSON.parse(line) as { msg?: unknown; region?: unknown }
    if (record.msg === message && record.region === region) count++
  }
  return count
}

describe('a partition started with --identities FILE', () => {
  let dir: string
  let file: string
  let partition: RunningPartition
  /** Per region: a key alice created, and a ciphertext of it. */
  const keys = new Map<string, { keyId: string; arn: string; ciphertext: Uint8Array }>()

  const clientOf = (user: User, region: string): KMSClient =>
    kmsClient(partition, region, { credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey }, maxAttempts: 1 })
  const key = (region: string): { keyId: string; arn: string; ciphertext: Uint8Array } =>
    keys.get(region) ?? assert.fail(`no key in ${region}`)

  before(async () => {
    dir = createTempDir('trent-identities-')
    file = join(dir, 'identities.json')
    writeAtomically(file, identitiesFile([{ user: ALICE, actions: ['kms:CreateKey', 'kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'] }]))
    partition = await startPartition({ regions: REGIONS, extraArgs: ['--identities', file] })
  })
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dir)
  })

  for (const region of REGIONS) {
    it(`the user creates a key and encrypts and decrypts in ${region}, through the gateway`, async () => {
      const alice = clientOf(ALICE, region)
      const { KeyMetadata } = await alice.send(new CreateKeyCommand({ Description: `alice's key in ${region}` }))
      const keyId = KeyMetadata?.KeyId ?? assert.fail('no key id')
      const arn = KeyMetadata?.Arn ?? assert.fail('no key ARN')
      assert.ok(arn.startsWith(`arn:aws:kms:${region}:${ACCOUNT}:key/`), arn)
      const context = { Owner: 'alice' }
      const { CiphertextBlob } = await alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT, EncryptionContext: context }))
      const ciphertext = CiphertextBlob ?? assert.fail('no ciphertext')
      const { Plaintext, KeyId } = await alice.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context }))
      assert.deepEqual(Buffer.from(Plaintext ?? []), PLAINTEXT)
      assert.equal(KeyId, arn)
      keys.set(region, { keyId, arn, ciphertext })
    })
  }

  it('the user may do only what its IAM policy allows, with AWS messages', async () => {
    const region = REGIONS[0]
    await rejectsWith(
      clientOf(ALICE, region).send(new ListKeysCommand({})),
      'AccessDeniedException',
      `User: ${userArn(ALICE)} is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action`,
    )
    // Root (the partition's admin credentials) is unaffected by the file.
    const { Keys } = await kmsClient(partition, region).send(new ListKeysCommand({}))
    assert.ok((Keys ?? []).some((k) => k.KeyId === key(region).keyId))
  })

  it('a user not in the file is UnrecognizedClientException', async () => {
    for (const region of REGIONS) {
      await rejectsWith(
        clientOf(MALLORY, region).send(new DescribeKeyCommand({ KeyId: key(region).keyId })),
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      )
    }
  })

  it('a user of the file is refused TrentAdmin operations', async () => {
    const region = REGIONS[0]
    const response = await sendRaw({
      endpoint: partition.gatewayUrl,
      region,
      target: 'TrentAdmin.DescribeReplication',
      body: JSON.stringify({ KeyId: key(region).keyId }),
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
    })
    assert.equal(response.status, 400, response.body)
    assert.deepEqual(response.json, {
      __type: 'AccessDeniedException',
      message: `User: ${userArn(ALICE)} is not authorized to perform: TrentAdmin.DescribeReplication`,
    })
  })

  it('a rewritten file takes effect in every region: Decrypt removed for the first user, a second user added', async () => {
    writeAtomically(
      file,
      identitiesFile([
        { user: ALICE, actions: ['kms:CreateKey', 'kms:Encrypt', 'kms:DescribeKey'] },
        { user: BOB, actions: ['kms:DescribeKey'] },
      ]),
    )
    for (const region of REGIONS) {
      const { keyId, arn, ciphertext } = key(region)
      await waitFor(
        `the new identities in ${region}`,
        async () => {
          const decrypt = await outcome(
            clientOf(ALICE, region).send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { Owner: 'alice' } })),
          )
          const describe = await outcome(clientOf(BOB, region).send(new DescribeKeyCommand({ KeyId: keyId })))
          return decrypt === 'AccessDeniedException' && describe === 'ok' ? true : undefined
        },
        { timeoutMs: CHANGE_DEADLINE_MS, intervalMs: 100 },
      )
      await rejectsWith(
        clientOf(ALICE, region).send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { Owner: 'alice' } })),
        'AccessDeniedException',
        `User: ${userArn(ALICE)} is not authorized to perform: kms:Decrypt on resource: ${arn} because no identity-based policy allows the kms:Decrypt action`,
      )
      // What the file still allows alice works as before.
      await clientOf(ALICE, region).send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
      await rejectsWith(
        clientOf(BOB, region).send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })),
        'AccessDeniedException',
        `User: ${userArn(BOB)} is not authorized to perform: kms:Encrypt on resource: ${arn} because no identity-based policy allows the kms:Encrypt action`,
      )
    }
  })

  const NOT_RELOADED = 'identities file not reloaded; the previous identities stay in force'
  const INVALID_FILES: [string, string][] = [
    ['not JSON', '{"users": ['],
    [
      'an invalid IAM policy',
      JSON.stringify({
        users: [
          {
            name: 'bob',
            accessKeyId: BOB.accessKeyId,
            secretAccessKey: BOB.secretAccessKey,
            policies: [{ Statement: [{ Effect: 'Allow' }] }],
          },
        ],
      }),
    ],
  ]
  for (const [what, text] of INVALID_FILES) {
    it(`a file that is ${what} leaves the previous identities in force`, async () => {
      const before = REGIONS.map((region) => logCount(partition, NOT_RELOADED, region))
      writeAtomically(file, text)
      // Each region says so in its log when it has read the file and kept what it had.
      await waitFor(
        'every region to refuse the invalid file',
        () => (REGIONS.every((region, i) => logCount(partition, NOT_RELOADED, region) > (before[i] ?? 0)) ? true : undefined),
        { timeoutMs: CHANGE_DEADLINE_MS, intervalMs: 100 },
      )
      for (const region of REGIONS) {
        const { keyId, ciphertext } = key(region)
        await clientOf(BOB, region).send(new DescribeKeyCommand({ KeyId: keyId }))
        await clientOf(ALICE, region).send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
        await rejectsWith(
          clientOf(ALICE, region).send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { Owner: 'alice' } })),
          'AccessDeniedException',
        )
        await rejectsWith(clientOf(MALLORY, region).send(new DescribeKeyCommand({ KeyId: keyId })), 'UnrecognizedClientException')
      }
    })
  }
})

describe('a partition started with TRENT_IDENTITIES', () => {
  let dir: string

  before(() => {
    dir = createTempDir('trent-identities-env-')
  })
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dir)
  })

  it('reads the identities file the variable names, as --identities would', async () => {
    const file = join(dir, 'identities.json')
    writeAtomically(file, identitiesFile([{ user: ALICE, actions: ['kms:CreateKey', 'kms:DescribeKey'] }]))
    const region = REGIONS[0]
    const partition = await startPartition({ regions: [region], env: { TRENT_IDENTITIES: file } })
    const alice = kmsClient(partition, region, {
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 1,
    })
    const { KeyMetadata } = await alice.send(new CreateKeyCommand({}))
    const keyId = KeyMetadata?.KeyId ?? assert.fail('no key id')
    await alice.send(new DescribeKeyCommand({ KeyId: keyId }))
    await rejectsWith(alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })), 'AccessDeniedException')
    const bob = kmsClient(partition, region, {
      credentials: { accessKeyId: BOB.accessKeyId, secretAccessKey: BOB.secretAccessKey },
      maxAttempts: 1,
    })
    await rejectsWith(bob.send(new DescribeKeyCommand({ KeyId: keyId })), 'UnrecognizedClientException')
  })
})
