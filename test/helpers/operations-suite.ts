/**
 * Every operation of a region, driven with the AWS SDK for JavaScript v3, with the
 * answers AWS gives. Run against an in-process region (fast) and against a real
 * partition started as a user starts it (test/interop).
 */
import assert from 'node:assert/strict'
import { describe, it, before, after } from 'node:test'
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  ListKeyPoliciesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'

export interface SuiteTarget {
  region: string
  accountId: string
  client(): KMSClient
  /** Moves the region's clock forward and runs its background work once. */
  advanceClock(seconds: number): Promise<void>
  close(): Promise<void>
}

export async function expectError(work: Promise<unknown>, name: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }
    assert.equal(e.name, name, `expected ${name}, got ${String(e.name)}: ${String(e.message)}`)
    if (typeof message === 'string') assert.equal(e.message, message)
    else if (message instanceof RegExp) assert.match(e.message ?? '', message)
    assert.ok((e.$metadata?.httpStatusCode ?? 0) < 500, 'client errors are 4xx')
    return true
  })
}

const DAY = 86_400

export function runOperationSuite(title: string, start: () => Promise<SuiteTarget>): void {
  describe(title, () => {
    let target: SuiteTarget
    let kms: KMSClient
    const arnPrefix = (): string => `arn:aws:kms:${target.region}:${target.accountId}`

    before(async () => {
      target = await start()
      kms = target.client()
    })
    after(async () => {
      await target.close()
    })

    it('CreateKey returns AWS-shaped metadata; DescribeKey and ListKeys see the key', async () => {
      const created = await kms.send(new CreateKeyCommand({ Description: 'suite key', Tags: [{ TagKey: 'team', TagValue: 'a' }] }))
      const md = created.KeyMetadata
      assert.ok(md?.KeyId !== undefined)
      assert.match(md.KeyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assert.equal(md.Arn, `${arnPrefix()}:key/${md.KeyId}`)
      assert.equal(md.KeyState, 'Enabled')
      assert.equal(md.Enabled, true)
      assert.equal(md.KeySpec, 'SYMMETRIC_DEFAULT')
      assert.equal(md.KeyUsage, 'ENCRYPT_DECRYPT')
      assert.equal(md.Origin, 'AWS_KMS')
      assert.equal(md.KeyManager, 'CUSTOMER')
      assert.equal(md.MultiRegion, false)
      assert.equal(md.MultiRegionConfiguration, undefined)
      assert.match(md.CurrentKeyMaterialId ?? '', /^[0-9a-f]{64}$/)
      assert.deepEqual(md.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT'])
      const described = await kms.send(new DescribeKeyCommand({ KeyId: md.Arn }))
      assert.deepEqual(described.KeyMetadata, md)
      const listed = await kms.send(new ListKeysCommand({}))
      assert.ok(listed.Keys?.some((k) => k.KeyId === md.KeyId && k.KeyArn === md.Arn))
    })

    it('CreateKey with MultiRegion gives an mrk- primary', async () => {
      const { KeyMetadata: md } = await kms.send(new CreateKeyCommand({ MultiRegion: true }))
      assert.match(md?.KeyId ?? '', /^mrk-[0-9a-f]{32}$/)
      assert.equal(md?.MultiRegion, true)
      assert.equal(md?.MultiRegionConfiguration?.MultiRegionKeyType, 'PRIMARY')
      assert.deepEqual(md?.MultiRegionConfiguration?.PrimaryKey, { Arn: md?.Arn, Region: target.region })
      assert.deepEqual(md?.MultiRegionConfiguration?.ReplicaKeys, [])
    })

    it('ListKeys pages with Limit and Marker', async () => {
      for (let i = 0; i < 3; i++) await kms.send(new CreateKeyCommand({}))
      const all = (await kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? []
      const seen: string[] = []
      let marker: string | undefined
      do {
        const page = await kms.send(new ListKeysCommand({ Limit: 2, ...(marker !== undefined ? { Marker: marker } : {}) }))
        assert.ok((page.Keys ?? []).length <= 2)
        seen.push(...(page.Keys ?? []).map((k) => k.KeyId ?? ''))
        marker = page.Truncated === true ? page.NextMarker : undefined
        if (page.Truncated === true) assert.ok(page.NextMarker)
      } while (marker !== undefined)
      assert.deepEqual(
        seen,
        all.map((k) => k.KeyId),
      )
      await expectError(kms.send(new ListKeysCommand({ Marker: 'bm90LWEtbWFya2Vy' })), 'InvalidMarkerException')
    })

    it('Encrypt, Decrypt (with and without KeyId), ReEncrypt and data keys round-trip', async () => {
      const a = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      const b = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      assert.ok(a?.KeyId && a.Arn && b?.KeyId && b.Arn)
      const context = { tenant: 'acme', ünïcødé: '✓' }
      const enc = await kms.send(new EncryptCommand({ KeyId: a.KeyId, Plaintext: Buffer.from('hello'), EncryptionContext: context }))
      assert.equal(enc.KeyId, a.Arn)
      assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT')
      assert.ok(enc.CiphertextBlob)
      const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }))
      assert.equal(Buffer.from(dec.Plaintext ?? []).toString(), 'hello')
      assert.equal(dec.KeyId, a.Arn)
      const dec2 = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context, KeyId: a.Arn }))
      assert.equal(Buffer.from(dec2.Plaintext ?? []).toString(), 'hello')
      await expectError(
        kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context, KeyId: b.KeyId })),
        'IncorrectKeyException',
        'The key ID in the request does not identify a CMK that can perform this operation.',
      )
      await expectError(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })), 'InvalidCiphertextException')
      await expectError(
        kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 'ACME', ünïcødé: '✓' } })),
        'InvalidCiphertextException',
      )

      const re = await kms.send(
        new ReEncryptCommand({
          CiphertextBlob: enc.CiphertextBlob,
          SourceEncryptionContext: context,
          DestinationKeyId: b.Arn,
          DestinationEncryptionContext: { other: 'ctx' },
        }),
      )
      assert.equal(re.SourceKeyId, a.Arn)
      assert.equal(re.KeyId, b.Arn)
      const dec3 = await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { other: 'ctx' } }))
      assert.equal(Buffer.from(dec3.Plaintext ?? []).toString(), 'hello')
      assert.equal(dec3.KeyId, b.Arn)

      const gdk = await kms.send(new GenerateDataKeyCommand({ KeyId: a.Arn, KeySpec: 'AES_256', EncryptionContext: context }))
      assert.equal(gdk.Plaintext?.length, 32)
      assert.equal(gdk.KeyId, a.Arn)
      const unwrapped = await kms.send(new DecryptCommand({ CiphertextBlob: gdk.CiphertextBlob, EncryptionContext: context }))
      assert.deepEqual(Buffer.from(unwrapped.Plaintext ?? []), Buffer.from(gdk.Plaintext ?? []))
      const gdk16 = await kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId, NumberOfBytes: 16 }))
      assert.equal(gdk16.Plaintext?.length, 16)
      await expectError(kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId })), 'ValidationException')
      await expectError(
        kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId, KeySpec: 'AES_128', NumberOfBytes: 16 })),
        'ValidationException',
      )

      const wp = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: a.KeyId, KeySpec: 'AES_128' }))
      assert.equal('Plaintext' in wp, false)
      assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: wp.CiphertextBlob }))).Plaintext?.length, 16)

      const random = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64 }))
      assert.equal(random.Plaintext?.length, 64)
      await expectError(kms.send(new GenerateRandomCommand({})), 'ValidationException', 'NumberOfBytes is required.')
    })

    it('aliases: create, use in crypto operations, update, list, delete', async () => {
      const a = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      const b = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      assert.ok(a?.KeyId && b?.KeyId)
      const name = `alias/suite-${a.KeyId.slice(0, 8)}`
      await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: a.KeyId }))
      await expectError(
        kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: b.KeyId })),
        'AlreadyExistsException',
        `An alias with the name ${arnPrefix()}:${name} already exists`,
      )
      const enc = await kms.send(new EncryptCommand({ KeyId: name, Plaintext: Buffer.from('via alias') }))
      assert.equal(enc.KeyId, a.Arn)
      const byAliasArn = await kms.send(new DescribeKeyCommand({ KeyId: `${arnPrefix()}:${name}` }))
      assert.equal(byAliasArn.KeyMetadata?.KeyId, a.KeyId)
      const listed = await kms.send(new ListAliasesCommand({ KeyId: a.KeyId }))
      assert.deepEqual(
        listed.Aliases?.map((x) => [x.AliasName, x.AliasArn, x.TargetKeyId]),
        [[name, `${arnPrefix()}:${name}`, a.KeyId]],
      )
      await kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: b.KeyId }))
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: name }))).KeyMetadata?.KeyId, b.KeyId)
      // Management operations take key ids and ARNs, not aliases.
      await expectError(kms.send(new DisableKeyCommand({ KeyId: name })), 'NotFoundException')
      await kms.send(new DeleteAliasCommand({ AliasName: name }))
      await expectError(
        kms.send(new DescribeKeyCommand({ KeyId: name })),
        'NotFoundException',
        `Alias ${arnPrefix()}:${name} is not found.`,
      )
      await expectError(kms.send(new DeleteAliasCommand({ AliasName: name })), 'NotFoundException')
      await expectError(kms.send(new CreateAliasCommand({ AliasName: 'nope', TargetKeyId: a.KeyId })), 'ValidationException')
      await expectError(
        kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/reserved', TargetKeyId: a.KeyId })),
        'InvalidAliasNameException',
      )
    })

    it('tags, description and policies', async () => {
      const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      assert.ok(key?.KeyId)
      await kms.send(
        new TagResourceCommand({
          KeyId: key.KeyId,
          Tags: [
            { TagKey: 'b', TagValue: '2' },
            { TagKey: 'a', TagValue: '1' },
          ],
        }),
      )
      await kms.send(new TagResourceCommand({ KeyId: key.Arn, Tags: [{ TagKey: 'a', TagValue: 'one' }] }))
      const tags = await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))
      assert.deepEqual(tags.Tags, [
        { TagKey: 'a', TagValue: 'one' },
        { TagKey: 'b', TagValue: '2' },
      ])
      assert.equal(tags.Truncated, false)
      await kms.send(new UntagResourceCommand({ KeyId: key.KeyId, TagKeys: ['a'] }))
      assert.deepEqual((await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags, [{ TagKey: 'b', TagValue: '2' }])
      await expectError(
        kms.send(new TagResourceCommand({ KeyId: key.KeyId, Tags: [{ TagKey: 'aws:x', TagValue: 'v' }] })),
        'TagException',
        'Tags beginning with aws: are reserved',
      )
      await expectError(
        kms.send(
          new TagResourceCommand({
            KeyId: key.KeyId,
            Tags: [
              { TagKey: 'd', TagValue: '1' },
              { TagKey: 'd', TagValue: '2' },
            ],
          }),
        ),
        'TagException',
        'Duplicate tag keys',
      )
      const many = Array.from({ length: 50 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' }))
      await expectError(kms.send(new TagResourceCommand({ KeyId: key.KeyId, Tags: many })), 'TagException', 'Too many tags')

      await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId, Description: 'new words' }))
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata?.Description, 'new words')

      const policy = await kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default' }))
      assert.match(policy.Policy ?? '', /"Sid" : "Enable IAM User Permissions"/)
      assert.match(policy.Policy ?? '', new RegExp(`arn:aws:iam::${target.accountId}:root`))
      const custom = JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*' }],
      })
      await kms.send(new PutKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default', Policy: custom }))
      assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default' }))).Policy, custom)
      assert.deepEqual((await kms.send(new ListKeyPoliciesCommand({ KeyId: key.KeyId }))).PolicyNames, ['default'])
      await expectError(kms.send(new PutKeyPolicyCommand({ KeyId: key.KeyId, Policy: '{not json' })), 'MalformedPolicyDocumentException')
    })

    it('enable, disable and the key states they produce', async () => {
      const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      assert.ok(key?.KeyId && key.Arn)
      const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') }))
      await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }))
      const md = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata
      assert.equal(md?.KeyState, 'Disabled')
      assert.equal(md?.Enabled, false)
      await expectError(
        kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })),
        'DisabledException',
        `${key.Arn} is disabled.`,
      )
      await expectError(
        kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })),
        'DisabledException',
        `${key.Arn} is disabled.`,
      )
      await kms.send(new EnableKeyCommand({ KeyId: key.Arn }))
      assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).KeyId, key.Arn)
    })

    it('unknown and malformed key ids get AWS errors', async () => {
      await expectError(kms.send(new DescribeKeyCommand({ KeyId: 'fake-key-id' })), 'NotFoundException', "Invalid keyId 'fake-key-id'")
      await expectError(
        kms.send(new DescribeKeyCommand({ KeyId: 'mrk-fake-key-id' })),
        'NotFoundException',
        "Invalid keyId 'mrk-fake-key-id'",
      )
      const absent = '11111111-2222-3333-4444-555555555555'
      await expectError(
        kms.send(new DescribeKeyCommand({ KeyId: absent })),
        'NotFoundException',
        `Key '${arnPrefix()}:key/${absent}' does not exist`,
      )
      await expectError(
        kms.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:xx-other-1:${target.accountId}:key/${absent}` })),
        'NotFoundException',
        'Invalid arn xx-other-1',
      )
    })

    it('rotation: on demand, automatic on its period, history, and old ciphertexts still decrypt', async () => {
      const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      assert.ok(key?.KeyId && key.Arn)
      const before = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('before') }))
      assert.deepEqual(await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId })).then((r) => [r.KeyRotationEnabled, r.KeyId]), [
        false,
        key.Arn,
      ])
      const rotated = await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }))
      // The bare key id, as the API reference's example answers (not the ARN).
      assert.equal(rotated.KeyId, key.KeyId)
      const after = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata
      assert.notEqual(after?.CurrentKeyMaterialId, key.CurrentKeyMaterialId)
      const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))
      assert.equal(rotations.Rotations?.length, 1)
      assert.equal(rotations.Rotations?.[0]?.RotationType, 'ON_DEMAND')
      assert.equal(rotations.Rotations?.[0]?.KeyMaterialId, after?.CurrentKeyMaterialId)
      assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob }))).Plaintext?.length, 6)

      await kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 90 }))
      const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))
      assert.equal(status.KeyRotationEnabled, true)
      assert.equal(status.RotationPeriodInDays, 90)
      assert.ok(status.NextRotationDate instanceof Date)
      await target.advanceClock(91 * DAY)
      const all = await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))
      assert.deepEqual(
        all.Rotations?.map((r) => r.RotationType),
        [undefined, 'ON_DEMAND', 'AUTOMATIC'],
      )
      assert.equal(all.Rotations?.filter((r) => r.KeyMaterialState === 'CURRENT').length, 1)
      assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob }))).Plaintext?.length, 6)
      await kms.send(new DisableKeyRotationCommand({ KeyId: key.KeyId }))
      assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).KeyRotationEnabled, false)
      await expectError(kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 10 })), 'ValidationException')
    })

    it('scheduled deletion: pending, cancel, and real deletion after the window', async () => {
      const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata
      assert.ok(key?.KeyId && key.Arn)
      const alias = `alias/doomed-${key.KeyId.slice(0, 8)}`
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId }))
      const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }))
      assert.equal(scheduled.KeyId, key.Arn)
      assert.equal(scheduled.KeyState, 'PendingDeletion')
      assert.equal(scheduled.PendingWindowInDays, 7)
      assert.ok(scheduled.DeletionDate instanceof Date)
      await expectError(
        kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })),
        'KMSInvalidStateException',
        `${key.Arn} is pending deletion.`,
      )
      await expectError(
        kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId })),
        'KMSInvalidStateException',
        `${key.Arn} is pending deletion.`,
      )
      const cancelled = await kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }))
      assert.equal(cancelled.KeyId, key.Arn)
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata?.KeyState, 'Disabled')
      await expectError(
        kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId })),
        'KMSInvalidStateException',
        `${key.Arn} is not pending deletion.`,
      )
      await expectError(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 6 })), 'ValidationException')

      await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }))
      await target.advanceClock(6 * DAY)
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata?.KeyState, 'PendingDeletion')
      await target.advanceClock(1 * DAY + 60)
      await expectError(kms.send(new DescribeKeyCommand({ KeyId: key.KeyId })), 'NotFoundException', `Key '${key.Arn}' does not exist`)
      await expectError(kms.send(new DescribeKeyCommand({ KeyId: alias })), 'NotFoundException')
      const keys = (await kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? []
      assert.ok(!keys.some((k) => k.KeyId === key.KeyId))
    })
  })
}
