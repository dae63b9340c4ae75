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
} from '@aws-sdk/client-kms'
import { startRegionProcess, type RegionProcess } from '../helpers/region-process.js'

/** A policy other than the default that still lets the account's root manage the key. */
const KEPT_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'kept across kill -9', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }],
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
  assert.deepEqual((await client.send(new ListAliasesCommand({ KeyId: keyId }))).Aliases?.map((a) => a.AliasName), ['alias/crash'])
  assert.deepEqual((await client.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags, [{ TagKey: 'k', TagValue: 'v' }])
  assert.equal((await client.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy, KEPT_POLICY)
  const plain = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext }))
  assert.equal(Buffer.from(plain.Plaintext ?? []).toString(), 'old data')
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
