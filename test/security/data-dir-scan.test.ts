/**
 * Storage and logs never hold key material, data keys or plaintexts. After a run that
 * creates, rotates and uses keys, every file under the region's data dir, and every log
 * line it printed, is scanned for: the raw key material of every version (recovered here
 * from the tokens with the master key, which only this test and the HSM can do), every
 * data key and plaintext the run handled, in raw, hex and base64 forms. Every key type
 * takes part: RSA and EC private keys (and EC scalars), HMAC keys, a data key pair's
 * private key, imported material and an ECDH shared secret.
 */
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import Database from 'better-sqlite3'
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  SignCommand,
} from '@aws-sdk/client-kms'
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { KeySpec } from '../../src/wire/key-specs.js'
import { wrapForImport } from '../helpers/import-wrap.js'
import { loadMasterKey, loadOrCreateDomainKey } from '../../src/hsm/soft/domain-key.js'
import { openKeyToken } from '../../src/hsm/soft/key-token.js'
import { TEST_CREDENTIALS } from '../helpers/in-process-region.js'

const dataDir = mkdtempSync(join(tmpdir(), 'trent-scan-'))
after(() => rmSync(dataDir, { recursive: true, force: true }))

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

/** The forms a secret could take on disk or in a log. */
function formsOf(secret: Uint8Array): Buffer[] {
  const raw = Buffer.from(secret)
  return [
    raw,
    Buffer.from(raw.toString('hex')),
    Buffer.from(raw.toString('base64')),
    Buffer.from(raw.toString('base64').replace(/=+$/, '')),
  ]
}

test('no key material, data key or plaintext in the data dir or the logs', async () => {
  const logs: Buffer[] = []
  const child = fork(
    new URL('../../src/region/main.js', import.meta.url),
    ['--region', 'us-east-1', '--data-dir', dataDir, '--port', '0'],
    {
      env: {
        ...process.env,
        TRENT_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        TRENT_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        TRENT_LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  )
  child.stdout?.on('data', (chunk: Buffer) => logs.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk))
  const port = await new Promise<number>((resolve) =>
    child.on('message', (m: { type?: string; port?: number }) => m.type === 'ready' && resolve(m.port ?? 0)),
  )
  const client = new KMSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, credentials: TEST_CREDENTIALS, maxAttempts: 1 })

  const secrets: Uint8Array[] = []
  for (let k = 0; k < 3; k++) {
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
    await client.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))
    for (let i = 0; i < 5; i++) {
      const plaintext = Buffer.from(`plaintext ${k}/${i} that must never be stored ${Math.random()}`)
      secrets.push(plaintext)
      const enc = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))
      await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))
      await client.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: keyId }))
      const dataKey = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }))
      secrets.push(dataKey.Plaintext ?? new Uint8Array())
    }
  }
  // Every other key type, a data key pair, imported material and an ECDH secret.
  const message = Buffer.from('signed, MACed')
  const ecc = (await client.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata?.KeyId
  await client.send(new SignCommand({ KeyId: ecc, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))
  const rsa = (await client.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata?.KeyId
  const rsaPlaintext = Buffer.from(`an RSA plaintext that must never be stored ${Math.random()}`)
  secrets.push(rsaPlaintext)
  const rsaCiphertext = await client.send(
    new EncryptCommand({ KeyId: rsa, Plaintext: rsaPlaintext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
  )
  await client.send(
    new DecryptCommand({ KeyId: rsa, CiphertextBlob: rsaCiphertext.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
  )
  const hmac = (await client.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata?.KeyId
  await client.send(new GenerateMacCommand({ KeyId: hmac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))
  const symmetric = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId
  const pair = await client.send(new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P384' }))
  secrets.push(pair.PrivateKeyPlaintext ?? new Uint8Array())
  const agreement = (await client.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P384', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata?.KeyId
  const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
  const shared = await client.send(
    new DeriveSharedSecretCommand({
      KeyId: agreement,
      KeyAgreementAlgorithm: 'ECDH',
      PublicKey: peer.publicKey.export({ type: 'spki', format: 'der' }),
    }),
  )
  secrets.push(shared.SharedSecret ?? new Uint8Array())
  const external = (await client.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId
  const parameters = await client.send(
    new GetParametersForImportCommand({ KeyId: external, WrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
  )
  const imported = randomBytes(32)
  secrets.push(imported)
  await client.send(
    new ImportKeyMaterialCommand({
      KeyId: external,
      ImportToken: parameters.ImportToken,
      EncryptedKeyMaterial: wrapForImport(parameters.PublicKey ?? new Uint8Array(), 'RSA_AES_KEY_WRAP_SHA_256', imported),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    }),
  )
  client.destroy()
  // kill -9 leaves the write-ahead log as it was, so it is scanned too.
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  const haystacks = filesUnder(dataDir).map((path) => ({ path, bytes: readFileSync(path) }))
  haystacks.push({ path: '<region logs>', bytes: Buffer.concat(logs) })
  assert.ok(
    haystacks.some((h) => h.path.endsWith('trent.db-wal')),
    'the WAL is part of the scan',
  )

  // Recover every version's key material from storage, as only the HSM could.
  const domainKey = loadOrCreateDomainKey(
    loadMasterKey({ file: join(dataDir, 'master.key') }),
    join(dataDir, 'domain-key.sealed'),
    'us-east-1',
  )
  const db = new Database(join(dataDir, 'trent.db'), { readonly: true })
  const rows = db.prepare('SELECT key_id, version, token FROM key_materials').all() as Array<{
    key_id: string
    version: number
    token: Buffer
  }>
  const specs = new Map(
    (db.prepare('SELECT key_id, record FROM keys').all() as Array<{ key_id: string; record: string }>).map((row) => [
      row.key_id,
      (JSON.parse(row.record) as { keySpec: KeySpec }).keySpec,
    ]),
  )
  db.close()
  assert.equal(rows.length, 3 * 2 + 6, 'three symmetric keys with two versions each, and six keys of one version')
  for (const row of rows) {
    const keySpec = specs.get(row.key_id) ?? 'SYMMETRIC_DEFAULT'
    const material = openKeyToken(domainKey.key, { keyId: row.key_id, materialVersion: row.version, keySpec }, row.token)
    assert.ok(material, 'the test can open the tokens it scans for')
    secrets.push(material)
    // An EC private key is also looked for as its bare scalar.
    if (keySpec.startsWith('ECC_')) {
      const d = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d ?? ''
      secrets.push(Buffer.from(d, 'base64url'))
    }
  }
  assert.ok([...specs.values()].filter((spec) => spec !== 'SYMMETRIC_DEFAULT').length >= 4, 'asymmetric and HMAC keys are part of the scan')

  for (const secret of secrets) {
    assert.ok(secret.length >= 16)
    for (const form of formsOf(secret)) {
      for (const { path, bytes } of haystacks) {
        assert.equal(bytes.indexOf(form), -1, `a secret appears in ${path}`)
      }
    }
  }
})
