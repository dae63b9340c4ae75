/**
 * Cryptographic misuse, against the stable keys of the pool: ciphertexts with a bit
 * flipped in every part of the blob, cut short or grown, headers of one with the body of
 * another; ciphertexts of one key decrypted with another KeyId or the wrong encryption
 * context; algorithms that do not belong to the key spec; signatures, MACs and peer
 * public keys that are garbage; import tokens and wrapped material that are not what
 * they claim; grant tokens nobody issued.
 *
 * Every such request must fail (a 2xx is a finding), and where AWS fixes the error (any
 * decryption failure is the same InvalidCiphertextException, with no hint of why) a
 * different error is a finding too. A few honest requests ride along as controls, so a
 * server that refuses everything cannot pass for a secure one.
 *
 * @module
 */
import {
  ENCRYPTION_CONTEXT,
  MESSAGE,
  PICKABLE_SLOTS,
  PEER_CURVES,
  PLAINTEXT,
  RSA_SIGNING_ALGORITHMS,
  curveOf,
  digestLengthOf,
  fixture,
  macAlgorithmOf,
  rsaMaxPlaintext,
  signingAlgorithmsOf,
  slotNamed,
  type KeySlot,
} from '../pool.js'
import type { Prng } from '../prng.js'
import type { BlobMutation, FuzzCase, Template } from '../recipe.js'
import { base64Of, fixtureBytes, keyReference, ref, type Regions } from './pool-values.js'
import { kmsStep, oneStepCase } from './steps.js'

const INVALID_CIPHERTEXT = ['InvalidCiphertextException']
const INVALID_OR_INCORRECT_KEY = ['InvalidCiphertextException', 'IncorrectKeyException']
const KEY_USAGE = ['InvalidKeyUsageException']

/** Stable keys only: structured requests never change them, so their state is known. */
function stable(predicate: (slot: KeySlot) => boolean, regions: Regions): KeySlot[] {
  return PICKABLE_SLOTS.filter(
    (slot) => !slot.scratch && slot.state === 'Enabled' && predicate(slot) && (regions.secondary !== undefined || slot.replicated !== true),
  )
}

/** Trent's blob layout (docs/spec/ciphertext-blob.md §2), to aim flips at each field. */
const BLOB_REGIONS: readonly { name: string; start: number; end: number }[] = [
  { name: 'format version', start: 0, end: 1 },
  { name: 'key id kind', start: 1, end: 2 },
  { name: 'key id', start: 2, end: 18 },
  { name: 'material version', start: 18, end: 22 },
  { name: 'KDF salt', start: 22, end: 38 },
  { name: 'IV', start: 38, end: 50 },
  { name: 'ciphertext', start: 50, end: 50 + PLAINTEXT.length },
  { name: 'tag', start: -16, end: 0 },
]

/**
 * One change to a ciphertext blob. A splice takes a field from another blob that must
 * differ there: the random fields (salt, IV, ciphertext, tag) from another ciphertext of
 * the same key, the key id from a ciphertext of another key.
 */
function blobTamper(rng: Prng, sameKeyCiphertext: string, otherKeyCiphertext: string): { mutate: BlobMutation; note: string } {
  const kind = rng.weighted([
    [8, 'flip'],
    [2, 'truncate'],
    [1, 'append'],
    [1, 'splice'],
    [1, 'prepend'],
    [1, 'set'],
  ] as const)
  switch (kind) {
    case 'flip': {
      const region = rng.pick(BLOB_REGIONS)
      const byte = rng.int(region.start, region.end - 1)
      const bit = rng.int(0, 7)
      return { mutate: { op: 'flip-bit', byte, bit }, note: `bit ${bit} of byte ${byte} (${region.name}) flipped` }
    }
    case 'truncate': {
      const length = rng.pick([1, 17, 49, 50, 65, 81, -1, -16])
      return { mutate: { op: 'truncate', length }, note: length < 0 ? `last ${-length} bytes cut` : `cut to ${length} bytes` }
    }
    case 'append':
      return { mutate: { op: 'append', base64: base64Of(rng.bytes(rng.int(1, 32))) }, note: 'bytes appended' }
    case 'prepend':
      return { mutate: { op: 'prepend', base64: base64Of(Buffer.from([1])) }, note: 'a byte prepended' }
    case 'set':
      return { mutate: { op: 'set-byte', byte: 0, value: rng.pick([0, 2, 0xff]) }, note: 'another format version' }
    case 'splice': {
      if (rng.chance(0.3))
        return { mutate: { op: 'splice', from: otherKeyCiphertext, start: 2, end: 18 }, note: "the key id of another key's ciphertext" }
      const region = rng.pick(BLOB_REGIONS.filter((candidate) => ['KDF salt', 'IV', 'ciphertext'].includes(candidate.name)))
      return {
        mutate: { op: 'splice', from: sameKeyCiphertext, start: region.start, end: region.end },
        note: `${region.name} taken from another ciphertext of the key`,
      }
    }
  }
}

type CaseBuilder = (index: number, rng: Prng, regions: Regions) => FuzzCase

const tamperedSymmetricCiphertext: CaseBuilder = (index, rng, regions) => {
  const slot = rng.pick(stable((s) => s.keySpec === 'SYMMETRIC_DEFAULT' && s.keyUsage === 'ENCRYPT_DECRYPT', regions))
  const { mutate, note } = blobTamper(
    rng,
    fixture.ciphertextNoContext(slot.name),
    fixture.ciphertext(slot.name === 'sym' ? 'sym-b' : 'sym'),
  )
  const withKeyId = rng.chance(0.4)
  const reEncrypt = rng.chance(0.25)
  const region = slot.replicated === true && regions.secondary !== undefined && rng.chance(0.3) ? regions.secondary : regions.primary
  const blob = fixtureBytes(fixture.ciphertext(slot.name), mutate)
  const keyId = keyReference(rng, slot, { secondaryRegion: region !== regions.primary })
  const input: Record<string, Template> = reEncrypt
    ? {
        CiphertextBlob: blob,
        SourceEncryptionContext: { ...ENCRYPTION_CONTEXT },
        DestinationKeyId: ref(fixture.keyId('sym-b')),
        ...(withKeyId ? { SourceKeyId: keyId } : {}),
      }
    : { CiphertextBlob: blob, EncryptionContext: { ...ENCRYPTION_CONTEXT }, ...(withKeyId ? { KeyId: keyId } : {}) }
  const operation = reEncrypt ? 'ReEncrypt' : 'Decrypt'
  if (reEncrypt && region !== regions.primary) input.DestinationKeyId = ref(fixture.keyId(slot.name))
  return oneStepCase(
    index,
    'crypto',
    `${operation} of ${slot.name}'s ciphertext with ${note}${withKeyId ? ', KeyId given' : ''}${region !== regions.primary ? ` in ${region}` : ''}`,
    kmsStep(region, operation, input, {
      expect: { mustFail: true, errorTypes: withKeyId ? INVALID_OR_INCORRECT_KEY : INVALID_CIPHERTEXT, why: 'a tampered ciphertext' },
    }),
  )
}

const tamperedRsaCiphertext: CaseBuilder = (index, rng, regions) => {
  const slot = rng.pick(stable((s) => s.keySpec.startsWith('RSA_') && s.keyUsage === 'ENCRYPT_DECRYPT', regions))
  const choice = rng.int(0, 3)
  const mutate: BlobMutation | undefined =
    choice === 0
      ? { op: 'flip-bit', byte: rng.int(0, 255), bit: rng.int(0, 7) }
      : choice === 1
        ? { op: 'truncate', length: -1 }
        : choice === 2
          ? { op: 'prepend', base64: 'AA==' }
          : undefined
  const algorithm = choice === 3 ? 'RSAES_OAEP_SHA_1' : 'RSAES_OAEP_SHA_256'
  const note =
    choice === 0
      ? 'a bit flipped'
      : choice === 1
        ? 'its last byte cut'
        : choice === 2
          ? 'a zero byte prepended'
          : 'decrypted with OAEP SHA-1 instead of SHA-256'
  return oneStepCase(
    index,
    'crypto',
    `Decrypt of ${slot.name}'s ciphertext with ${note}`,
    kmsStep(
      regions.primary,
      'Decrypt',
      {
        CiphertextBlob: fixtureBytes(fixture.ciphertext(slot.name), mutate),
        KeyId: keyReference(rng, slot),
        EncryptionAlgorithm: algorithm,
      },
      {
        expect: { mustFail: true, errorTypes: INVALID_CIPHERTEXT, why: 'a tampered RSA ciphertext' },
      },
    ),
  )
}

const otherKeysCiphertext: CaseBuilder = (index, rng, regions) => {
  const pairs: { source: string; keyId: string; errorTypes?: string[]; algorithm?: string; note: string }[] = [
    { source: 'sym', keyId: 'sym-b', errorTypes: ['IncorrectKeyException'], note: 'another symmetric key' },
    { source: 'sym-b', keyId: 'sym', errorTypes: ['IncorrectKeyException'], note: 'another symmetric key' },
    { source: 'mrk-sym', keyId: 'sym', errorTypes: ['IncorrectKeyException'], note: 'a key not related to the multi-Region key' },
    { source: 'ext-sym', keyId: 'sym', errorTypes: ['IncorrectKeyException'], note: 'a key other than the imported one' },
    { source: 'sym', keyId: 'rsa2048-enc', note: 'an RSA key' },
    { source: 'rsa2048-enc', keyId: 'rsa3072-enc', algorithm: 'RSAES_OAEP_SHA_256', note: 'another RSA key' },
    { source: 'rsa2048-enc', keyId: 'sym', note: 'a symmetric key' },
    { source: 'rsa3072-enc', keyId: 'p256-sign', algorithm: 'RSAES_OAEP_SHA_256', note: 'a signing key' },
    { source: 'sym', keyId: 'hmac256', note: 'an HMAC key' },
  ]
  const pair = rng.pick(pairs.filter((candidate) => regions.secondary !== undefined || candidate.source !== 'mrk-sym'))
  const input: Record<string, Template> = {
    CiphertextBlob: fixtureBytes(fixture.ciphertext(pair.source)),
    KeyId: keyReference(rng, slotNamed(pair.keyId)),
  }
  if (pair.algorithm !== undefined) input.EncryptionAlgorithm = pair.algorithm
  if (pair.source !== 'rsa2048-enc' && pair.source !== 'rsa3072-enc') input.EncryptionContext = { ...ENCRYPTION_CONTEXT }
  return oneStepCase(
    index,
    'crypto',
    `Decrypt of ${pair.source}'s ciphertext with the KeyId of ${pair.keyId} (${pair.note})`,
    kmsStep(regions.primary, 'Decrypt', input, {
      expect: {
        mustFail: true,
        ...(pair.errorTypes !== undefined ? { errorTypes: pair.errorTypes } : {}),
        why: "another key's ciphertext",
      },
    }),
  )
}

const ciphertextInAnotherRegion: CaseBuilder = (index, rng, regions) => {
  const secondary = regions.secondary ?? regions.primary
  const source = rng.pick(['sym', 'sym-b', 'ext-sym'])
  return oneStepCase(
    index,
    'crypto',
    `Decrypt of ${source}'s ciphertext (a single-Region key) in ${secondary}`,
    kmsStep(
      secondary,
      'Decrypt',
      { CiphertextBlob: fixtureBytes(fixture.ciphertext(source)), EncryptionContext: { ...ENCRYPTION_CONTEXT } },
      {
        expect: { mustFail: secondary !== regions.primary, errorTypes: INVALID_CIPHERTEXT, why: 'the key does not exist in that region' },
      },
    ),
  )
}

const wrongEncryptionContext: CaseBuilder = (index, rng, regions) => {
  const slot = rng.pick(stable((s) => s.keySpec === 'SYMMETRIC_DEFAULT' && s.keyUsage === 'ENCRYPT_DECRYPT', regions))
  const variants: { ciphertext: string; context: Record<string, string> | undefined; note: string }[] = [
    { ciphertext: fixture.ciphertext(slot.name), context: undefined, note: 'no context' },
    { ciphertext: fixture.ciphertext(slot.name), context: {}, note: 'an empty context' },
    { ciphertext: fixture.ciphertext(slot.name), context: { purpose: 'fuzz' }, note: 'one pair missing' },
    { ciphertext: fixture.ciphertext(slot.name), context: { ...ENCRYPTION_CONTEXT, extra: 'x' }, note: 'an extra pair' },
    { ciphertext: fixture.ciphertext(slot.name), context: { purpose: 'fuzz', tenant: 't-2' }, note: 'a changed value' },
    { ciphertext: fixture.ciphertext(slot.name), context: { Purpose: 'fuzz', tenant: 't-1' }, note: 'a key in another case' },
    { ciphertext: fixture.ciphertext(slot.name), context: { purpose: 'fuzz ', tenant: 't-1' }, note: 'a trailing space' },
    { ciphertext: fixture.ciphertext(slot.name), context: { purpose: 'fu\u200bzz', tenant: 't-1' }, note: 'a zero-width space' },
    { ciphertext: fixture.ciphertext(slot.name), context: { purposetenant: 'fuzzt-1' }, note: 'pairs run together' },
    { ciphertext: fixture.ciphertext(slot.name), context: { purpose: 'fuzzt', enant: '-1' }, note: 'a boundary moved' },
    {
      ciphertext: fixture.ciphertextNoContext(slot.name),
      context: { ...ENCRYPTION_CONTEXT },
      note: 'a context for a ciphertext made without one',
    },
    { ciphertext: fixture.dataKey(slot.name), context: { purpose: 'fuzz' }, note: "a data key's ciphertext with one pair missing" },
  ]
  const variant = rng.pick(variants)
  const input: Record<string, Template> = { CiphertextBlob: fixtureBytes(variant.ciphertext) }
  if (variant.context !== undefined) input.EncryptionContext = variant.context
  if (rng.chance(0.3)) input.KeyId = keyReference(rng, slot)
  return oneStepCase(
    index,
    'crypto',
    `Decrypt of ${slot.name}'s ciphertext with ${variant.note}`,
    kmsStep(regions.primary, 'Decrypt', input, {
      expect: { mustFail: true, errorTypes: INVALID_CIPHERTEXT, why: 'the wrong encryption context' },
    }),
  )
}

/** Algorithms and operations that do not belong to the key. */
const wrongAlgorithm: CaseBuilder = (index, rng, regions) => {
  const p = regions.primary
  const key = (name: string): Template => keyReference(rng, slotNamed(name))
  const message = ref(fixture.message)
  const ecc = rng.pick(['p256-sign', 'p384-sign', 'p521-sign', 'k256-sign'])
  const rsaSign = rng.pick(['rsa2048-sign', 'rsa3072-sign', 'rsa4096-sign'])
  const signer = rng.pick([ecc, rsaSign])
  const signerSpec = slotNamed(signer).keySpec
  const rsaEnc = rng.pick(['rsa2048-enc', 'rsa3072-enc', 'rsa4096-enc'])
  const rsaEncSpec = slotNamed(rsaEnc).keySpec
  const hmac = rng.pick(['hmac224', 'hmac256', 'hmac384', 'hmac512'])
  const hmacSpec = slotNamed(hmac).keySpec
  const agree = rng.pick(['p256-agree', 'p384-agree', 'p521-agree'])
  const algorithm = signingAlgorithmsOf(signerSpec)[0] ?? 'ECDSA_SHA_256'
  const options: { operation: string; input: Record<string, Template>; note: string; errorTypes?: string[] }[] = [
    {
      operation: 'Sign',
      input: { KeyId: key(signer), Message: message, SigningAlgorithm: algorithm, MessageType: 'EXTERNAL_MU' },
      note: `Sign with MessageType EXTERNAL_MU on ${signer}`,
    },
    {
      operation: 'Verify',
      input: {
        KeyId: key(signer),
        Message: message,
        SigningAlgorithm: algorithm,
        MessageType: 'EXTERNAL_MU',
        Signature: fixtureBytes(fixture.signature(signer)),
      },
      note: `Verify with MessageType EXTERNAL_MU on ${signer}`,
    },
    {
      operation: 'Sign',
      input: { KeyId: key(rng.pick(['sym', rsaEnc])), Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_256' },
      note: 'Sign with an ENCRYPT_DECRYPT key',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'Sign',
      input: { KeyId: key(rng.pick([hmac, agree])), Message: message, SigningAlgorithm: 'ECDSA_SHA_256' },
      note: 'Sign with an HMAC or key agreement key',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'Sign',
      input: {
        KeyId: key(signer),
        Message: message,
        SigningAlgorithm: rng.pick(
          [
            'ECDSA_SHA_384',
            'ECDSA_SHA_512',
            'SM2DSA',
            'ML_DSA_SHAKE_256',
            'ED25519_SHA_512',
            'ED25519_PH_SHA_512',
            ...RSA_SIGNING_ALGORITHMS,
          ].filter((a) => !signingAlgorithmsOf(signerSpec).includes(a) && !(signerSpec === 'ECC_NIST_P384' && a === 'ECDSA_SHA_384')),
        ),
      },
      note: `Sign with an algorithm ${signerSpec} does not offer`,
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'Sign',
      input: {
        KeyId: key(signer),
        Message: base64Of(rng.bytes(rng.pick([digestLengthOf(algorithm) - 1, digestLengthOf(algorithm) + 1, 20, 1, 128]))),
        MessageType: 'DIGEST',
        SigningAlgorithm: algorithm,
      },
      note: `Sign a digest of the wrong length for ${algorithm}`,
      errorTypes: ['ValidationException'],
    },
    {
      operation: 'Encrypt',
      input: {
        KeyId: key('sym'),
        Plaintext: base64Of(PLAINTEXT),
        EncryptionAlgorithm: rng.pick(['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE']),
      },
      note: 'Encrypt with an RSA algorithm on a symmetric key',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'Encrypt',
      input: {
        KeyId: key(rsaEnc),
        Plaintext: base64Of(PLAINTEXT),
        ...(rng.chance(0.5) ? { EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' } : {}),
      },
      note: 'Encrypt on an RSA key with SYMMETRIC_DEFAULT',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'Encrypt',
      input: {
        KeyId: key(rsaEnc),
        Plaintext: { $fuzz: 'zeros', length: rsaMaxPlaintext(rsaEncSpec, 'RSAES_OAEP_SHA_256') + 1 },
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      },
      note: 'Encrypt one byte more than RSA-OAEP takes',
      errorTypes: ['ValidationException'],
    },
    {
      operation: 'Encrypt',
      input: {
        KeyId: key(rsaEnc),
        Plaintext: base64Of(PLAINTEXT),
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
        EncryptionContext: { a: 'b' },
      },
      note: 'Encrypt with an encryption context on an RSA key',
      errorTypes: ['ValidationException'],
    },
    {
      operation: 'Encrypt',
      input: { KeyId: key(rng.pick([signer, hmac, agree])), Plaintext: base64Of(PLAINTEXT) },
      note: 'Encrypt with a key that does not encrypt',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'GenerateMac',
      input: { KeyId: key(rng.pick(['sym', signer])), Message: message, MacAlgorithm: 'HMAC_SHA_256' },
      note: 'GenerateMac with a non-HMAC key',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'GenerateMac',
      input: {
        KeyId: key(hmac),
        Message: message,
        MacAlgorithm: rng.pick(
          ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'].filter((a) => a !== macAlgorithmOf(hmacSpec)),
        ),
      },
      note: `GenerateMac with another algorithm than ${hmacSpec}'s`,
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'GenerateDataKey',
      input: { KeyId: key(rng.pick([rsaEnc, signer, hmac])), KeySpec: 'AES_256' },
      note: 'GenerateDataKey with an asymmetric or HMAC key',
    },
    {
      operation: 'GenerateDataKey',
      input: { KeyId: key('sym'), KeySpec: 'AES_256', NumberOfBytes: 32 },
      note: 'GenerateDataKey with both KeySpec and NumberOfBytes',
      errorTypes: ['ValidationException'],
    },
    {
      operation: 'GenerateDataKey',
      input: { KeyId: key('sym') },
      note: 'GenerateDataKey with neither KeySpec nor NumberOfBytes',
      errorTypes: ['ValidationException'],
    },
    {
      operation: 'GenerateDataKeyPair',
      input: { KeyId: key(rng.pick([rsaEnc, hmac, signer])), KeyPairSpec: 'ECC_NIST_P256' },
      note: 'GenerateDataKeyPair with a key that is not symmetric',
    },
    {
      operation: 'GenerateDataKeyPairWithoutPlaintext',
      input: { KeyId: key('sym'), KeyPairSpec: rng.pick(['SM2', 'ML_DSA_44']) },
      note: 'GenerateDataKeyPair of a spec Trent does not make (SM2) or AWS does not offer as a data key pair (ML-DSA)',
    },
    {
      operation: 'ReEncrypt',
      input: {
        CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')),
        SourceEncryptionContext: { ...ENCRYPTION_CONTEXT },
        DestinationKeyId: key(rng.pick([signer, hmac, agree])),
      },
      note: 'ReEncrypt to a key that does not encrypt',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'ReEncrypt',
      input: {
        CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')),
        SourceEncryptionContext: { ...ENCRYPTION_CONTEXT },
        DestinationKeyId: key(rsaEnc),
      },
      note: 'ReEncrypt to an RSA key without an algorithm',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'DeriveSharedSecret',
      input: {
        KeyId: key(rng.pick(['sym', signer, hmac])),
        KeyAgreementAlgorithm: 'ECDH',
        PublicKey: fixtureBytes(fixture.peerPublicKey('P-256')),
      },
      note: 'DeriveSharedSecret with a key not for key agreement',
      errorTypes: KEY_USAGE,
    },
    {
      operation: 'GetPublicKey',
      input: { KeyId: key(rng.pick(['sym', hmac])) },
      note: 'GetPublicKey of a symmetric or HMAC key',
      errorTypes: ['UnsupportedOperationException'],
    },
    {
      operation: 'Decrypt',
      input: { CiphertextBlob: fixtureBytes(fixture.signature(signer)) },
      note: 'Decrypt of a signature',
      errorTypes: INVALID_CIPHERTEXT,
    },
    {
      operation: 'Decrypt',
      input: {
        CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')),
        EncryptionContext: { ...ENCRYPTION_CONTEXT },
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      },
      note: 'Decrypt of a symmetric ciphertext with an RSA algorithm',
    },
  ]
  const chosen = rng.pick(options)
  return oneStepCase(
    index,
    'crypto',
    chosen.note,
    kmsStep(p, chosen.operation, chosen.input, {
      expect: { mustFail: true, ...(chosen.errorTypes !== undefined ? { errorTypes: chosen.errorTypes } : {}), why: 'misuse of the key' },
    }),
  )
}

const garbageSignature: CaseBuilder = (index, rng, regions) => {
  const slot = rng.pick(stable((s) => s.keyUsage === 'SIGN_VERIFY', regions))
  const algorithm = signingAlgorithmsOf(slot.keySpec)[0] ?? 'ECDSA_SHA_256'
  const others = stable((s) => s.keyUsage === 'SIGN_VERIFY' && s.keySpec === slot.keySpec && s.name !== slot.name, regions)
  const variants: { signature: Template; message?: Template; algorithm?: string; note: string; errorTypes?: string[] }[] = [
    {
      signature: fixtureBytes(fixture.signature(slot.name), { op: 'flip-bit', byte: rng.int(0, 60), bit: rng.int(0, 7) }),
      note: 'a bit flipped',
    },
    {
      signature: fixtureBytes(fixture.signature(slot.name), { op: 'flip-bit', byte: -1 - rng.int(0, 10), bit: rng.int(0, 7) }),
      note: 'a bit near the end flipped',
    },
    { signature: fixtureBytes(fixture.signature(slot.name), { op: 'truncate', length: -1 }), note: 'its last byte cut' },
    { signature: fixtureBytes(fixture.signature(slot.name), { op: 'append', base64: 'AA==' }), note: 'a zero byte appended' },
    {
      signature: base64Of(rng.bytes(rng.pick([1, 8, 64, 72, 256, 512]))),
      note: 'random bytes',
      errorTypes: ['KMSInvalidSignatureException', 'ValidationException'],
    },
    {
      signature: { $fuzz: 'zeros', length: rng.pick([64, 256]) },
      note: 'zeros',
      errorTypes: ['KMSInvalidSignatureException', 'ValidationException'],
    },
    {
      signature: fixtureBytes(fixture.signature(slot.name)),
      message: base64Of(Buffer.concat([MESSAGE, Buffer.from('!')])),
      note: 'another message',
    },
    {
      signature: fixtureBytes(fixture.ciphertext('sym')),
      note: 'a ciphertext',
      errorTypes: ['KMSInvalidSignatureException', 'ValidationException'],
    },
  ]
  if (others.length > 0)
    variants.push({
      signature: fixtureBytes(fixture.signature(rng.pick(others).name)),
      note: "another key's signature of the same message",
    })
  if (slot.keySpec.startsWith('RSA_'))
    variants.push({
      signature: fixtureBytes(fixture.signature(slot.name)),
      algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      note: 'a PSS signature checked as PKCS #1 v1.5',
    })
  const variant = rng.pick(variants)
  return oneStepCase(
    index,
    'crypto',
    `Verify on ${slot.name} of a signature: ${variant.note}`,
    kmsStep(
      regions.primary,
      'Verify',
      {
        KeyId: keyReference(rng, slot),
        Message: variant.message ?? ref(fixture.message),
        Signature: variant.signature,
        SigningAlgorithm: variant.algorithm ?? algorithm,
      },
      {
        expect: { mustFail: true, errorTypes: variant.errorTypes ?? ['KMSInvalidSignatureException'], why: 'the signature is not valid' },
      },
    ),
  )
}

const badMac: CaseBuilder = (index, rng, regions) => {
  const slot = rng.pick(stable((s) => s.keyUsage === 'GENERATE_VERIFY_MAC', regions))
  const other = rng.pick(stable((s) => s.keyUsage === 'GENERATE_VERIFY_MAC' && s.name !== slot.name, regions))
  const variants: { mac: Template; algorithm?: string; note: string; errorTypes: string[] }[] = [
    {
      mac: fixtureBytes(fixture.mac(slot.name), { op: 'truncate', length: -1 }),
      note: 'one byte short',
      errorTypes: ['KMSInvalidMacException'],
    },
    {
      mac: fixtureBytes(fixture.mac(slot.name), { op: 'truncate', length: rng.pick([1, 16]) }),
      note: 'cut short',
      errorTypes: ['KMSInvalidMacException'],
    },
    {
      mac: fixtureBytes(fixture.mac(slot.name), { op: 'append', base64: 'AA==' }),
      note: 'one byte long',
      errorTypes: ['KMSInvalidMacException'],
    },
    {
      mac: fixtureBytes(fixture.mac(slot.name), { op: 'flip-bit', byte: rng.int(0, 27), bit: rng.int(0, 7) }),
      note: 'a bit flipped',
      errorTypes: ['KMSInvalidMacException'],
    },
    { mac: fixtureBytes(fixture.mac(other.name)), note: `${other.name}'s MAC`, errorTypes: ['KMSInvalidMacException'] },
    { mac: { $fuzz: 'zeros', length: rng.pick([28, 32, 48, 64, 1024]) }, note: 'zeros', errorTypes: ['KMSInvalidMacException'] },
    {
      mac: fixtureBytes(fixture.mac(slot.name)),
      algorithm: macAlgorithmOf(other.keySpec) === macAlgorithmOf(slot.keySpec) ? 'HMAC_SHA_512' : macAlgorithmOf(other.keySpec),
      note: 'another MAC algorithm',
      errorTypes: KEY_USAGE,
    },
  ]
  const variant = rng.pick(variants)
  return oneStepCase(
    index,
    'crypto',
    `VerifyMac on ${slot.name} of a MAC: ${variant.note}`,
    kmsStep(
      regions.primary,
      'VerifyMac',
      {
        KeyId: keyReference(rng, slot),
        Message: ref(fixture.message),
        Mac: variant.mac,
        MacAlgorithm: variant.algorithm ?? macAlgorithmOf(slot.keySpec),
      },
      {
        expect: { mustFail: true, errorTypes: variant.errorTypes, why: 'the MAC is not valid' },
      },
    ),
  )
}

const badPeerPublicKey: CaseBuilder = (index, rng, regions) => {
  const slot = rng.pick(stable((s) => s.keyUsage === 'KEY_AGREEMENT', regions))
  const curve = curveOf(slot.keySpec) ?? 'P-256'
  const peer = fixture.peerPublicKey(curve)
  const otherCurve = rng.pick(PEER_CURVES.filter((candidate) => candidate !== curve))
  const variants: { publicKey: Template; note: string }[] = [
    { publicKey: fixtureBytes(peer, { op: 'flip-bit', byte: -1, bit: rng.int(0, 7) }), note: 'a point off the curve' },
    { publicKey: fixtureBytes(peer, { op: 'flip-bit', byte: -1 - rng.int(1, 40), bit: rng.int(0, 7) }), note: 'a coordinate changed' },
    { publicKey: fixtureBytes(peer, { op: 'truncate', length: -1 }), note: 'one byte short' },
    { publicKey: fixtureBytes(peer, { op: 'truncate', length: rng.int(1, 30) }), note: 'only the start of the key info' },
    { publicKey: fixtureBytes(peer, { op: 'append', base64: 'AA==' }), note: 'a byte appended' },
    {
      publicKey: fixtureBytes(peer, { op: 'flip-bit', byte: rng.int(0, 20), bit: rng.int(0, 7) }),
      note: 'the algorithm identifier changed',
    },
    { publicKey: fixtureBytes(fixture.peerPublicKey(otherCurve)), note: `a key on ${otherCurve}` },
    { publicKey: fixtureBytes(fixture.publicKey('rsa2048-enc')), note: 'an RSA public key' },
    { publicKey: base64Of(rng.bytes(rng.pick([1, 33, 65, 91, 120]))), note: 'random bytes' },
    { publicKey: { $fuzz: 'zeros', length: 91 }, note: 'zeros' },
  ]
  const variant = rng.pick(variants)
  return oneStepCase(
    index,
    'crypto',
    `DeriveSharedSecret on ${slot.name} with ${variant.note}`,
    kmsStep(
      regions.primary,
      'DeriveSharedSecret',
      { KeyId: keyReference(rng, slot), KeyAgreementAlgorithm: 'ECDH', PublicKey: variant.publicKey },
      {
        expect: { mustFail: true, errorTypes: ['ValidationException'], why: 'the peer public key is not a key on the curve' },
      },
    ),
  )
}

const badImport: CaseBuilder = (index, rng, regions) => {
  const target = rng.pick(['ext-pending', 'ext-hmac-pending'])
  const other = target === 'ext-pending' ? 'ext-hmac-pending' : 'ext-pending'
  const targetSpec = slotNamed(target).keySpec
  const goodWrap: Template = {
    $fuzz: 'wrap',
    publicKey: fixture.importPublicKey(target),
    material: fixture.material(target),
    algorithm: 'RSAES_OAEP_SHA_256',
  }
  const variants: {
    keyId?: string
    token: Template
    material: Template
    extra?: Record<string, Template>
    note: string
    errorTypes?: string[]
  }[] = [
    {
      token: base64Of(rng.bytes(rng.pick([1, 64, 512, 2048]))),
      material: goodWrap,
      note: 'a garbage import token',
      errorTypes: ['InvalidImportTokenException', 'ValidationException'],
    },
    {
      token: fixtureBytes(fixture.importToken(other)),
      material: goodWrap,
      note: "another key's import token",
      errorTypes: ['InvalidImportTokenException'],
    },
    {
      token: fixtureBytes(fixture.importToken(target), { op: 'flip-bit', byte: rng.int(0, 200), bit: rng.int(0, 7) }),
      material: goodWrap,
      note: 'an import token with a bit flipped',
      errorTypes: ['InvalidImportTokenException'],
    },
    {
      token: fixtureBytes(fixture.importToken(target)),
      material: base64Of(rng.bytes(256)),
      note: 'garbage wrapped material',
      errorTypes: INVALID_CIPHERTEXT,
    },
    {
      token: fixtureBytes(fixture.importToken(target)),
      material: {
        $fuzz: 'wrap',
        publicKey: fixture.importPublicKey(other),
        material: fixture.material(target),
        algorithm: 'RSAES_OAEP_SHA_256',
      },
      note: "material wrapped with another key's wrapping key",
      errorTypes: INVALID_CIPHERTEXT,
    },
    {
      token: fixtureBytes(fixture.importToken(target)),
      material: {
        $fuzz: 'wrap',
        publicKey: fixture.importPublicKey(target),
        material: fixture.material(target),
        algorithm: 'RSAES_OAEP_SHA_1',
      },
      note: 'material wrapped with OAEP SHA-1 for a SHA-256 token',
      errorTypes: INVALID_CIPHERTEXT,
    },
    {
      token: fixtureBytes(fixture.importToken(target)),
      material: {
        $fuzz: 'wrap',
        publicKey: fixture.importPublicKey(target),
        material: 'case:short-material',
        algorithm: 'RSAES_OAEP_SHA_256',
      },
      note: `material of 16 bytes for a ${targetSpec} key`,
    },
    {
      token: fixtureBytes(fixture.importToken(target)),
      material: goodWrap,
      extra: { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: { $fuzz: 'epoch', offsetSeconds: -86_400 } },
      note: 'a ValidTo in the past',
    },
    {
      token: fixtureBytes(fixture.importToken(target)),
      material: goodWrap,
      extra: { ExpirationModel: 'KEY_MATERIAL_EXPIRES' },
      note: 'KEY_MATERIAL_EXPIRES without ValidTo',
      errorTypes: ['ValidationException'],
    },
    {
      keyId: 'ext-sym',
      token: fixtureBytes(fixture.importToken('ext-sym')),
      material: {
        $fuzz: 'wrap',
        publicKey: fixture.importPublicKey('ext-sym'),
        material: fixture.material('ext-pending'),
        algorithm: 'RSAES_OAEP_SHA_256',
      },
      note: 'other material into a key that has material',
      errorTypes: ['IncorrectKeyMaterialException'],
    },
    { keyId: 'sym', token: fixtureBytes(fixture.importToken(target)), material: goodWrap, note: 'an import into a key of AWS_KMS origin' },
  ]
  const variant = rng.pick(variants)
  const keySlot = slotNamed(variant.keyId ?? target)
  const step = kmsStep(
    regions.primary,
    'ImportKeyMaterial',
    {
      KeyId: keyReference(rng, keySlot),
      ImportToken: variant.token,
      EncryptedKeyMaterial: variant.material,
      ...(variant.extra ?? { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    },
    {
      expect: {
        mustFail: true,
        ...(variant.errorTypes !== undefined ? { errorTypes: variant.errorTypes } : {}),
        why: 'the import is not what it claims',
      },
    },
  )
  return {
    index,
    category: 'crypto',
    label: `ImportKeyMaterial into ${keySlot.name}: ${variant.note}`,
    steps: [step],
    values: { 'case:short-material': base64Of(rng.bytes(16)) },
  }
}

const garbageGrantTokens: CaseBuilder = (index, rng, regions) => {
  const garbage = rng.pick<{ tokens: Template[]; note: string }>([
    { tokens: [rng.string(rng.int(1, 200), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=')], note: 'a random token' },
    { tokens: [ref(fixture.grantId('sym'))], note: 'a grant id instead of a token' },
    { tokens: [ref(fixture.grantToken('sym')), 'AQpAgarbage'], note: 'a real token and a garbage one' },
    { tokens: [{ $fuzz: 'fill', length: 8192, text: 'A' }], note: 'a token of 8192 As' },
    { tokens: [{ $fuzz: 'format', text: `{{${fixture.grantToken('sym')}}}x` }], note: 'a real token with a character appended' },
  ])
  const uses: { operation: string; input: Record<string, Template> }[] = [
    { operation: 'Encrypt', input: { KeyId: ref(fixture.keyId('sym')), Plaintext: base64Of(PLAINTEXT) } },
    {
      operation: 'Decrypt',
      input: { CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')), EncryptionContext: { ...ENCRYPTION_CONTEXT } },
    },
    { operation: 'GenerateDataKey', input: { KeyId: ref(fixture.keyId('sym')), KeySpec: 'AES_256' } },
    {
      operation: 'Sign',
      input: { KeyId: ref(fixture.keyId('p256-sign')), Message: ref(fixture.message), SigningAlgorithm: 'ECDSA_SHA_256' },
    },
    {
      operation: 'GenerateMac',
      input: { KeyId: ref(fixture.keyId('hmac256')), Message: ref(fixture.message), MacAlgorithm: 'HMAC_SHA_256' },
    },
    { operation: 'DescribeKey', input: { KeyId: ref(fixture.keyId('sym')) } },
    { operation: 'GetPublicKey', input: { KeyId: ref(fixture.keyId('p256-sign')) } },
    {
      operation: 'ReEncrypt',
      input: {
        CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')),
        SourceEncryptionContext: { ...ENCRYPTION_CONTEXT },
        DestinationKeyId: ref(fixture.keyId('sym-b')),
      },
    },
  ]
  const use = rng.pick(uses)
  return oneStepCase(
    index,
    'crypto',
    `${use.operation} with GrantTokens: ${garbage.note}`,
    kmsStep(
      regions.primary,
      use.operation,
      { ...use.input, GrantTokens: garbage.tokens },
      { expect: { mustFail: true, errorTypes: ['InvalidGrantTokenException'], why: 'nobody issued that grant token' } },
    ),
  )
}

const dryRun: CaseBuilder = (index, rng, regions) => {
  const uses: { operation: string; input: Record<string, Template> }[] = [
    { operation: 'Encrypt', input: { KeyId: ref(fixture.keyId('sym')), Plaintext: base64Of(PLAINTEXT) } },
    {
      operation: 'Decrypt',
      input: { CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')), EncryptionContext: { ...ENCRYPTION_CONTEXT } },
    },
    {
      operation: 'Sign',
      input: { KeyId: ref(fixture.keyId('p384-sign')), Message: ref(fixture.message), SigningAlgorithm: 'ECDSA_SHA_384' },
    },
    {
      operation: 'Verify',
      input: {
        KeyId: ref(fixture.keyId('p256-sign')),
        Message: ref(fixture.message),
        SigningAlgorithm: 'ECDSA_SHA_256',
        Signature: fixtureBytes(fixture.signature('p256-sign')),
      },
    },
    {
      operation: 'GenerateMac',
      input: { KeyId: ref(fixture.keyId('hmac512')), Message: ref(fixture.message), MacAlgorithm: 'HMAC_SHA_512' },
    },
    {
      operation: 'VerifyMac',
      input: {
        KeyId: ref(fixture.keyId('hmac256')),
        Message: ref(fixture.message),
        MacAlgorithm: 'HMAC_SHA_256',
        Mac: fixtureBytes(fixture.mac('hmac256')),
      },
    },
    {
      operation: 'DeriveSharedSecret',
      input: {
        KeyId: ref(fixture.keyId('p256-agree')),
        KeyAgreementAlgorithm: 'ECDH',
        PublicKey: fixtureBytes(fixture.peerPublicKey('P-256')),
      },
    },
    { operation: 'GenerateDataKeyPair', input: { KeyId: ref(fixture.keyId('sym')), KeyPairSpec: 'ECC_NIST_P256' } },
    { operation: 'RevokeGrant', input: { KeyId: ref(fixture.keyId('sym')), GrantId: ref(fixture.grantId('sym')) } },
    {
      operation: 'CreateGrant',
      input: { KeyId: ref(fixture.keyId('sym')), GranteePrincipal: ref(fixture.rootArn), Operations: ['Decrypt'] },
    },
  ]
  const use = rng.pick(uses)
  return oneStepCase(
    index,
    'crypto',
    `${use.operation} with DryRun true`,
    kmsStep(
      regions.primary,
      use.operation,
      { ...use.input, DryRun: true },
      { expect: { mustFail: true, errorTypes: ['DryRunOperationException'], why: 'a dry run never does the work' } },
    ),
  )
}

/** Honest requests whose answer is known: a server that refuses everything must not look secure. */
const control: CaseBuilder = (index, rng, regions) => {
  const controls: {
    operation: string
    input: Record<string, Template>
    check: { path: string; equals: string }
    note: string
    region?: string
  }[] = [
    {
      operation: 'Decrypt',
      input: { CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')), EncryptionContext: { ...ENCRYPTION_CONTEXT } },
      check: { path: 'Plaintext', equals: base64Of(PLAINTEXT) },
      note: "Decrypt of sym's ciphertext",
    },
    {
      operation: 'Decrypt',
      input: {
        CiphertextBlob: fixtureBytes(fixture.ciphertext('ext-sym')),
        EncryptionContext: { ...ENCRYPTION_CONTEXT },
        KeyId: ref(fixture.keyArn('ext-sym')),
      },
      check: { path: 'Plaintext', equals: base64Of(PLAINTEXT) },
      note: "Decrypt of ext-sym's ciphertext",
    },
    {
      operation: 'Decrypt',
      input: {
        CiphertextBlob: fixtureBytes(fixture.ciphertext('rsa2048-enc')),
        KeyId: ref(fixture.keyId('rsa2048-enc')),
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      },
      check: { path: 'Plaintext', equals: base64Of(PLAINTEXT) },
      note: "Decrypt of rsa2048-enc's ciphertext",
    },
    {
      operation: 'Verify',
      input: {
        KeyId: ref(fixture.keyId('p256-sign')),
        Message: ref(fixture.message),
        SigningAlgorithm: 'ECDSA_SHA_256',
        Signature: fixtureBytes(fixture.signature('p256-sign')),
      },
      check: { path: 'SignatureValid', equals: 'true' },
      note: 'Verify of a good signature',
    },
    {
      operation: 'Verify',
      input: {
        KeyId: ref(fixture.keyId('rsa2048-sign')),
        Message: ref(fixture.message),
        SigningAlgorithm: 'RSASSA_PSS_SHA_256',
        Signature: fixtureBytes(fixture.signature('rsa2048-sign')),
      },
      check: { path: 'SignatureValid', equals: 'true' },
      note: 'Verify of a good RSA signature',
    },
    {
      operation: 'VerifyMac',
      input: {
        KeyId: ref(fixture.keyId('hmac384')),
        Message: ref(fixture.message),
        MacAlgorithm: 'HMAC_SHA_384',
        Mac: fixtureBytes(fixture.mac('hmac384')),
      },
      check: { path: 'MacValid', equals: 'true' },
      note: 'VerifyMac of a good MAC',
    },
  ]
  if (regions.secondary !== undefined) {
    controls.push({
      operation: 'Decrypt',
      input: { CiphertextBlob: fixtureBytes(fixture.ciphertext('mrk-sym')), EncryptionContext: { ...ENCRYPTION_CONTEXT } },
      check: { path: 'Plaintext', equals: base64Of(PLAINTEXT) },
      note: `Decrypt of mrk-sym's ciphertext in ${regions.secondary}`,
      region: regions.secondary,
    })
  }
  const chosen = rng.pick(controls)
  return oneStepCase(
    index,
    'crypto',
    `control: ${chosen.note}`,
    kmsStep(chosen.region ?? regions.primary, chosen.operation, chosen.input, {
      expect: { check: chosen.check, why: 'an honest request' },
    }),
  )
}

const BUILDERS: readonly [number, CaseBuilder][] = [
  [8, tamperedSymmetricCiphertext],
  [2, tamperedRsaCiphertext],
  [2, otherKeysCiphertext],
  [1, ciphertextInAnotherRegion],
  [3, wrongEncryptionContext],
  [5, wrongAlgorithm],
  [3, garbageSignature],
  [2, badMac],
  [2, badPeerPublicKey],
  [2, badImport],
  [2, garbageGrantTokens],
  [1, dryRun],
  [1, control],
]

export function cryptoCase(index: number, rng: Prng, regions: Regions): FuzzCase {
  return rng.weighted(BUILDERS)(index, rng, regions)
}
