/**
 * The audit trail and GetKeyLastUsage through the real AWS SDK against a real partition
 * (launcher, gateway, two regions, replication proxy): every request, successful or not
 * (a bad signature included), and every replication message becomes a CloudTrail-format
 * record; no plaintext, ciphertext, signature or MAC reaches any trail file; the
 * `trent audit` CLI runs as a process of its own; GetKeyLastUsage names the record of the
 * last cryptographic use, also after the partition restarts.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import {
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateMacCommand,
  GetKeyLastUsageCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ReEncryptCommand,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  VerifyCommand,
  type KMSServiceException,
} from '@aws-sdk/client-kms'
import type { AuditRecord } from '../../src/audit/record.js'
import { HIDDEN_VALUE } from '../../src/api/members.js'
import { callTrent } from '../../src/cli/sign.js'
import { wrapForImport } from '../helpers/import-wrap.js'
import {
  createTempDir,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const ACCOUNT = '111122223333'
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const EXTRA_ARGS = ['--reconcile-interval-ms', '500', '--allow-test-hooks']

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

async function events(dataDir: string, region: string, ...filters: string[]): Promise<AuditRecord[]> {
  const result = await runCli(['audit', 'events', '--data-dir', dataDir, '--region', region, ...filters])
  assert.equal(result.code, 0, result.stderr)
  return result.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditRecord)
}

function byRequest(records: AuditRecord[], requestId: string | undefined): AuditRecord {
  const found = records.filter((r) => r.requestID === requestId)
  assert.equal(found.length, 1, `one record of request ${requestId}, found ${found.length}`)
  return found[0]!
}

/** Every byte of every trail file of the partition. */
function allTrailBytes(dataDir: string): Buffer {
  const chunks: Buffer[] = []
  for (const region of readdirSync(join(dataDir, 'regions'))) {
    const dir = join(dataDir, 'regions', region, 'audit')
    for (const name of readdirSync(dir)) chunks.push(readFileSync(join(dir, name)))
  }
  return Buffer.concat(chunks)
}

describe('audit trail and GetKeyLastUsage, through the AWS SDK', () => {
  const dataDir = createTempDir('trent-audit-')
  let partition: RunningPartition
  const kms = (region: string): KMSClient => kmsClient(partition, region, { maxAttempts: 1 })
  /** Every secret the test handles: none may appear in a trail, in any encoding. */
  const secrets: Array<{ what: string; bytes: Uint8Array }> = []
  const keep = (what: string, bytes: Uint8Array | undefined): Uint8Array => {
    assert.ok(bytes !== undefined && bytes.length > 0, `${what} present`)
    secrets.push({ what, bytes })
    return bytes
  }
  let symmetric = ''
  let other = ''
  let signing = ''
  let mac = ''
  const requestIds: Record<string, string | undefined> = {}

  before(async () => {
    partition = await startPartition({ regions: [US, EU], dataDir, extraArgs: EXTRA_ARGS })
  })
  after(async () => {
    await stopAllPartitions()
    removeTempDir(dataDir)
  })

  it('records each request with CloudTrail fields, errors included, and no secret', async () => {
    const created = await kms(US).send(new CreateKeyCommand({ Description: 'audited' }))
    symmetric = created.KeyMetadata?.KeyId ?? ''
    requestIds.CreateKey = created.$metadata.requestId
    other = (await kms(US).send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    signing = (await kms(US).send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata?.KeyId ?? ''
    mac = (await kms(US).send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata?.KeyId ?? ''

    const plaintext = keep('plaintext', randomBytes(48))
    const context = { purpose: 'audit-test' }
    const encrypted = await kms(US).send(new EncryptCommand({ KeyId: symmetric, Plaintext: plaintext, EncryptionContext: context }))
    requestIds.Encrypt = encrypted.$metadata.requestId
    const ciphertext = keep('ciphertext', encrypted.CiphertextBlob)
    const decrypted = await kms(US).send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context }))
    assert.ok(Buffer.from(decrypted.Plaintext ?? []).equals(plaintext), 'Decrypt gives the plaintext back')
    requestIds.Decrypt = decrypted.$metadata.requestId
    const dataKey = await kms(US).send(new GenerateDataKeyCommand({ KeyId: symmetric, KeySpec: 'AES_256' }))
    keep('data key', dataKey.Plaintext)
    keep('encrypted data key', dataKey.CiphertextBlob)
    const reEncrypted = await kms(US).send(
      new ReEncryptCommand({ CiphertextBlob: ciphertext, SourceEncryptionContext: context, DestinationKeyId: other }),
    )
    keep('re-encrypted ciphertext', reEncrypted.CiphertextBlob)
    requestIds.ReEncrypt = reEncrypted.$metadata.requestId
    const message = keep('message', randomBytes(40))
    const signed = await kms(US).send(new SignCommand({ KeyId: signing, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))
    keep('signature', signed.Signature)
    const verified = await kms(US).send(
      new VerifyCommand({ KeyId: signing, Message: message, Signature: signed.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }),
    )
    requestIds.Verify = verified.$metadata.requestId
    const macked = await kms(US).send(new GenerateMacCommand({ KeyId: mac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))
    keep('mac', macked.Mac)
    requestIds.GenerateMac = macked.$metadata.requestId

    // A Decrypt that fails, and a request whose signature is wrong.
    const tampered = Buffer.from(ciphertext)
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
    const failed = await kms(US)
      .send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context }))
      .catch((err: KMSServiceException) => err)
    assert.equal((failed as KMSServiceException).name, 'InvalidCiphertextException')
    requestIds.FailedDecrypt = (failed as KMSServiceException).$metadata.requestId
    const forger = new KMSClient({
      region: US,
      endpoint: partition.gatewayUrl,
      credentials: { accessKeyId: partition.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
      maxAttempts: 1,
    })
    const badSignature = await forger
      .send(new EncryptCommand({ KeyId: symmetric, Plaintext: plaintext }))
      .catch((err: KMSServiceException) => err)
    forger.destroy()
    assert.equal((badSignature as KMSServiceException).name, 'InvalidSignatureException')
    requestIds.BadSignature = (badSignature as KMSServiceException).$metadata.requestId

    const records = await events(dataDir, US)
    const keyArn = `arn:aws:kms:${US}:${ACCOUNT}:key/${symmetric}`
    const encrypt = byRequest(records, requestIds.Encrypt)
    assert.equal(encrypt.eventVersion, '1.11')
    assert.equal(encrypt.eventSource, 'kms.amazonaws.com')
    assert.equal(encrypt.eventName, 'Encrypt')
    assert.equal(encrypt.awsRegion, US)
    assert.equal(encrypt.eventType, 'AwsApiCall')
    assert.equal(encrypt.readOnly, true)
    assert.equal(encrypt.sourceIPAddress, '127.0.0.1')
    assert.match(encrypt.userAgent, /aws-sdk-js/)
    assert.deepEqual(encrypt.userIdentity, {
      type: 'Root',
      principalId: ACCOUNT,
      arn: `arn:aws:iam::${ACCOUNT}:root`,
      accountId: ACCOUNT,
      accessKeyId: partition.credentials.accessKeyId,
    })
    assert.deepEqual(encrypt.requestParameters, { keyId: symmetric, encryptionContext: context })
    assert.equal(encrypt.responseElements, null)
    assert.deepEqual(encrypt.resources, [{ accountId: ACCOUNT, type: 'AWS::KMS::Key', ARN: keyArn }])
    assert.match(encrypt.eventID, /^[0-9a-f-]{36}$/)
    assert.equal(encrypt.errorCode, undefined)

    const decrypt = byRequest(records, requestIds.Decrypt)
    assert.deepEqual(decrypt.requestParameters, { encryptionContext: context })
    assert.deepEqual(
      decrypt.resources.map((r) => r.ARN),
      [keyArn],
    )

    const reEncrypt = byRequest(records, requestIds.ReEncrypt)
    assert.deepEqual(new Set(reEncrypt.resources.map((r) => r.ARN)), new Set([keyArn, `arn:aws:kms:${US}:${ACCOUNT}:key/${other}`]))

    const createKey = byRequest(records, requestIds.CreateKey)
    assert.equal(createKey.readOnly, false)
    const metadata = createKey.responseElements?.keyMetadata as Record<string, unknown>
    assert.equal(metadata.keyId, symmetric)
    assert.equal(metadata.aWSAccountId, ACCOUNT)
    assert.match(String(metadata.creationDate), /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} [AP]M$/)

    const failedDecrypt = byRequest(records, requestIds.FailedDecrypt)
    assert.equal(failedDecrypt.errorCode, 'InvalidCiphertextException')
    assert.equal(typeof failedDecrypt.errorMessage, 'string')
    assert.equal(failedDecrypt.responseElements, null)

    const forged = byRequest(records, requestIds.BadSignature)
    assert.equal(forged.errorCode, 'InvalidSignatureException')
    assert.equal(forged.eventName, 'Encrypt')
    // The claimed key id, unverified; the signer is not known to be anyone.
    assert.deepEqual(forged.userIdentity, { type: 'Unknown', accountId: ACCOUNT, accessKeyId: partition.credentials.accessKeyId })
    assert.equal(forged.requestParameters, null, 'an unauthenticated request is not parsed, so nothing of it is recorded')

    // Filters of the CLI, on a real trail.
    const signingRecords = await events(dataDir, US, '--key-id', signing)
    assert.deepEqual(
      signingRecords.map((r) => r.eventName),
      ['CreateKey', 'Sign', 'Verify'],
    )
    assert.deepEqual(
      (await events(dataDir, US, '--event-name', 'GenerateMac')).map((r) => r.requestID),
      [requestIds.GenerateMac],
    )

    // No secret in any encoding, anywhere in any trail file.
    const trail = allTrailBytes(dataDir)
    const text = trail.toString('latin1')
    for (const { what, bytes } of secrets) {
      const raw = Buffer.from(bytes)
      assert.equal(trail.indexOf(raw), -1, `${what} (raw) in the trail`)
      for (const encoded of [raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')]) {
        assert.equal(text.includes(encoded), false, `${what} (${encoded.slice(0, 12)}...) in the trail`)
      }
    }
    assert.equal((await runCli(['audit', 'verify', '--data-dir', dataDir, '--region', US])).code, 0)
  })

  it('GetKeyLastUsage names the record of the last successful cryptographic use', async () => {
    const records = await events(dataDir, US)
    const expectLast = async (keyId: string, operation: string, requestId: string | undefined): Promise<void> => {
      const usage = await kms(US).send(new GetKeyLastUsageCommand({ KeyId: keyId }))
      assert.equal(usage.KeyId, `arn:aws:kms:${US}:${ACCOUNT}:key/${keyId}`)
      assert.equal(usage.KeyLastUsage?.Operation, operation)
      assert.equal(usage.KeyLastUsage?.KmsRequestId, requestId)
      assert.equal(usage.KeyLastUsage?.CloudTrailEventId, byRequest(records, requestId).eventID)
      assert.ok(Math.abs((usage.KeyLastUsage?.Timestamp?.getTime() ?? 0) - Date.now()) < 120_000)
      assert.ok((usage.TrackingStartDate?.getTime() ?? Infinity) <= (usage.KeyCreationDate?.getTime() ?? 0) + 1000)
    }
    // ReEncrypt counts for both its keys; the failed Decrypt and the forged Encrypt for none.
    await expectLast(symmetric, 'ReEncrypt', requestIds.ReEncrypt)
    await expectLast(other, 'ReEncrypt', requestIds.ReEncrypt)
    await expectLast(signing, 'Verify', requestIds.Verify)
    await expectLast(mac, 'GenerateMac', requestIds.GenerateMac)
    // A key never used: no KeyLastUsage, and it was created after tracking began.
    const unused = (await kms(US).send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    const none = await kms(US).send(new GetKeyLastUsageCommand({ KeyId: unused }))
    assert.equal(none.KeyLastUsage, undefined)
    assert.ok((none.TrackingStartDate?.getTime() ?? Infinity) <= (none.KeyCreationDate?.getTime() ?? 0) + 1000)
    // Any key state, as AWS (no KMSInvalidStateException in the model).
    await kms(US).send(new ScheduleKeyDeletionCommand({ KeyId: unused, PendingWindowInDays: 7 }))
    assert.equal((await kms(US).send(new GetKeyLastUsageCommand({ KeyId: unused }))).KeyLastUsage, undefined)
    // Errors: an unknown key; an alias is not accepted.
    const missing = await kms(US)
      .send(new GetKeyLastUsageCommand({ KeyId: '00000000-0000-0000-0000-000000000000' }))
      .catch((err: KMSServiceException) => err)
    assert.equal((missing as KMSServiceException).name, 'NotFoundException')
    const gets = await events(dataDir, US, '--event-name', 'GetKeyLastUsage')
    assert.ok(gets.length >= 6 && gets.every((r) => r.readOnly && r.responseElements === null))

    // Imported material that expires: its expiry is the region's own work too.
    const external = (await kms(US).send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId ?? ''
    const parameters = await kms(US).send(
      new GetParametersForImportCommand({ KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
    )
    const material = keep('imported key material', randomBytes(32))
    const wrapped = keep('wrapped key material', wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', material))
    keep('import token', parameters.ImportToken)
    await kms(US).send(
      new ImportKeyMaterialCommand({
        KeyId: external,
        ImportToken: parameters.ImportToken,
        EncryptedKeyMaterial: wrapped,
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
        ValidTo: new Date(Date.now() + 2 * 86_400_000),
      }),
    )

    // The deletion coming due is the region's own work: a DeleteKey service event.
    const advanced = await callTrent(partition.gatewayUrl, US, partition.credentials, 'TrentAdmin.AdvanceClock', { Seconds: 8 * 86_400 })
    assert.equal(advanced.status, 200)
    const deletions = await events(dataDir, US, '--event-name', 'DeleteKey', '--key-id', unused)
    assert.equal(deletions.length, 1, 'the deletion is recorded once')
    assert.equal(deletions[0]?.eventType, 'AwsServiceEvent')
    assert.deepEqual(deletions[0]?.userIdentity, { accountId: ACCOUNT, invokedBy: 'AWS Internal' })
    assert.deepEqual(
      deletions[0]?.resources.map((r) => r.ARN),
      [`arn:aws:kms:${US}:${ACCOUNT}:key/${unused}`],
    )
    const expiries = await events(dataDir, US, '--event-name', 'DeleteExpiredKeyMaterial', '--key-id', external)
    assert.equal(expiries.length, 1, 'the expiry is recorded once')
    assert.equal(expiries[0]?.eventType, 'AwsServiceEvent')
    const imported = await events(dataDir, US, '--event-name', 'ImportKeyMaterial')
    assert.deepEqual(Object.keys(imported[0]?.requestParameters ?? {}).sort(), ['expirationModel', 'keyId', 'validTo'])
    // Neither the material nor its wrapped form nor the import token reached the trail.
    const trail = allTrailBytes(dataDir)
    for (const { what, bytes } of secrets) {
      const raw = Buffer.from(bytes)
      assert.equal(trail.indexOf(raw), -1, `${what} (raw) in the trail`)
      assert.equal(trail.toString('latin1').includes(raw.toString('base64')), false, `${what} (base64) in the trail`)
    }
  })

  it('records replication in both regions: ReplicateKey, then SynchronizeMultiRegionKey service events', async () => {
    const primary = await kms(US).send(new CreateKeyCommand({ MultiRegion: true }))
    const keyId = primary.KeyMetadata?.KeyId ?? ''
    const replicate = await kms(US).send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: EU }))
    await waitFor(
      'the replica enabled',
      async () => {
        const described = await kms(EU)
          .send(new DescribeKeyCommand({ KeyId: keyId }))
          .catch(() => undefined)
        return described?.KeyMetadata?.KeyState === 'Enabled' ? true : undefined
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    )
    const call = byRequest(await events(dataDir, US), replicate.$metadata.requestId)
    assert.equal(call.eventName, 'ReplicateKey')
    assert.equal(call.eventType, 'AwsApiCall')
    assert.equal(call.readOnly, false)
    assert.deepEqual(call.requestParameters, { keyId, replicaRegion: EU })
    assert.equal((call.responseElements?.replicaKeyMetadata as Record<string, unknown>).arn, `arn:aws:kms:${EU}:${ACCOUNT}:key/${keyId}`)

    const replicaArn = `arn:aws:kms:${EU}:${ACCOUNT}:key/${keyId}`
    const inEu = await events(dataDir, EU, '--key-id', keyId)
    const created = inEu.find((r) => r.eventName === 'ReplicateKey')
    assert.ok(created !== undefined, 'ReplicateKey recorded in the replica region')
    assert.equal(created.eventType, 'AwsServiceEvent')
    assert.deepEqual(created.userIdentity, { accountId: ACCOUNT, invokedBy: 'AWS Internal' })
    assert.deepEqual(created.resources, [{ accountId: ACCOUNT, type: 'AWS::KMS::Key', ARN: replicaArn }])
    assert.deepEqual(created.responseElements, { keyId: replicaArn })
    assert.equal(created.additionalEventData?.sourceRegion, US)
    const synchronized = inEu.filter((r) => r.eventName === 'SynchronizeMultiRegionKey' && r.errorCode === undefined)
    assert.ok(synchronized.length >= 1, 'the material transfer recorded as SynchronizeMultiRegionKey')
    // The primary's region records the replica's reports as well.
    const inUs = await events(dataDir, US, '--key-id', keyId, '--event-name', 'SynchronizeMultiRegionKey')
    assert.ok(inUs.length >= 1 && inUs.every((r) => r.eventType === 'AwsServiceEvent'))
    for (const region of [US, EU]) assert.equal((await runCli(['audit', 'verify', '--data-dir', dataDir, '--region', region])).code, 0)
  })

  it('GetKeyLastUsage survives a restart, and the chain continues across it', async () => {
    const before = await kms(US).send(new GetKeyLastUsageCommand({ KeyId: symmetric }))
    await partition.stop()
    partition = await startPartition({ regions: [US, EU], dataDir, extraArgs: EXTRA_ARGS })
    const afterRestart = await kms(US).send(new GetKeyLastUsageCommand({ KeyId: symmetric }))
    assert.deepEqual(afterRestart.KeyLastUsage, before.KeyLastUsage)
    assert.deepEqual(afterRestart.TrackingStartDate, before.TrackingStartDate)
    const encrypted = await kms(US).send(
      new EncryptCommand({ KeyId: symmetric, Plaintext: keep('plaintext after restart', randomBytes(32)) }),
    )
    const now = await kms(US).send(new GetKeyLastUsageCommand({ KeyId: symmetric }))
    assert.equal(now.KeyLastUsage?.Operation, 'Encrypt')
    assert.equal(now.KeyLastUsage?.KmsRequestId, encrypted.$metadata.requestId)
    const verified = await runCli(['audit', 'verify', '--data-dir', dataDir, '--region', US])
    assert.equal(verified.code, 0, verified.stdout)
  })

  it('shows a custom key store password and an XKS proxy secret as hidden, never in the trail', async () => {
    const password = `password-${randomBytes(8).toString('hex')}`
    const proxyKeyId = Array.from(randomBytes(24), (byte) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.charAt(byte % 32)).join('')
    const proxySecret = randomBytes(32).toString('base64')
    const refused = await kms(US)
      .send(
        new CreateCustomKeyStoreCommand({
          CustomKeyStoreName: 'audited-store',
          CloudHsmClusterId: 'cluster-234567abcdefg',
          TrustAnchorCertificate: '-----BEGIN CERTIFICATE-----',
          KeyStorePassword: password,
          XksProxyAuthenticationCredential: { AccessKeyId: proxyKeyId, RawSecretAccessKey: proxySecret },
        }),
      )
      .catch((err: KMSServiceException) => err)
    assert.ok(refused instanceof Error, 'no custom key store is made')
    assert.notEqual((refused as KMSServiceException).name, 'ValidationException', (refused as Error).message)
    const record = byRequest(await events(dataDir, US), (refused as KMSServiceException).$metadata.requestId)
    assert.equal(record.eventName, 'CreateCustomKeyStore')
    assert.equal(record.requestParameters?.customKeyStoreName, 'audited-store')
    assert.equal(record.requestParameters?.keyStorePassword, HIDDEN_VALUE)
    assert.deepEqual(record.requestParameters?.xksProxyAuthenticationCredential, {
      accessKeyId: HIDDEN_VALUE,
      rawSecretAccessKey: HIDDEN_VALUE,
    })
    const trail = allTrailBytes(dataDir)
    for (const secret of [password, proxyKeyId, proxySecret]) assert.equal(trail.indexOf(secret), -1, 'a secret in the trail')
  })
})

describe('audit trail of a region of two nodes', () => {
  let partition: RunningPartition
  const clients: KMSClient[] = []
  /** A client of one node, straight to its port: each node verifies signatures itself. */
  const nodeClient = (node: number): KMSClient => {
    const port = partition.regionNodes.get(US)?.get(node)?.port
    assert.ok(port !== undefined, `node ${node} serves`)
    const client = new KMSClient({
      region: US,
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { ...partition.credentials },
      maxAttempts: 1,
    })
    clients.push(client)
    return client
  }
  before(async () => {
    partition = await startPartition({ regions: [US], nodes: 2 })
  })
  after(async () => {
    for (const client of clients) client.destroy()
    await stopAllPartitions()
  })

  it("keeps one chain per node, and GetKeyLastUsage on one node sees the other node's use", async () => {
    const keyId = (await nodeClient(0).send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    // The other node learns of the key through the shared store's change log.
    const encrypted = await waitFor('node 1 to know the key', () =>
      nodeClient(1)
        .send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(16) }))
        .catch(() => undefined),
    )
    const usage = await nodeClient(0).send(new GetKeyLastUsageCommand({ KeyId: keyId }))
    assert.equal(usage.KeyLastUsage?.Operation, 'Encrypt')
    assert.equal(usage.KeyLastUsage?.KmsRequestId, encrypted.$metadata.requestId)
    const records = await events(partition.dataDir, US)
    assert.equal(byRequest(records, encrypted.$metadata.requestId).eventID, usage.KeyLastUsage?.CloudTrailEventId)
    const verified = await runCli(['audit', 'verify', '--data-dir', partition.dataDir, '--region', US])
    assert.equal(verified.code, 0, verified.stdout)
    assert.match(verified.stdout, /node-0\.jsonl: \d+ record\(s\), chain intact/)
    assert.match(verified.stdout, /node-1\.jsonl: \d+ record\(s\), chain intact/)
  })
})
