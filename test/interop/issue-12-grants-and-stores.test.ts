/**
 * Issue 12, through the AWS SDK for JavaScript v3 against a real partition (the launcher,
 * two regions, an identities file with one IAM user): grants for AWS service principals
 * and the SourceArn grant constraint (which never lets a user's own request through),
 * CreateGrant's rules for its principal members, ListGrants' and ListRetirableGrants'
 * service-principal filters, DryRunModifiers IGNORE_CIPHERTEXT, every custom key store
 * operation, CreateAlias's alias-name rule, RotateKeyOnDemand's KeyId, and DescribeKey in
 * the replica region right after ReplicateKey answers.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  ConnectCustomKeyStoreCommand,
  CreateAliasCommand,
  CreateCustomKeyStoreCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  GenerateRandomCommand,
  ListGrantsCommand,
  ListRetirableGrantsCommand,
  ReEncryptCommand,
  ReplicateKeyCommand,
  RetireGrantCommand,
  RotateKeyOnDemandCommand,
  UpdateCustomKeyStoreCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { rejectsWith } from '../helpers/aws-errors.js'
import { createTempDir, kmsClient, removeTempDir, startPartition, stopAllPartitions, type RunningPartition } from '../helpers/partition.js'
import { sendRaw } from '../helpers/signed-http.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const ACCOUNT = '111122223333'
const US = 'us-east-1'
const EU = 'eu-west-1'
const ALICE = { name: 'alice', accessKeyId: 'AKIAALICE0000000012A', secretAccessKey: 'alice-secret-access-key-issue-12-000' }
const ALICE_ARN = `arn:aws:iam::${ACCOUNT}:user/${ALICE.name}`
const SOURCE_ARN = `arn:aws:sqs:${US}:${ACCOUNT}:queue-of-alice`
const SERVICE = 'sqs.amazonaws.com'
const PLAINTEXT = Buffer.from('issue 12')

describe('issue 12 through the AWS SDK, against a real partition', () => {
  let dir: string
  let partition: RunningPartition
  let root: KMSClient
  let alice: KMSClient
  let keyId: string

  before(async () => {
    dir = createTempDir('trent-issue-12-')
    const identities = join(dir, 'identities.json')
    // Alice may do nothing through IAM: only the key's grants can let her encrypt.
    writeFileSync(identities, JSON.stringify({ users: [{ ...ALICE, policies: [] }] }))
    partition = await startPartition({ regions: [US, EU], extraArgs: ['--identities', identities] })
    root = kmsClient(partition, US)
    alice = kmsClient(partition, US, {
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 1,
    })
    keyId = (await root.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key')
  })
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dir)
  })

  describe('grants', () => {
    it('a grant constrained to a SourceArn does not authorize the grantee user calling directly; the same grant without it does', async () => {
      const constrained = await root.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: ALICE_ARN,
          Operations: ['Encrypt', 'DescribeKey'],
          Constraints: { SourceArn: SOURCE_ARN },
        }),
      )
      const listed = await root.send(new ListGrantsCommand({ KeyId: keyId, GrantId: constrained.GrantId }))
      assert.deepEqual(listed.Grants?.[0]?.Constraints, { SourceArn: SOURCE_ARN })
      // A request alice signs herself carries no aws:SourceArn, so the grant never applies.
      await rejectsWith(alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT })), 'AccessDeniedException')
      await rejectsWith(alice.send(new DescribeKeyCommand({ KeyId: keyId })), 'AccessDeniedException')
      // Nor does its CreateGrant carry over: a grant alice would create through it is refused.
      await root.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: ALICE_ARN,
          Operations: ['CreateGrant', 'Encrypt'],
          Constraints: { SourceArn: SOURCE_ARN },
        }),
      )
      await rejectsWith(
        alice.send(
          new CreateGrantCommand({
            KeyId: keyId,
            GranteePrincipal: ALICE_ARN,
            Operations: ['Encrypt'],
            Constraints: { SourceArn: SOURCE_ARN },
          }),
        ),
        'AccessDeniedException',
      )
      const plain = await root.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: ALICE_ARN, Operations: ['Encrypt'] }))
      const encrypted = await alice.send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT }))
      assert.ok(encrypted.CiphertextBlob !== undefined)
      await root.send(new RetireGrantCommand({ KeyId: keyId, GrantId: plain.GrantId }))
    })

    it('a grant constraint this KMS does not know is refused, not dropped', async () => {
      const answer = await sendRaw({
        endpoint: partition.gatewayUrl,
        region: US,
        target: 'TrentService.CreateGrant',
        credentials: partition.credentials,
        body: JSON.stringify({
          KeyId: keyId,
          GranteePrincipal: ALICE_ARN,
          Operations: ['Encrypt'],
          Constraints: { SourceVpc: 'vpc-12345678' },
        }),
      })
      assert.equal(answer.status, 400)
      assert.equal(answer.json?.__type, 'ValidationException')
      const grants = await root.send(new ListGrantsCommand({ KeyId: keyId, GranteePrincipal: ALICE_ARN }))
      assert.ok(
        !(grants.Grants ?? []).some((g) => g.Constraints === undefined && g.Operations?.length === 1 && g.Operations[0] === 'Encrypt'),
      )
    })

    it('a grant for a service principal: created, listed with its fields, filtered by ListGrants and ListRetirableGrants, never a user', async () => {
      const created = await root.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteeServicePrincipal: SERVICE,
          RetiringServicePrincipal: SERVICE,
          Operations: ['Decrypt', 'GenerateDataKey'],
          Constraints: { SourceArn: SOURCE_ARN },
          Name: 'for-sqs',
        }),
      )
      const entry = (await root.send(new ListGrantsCommand({ KeyId: keyId, GranteeServicePrincipal: SERVICE }))).Grants
      assert.equal(entry?.length, 1)
      const grant = entry?.[0] ?? assert.fail('no grant')
      assert.equal(grant.GrantId, created.GrantId)
      assert.equal(grant.GranteeServicePrincipal, SERVICE)
      assert.equal(grant.RetiringServicePrincipal, SERVICE)
      assert.equal(grant.GranteePrincipal, undefined)
      assert.equal(grant.RetiringPrincipal, undefined)
      assert.equal(grant.Name, 'for-sqs')
      assert.deepEqual(grant.Operations, ['Decrypt', 'GenerateDataKey'])
      assert.deepEqual(grant.Constraints, { SourceArn: SOURCE_ARN })
      assert.equal(grant.IssuingAccount, `arn:aws:iam::${ACCOUNT}:root`)
      // The filters select it and only it.
      const byUser = (await root.send(new ListGrantsCommand({ KeyId: keyId, GranteePrincipal: ALICE_ARN }))).Grants ?? []
      assert.ok(!byUser.some((g) => g.GrantId === created.GrantId))
      assert.deepEqual((await root.send(new ListGrantsCommand({ KeyId: keyId, GranteeServicePrincipal: 'sns.amazonaws.com' }))).Grants, [])
      const retirable = (await root.send(new ListRetirableGrantsCommand({ RetiringServicePrincipal: SERVICE }))).Grants ?? []
      assert.deepEqual(
        retirable.map((g) => g.GrantId),
        [created.GrantId],
      )
      await rejectsWith(
        root.send(new ListGrantsCommand({ KeyId: keyId, GranteePrincipal: ALICE_ARN, GranteeServicePrincipal: SERVICE })),
        'ValidationException',
        'You cannot specify both GranteePrincipal and GranteeServicePrincipal.',
      )
      // Alice is not the service: the grant gives her nothing.
      await rejectsWith(alice.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.alloc(64) })), 'AccessDeniedException')
      // A user cannot retire it (its retiring principal is the service); root, by the key policy, can.
      await rejectsWith(alice.send(new RetireGrantCommand({ KeyId: keyId, GrantId: created.GrantId })), 'AccessDeniedException')
      await root.send(new RetireGrantCommand({ KeyId: keyId, GrantId: created.GrantId }))
      assert.deepEqual((await root.send(new ListGrantsCommand({ KeyId: keyId, GranteeServicePrincipal: SERVICE }))).Grants, [])
    })

    it("CreateGrant's rules for the principal members, with their errors", async () => {
      const cases: { input: Record<string, unknown>; name: string; message?: string }[] = [
        {
          input: { Operations: ['Encrypt'] },
          name: 'ValidationException',
          message: 'You must specify either GranteePrincipal or GranteeServicePrincipal.',
        },
        {
          input: {
            GranteePrincipal: ALICE_ARN,
            GranteeServicePrincipal: SERVICE,
            RetiringPrincipal: ALICE_ARN,
            Operations: ['Encrypt'],
            Constraints: { SourceArn: SOURCE_ARN },
          },
          name: 'ValidationException',
          message: 'You cannot specify both GranteePrincipal and GranteeServicePrincipal.',
        },
        {
          input: { GranteePrincipal: ALICE_ARN, RetiringPrincipal: ALICE_ARN, RetiringServicePrincipal: SERVICE, Operations: ['Encrypt'] },
          name: 'ValidationException',
          message: 'You cannot specify both RetiringPrincipal and RetiringServicePrincipal.',
        },
        {
          input: { GranteeServicePrincipal: SERVICE, RetiringPrincipal: ALICE_ARN, Operations: ['Encrypt'] },
          name: 'ValidationException',
          message: 'A grant for a GranteeServicePrincipal must have a SourceArn grant constraint.',
        },
        {
          input: { GranteeServicePrincipal: SERVICE, Operations: ['Encrypt'], Constraints: { SourceArn: SOURCE_ARN } },
          name: 'ValidationException',
          message: 'A grant for a GranteeServicePrincipal must have a RetiringPrincipal or a RetiringServicePrincipal.',
        },
        // The model's pattern for a service principal (API reference, GrantListEntry).
        {
          input: {
            GranteeServicePrincipal: 'not a service',
            RetiringPrincipal: ALICE_ARN,
            Operations: ['Encrypt'],
            Constraints: { SourceArn: SOURCE_ARN },
          },
          name: 'ValidationException',
          message:
            "1 validation error detected: Value 'not a service' at 'granteeServicePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([A-Za-z0-9\\-]+)\\.([A-Za-z0-9\\-]+)(\\.[A-Za-z0-9\\-]+)+$",
        },
      ]
      for (const { input, name, message } of cases) {
        await rejectsWith(root.send(new CreateGrantCommand({ KeyId: keyId, ...input } as never)), name, message)
      }
      await rejectsWith(
        root.send(new ListRetirableGrantsCommand({})),
        'ValidationException',
        'You must specify either RetiringPrincipal or RetiringServicePrincipal.',
      )
      await rejectsWith(
        root.send(new ListRetirableGrantsCommand({ RetiringPrincipal: ALICE_ARN, RetiringServicePrincipal: SERVICE })),
        'ValidationException',
        'You cannot specify both RetiringPrincipal and RetiringServicePrincipal.',
      )
    })
  })

  describe('DryRunModifiers IGNORE_CIPHERTEXT', () => {
    it('Decrypt: authorized → DryRunOperationException with no ciphertext at all; unauthorized → AccessDeniedException', async () => {
      await rejectsWith(
        root.send(new DecryptCommand({ KeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
        'DryRunOperationException',
        'The request would have succeeded, but the DryRun option is set.',
      )
      // A ciphertext that could never decrypt is not looked at either.
      await rejectsWith(
        root.send(
          new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.alloc(80, 7), DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] }),
        ),
        'DryRunOperationException',
      )
      // Without the modifier the dry run reads the ciphertext, and this one is not valid.
      await rejectsWith(
        root.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.alloc(80, 7), DryRun: true })),
        'InvalidCiphertextException',
      )
      await rejectsWith(
        alice.send(new DecryptCommand({ KeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
        'AccessDeniedException',
      )
      await rejectsWith(
        root.send(new DecryptCommand({ DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
        'ValidationException',
        'KeyId is required when DryRun is true and DryRunModifiers is IGNORE_CIPHERTEXT.',
      )
      // The modifier applies only with DryRun true: a real Decrypt still needs a valid ciphertext.
      await rejectsWith(
        root.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.alloc(80, 7), DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
        'InvalidCiphertextException',
      )
    })

    it('ReEncrypt: the same, on the source key named by SourceKeyId', async () => {
      await rejectsWith(
        root.send(
          new ReEncryptCommand({ SourceKeyId: keyId, DestinationKeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] }),
        ),
        'DryRunOperationException',
      )
      await rejectsWith(
        root.send(new ReEncryptCommand({ DestinationKeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
        'ValidationException',
        'SourceKeyId is required when DryRun is true and DryRunModifiers is IGNORE_CIPHERTEXT.',
      )
      await rejectsWith(
        alice.send(
          new ReEncryptCommand({ SourceKeyId: keyId, DestinationKeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] }),
        ),
        'AccessDeniedException',
      )
    })
  })

  describe('custom key stores', () => {
    const missing = 'cks-1234567890abcdef0'

    it('DescribeCustomKeyStores lists none, paged; by id or name, the store is not found', async () => {
      const listed = await root.send(new DescribeCustomKeyStoresCommand({}))
      assert.deepEqual(listed.CustomKeyStores, [])
      assert.equal(listed.Truncated, false)
      assert.equal(listed.NextMarker, undefined)
      const failure = await rejectsWith(
        root.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: missing })),
        'CustomKeyStoreNotFoundException',
      )
      assert.equal(failure.$metadata.httpStatusCode, 400)
      await rejectsWith(
        root.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'ExampleKeyStore' })),
        'CustomKeyStoreNotFoundException',
      )
      await rejectsWith(root.send(new DescribeCustomKeyStoresCommand({ Marker: 'bm90LWEtbWFya2Vy' })), 'InvalidMarkerException')
    })

    it('Connect, Disconnect, Delete and UpdateCustomKeyStore: CustomKeyStoreNotFoundException, with no message (as AWS)', async () => {
      for (const send of [
        () => root.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: missing })),
        () => root.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: missing })),
        () => root.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: missing })),
        () => root.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: missing, NewCustomKeyStoreName: 'renamed' })),
      ]) {
        const raw = await rejectsWith(send(), 'CustomKeyStoreNotFoundException')
        assert.equal(raw.$metadata.httpStatusCode, 400)
      }
      const answer = await sendRaw({
        endpoint: partition.gatewayUrl,
        region: US,
        target: 'TrentService.ConnectCustomKeyStore',
        credentials: partition.credentials,
        body: JSON.stringify({ CustomKeyStoreId: missing }),
      })
      assert.deepEqual(answer.json, { __type: 'CustomKeyStoreNotFoundException' })
      // They are account-level IAM actions: a user without them is refused first.
      await rejectsWith(alice.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: missing })), 'AccessDeniedException')
    })

    it('CreateCustomKeyStore is refused: no CloudHSM cluster exists here, and external key stores are not supported', async () => {
      await rejectsWith(
        root.send(
          new CreateCustomKeyStoreCommand({
            CustomKeyStoreName: 'ExampleKeyStore',
            CloudHsmClusterId: 'cluster-234abcdefABC',
            TrustAnchorCertificate: 'cert',
            KeyStorePassword: 'kmsPswd',
          }),
        ),
        'CloudHsmClusterNotFoundException',
        'CloudHSM cluster cluster-234abcdefABC is not available: this KMS has no CloudHSM clusters and does not support CloudHSM key stores.',
      )
      await rejectsWith(
        root.send(
          new CreateCustomKeyStoreCommand({
            CustomKeyStoreName: 'ExampleExternalKeyStore',
            CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
            XksProxyConnectivity: 'PUBLIC_ENDPOINT',
            XksProxyUriEndpoint: 'https://myproxy.xks.example.com',
            XksProxyUriPath: '/kms/xks/v1',
            XksProxyAuthenticationCredential: {
              AccessKeyId: 'ABCDEFGHIJKLMNOPQRST',
              RawSecretAccessKey: 'DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo=',
            },
          }),
        ),
        'UnsupportedOperationException',
        'External key stores are not supported by this KMS.',
      )
    })

    it('CreateKey and GenerateRandom with a CustomKeyStoreId: CustomKeyStoreNotFoundException', async () => {
      await rejectsWith(
        root.send(new CreateKeyCommand({ CustomKeyStoreId: missing, Origin: 'AWS_CLOUDHSM' })),
        'CustomKeyStoreNotFoundException',
      )
      await rejectsWith(root.send(new CreateKeyCommand({ CustomKeyStoreId: missing })), 'CustomKeyStoreNotFoundException')
      await rejectsWith(
        root.send(new GenerateRandomCommand({ NumberOfBytes: 16, CustomKeyStoreId: missing })),
        'CustomKeyStoreNotFoundException',
      )
    })
  })

  describe('deviations fixed', () => {
    it('CreateAlias refuses a colon in the alias name', async () => {
      await rejectsWith(
        root.send(new CreateAliasCommand({ AliasName: 'alias/my:alias', TargetKeyId: keyId })),
        'ValidationException',
        'alias/my:alias contains invalid characters for an alias',
      )
      // What the model's pattern already refuses keeps AWS's pattern message.
      await rejectsWith(root.send(new CreateAliasCommand({ AliasName: 'alias/my-alias!', TargetKeyId: keyId })), 'ValidationException')
      await root.send(new CreateAliasCommand({ AliasName: 'alias/my_alias-/ok', TargetKeyId: keyId }))
    })

    it('RotateKeyOnDemand answers the bare key id, whichever identifier it was given', async () => {
      const arn = `arn:aws:kms:${US}:${ACCOUNT}:key/${keyId}`
      assert.equal((await root.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))).KeyId, keyId)
      assert.equal((await root.send(new RotateKeyOnDemandCommand({ KeyId: arn }))).KeyId, keyId)
    })

    it('right after ReplicateKey answers, DescribeKey in the replica region shows the replica', async () => {
      for (let i = 0; i < 3; i++) {
        const mrk = (await root.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata?.KeyId ?? assert.fail('no key')
        const replicated = await root.send(new ReplicateKeyCommand({ KeyId: mrk, ReplicaRegion: EU }))
        assert.equal(replicated.ReplicaKeyMetadata?.KeyState, 'Creating')
        const described = await kmsClient(partition, EU).send(new DescribeKeyCommand({ KeyId: mrk }))
        assert.equal(described.KeyMetadata?.Arn, `arn:aws:kms:${EU}:${ACCOUNT}:key/${mrk}`)
        assert.equal(described.KeyMetadata?.MultiRegionConfiguration?.MultiRegionKeyType, 'REPLICA')
        assert.ok(['Creating', 'Enabled'].includes(described.KeyMetadata?.KeyState ?? ''), described.KeyMetadata?.KeyState)
      }
    })
  })
})
