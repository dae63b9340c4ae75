/**
 * The AWS Encryption SDK for JavaScript (`@aws-crypto/client-node`), unmodified, against a
 * real three-region partition (`node dist/src/partition/main.js`, one OS process per
 * region, the replication proxy between them): a message encrypted under a multi-Region
 * key in one region decrypts in another region holding its replica, with the MRK-aware
 * keyring, the MRK discovery keyring, and multi-keyrings; and not where no related key
 * exists.
 *
 * What the ESDK asks of Trent's answers (@aws-crypto/kms-keyring):
 *  - GenerateDataKey / Encrypt: `KeyId` is a valid KMS key ARN (it becomes the EDK's
 *    provider info); `Plaintext` is as long as the suite asks (`NumberOfBytes: 32`).
 *  - Decrypt: the request carries `KeyId` (the keyring's ARN in the client's region); the
 *    answer's `KeyId` must be exactly that ARN, the ARN of the region that answered.
 *
 * The keyrings call `client.generateDataKey/encrypt/decrypt`, i.e. the aggregated `KMS`
 * class of @aws-sdk/client-kms (a bare `KMSClient` has only `send`): built here with the
 * partition's gateway as `endpoint` and its credentials, exactly as `kmsClient()` does.
 *
 * No timing assertions: every wait polls with a generous deadline.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  AwsKmsMrkAwareSymmetricDiscoveryKeyringNode,
  AwsKmsMrkAwareSymmetricKeyringNode,
  CommitmentPolicy,
  MultiKeyringNode,
  buildAwsKmsMrkAwareDiscoveryMultiKeyringNode,
  buildAwsKmsMrkAwareStrictMultiKeyringNode,
  buildClient,
  type KeyringNode,
} from '@aws-crypto/client-node'
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  type DecryptCommandOutput,
  type KeyMetadata,
  KMS,
  KMSServiceException,
  ReplicateKeyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const AP = 'ap-southeast-2'
const ACCOUNT = '111122223333'
const arn = (region: string, keyId: string): string => `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`
/**
 * The client interface the keyrings take. `KMS` fits it at run time; its declared output
 * types only differ under `exactOptionalPropertyTypes` (optional vs. `| undefined`).
 */
type EsdkKmsClient = ConstructorParameters<typeof AwsKmsMrkAwareSymmetricKeyringNode>[0]['client']
const DISCOVERY_FILTER = { accountIDs: [ACCOUNT], partition: 'aws' } as const
/** Replication over real processes and a real proxy: generous, never asserted. */
const SYNC_DEADLINE_MS = 90_000

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

/** Asserts that `work` fails with the AWS error `name` (a service error, 4xx). */
async function rejectsWithService(work: Promise<unknown>, name: string): Promise<KMSServiceException> {
  let caught: unknown
  await work.then(
    () => assert.fail(`expected ${name}, but the call succeeded`),
    (err: unknown) => (caught = err),
  )
  assert.ok(caught instanceof KMSServiceException, `expected a service error, got ${String(caught)}`)
  assert.equal(caught.name, name, `expected ${name}, got ${caught.name}: ${caught.message}`)
  assert.ok((caught.$metadata.httpStatusCode ?? 0) < 500, `a client error: ${caught.$metadata.httpStatusCode}`)
  return caught
}

/** DescribeKey, or undefined while the key does not exist (yet) in that region. */
async function describeOrMissing(client: KMSClient, keyId: string): Promise<KeyMetadata | undefined> {
  try {
    return (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
  } catch (err) {
    if (err instanceof KMSServiceException && err.name === 'NotFoundException') return undefined
    throw err
  }
}

/** Asserts that the ESDK's decrypt fails, and that its message matches `pattern`. */
async function decryptFails(keyring: KeyringNode, ciphertext: Uint8Array, pattern: RegExp): Promise<void> {
  let caught: unknown
  await decrypt(keyring, ciphertext).then(
    () => assert.fail('expected the Encryption SDK to refuse to decrypt'),
    (err: unknown) => (caught = err),
  )
  assert.ok(caught instanceof Error)
  assert.match(caught.message, pattern)
}

describe('AWS Encryption SDK with multi-Region keys across a three-region partition', { timeout: 600_000 }, () => {
  let partition: RunningPartition
  const esdkClients: KMS[] = []
  /** The MRK under test: primary in US, replica in EU, nothing in AP. */
  let mrk: string
  /** Another MRK, primary in US and replica in EU: related to nothing of `mrk`. */
  let unrelated: string
  /** A single-Region key in AP, for multi-keyrings. */
  let apSingle: string

  const sdk = (region: string): KMSClient => kmsClient(partition, region)
  /** The client the ESDK's keyrings use: `KMS` (with generateDataKey/encrypt/decrypt) on the gateway. */
  function esdkClient(region: string): EsdkKmsClient {
    const client = new KMS({ region, endpoint: partition.gatewayUrl, credentials: { ...partition.credentials } })
    esdkClients.push(client)
    return client as unknown as EsdkKmsClient
  }
  const clientFor = new Map<string, EsdkKmsClient>()
  const clientProvider = (region: string): EsdkKmsClient => {
    let client = clientFor.get(region)
    if (client === undefined) {
      client = esdkClient(region)
      clientFor.set(region, client)
    }
    return client
  }

  async function newReplicatedMrk(description: string): Promise<string> {
    const created = await sdk(US).send(new CreateKeyCommand({ MultiRegion: true, Description: description }))
    const keyId = created.KeyMetadata?.KeyId ?? ''
    assert.ok(keyId.startsWith('mrk-'), `an mrk- key id: ${keyId}`)
    assert.equal(created.KeyMetadata?.Arn, arn(US, keyId))
    const replicated = await sdk(US).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: EU }))
    assert.equal(replicated.ReplicaKeyMetadata?.Arn, arn(EU, keyId))
    await waitFor(
      `the replica of ${keyId} in ${EU} to be Enabled`,
      async () => ((await describeOrMissing(sdk(EU), keyId))?.KeyState === 'Enabled' ? true : undefined),
      { timeoutMs: SYNC_DEADLINE_MS, intervalMs: 200 },
    )
    return keyId
  }

  before(async () => {
    partition = await startPartition({ regions: [US, EU, AP], extraArgs: ['--reconcile-interval-ms', '500'], timeoutMs: 60_000 })
    mrk = await newReplicatedMrk('esdk interop')
    unrelated = await newReplicatedMrk('esdk interop, unrelated')
    apSingle = (await sdk(AP).send(new CreateKeyCommand({ Description: 'esdk interop, single-Region' }))).KeyMetadata?.KeyId ?? ''
    assert.ok(apSingle !== '' && !apSingle.startsWith('mrk-'))
  })
  after(async () => {
    for (const client of esdkClients) client.destroy()
    await stopAllPartitions()
  })

  const plaintext = Buffer.from('a message for every related region, ünïcødé included\n'.repeat(40))
  const context = { purpose: 'trent interop', tenant: 'ümlaut-tenant', 'empty-ish': ' ' }

  function assertContextRoundTrip(got: Record<string, string>): void {
    for (const [name, value] of Object.entries(context)) assert.equal(got[name], value, `encryption context ${name}`)
    // The default committing suite signs, and adds its public key; nothing else appears.
    assert.deepEqual(
      Object.keys(got).filter((name) => !(name in context)),
      ['aws-crypto-public-key'],
    )
  }

  let fromUs: Uint8Array

  it('encrypts with the MRK-aware keyring in us-east-1; the EDK names the full us-east-1 ARN', async () => {
    const keyring = new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(US, mrk), client: esdkClient(US) })
    const { result, messageHeader } = await encrypt(keyring, plaintext, { encryptionContext: context })
    fromUs = result
    assert.equal(messageHeader.encryptedDataKeys.length, 1)
    const [edk] = messageHeader.encryptedDataKeys
    assert.equal(edk?.providerId, 'aws-kms')
    assert.equal(edk?.providerInfo, arn(US, mrk))
    assertContextRoundTrip(messageHeader.encryptionContext)
  })

  it('decrypts it in eu-west-1 with the MRK-aware keyring for the replica ARN', async () => {
    const keyring = new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(EU, mrk), client: esdkClient(EU) })
    const { plaintext: got, messageHeader } = await decrypt(keyring, fromUs)
    assert.deepEqual(Buffer.from(got), plaintext)
    assertContextRoundTrip(messageHeader.encryptionContext)
  })

  it('decrypts it in eu-west-1 with the MRK discovery keyring', async () => {
    const keyring = new AwsKmsMrkAwareSymmetricDiscoveryKeyringNode({ client: esdkClient(EU), discoveryFilter: DISCOVERY_FILTER })
    const { plaintext: got, messageHeader } = await decrypt(keyring, fromUs)
    assert.deepEqual(Buffer.from(got), plaintext)
    assertContextRoundTrip(messageHeader.encryptionContext)
  })

  it('decrypts it in us-east-1 too, where it was made', async () => {
    const keyring = new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(US, mrk), client: esdkClient(US) })
    assert.deepEqual(Buffer.from((await decrypt(keyring, fromUs)).plaintext), plaintext)
  })

  it('the other way: encrypted with the replica in eu-west-1, decrypted in us-east-1 by both keyrings', async () => {
    const { result, messageHeader } = await encrypt(
      new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(EU, mrk), client: esdkClient(EU) }),
      plaintext,
      { encryptionContext: context },
    )
    assert.deepEqual(
      messageHeader.encryptedDataKeys.map((edk) => edk.providerInfo),
      [arn(EU, mrk)],
    )
    const byKeyring = await decrypt(new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(US, mrk), client: esdkClient(US) }), result)
    assert.deepEqual(Buffer.from(byKeyring.plaintext), plaintext)
    assertContextRoundTrip(byKeyring.messageHeader.encryptionContext)
    const byDiscovery = await decrypt(
      new AwsKmsMrkAwareSymmetricDiscoveryKeyringNode({ client: esdkClient(US), discoveryFilter: DISCOVERY_FILTER }),
      result,
    )
    assert.deepEqual(Buffer.from(byDiscovery.plaintext), plaintext)
    assertContextRoundTrip(byDiscovery.messageHeader.encryptionContext)
  })

  it('the KMS calls the keyrings make answer with the ARN of the region that answered', async () => {
    // The message's EDK, decrypted directly as the MRK keyrings do: KeyId is the keyring's ARN.
    const { messageHeader } = await decrypt(new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(US, mrk), client: esdkClient(US) }), fromUs)
    const [edk] = messageHeader.encryptedDataKeys
    assert.ok(edk !== undefined)
    for (const region of [US, EU]) {
      const answer: DecryptCommandOutput = await sdk(region).send(
        new DecryptCommand({
          CiphertextBlob: edk.encryptedDataKey,
          KeyId: arn(region, mrk),
          EncryptionContext: messageHeader.encryptionContext,
        }),
      )
      assert.equal(answer.KeyId, arn(region, mrk))
      assert.equal(answer.Plaintext?.length, 32)
    }
    // Wrong encryption context: the EDK does not open (InvalidCiphertextException, as AWS).
    await rejectsWithService(
      sdk(EU).send(
        new DecryptCommand({
          CiphertextBlob: edk.encryptedDataKey,
          KeyId: arn(EU, mrk),
          EncryptionContext: { ...messageHeader.encryptionContext, purpose: 'other' },
        }),
      ),
      'InvalidCiphertextException',
    )
    // An unrelated MRK named as KeyId: IncorrectKeyException, as AWS.
    await rejectsWithService(
      sdk(EU).send(
        new DecryptCommand({
          CiphertextBlob: edk.encryptedDataKey,
          KeyId: arn(EU, unrelated),
          EncryptionContext: messageHeader.encryptionContext,
        }),
      ),
      'IncorrectKeyException',
    )
  })

  it('a strict MRK multi-keyring (MRK generator + single-Region key in ap-southeast-2) decrypts in either place', async () => {
    const keyring = buildAwsKmsMrkAwareStrictMultiKeyringNode({ generatorKeyId: arn(US, mrk), keyIds: [arn(AP, apSingle)], clientProvider })
    const { result, messageHeader } = await encrypt(keyring, plaintext, { encryptionContext: context })
    assert.deepEqual(
      messageHeader.encryptedDataKeys.map((edk) => edk.providerInfo),
      [arn(US, mrk), arn(AP, apSingle)],
    )
    // In eu-west-1 through the replica, in ap-southeast-2 through its own single-Region key.
    const inEu = await decrypt(new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(EU, mrk), client: clientProvider(EU) }), result)
    assert.deepEqual(Buffer.from(inEu.plaintext), plaintext)
    const inAp = await decrypt(new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(AP, apSingle), client: clientProvider(AP) }), result)
    assert.deepEqual(Buffer.from(inAp.plaintext), plaintext)
    assertContextRoundTrip(inAp.messageHeader.encryptionContext)
    // A discovery multi-keyring over ap-southeast-2 (no replica: its try fails) and eu-west-1.
    const discovery = buildAwsKmsMrkAwareDiscoveryMultiKeyringNode({ regions: [AP, EU], discoveryFilter: DISCOVERY_FILTER, clientProvider })
    assert.deepEqual(Buffer.from((await decrypt(discovery, result)).plaintext), plaintext)
    // The same with a plain MultiKeyringNode whose children are the two MRK keyrings.
    const multi = new MultiKeyringNode({
      children: [
        new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(EU, unrelated), client: clientProvider(EU) }),
        new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(EU, mrk), client: clientProvider(EU) }),
      ],
    })
    assert.deepEqual(Buffer.from((await decrypt(multi, result)).plaintext), plaintext)
  })

  it('does not decrypt in ap-southeast-2, which holds no replica (the region answers NotFoundException)', async () => {
    await decryptFails(
      new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(AP, mrk), client: esdkClient(AP) }),
      fromUs,
      /Unable to decrypt data key[\s\S]*NotFoundException/,
    )
    await decryptFails(
      new AwsKmsMrkAwareSymmetricDiscoveryKeyringNode({ client: esdkClient(AP), discoveryFilter: DISCOVERY_FILTER }),
      fromUs,
      /Unable to decrypt data key[\s\S]*NotFoundException/,
    )
    // Directly: the related key does not exist there; the ciphertext names no key AP knows.
    await rejectsWithService(sdk(AP).send(new DecryptCommand({ CiphertextBlob: fromUs })), 'InvalidCiphertextException')
  })

  it('does not decrypt with a keyring for an unrelated MRK', async () => {
    // The keyring filters the EDKs itself: none is for its key.
    await decryptFails(
      new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(EU, unrelated), client: esdkClient(EU) }),
      fromUs,
      /Unable to decrypt data key: No EDKs supplied/,
    )
    await decryptFails(
      new AwsKmsMrkAwareSymmetricKeyringNode({ keyId: arn(US, unrelated), client: esdkClient(US) }),
      fromUs,
      /Unable to decrypt data key: No EDKs supplied/,
    )
    // A discovery keyring whose filter names another account finds nothing either.
    await decryptFails(
      new AwsKmsMrkAwareSymmetricDiscoveryKeyringNode({
        client: esdkClient(EU),
        discoveryFilter: { accountIDs: ['444455556666'], partition: 'aws' },
      }),
      fromUs,
      /Unable to decrypt data key: No EDKs supplied/,
    )
  })
})
