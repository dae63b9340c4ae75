/**
 * Nothing acknowledged is lost: kill -9 the region right after (and while) it
 * acknowledges writes, restart it on the same data dir, and find everything there, with
 * old ciphertexts still decrypting.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetKeyPolicyCommand,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  RotateKeyOnDemandCommand,
  TagResourceCommand,
  CreateGrantCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  ListGrantsCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms'
import { randomBytes } from 'node:crypto'
import { wrapForImport } from '../helpers/import-wrap.js'
import { startRegionProcess, type RegionProcess } from '../helpers/region-process.js'

/** A policy other than the default that still lets the account's root manage the key. */
const KEPT_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Sid: 'kept across kill -9', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
  ],
})

const dataDir = mkdtempSync(join(tmpdir(), 'trent-crash-'))
let region: RegionProcess | undefined
after(async () => {
  await region?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

test('each acknowledged write survives kill -9 immediately after its acknowledgement', async () => {
  const steps: Array<(r: RegionProcess, keyId: string) => Promise<void>> = [
    async (r, keyId) => void (await r.client().send(new RotateKeyOnDemandCommand({ KeyId: keyId }))),
    async (r, keyId) => void (await r.client().send(new CreateAliasCommand({ AliasName: 'alias/crash', TargetKeyId: keyId }))),
    async (r, keyId) => void (await r.client().send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'k', TagValue: 'v' }] }))),
    async (r, keyId) => void (await r.client().send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: KEPT_POLICY }))),
  ]
  region = await startRegionProcess({ dataDir })
  const created = await region.client().send(new CreateKeyCommand({ Description: 'survivor' }))
  const keyId = created.KeyMetadata?.KeyId ?? ''
  await region.kill9()
  region = await startRegionProcess({ dataDir })
  assert.equal((await region.client().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Description, 'survivor')
  const ciphertext = (await region.client().send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('old data') }))).CiphertextBlob
  for (const step of steps) {
    await step(region, keyId)
    await region.kill9()
    region = await startRegionProcess({ dataDir })
  }
  const client = region.client()
  assert.equal((await client.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations?.length, 1)
  assert.deepEqual(
    (await client.send(new ListAliasesCommand({ KeyId: keyId }))).Aliases?.map((a) => a.AliasName),
    ['alias/crash'],
  )
  assert.deepEqual((await client.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags, [{ TagKey: 'k', TagValue: 'v' }])
  assert.equal((await client.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy, KEPT_POLICY)
  const plain = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
  assert.equal(Buffer.from(plain.Plaintext ?? []).toString(), 'old data')
})

test('asymmetric and HMAC keys, imported material and grants survive kill -9 right after their acknowledgement', async () => {
  region ??= await startRegionProcess({ dataDir })
  const signing =
    (await region.client().send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata?.KeyId ?? ''
  const publicKey = (await region.client().send(new GetPublicKeyCommand({ KeyId: signing }))).PublicKey
  await region.kill9()
  region = await startRegionProcess({ dataDir })
  assert.deepEqual(
    (await region.client().send(new GetPublicKeyCommand({ KeyId: signing }))).PublicKey,
    publicKey,
    'the same private key after the crash',
  )

  const mac =
    (await region.client().send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata?.KeyId ?? ''
  const tag = (await region.client().send(new GenerateMacCommand({ KeyId: mac, Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' })))
    .Mac
  await region.kill9()
  region = await startRegionProcess({ dataDir })
  await region.client().send(new VerifyMacCommand({ KeyId: mac, Message: Buffer.from('m'), Mac: tag, MacAlgorithm: 'HMAC_SHA_256' }))

  const external = (await region.client().send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId ?? ''
  const parameters = await region
    .client()
    .send(new GetParametersForImportCommand({ KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))
  const material = randomBytes(32)
  await region.client().send(
    new ImportKeyMaterialCommand({
      KeyId: external,
      ImportToken: parameters.ImportToken,
      EncryptedKeyMaterial: wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', material),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    }),
  )
  await region.kill9()
  region = await startRegionProcess({ dataDir })
  assert.equal((await region.client().send(new DescribeKeyCommand({ KeyId: external }))).KeyMetadata?.KeyState, 'Enabled')

  const grant = await region
    .client()
    .send(new CreateGrantCommand({ KeyId: external, GranteePrincipal: 'arn:aws:iam::111122223333:user/crash', Operations: ['Encrypt'] }))
  await region.kill9()
  region = await startRegionProcess({ dataDir })
  const grants = await region.client().send(new ListGrantsCommand({ KeyId: external }))
  assert.deepEqual(
    grants.Grants?.map((g) => g.GrantId),
    [grant.GrantId],
  )
})

test('kill -9 during a burst of writes loses none that were acknowledged', async () => {
  region ??= await startRegionProcess({ dataDir })
  for (let round = 0; round < 3; round++) {
    const client = region.client()
    const acknowledged: Array<{ keyId: string; ciphertext: Uint8Array }> = []
    const workers = Array.from({ length: 8 }, async () => {
      for (;;) {
        try {
          const key = await client.send(new CreateKeyCommand({}))
          const keyId = key.KeyMetadata?.KeyId ?? ''
          const enc = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(keyId) }))
          acknowledged.push({ keyId, ciphertext: enc.CiphertextBlob ?? new Uint8Array() })
        } catch {
          return // the region died under us: expected
        }
      }
    })
    // Kill while requests are in flight, after some writes have been acknowledged.
    while (acknowledged.length < 5 + round * 7) await new Promise((r) => setTimeout(r, 5))
    await region.kill9()
    await Promise.all(workers)
    region = await startRegionProcess({ dataDir })
    const after = region.client()
    const listed = new Set(((await after.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? []).map((k) => k.KeyId))
    for (const { keyId, ciphertext } of acknowledged) {
      assert.ok(listed.has(keyId), `acknowledged key ${keyId} lost`)
      const plain = await after.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
      assert.equal(Buffer.from(plain.Plaintext ?? []).toString(), keyId)
    }
  }
})
