/**
 * `--accept-any-credentials` (docs/security.md, "Development mode: any credentials"): on
 * a real partition, code under test keeps `test`/`test` credentials and is served as the
 * account's root user, while every part of the signature but its value is still checked;
 * the banner, the log and GET /health say the mode is on.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import {
  PARTITION_MAIN,
  createTempDir,
  httpRequest,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  type RunningPartition,
} from '../helpers/partition.js'
import { sendRaw } from '../helpers/signed-http.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const ACCOUNT = '111122223333'

describe('--accept-any-credentials', { timeout: 300_000 }, () => {
  let partition: RunningPartition
  before(async () => {
    partition = await startPartition({ regions: [US, EU], extraArgs: ['--accept-any-credentials'] })
  })
  after(() => stopAllPartitions())

  const client = (region: string, accessKeyId = 'test', secretAccessKey = 'test'): KMSClient =>
    new KMSClient({ region, endpoint: partition.gatewayUrl, credentials: { accessKeyId, secretAccessKey } })

  it('serves test/test, and any other pair, as the root user of the account', async () => {
    const us = client(US)
    const created = await us.send(new CreateKeyCommand({ Description: 'made with test/test' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    assert.equal(created.KeyMetadata?.Arn, `arn:aws:kms:${US}:${ACCOUNT}:key/${keyId}`)
    const made = await us.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('hello') }))
    // Another access key and secret altogether: the same root user, so the same keys.
    const other = client(US, 'AKIAANYTHINGATALL000', 'some other secret')
    const opened = await other.send(new DecryptCommand({ CiphertextBlob: made.CiphertextBlob }))
    assert.equal(Buffer.from(opened.Plaintext ?? []).toString(), 'hello')
    // The real credentials of the partition work as well, in the other region too.
    const real = new KMSClient({ region: EU, endpoint: partition.gatewayUrl, credentials: { ...partition.credentials } })
    await assert.rejects(real.send(new DescribeKeyCommand({ KeyId: keyId })), { name: 'NotFoundException' })
    for (const c of [us, other, real]) c.destroy()
  })

  it('still refuses a malformed signature, a missing one, a wrong scope or a stale date', async () => {
    const target = 'TrentService.ListKeys'
    const endpoint = partition.gatewayUrl
    const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
    const ok = await sendRaw({ endpoint, region: US, target, body: '{}', credentials })
    assert.equal(ok.status, 200, ok.body)

    const withSignature = (signature: string) => (headers: Record<string, string | string[]>) => {
      headers.authorization = String(headers.authorization).replace(/Signature=[0-9a-f]+/, `Signature=${signature}`)
    }
    for (const signature of ['zz', 'ABCDEF'.repeat(10) + 'ABCD', '0'.repeat(63), '0'.repeat(65)]) {
      const bad = await sendRaw({ endpoint, region: US, target, body: '{}', credentials, tamper: withSignature(signature) })
      assert.equal(bad.status, 400, `signature ${signature}: ${bad.body}`)
      assert.equal(bad.json?.__type, 'InvalidSignatureException')
    }
    const unsigned = await sendRaw({ endpoint, region: US, target, body: '{}', sign: false })
    assert.notEqual(unsigned.status, 200)
    const noCredential = await sendRaw({
      endpoint,
      region: US,
      target,
      body: '{}',
      credentials,
      tamper: (headers) => {
        headers.authorization = String(headers.authorization).replace(/Credential=[^,]+, /, '')
      },
    })
    assert.equal(noCredential.json?.__type, 'IncompleteSignatureException', noCredential.body)
    const wrongService = await sendRaw({ endpoint, region: US, target, body: '{}', credentials, service: 's3' })
    assert.equal(wrongService.json?.__type, 'InvalidSignatureException', wrongService.body)
    const stale = await sendRaw({ endpoint, region: US, target, body: '{}', credentials, signingDate: new Date(Date.now() - 3_600_000) })
    assert.equal(stale.json?.__type, 'InvalidSignatureException', stale.body)
    const targetUnsigned = await sendRaw({ endpoint, region: US, target, body: '{}', credentials, unsignedHeaders: ['x-amz-target'] })
    assert.notEqual(targetUnsigned.status, 200, targetUnsigned.body)
  })

  it('says so: GET /health of the gateway and of each region, the banner and the log', async () => {
    const gateway = JSON.parse((await httpRequest(`${partition.gatewayUrl}/health`)).body) as Record<string, unknown>
    assert.equal(gateway.acceptAnyCredentials, true)
    const regionHealth = JSON.parse((await httpRequest(`${partition.regionUrl(US)}/health`)).body) as Record<string, unknown>
    assert.equal(regionHealth.acceptAnyCredentials, true)
    const { stdout, stderr } = partition.output()
    assert.match(stderr, /--accept-any-credentials is on/)
    const warnings = stdout.split('\n').filter((line) => line.includes('accept-any-credentials is on'))
    // The launcher's and each region's.
    assert.ok(warnings.length >= 3, `${warnings.length} log lines`)
  })

  it('is refused with --identities: the two say different things about who a caller is', () => {
    const dir = createTempDir('trent-any-')
    try {
      const identities = join(dir, 'identities.json')
      writeFileSync(identities, JSON.stringify({ users: [] }))
      const run = spawnSync(
        process.execPath,
        [PARTITION_MAIN, '--port', '0', '--data-dir', dir, '--accept-any-credentials', '--identities', identities],
        { encoding: 'utf8', timeout: 30_000 },
      )
      assert.notEqual(run.status, 0)
      assert.match(run.stderr, /cannot be combined with --identities/)
    } finally {
      removeTempDir(dir)
    }
  })
})
