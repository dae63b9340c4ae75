/**
 * Regressions of issue 10's findings on the request path, each attacking a real API
 * server the way the fuzzer and the attacker did: inputs that reached a 500, and SigV4
 * tricks that were accepted. Every test here failed before the fix it guards.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  VerifyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { createApiServer } from '../../src/api/server.js'
import { describeReplication } from '../../src/kms/admin/describe-replication.js'
import type { AdminOperation } from '../../src/kms/operation.js'
import { createLogger } from '../../src/log/logger.js'
import { startInProcessRegion, TEST_CREDENTIALS, type InProcessRegion } from '../helpers/in-process-region.js'
import { sendRaw, type RawResponse } from '../helpers/signed-http.js'
import { rejectsWith } from '../helpers/aws-errors.js'

function assertClientError(res: RawResponse, name: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${res.body}`)
  assert.equal(res.json?.__type, name, res.body)
  assert.doesNotMatch(res.body, /\bat .+\.(js|ts):\d+|node:internal/, 'no stack trace')
}

describe('requests that used to reach a 500', () => {
  let region: InProcessRegion
  let kms: KMSClient
  let adminEndpoint: string
  let closeAdmin: () => Promise<void>

  before(async () => {
    region = await startInProcessRegion()
    kms = region.client()
    // The same region's KMS behind a server that also serves TrentAdmin operations.
    const server = createApiServer({
      kms: region.kms,
      logger: createLogger({}, 'error'),
      principals: region.principals,
      adminOperations: new Map<string, AdminOperation>([[describeReplication.name, describeReplication]]),
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    adminEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    closeAdmin = () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  })
  after(async () => {
    await closeAdmin()
    await region.close()
  })

  it('TrentAdmin.DescribeReplication without a usable KeyId is a client error', async () => {
    const send = (body: string): Promise<RawResponse> =>
      sendRaw({ endpoint: adminEndpoint, target: 'TrentAdmin.DescribeReplication', body })
    assertClientError(await send('{}'), 'ValidationException')
    assertClientError(await send('{"KeyId":null}'), 'ValidationException')
    assertClientError(await send('{"KeyId":""}'), 'ValidationException')
    assertClientError(await send(JSON.stringify({ KeyId: 'k'.repeat(2049) })), 'ValidationException')
    assertClientError(await send('{"KeyId":42}'), 'SerializationException')
    assertClientError(await send('{"KeyId":{"a":1}}'), 'SerializationException')
    assertClientError(await send('{"KeyId":["x"]}'), 'SerializationException')
    for (const notAnObject of ['null', '[]', '"text"', '7']) assertClientError(await send(notAnObject), 'SerializationException')
    assertClientError(await send('{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}'), 'NotFoundException')
  })

  for (const keySpec of ['ECC_NIST_P256', 'RSA_2048'] as const) {
    it(`Sign and Verify with MessageType EXTERNAL_MU on an ${keySpec} key: ValidationException`, async () => {
      const created = await kms.send(new CreateKeyCommand({ KeySpec: keySpec, KeyUsage: 'SIGN_VERIFY' }))
      const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
      const SigningAlgorithm = keySpec === 'RSA_2048' ? 'RSASSA_PSS_SHA_256' : 'ECDSA_SHA_256'
      const Message = new Uint8Array(64).fill(7)
      await rejectsWith(
        kms.send(new SignCommand({ KeyId: keyId, Message, MessageType: 'EXTERNAL_MU', SigningAlgorithm })),
        'ValidationException',
      )
      await rejectsWith(
        kms.send(new VerifyCommand({ KeyId: keyId, Message, MessageType: 'EXTERNAL_MU', SigningAlgorithm, Signature: new Uint8Array(64) })),
        'ValidationException',
      )
    })
  }

  it('an EXTERNAL key whose deletion is cancelled goes back to PendingImport, and cannot be enabled or used', async () => {
    const created = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))
    const KeyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }))
    await kms.send(new CancelKeyDeletionCommand({ KeyId }))
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata?.KeyState, 'PendingImport')
    await rejectsWith(kms.send(new EnableKeyCommand({ KeyId })), 'KMSInvalidStateException')
    await rejectsWith(kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException')
    await rejectsWith(kms.send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256' })), 'KMSInvalidStateException')
  })

  it('a key with material whose deletion is cancelled is Disabled, as on AWS', async () => {
    const created = await kms.send(new CreateKeyCommand({}))
    const KeyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }))
    await kms.send(new CancelKeyDeletionCommand({ KeyId }))
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata?.KeyState, 'Disabled')
  })
})

describe('SigV4 tricks that used to be accepted', () => {
  let region: InProcessRegion
  let keyId: string

  before(async () => {
    region = await startInProcessRegion()
    const created = await region.client().send(new CreateKeyCommand({}))
    keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
  })
  after(async () => {
    await region.close()
  })

  const keyState = async (): Promise<string | undefined> =>
    (await region.client().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState

  it('a signature that leaves X-Amz-Target out cannot be replayed as another operation', async () => {
    const body = JSON.stringify({ KeyId: keyId })
    // A DescribeKey signed without its target, then sent as DisableKey: the captured replay.
    const replayed = await sendRaw({
      endpoint: region.endpoint,
      target: 'TrentService.DescribeKey',
      body,
      unsignedHeaders: ['x-amz-target'],
      tamper: (headers) => {
        headers['x-amz-target'] = 'TrentService.DisableKey'
      },
    })
    assertClientError(replayed, 'InvalidSignatureException')
    assert.equal(replayed.json?.message, "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
    assert.equal(await keyState(), 'Enabled')
  })

  it('UNSIGNED-PAYLOAD does not take the body out of the signature', async () => {
    const encrypt = JSON.stringify({ KeyId: keyId, Plaintext: Buffer.from('signed').toString('base64') })
    const disable = JSON.stringify({ KeyId: keyId })
    const res = await sendRaw({
      endpoint: region.endpoint,
      target: 'TrentService.DescribeKey',
      body: encrypt,
      tamper: (headers) => {
        headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
      },
      sendBody: disable,
    })
    assertClientError(res, 'InvalidSignatureException')
    assert.equal(await keyState(), 'Enabled')
  })

  it('two Authorization headers are refused, whichever comes first', async () => {
    const body = JSON.stringify({ KeyId: keyId })
    for (const order of ['valid-first', 'bogus-first'] as const) {
      const res = await sendRaw({
        endpoint: region.endpoint,
        target: 'TrentService.DisableKey',
        body,
        tamper: (headers) => {
          const valid = String(headers.authorization)
          const bogus = valid.replace(/Signature=\w+/, `Signature=${'0'.repeat(64)}`)
          headers.authorization = order === 'valid-first' ? [valid, bogus] : [bogus, valid]
        },
      })
      assertClientError(res, 'IncompleteSignatureException')
    }
    assert.equal(await keyState(), 'Enabled')
  })

  it('an X-Amz-Security-Token with long-term credentials is UnrecognizedClientException', async () => {
    const body = JSON.stringify({ KeyId: keyId })
    const unsignedToken = await sendRaw({
      endpoint: region.endpoint,
      target: 'TrentService.DescribeKey',
      body,
      tamper: (headers) => {
        headers['x-amz-security-token'] = 'IQoJb3JpZ2luX2VjEXAMPLE'
      },
    })
    assertClientError(unsignedToken, 'UnrecognizedClientException')
    assert.equal(unsignedToken.json?.message, 'The security token included in the request is invalid.')
    // Signed with the token, as an SDK holding session credentials would.
    const signedToken = await sendRaw({
      endpoint: region.endpoint,
      target: 'TrentService.DescribeKey',
      body,
      credentials: { ...TEST_CREDENTIALS, sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE' },
    })
    assertClientError(signedToken, 'UnrecognizedClientException')
  })
})
