/**
 * The seed file's key specs beyond those of the interop suite (test/interop/seed.test.ts),
 * seeded into an in-process region and checked through the AWS SDK: Ed25519, secp256k1,
 * RSA from a PKCS#1 PEM, ML-DSA and ML-KEM from PKCS#8 PEMs in the seed form (written here
 * by hand from the IETF LAMPS profile, not with Trent's encoder), HMAC_512 with the
 * longest material; and what the parser and the HSM refuse.
 */
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { DescribeKeyCommand, GenerateMacCommand, GetPublicKeyCommand, SignCommand, VerifyCommand } from '@aws-sdk/client-kms'
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js'
import { ml_kem512 } from '@noble/post-quantum/ml-kem.js'
import { rootIdentity } from '../../src/kms/principals.js'
import { seedKeys } from '../../src/kms/seed.js'
import { parseSeedFile } from '../../src/wire/seed-file.js'
import { startInProcessRegion, type InProcessRegion } from '../helpers/in-process-region.js'

const REGION = 'us-east-1'
const silent = { info: () => undefined, warn: () => undefined }

/** PKCS#8 (version 0) holding a lattice seed as `[0] IMPLICIT OCTET STRING`, as PEM. */
function latticePem(oidLastArc: [number, number], seed: Buffer): string {
  const oid = Buffer.from([0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, ...oidLastArc])
  const algorithm = Buffer.concat([Buffer.from([0x30, oid.length]), oid])
  const inner = Buffer.concat([Buffer.from([0x80, seed.length]), seed])
  const privateKey = Buffer.concat([Buffer.from([0x04, inner.length]), inner])
  const body = Buffer.concat([Buffer.from([0x02, 0x01, 0x00]), algorithm, privateKey])
  const der = Buffer.concat([Buffer.from([0x30, body.length]), body])
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`
}

describe('seeding every key spec that has a PEM form', () => {
  let region: InProcessRegion
  const ed = generateKeyPairSync('ed25519')
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 })
  const dsaSeed = randomBytes(32)
  const kemSeed = randomBytes(64)
  const hmac = randomBytes(128)
  const ids = { ed: randomUUID(), k1: randomUUID(), rsa: randomUUID(), dsa: randomUUID(), kem: randomUUID(), hmac: randomUUID() }

  before(async () => {
    region = await startInProcessRegion({ region: REGION })
    const keys = parseSeedFile(
      JSON.stringify({
        keys: [
          {
            keyId: ids.ed,
            region: REGION,
            keySpec: 'ECC_NIST_EDWARDS25519',
            material: [ed.privateKey.export({ format: 'pem', type: 'pkcs8' })],
          },
          { keyId: ids.k1, region: REGION, keySpec: 'ECC_SECG_P256K1', material: [k1.privateKey.export({ format: 'pem', type: 'pkcs8' })] },
          {
            keyId: ids.rsa,
            region: REGION,
            keySpec: 'RSA_3072',
            keyUsage: 'ENCRYPT_DECRYPT',
            material: [rsa.privateKey.export({ format: 'pem', type: 'pkcs1' })],
          },
          { keyId: ids.dsa, region: REGION, keySpec: 'ML_DSA_44', material: [latticePem([0x03, 0x11], dsaSeed)] },
          { keyId: ids.kem, region: REGION, keySpec: 'ML_KEM_512', material: [latticePem([0x04, 0x01], kemSeed)] },
          { keyId: ids.hmac, region: REGION, keySpec: 'HMAC_512', material: [hmac.toString('base64')] },
        ],
      }),
      { regions: [REGION] },
    )
    const root = rootIdentity(region.kms.partition, region.kms.accountId, { accessKeyId: 'x', secretAccessKey: 'y' }).caller
    await seedKeys(region.kms, keys, root, silent)
  })
  after(() => region.close())

  it('public keys are those of the PEMs', async () => {
    const client = region.client()
    for (const [keyId, pair] of [
      [ids.ed, ed],
      [ids.k1, k1],
      [ids.rsa, rsa],
    ] as const) {
      const got = await client.send(new GetPublicKeyCommand({ KeyId: keyId }))
      assert.deepEqual(Buffer.from(got.PublicKey ?? []), pair.publicKey.export({ format: 'der', type: 'spki' }))
    }
    const dsa = await client.send(new GetPublicKeyCommand({ KeyId: ids.dsa }))
    assert.ok(
      Buffer.from(dsa.PublicKey ?? [])
        .subarray(-1312)
        .equals(Buffer.from(ml_dsa44.keygen(dsaSeed).publicKey)),
    )
    const kem = await client.send(new GetPublicKeyCommand({ KeyId: ids.kem }))
    assert.ok(
      Buffer.from(kem.PublicKey ?? [])
        .subarray(-800)
        .equals(Buffer.from(ml_kem512.keygen(kemSeed).publicKey)),
    )
    const signed = await client.send(new SignCommand({ KeyId: ids.dsa, Message: Buffer.from('m'), SigningAlgorithm: 'ML_DSA_SHAKE_256' }))
    const verified = await client.send(
      new VerifyCommand({ KeyId: ids.dsa, Message: Buffer.from('m'), Signature: signed.Signature, SigningAlgorithm: 'ML_DSA_SHAKE_256' }),
    )
    assert.equal(verified.SignatureValid, true)
  })

  it('HMAC_512 with 128 bytes of material: the MAC is the local one', async () => {
    const mac = await region
      .client()
      .send(new GenerateMacCommand({ KeyId: ids.hmac, Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_512' }))
    assert.deepEqual(Buffer.from(mac.Mac ?? []), createHmac('sha512', hmac).update('m').digest())
  })

  it('keys take CreateKey defaults for what the file leaves out', async () => {
    const described = await region.client().send(new DescribeKeyCommand({ KeyId: ids.ed }))
    assert.equal(described.KeyMetadata?.KeyUsage, 'SIGN_VERIFY')
    assert.equal(described.KeyMetadata?.Origin, 'AWS_KMS')
    assert.equal(described.KeyMetadata?.Description, '')
    assert.equal(described.KeyMetadata?.MultiRegion, false)
  })
})

describe('what seeding refuses', () => {
  const parse = (key: Record<string, unknown>) => () =>
    parseSeedFile(JSON.stringify({ keys: [{ keyId: randomUUID(), region: REGION, ...key }] }))

  it('an ML-DSA PEM for another parameter set, or a PEM that is not a private key', () => {
    assert.throws(
      parse({ keySpec: 'ML_DSA_44', material: [latticePem([0x03, 0x12], randomBytes(32))] }),
      /the PEM is not a ML_DSA_44 private key/,
    )
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' })
    assert.throws(parse({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY', material: [pub] }), /a PEM "PUBLIC KEY" is not a private key/)
  })

  it('several versions of a key that does not rotate, a keyUsage the spec does not have, HMAC material out of bounds', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' })
    assert.throws(parse({ keySpec: 'ECC_NIST_EDWARDS25519', material: [pem, pem] }), /keys have one material/)
    assert.throws(parse({ keySpec: 'RSA_2048', material: ['x'] }), /keyUsage is required for RSA_2048/)
    assert.throws(
      parse({ keySpec: 'HMAC_256', keyUsage: 'ENCRYPT_DECRYPT', material: ['x'] }),
      /keyUsage "ENCRYPT_DECRYPT" is not compatible/,
    )
    assert.throws(
      parse({ keySpec: 'HMAC_384', material: [randomBytes(32).toString('base64')] }),
      /HMAC_384 material is 48 to 128 bytes, this is 32/,
    )
  })

  it('an ML-KEM PEM of the right algorithm whose key the HSM refuses: the key is named, not the material', async () => {
    const region = await startInProcessRegion({ region: REGION })
    try {
      // A 32-byte seed where ML-KEM's is 64: the OID is right, the key is not.
      const keyId = randomUUID()
      const keys = parseSeedFile(
        JSON.stringify({ keys: [{ keyId, region: REGION, keySpec: 'ML_KEM_512', material: [latticePem([0x04, 0x01], randomBytes(32))] }] }),
      )
      const root = rootIdentity(region.kms.partition, region.kms.accountId, { accessKeyId: 'x', secretAccessKey: 'y' }).caller
      await assert.rejects(seedKeys(region.kms, keys, root, silent), {
        name: 'SeedError',
        message: `seed file: key ${keyId}: material[0] is not valid key material for ML_KEM_512`,
      })
      assert.equal(region.kms.keys.has(keyId), false)
    } finally {
      await region.close()
    }
  })
})
