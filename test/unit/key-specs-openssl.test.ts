/**
 * Interoperability with the openssl command line (OpenSSL 3): signatures we make verify
 * there, signatures and ciphertexts it makes work here, and ECDH secrets agree.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import {
  deriveSharedSecret,
  generateDataKeyPair,
  generateKeyMaterial,
  publicKeyOf,
  rsaDecrypt,
  rsaEncrypt,
  sign,
  verify,
  type AsymmetricKeySpec,
  type SigningAlgorithm,
} from '../../src/hsm/soft/key-specs.js'

const dir = mkdtempSync(join(tmpdir(), 'trent-key-specs-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let counter = 0
function file(bytes: Uint8Array | string): string {
  const path = join(dir, `f${counter++}`)
  writeFileSync(path, bytes)
  return path
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** Runs openssl; ok is its exit status, stdout its output. */
function openssl(...args: string[]): { ok: boolean; stdout: Buffer } {
  try {
    return { ok: true, stdout: execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }) }
  } catch (error) {
    const stdout = (error as { stdout?: Buffer }).stdout
    return { ok: false, stdout: stdout ?? Buffer.alloc(0) }
  }
}

const keyFiles = new Map<Buffer, { privatePem: string; publicPem: string }>()
function filesOf(spec: AsymmetricKeySpec, key: Buffer): { privatePem: string; publicPem: string } {
  let files = keyFiles.get(key)
  if (files === undefined) {
    files = { privatePem: file(pem('PRIVATE KEY', key)), publicPem: file(pem('PUBLIC KEY', publicKeyOf(spec, key))) }
    keyFiles.set(key, files)
  }
  return files
}

const keys = {
  RSA_2048: generateKeyMaterial('RSA_2048'),
  ECC_NIST_P256: generateKeyMaterial('ECC_NIST_P256'),
  ECC_NIST_P384: generateKeyMaterial('ECC_NIST_P384'),
  ECC_SECG_P256K1: generateKeyMaterial('ECC_SECG_P256K1'),
} as const

const PSS = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest']

function flipped(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes)
  copy[copy.length >> 1] = (copy[copy.length >> 1] ?? 0) ^ 0x01
  return copy
}

/** `openssl dgst -verify` over the message, with the sigopts PSS needs. */
function opensslVerifies(spec: AsymmetricKeySpec, key: Buffer, algorithm: SigningAlgorithm, message: Buffer, signature: Buffer): boolean {
  const hash = algorithm.endsWith('256') ? 'sha256' : algorithm.endsWith('384') ? 'sha384' : 'sha512'
  const options = algorithm.startsWith('RSASSA_PSS') ? PSS : []
  const { publicPem } = filesOf(spec, key)
  return openssl('dgst', `-${hash}`, ...options, '-verify', publicPem, '-signature', file(signature), file(message)).ok
}

const cases: Array<[AsymmetricKeySpec, SigningAlgorithm]> = [
  ['RSA_2048', 'RSASSA_PSS_SHA_256'],
  ['RSA_2048', 'RSASSA_PSS_SHA_512'],
  ['RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256'],
  ['RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_384'],
  ['ECC_NIST_P256', 'ECDSA_SHA_256'],
  ['ECC_NIST_P384', 'ECDSA_SHA_384'],
  ['ECC_SECG_P256K1', 'ECDSA_SHA_256'],
]

for (const [spec, algorithm] of cases) {
  test(`openssl verifies our ${spec} ${algorithm} signatures (RAW and DIGEST), and rejects a damaged one`, () => {
    const key = keys[spec as keyof typeof keys]
    const message = randomBytes(300)
    const hash = algorithm.endsWith('256') ? 'sha256' : algorithm.endsWith('384') ? 'sha384' : 'sha512'
    const raw = sign(spec, key, algorithm, 'RAW', message)
    assert.equal(opensslVerifies(spec, key, algorithm, message, raw), true)
    // ECDSA RAW signatures are re-encoded when normalized to low-S (half of them): a few
    // more, so that path meets openssl too.
    for (let i = 0; algorithm.startsWith('ECDSA') && i < 6; i++) {
      const m = randomBytes(40 + i)
      assert.equal(opensslVerifies(spec, key, algorithm, m, sign(spec, key, algorithm, 'RAW', m)), true)
    }
    const fromDigest = sign(spec, key, algorithm, 'DIGEST', createHash(hash).update(message).digest())
    assert.equal(opensslVerifies(spec, key, algorithm, message, fromDigest), true)
    assert.equal(opensslVerifies(spec, key, algorithm, message, flipped(raw)), false)
  })

  test(`our verify accepts openssl's ${spec} ${algorithm} signatures (RAW and DIGEST)`, () => {
    const key = keys[spec as keyof typeof keys]
    const { privatePem } = filesOf(spec, key)
    const hash = algorithm.endsWith('256') ? 'sha256' : algorithm.endsWith('384') ? 'sha384' : 'sha512'
    const options = algorithm.startsWith('RSASSA_PSS') ? PSS : []
    // Several ECDSA signatures, so that OpenSSL's unnormalized high-S ones come up too.
    for (let i = 0; i < (algorithm.startsWith('ECDSA') ? 8 : 2); i++) {
      const message = randomBytes(100 + i)
      const signed = openssl('dgst', `-${hash}`, ...options, '-sign', privatePem, file(message))
      assert.ok(signed.ok)
      assert.equal(verify(spec, key, algorithm, 'RAW', message, signed.stdout), true)
      assert.equal(verify(spec, key, algorithm, 'DIGEST', createHash(hash).update(message).digest(), signed.stdout), true)
      assert.equal(verify(spec, key, algorithm, 'RAW', flipped(message), signed.stdout), false)
    }
  })
}

test('openssl pkeyutl verifies DIGEST-mode signatures over the digest itself', () => {
  const digest = createHash('sha256').update('pkeyutl').digest()
  for (const spec of ['ECC_NIST_P256', 'ECC_SECG_P256K1'] as const) {
    const signature = sign(spec, keys[spec], 'ECDSA_SHA_256', 'DIGEST', digest)
    const { publicPem } = filesOf(spec, keys[spec])
    assert.ok(openssl('pkeyutl', '-verify', '-pubin', '-inkey', publicPem, '-in', file(digest), '-sigfile', file(signature)).ok, spec)
  }
  const { publicPem } = filesOf('RSA_2048', keys.RSA_2048)
  const pss = sign('RSA_2048', keys.RSA_2048, 'RSASSA_PSS_SHA_256', 'DIGEST', digest)
  const pssOptions = ['-pkeyopt', 'digest:sha256', '-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_pss_saltlen:digest']
  assert.ok(openssl('pkeyutl', '-verify', '-pubin', '-inkey', publicPem, ...pssOptions, '-in', file(digest), '-sigfile', file(pss)).ok)
  const pkcs1 = sign('RSA_2048', keys.RSA_2048, 'RSASSA_PKCS1_V1_5_SHA_256', 'DIGEST', digest)
  assert.ok(
    openssl('pkeyutl', '-verify', '-pubin', '-inkey', publicPem, '-pkeyopt', 'digest:sha256', '-in', file(digest), '-sigfile', file(pkcs1))
      .ok,
  )
})

test('RSA-OAEP: openssl-encrypted data decrypts here, our ciphertexts decrypt in openssl', () => {
  const { privatePem, publicPem } = filesOf('RSA_2048', keys.RSA_2048)
  const plaintext = randomBytes(190)
  const sha256 = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256']
  const encrypted = openssl('pkeyutl', '-encrypt', '-pubin', '-inkey', publicPem, ...sha256, '-in', file(plaintext))
  assert.ok(encrypted.ok)
  assert.deepEqual(rsaDecrypt('RSA_2048', keys.RSA_2048, 'RSAES_OAEP_SHA_256', encrypted.stdout), plaintext)
  // The same ciphertext is not valid under OAEP with SHA-1.
  assert.equal(rsaDecrypt('RSA_2048', keys.RSA_2048, 'RSAES_OAEP_SHA_1', encrypted.stdout), undefined)

  const sha1 = ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha1', '-pkeyopt', 'rsa_mgf1_md:sha1']
  const short = randomBytes(214)
  const encryptedSha1 = openssl('pkeyutl', '-encrypt', '-pubin', '-inkey', publicPem, ...sha1, '-in', file(short))
  assert.ok(encryptedSha1.ok)
  assert.deepEqual(rsaDecrypt('RSA_2048', keys.RSA_2048, 'RSAES_OAEP_SHA_1', encryptedSha1.stdout), short)

  const ours = rsaEncrypt('RSA_2048', keys.RSA_2048, 'RSAES_OAEP_SHA_256', plaintext)
  const decrypted = openssl('pkeyutl', '-decrypt', '-inkey', privatePem, ...sha256, '-in', file(ours))
  assert.ok(decrypted.ok)
  assert.deepEqual(decrypted.stdout, plaintext)
})

test('ECDH: the shared secret equals openssl pkeyutl -derive', () => {
  for (const spec of ['ECC_NIST_P256', 'ECC_NIST_P384'] as const) {
    const peer = generateDataKeyPair(spec)
    const ours = filesOf(spec, keys[spec])
    const peerPublicPem = file(pem('PUBLIC KEY', peer.publicKey))
    const derived = openssl('pkeyutl', '-derive', '-inkey', ours.privatePem, '-peerkey', peerPublicPem)
    assert.ok(derived.ok)
    assert.deepEqual(deriveSharedSecret(spec, keys[spec], peer.publicKey), derived.stdout)
    // And from the peer's side, with our public key.
    const fromPeer = openssl('pkeyutl', '-derive', '-inkey', file(pem('PRIVATE KEY', peer.privateKey)), '-peerkey', ours.publicPem)
    assert.deepEqual(fromPeer.stdout, derived.stdout)
  }
})

test('publicKeyOf is the SPKI openssl derives from the PKCS#8 key', () => {
  for (const spec of Object.keys(keys) as Array<keyof typeof keys>) {
    const spki = openssl('pkey', '-inform', 'DER', '-in', file(keys[spec]), '-pubout', '-outform', 'DER')
    assert.ok(spki.ok)
    assert.deepEqual(publicKeyOf(spec, keys[spec]), spki.stdout, spec)
    // And openssl reads our PKCS#8 as the right kind of key.
    const text = openssl('pkey', '-inform', 'DER', '-in', file(keys[spec]), '-noout', '-text').stdout.toString()
    if (spec === 'RSA_2048') assert.match(text, /Private-Key: \(2048 bit, 2 primes\)/)
    else assert.match(text, { ECC_NIST_P256: /NIST CURVE: P-256/, ECC_NIST_P384: /NIST CURVE: P-384/, ECC_SECG_P256K1: /secp256k1/ }[spec])
  }
})
