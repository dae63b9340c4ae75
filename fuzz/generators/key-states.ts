/**
 * Key-state sequences: a key of its own is made and walked through states, and after
 * each transition the oracle checks what AWS's key-state table says must hold (the state
 * DescribeKey reports, what must now fail and with which error, that a ciphertext still
 * decrypts to what was encrypted).
 *
 * Each sequence makes its own keys, so the pool is never touched; setup steps that fail
 * stop the sequence without a finding (a fuzzed partition may refuse, say, a key when
 * it is out of some resource), while the checks that follow them are findings.
 *
 * @module
 */
import { curveOf, fixture, macAlgorithmOf, materialLengthOf, signingAlgorithmsOf, type KeySlot } from '../pool.js'
import type { Prng } from '../prng.js'
import { boundName, type FuzzCase, type Step, type Template } from '../recipe.js'
import { base64Of, fixtureBytes, ref, type Regions } from './pool-values.js'
import { KEY_ID_PATH, KEY_STATE_PATH, kmsStep } from './steps.js'

const PLAINTEXT_B64 = Buffer.from('key-state sequence plaintext').toString('base64')

type Spec = Pick<KeySlot, 'keySpec' | 'keyUsage'>

const bound = (name: string): Template => ref(boundName(name))

/** A request that uses a key of `spec` for what its usage allows (the thing a state must forbid). */
function useKey(spec: Spec, keyId: Template): { operation: string; input: Template } {
  switch (spec.keyUsage) {
    case 'ENCRYPT_DECRYPT':
      return spec.keySpec === 'SYMMETRIC_DEFAULT'
        ? { operation: 'Encrypt', input: { KeyId: keyId, Plaintext: PLAINTEXT_B64 } }
        : { operation: 'Encrypt', input: { KeyId: keyId, Plaintext: PLAINTEXT_B64, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } }
    case 'SIGN_VERIFY':
      return {
        operation: 'Sign',
        input: { KeyId: keyId, Message: PLAINTEXT_B64, SigningAlgorithm: signingAlgorithmsOf(spec.keySpec)[0] ?? 'ECDSA_SHA_256' },
      }
    case 'GENERATE_VERIFY_MAC':
      return { operation: 'GenerateMac', input: { KeyId: keyId, Message: PLAINTEXT_B64, MacAlgorithm: macAlgorithmOf(spec.keySpec) } }
    case 'KEY_AGREEMENT':
      return {
        operation: 'DeriveSharedSecret',
        input: {
          KeyId: keyId,
          KeyAgreementAlgorithm: 'ECDH',
          PublicKey: fixtureBytes(fixture.peerPublicKey(curveOf(spec.keySpec) ?? 'P-256')),
        },
      }
  }
}

function createKey(region: string, spec: Spec, extra: Record<string, Template> = {}, bindAs = 'keyId'): Step {
  return kmsStep(
    region,
    'CreateKey',
    { KeySpec: spec.keySpec, KeyUsage: spec.keyUsage, Description: 'fuzz key-state sequence', ...extra },
    { setup: true, bind: { [bindAs]: KEY_ID_PATH } },
  )
}

function expectState(region: string, state: string, why: string, keyName = 'keyId'): Step {
  return kmsStep(region, 'DescribeKey', { KeyId: bound(keyName) }, { expect: { check: { path: KEY_STATE_PATH, equals: state }, why } })
}

function mustFail(region: string, operation: string, input: Template, why: string, errorTypes?: string[]): Step {
  return kmsStep(region, operation, input, { expect: { mustFail: true, why, ...(errorTypes !== undefined ? { errorTypes } : {}) } })
}

/** EXTERNAL key, no material: deletion scheduled and cancelled must leave it PendingImport (AWS key-state table). */
function externalCancelledDeletion(region: string, rng: Prng): { label: string; steps: Step[] } {
  const spec = rng.pick<Spec>([
    { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' },
    { keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' },
    { keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' },
    { keySpec: 'ECC_NIST_P384', keyUsage: 'KEY_AGREEMENT' },
    { keySpec: 'RSA_2048', keyUsage: 'ENCRYPT_DECRYPT' },
  ])
  const use = useKey(spec, bound('keyId'))
  return {
    label: `key states: EXTERNAL ${spec.keySpec} ${spec.keyUsage}, ScheduleKeyDeletion, CancelKeyDeletion, EnableKey, ${use.operation}`,
    steps: [
      createKey(region, spec, { Origin: 'EXTERNAL' }),
      expectState(region, 'PendingImport', 'an EXTERNAL key starts without material'),
      kmsStep(region, 'ScheduleKeyDeletion', { KeyId: bound('keyId'), PendingWindowInDays: 7 }, { setup: true }),
      expectState(region, 'PendingDeletion', 'deletion was scheduled'),
      kmsStep(region, 'CancelKeyDeletion', { KeyId: bound('keyId') }, { setup: true }),
      expectState(region, 'PendingImport', 'a key without material goes back to PendingImport, not Disabled'),
      mustFail(region, 'EnableKey', { KeyId: bound('keyId') }, 'a key without key material cannot be enabled'),
      mustFail(region, use.operation, use.input, 'the key has no key material', ['KMSInvalidStateException']),
      expectState(region, 'PendingImport', 'still without material'),
    ],
  }
}

/** Disable, enable, schedule deletion, cancel: what each state forbids, and the ciphertext outliving it all. */
function disableAndDelete(region: string): { label: string; steps: Step[] } {
  const decrypt = { CiphertextBlob: bound('ciphertext') }
  return {
    label: 'key states: symmetric key disabled, enabled, pending deletion, cancelled',
    steps: [
      createKey(region, { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' }),
      kmsStep(
        region,
        'Encrypt',
        { KeyId: bound('keyId'), Plaintext: PLAINTEXT_B64 },
        { setup: true, bind: { ciphertext: 'CiphertextBlob' } },
      ),
      kmsStep(region, 'DisableKey', { KeyId: bound('keyId') }, { setup: true }),
      expectState(region, 'Disabled', 'after DisableKey'),
      mustFail(region, 'Encrypt', { KeyId: bound('keyId'), Plaintext: PLAINTEXT_B64 }, 'the key is disabled', ['DisabledException']),
      mustFail(region, 'Decrypt', decrypt, 'the key is disabled', ['DisabledException']),
      kmsStep(region, 'EnableKey', { KeyId: bound('keyId') }, { setup: true }),
      kmsStep(region, 'Decrypt', decrypt, {
        expect: { check: { path: 'Plaintext', equals: PLAINTEXT_B64 }, why: 'enabled again, the ciphertext decrypts' },
      }),
      kmsStep(region, 'ScheduleKeyDeletion', { KeyId: bound('keyId'), PendingWindowInDays: 7 }, { setup: true }),
      mustFail(region, 'Decrypt', decrypt, 'the key is pending deletion', ['KMSInvalidStateException']),
      mustFail(region, 'EnableKey', { KeyId: bound('keyId') }, 'a key pending deletion cannot be enabled', ['KMSInvalidStateException']),
      kmsStep(region, 'CancelKeyDeletion', { KeyId: bound('keyId') }, { setup: true }),
      expectState(region, 'Disabled', 'a key with material is Disabled after CancelKeyDeletion'),
      kmsStep(region, 'EnableKey', { KeyId: bound('keyId') }, { setup: true }),
      kmsStep(region, 'Decrypt', decrypt, {
        expect: { check: { path: 'Plaintext', equals: PLAINTEXT_B64 }, why: 'after all that, the ciphertext still decrypts' },
      }),
    ],
  }
}

/** Import, delete the material, re-import the same material: PendingImport in between, the old ciphertext decrypts after. */
function importCycle(region: string, rng: Prng): { label: string; steps: Step[]; values: Record<string, string> } {
  const spec = rng.pick<Spec>([
    { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' },
    { keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' },
  ])
  const material = base64Of(rng.bytes(materialLengthOf(spec.keySpec)))
  const otherMaterial = base64Of(rng.bytes(materialLengthOf(spec.keySpec)))
  const parameters = (suffix: string): Step =>
    kmsStep(
      region,
      'GetParametersForImport',
      { KeyId: bound('keyId'), WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' },
      {
        setup: true,
        bind: { [`token${suffix}`]: 'ImportToken', [`publicKey${suffix}`]: 'PublicKey' },
      },
    )
  const importing = (suffix: string, materialName: string): Template => ({
    KeyId: bound('keyId'),
    ImportToken: ref(boundName(`token${suffix}`)),
    EncryptedKeyMaterial: {
      $fuzz: 'wrap',
      publicKey: boundName(`publicKey${suffix}`),
      material: materialName,
      algorithm: 'RSAES_OAEP_SHA_256',
    },
    ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
  })
  const symmetric = spec.keySpec === 'SYMMETRIC_DEFAULT'
  const use = symmetric
    ? kmsStep(region, 'Encrypt', { KeyId: bound('keyId'), Plaintext: PLAINTEXT_B64 }, { setup: true, bind: { output: 'CiphertextBlob' } })
    : kmsStep(
        region,
        'GenerateMac',
        { KeyId: bound('keyId'), Message: PLAINTEXT_B64, MacAlgorithm: macAlgorithmOf(spec.keySpec) },
        { setup: true, bind: { output: 'Mac' } },
      )
  const useAgain = (expectation: 'fails' | 'works'): Step =>
    symmetric
      ? expectation === 'fails'
        ? mustFail(region, 'Decrypt', { CiphertextBlob: bound('output') }, 'the key material was deleted', ['KMSInvalidStateException'])
        : kmsStep(
            region,
            'Decrypt',
            { CiphertextBlob: bound('output') },
            { expect: { check: { path: 'Plaintext', equals: PLAINTEXT_B64 }, why: 'the same material, imported again' } },
          )
      : expectation === 'fails'
        ? mustFail(
            region,
            'VerifyMac',
            { KeyId: bound('keyId'), Message: PLAINTEXT_B64, MacAlgorithm: macAlgorithmOf(spec.keySpec), Mac: bound('output') },
            'the key material was deleted',
            ['KMSInvalidStateException'],
          )
        : kmsStep(
            region,
            'VerifyMac',
            { KeyId: bound('keyId'), Message: PLAINTEXT_B64, MacAlgorithm: macAlgorithmOf(spec.keySpec), Mac: bound('output') },
            { expect: { check: { path: 'MacValid', equals: 'true' }, why: 'the same material, imported again' } },
          )
  return {
    label: `key states: EXTERNAL ${spec.keySpec} import, delete material, deletion cancelled, re-import`,
    values: { 'case:material': material, 'case:other-material': otherMaterial },
    steps: [
      createKey(region, spec, { Origin: 'EXTERNAL' }),
      parameters('1'),
      kmsStep(region, 'ImportKeyMaterial', importing('1', 'case:material'), { setup: true }),
      expectState(region, 'Enabled', 'material imported'),
      use,
      kmsStep(region, 'DeleteImportedKeyMaterial', { KeyId: bound('keyId') }, { setup: true }),
      expectState(region, 'PendingImport', 'material deleted'),
      useAgain('fails'),
      mustFail(region, 'EnableKey', { KeyId: bound('keyId') }, 'a key without key material cannot be enabled'),
      kmsStep(region, 'ScheduleKeyDeletion', { KeyId: bound('keyId'), PendingWindowInDays: 7 }, { setup: true }),
      kmsStep(region, 'CancelKeyDeletion', { KeyId: bound('keyId') }, { setup: true }),
      expectState(region, 'PendingImport', 'cancelled deletion of a key without material'),
      parameters('2'),
      mustFail(region, 'ImportKeyMaterial', importing('2', 'case:other-material'), 'other material than the key had', [
        'IncorrectKeyMaterialException',
      ]),
      parameters('3'),
      kmsStep(region, 'ImportKeyMaterial', importing('3', 'case:material'), { setup: true }),
      useAgain('works'),
    ],
  }
}

/** An alias moved to another key: ciphertexts follow their key, not the alias. */
function aliasCycle(region: string, rng: Prng): { label: string; steps: Step[]; values: Record<string, string> } {
  const alias = `alias/fuzz-seq-${rng.hex(12)}`
  return {
    label: 'key states: an alias created, used, moved and deleted',
    values: { 'case:alias': alias },
    steps: [
      createKey(region, { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' }, {}, 'first'),
      createKey(region, { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' }, {}, 'second'),
      kmsStep(region, 'CreateAlias', { AliasName: alias, TargetKeyId: bound('first') }, { setup: true }),
      kmsStep(region, 'Encrypt', { KeyId: alias, Plaintext: PLAINTEXT_B64 }, { setup: true, bind: { ciphertext: 'CiphertextBlob' } }),
      kmsStep(region, 'UpdateAlias', { AliasName: alias, TargetKeyId: bound('second') }, { setup: true }),
      mustFail(region, 'Decrypt', { CiphertextBlob: bound('ciphertext'), KeyId: alias }, 'the alias names another key now', [
        'IncorrectKeyException',
      ]),
      kmsStep(
        region,
        'Decrypt',
        { CiphertextBlob: bound('ciphertext') },
        { expect: { check: { path: 'Plaintext', equals: PLAINTEXT_B64 }, why: 'the ciphertext names its own key' } },
      ),
      kmsStep(region, 'DeleteAlias', { AliasName: alias }, { setup: true }),
      mustFail(region, 'Encrypt', { KeyId: alias, Plaintext: PLAINTEXT_B64 }, 'the alias is gone', ['NotFoundException']),
      mustFail(region, 'DeleteAlias', { AliasName: alias }, 'the alias is gone', ['NotFoundException']),
    ],
  }
}

/** A grant: made, used, retired, and then neither retirable nor revocable again. */
function grantCycle(region: string): { label: string; steps: Step[] } {
  return {
    label: 'key states: a grant created, used, retired twice, revoked after',
    steps: [
      createKey(region, { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' }),
      kmsStep(
        region,
        'CreateGrant',
        {
          KeyId: bound('keyId'),
          GranteePrincipal: ref(fixture.rootArn),
          RetiringPrincipal: ref(fixture.rootArn),
          Operations: ['Encrypt', 'Decrypt'],
          Constraints: { EncryptionContextEquals: { purpose: 'fuzz' } },
        },
        { setup: true, bind: { grantToken: 'GrantToken', grantId: 'GrantId' } },
      ),
      kmsStep(region, 'Encrypt', {
        KeyId: bound('keyId'),
        Plaintext: PLAINTEXT_B64,
        EncryptionContext: { purpose: 'fuzz' },
        GrantTokens: [bound('grantToken')],
      }),
      kmsStep(region, 'RetireGrant', { GrantToken: bound('grantToken') }, { setup: true }),
      mustFail(region, 'RetireGrant', { GrantToken: bound('grantToken') }, 'the grant was already retired'),
      mustFail(region, 'RevokeGrant', { KeyId: bound('keyId'), GrantId: bound('grantId') }, 'the grant was already retired'),
      kmsStep(region, 'ListGrants', { KeyId: bound('keyId') }),
    ],
  }
}

/** Rotation: old ciphertexts keep decrypting; a disabled key cannot be rotated. */
function rotationCycle(region: string): { label: string; steps: Step[] } {
  return {
    label: 'key states: on-demand rotation, then rotation of a disabled key',
    steps: [
      createKey(region, { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' }),
      kmsStep(
        region,
        'Encrypt',
        { KeyId: bound('keyId'), Plaintext: PLAINTEXT_B64 },
        { setup: true, bind: { ciphertext: 'CiphertextBlob' } },
      ),
      kmsStep(region, 'RotateKeyOnDemand', { KeyId: bound('keyId') }, { setup: true }),
      kmsStep(
        region,
        'Decrypt',
        { CiphertextBlob: bound('ciphertext') },
        { expect: { check: { path: 'Plaintext', equals: PLAINTEXT_B64 }, why: 'rotation keeps old material' } },
      ),
      kmsStep(region, 'ListKeyRotations', { KeyId: bound('keyId') }),
      kmsStep(region, 'DisableKey', { KeyId: bound('keyId') }, { setup: true }),
      mustFail(region, 'RotateKeyOnDemand', { KeyId: bound('keyId') }, 'the key is disabled', [
        'DisabledException',
        'KMSInvalidStateException',
      ]),
      mustFail(region, 'EnableKeyRotation', { KeyId: bound('keyId') }, 'the key is disabled', [
        'DisabledException',
        'KMSInvalidStateException',
      ]),
    ],
  }
}

/** Asymmetric and HMAC keys pending deletion: nothing may use them. */
function pendingDeletionUse(region: string, rng: Prng): { label: string; steps: Step[] } {
  const spec = rng.pick<Spec>([
    { keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' },
    { keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC' },
    { keySpec: 'ECC_NIST_P256', keyUsage: 'KEY_AGREEMENT' },
  ])
  const use = useKey(spec, bound('keyId'))
  const steps: Step[] = [
    createKey(region, spec),
    kmsStep(region, 'ScheduleKeyDeletion', { KeyId: bound('keyId'), PendingWindowInDays: 30 }, { setup: true }),
    mustFail(region, use.operation, use.input, 'the key is pending deletion', ['KMSInvalidStateException']),
  ]
  if (spec.keyUsage !== 'GENERATE_VERIFY_MAC')
    steps.push(mustFail(region, 'GetPublicKey', { KeyId: bound('keyId') }, 'the key is pending deletion', ['KMSInvalidStateException']))
  steps.push(
    kmsStep(region, 'CancelKeyDeletion', { KeyId: bound('keyId') }, { setup: true }),
    expectState(region, 'Disabled', 'cancelled deletion of a key with material'),
  )
  return { label: `key states: ${spec.keySpec} ${spec.keyUsage} pending deletion`, steps }
}

/** A multi-Region key replicated, deleted while it has a replica, its primary moved. */
function multiRegionCycle(primary: string, secondary: string): { label: string; steps: Step[] } {
  return {
    label: 'key states: multi-Region key replicated, deletion scheduled and cancelled, primary moved',
    steps: [
      createKey(primary, { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' }, { MultiRegion: true }),
      kmsStep(
        primary,
        'Encrypt',
        { KeyId: bound('keyId'), Plaintext: PLAINTEXT_B64 },
        { setup: true, bind: { ciphertext: 'CiphertextBlob' } },
      ),
      kmsStep(primary, 'ReplicateKey', { KeyId: bound('keyId'), ReplicaRegion: secondary }, { setup: true }),
      { ...kmsStep(secondary, 'DescribeKey', { KeyId: bound('keyId') }), waitMs: 300 },
      kmsStep(secondary, 'Decrypt', { CiphertextBlob: bound('ciphertext') }),
      kmsStep(primary, 'TrentAdmin.DescribeReplication', { KeyId: bound('keyId') }),
      kmsStep(primary, 'ScheduleKeyDeletion', { KeyId: bound('keyId'), PendingWindowInDays: 7 }),
      kmsStep(primary, 'CancelKeyDeletion', { KeyId: bound('keyId') }),
      kmsStep(primary, 'EnableKey', { KeyId: bound('keyId') }),
      kmsStep(primary, 'UpdatePrimaryRegion', { KeyId: bound('keyId'), PrimaryRegion: secondary }),
      { ...kmsStep(secondary, 'TrentAdmin.DescribeReplication', { KeyId: bound('keyId') }), waitMs: 300 },
      kmsStep(secondary, 'Encrypt', { KeyId: bound('keyId'), Plaintext: PLAINTEXT_B64 }),
    ],
  }
}

export function keyStateSequence(index: number, rng: Prng, regions: Regions): FuzzCase {
  const region = regions.primary
  const choices: [number, () => { label: string; steps: Step[]; values?: Record<string, string> }][] = [
    [3, () => externalCancelledDeletion(region, rng)],
    [2, () => disableAndDelete(region)],
    // Each import cycle makes three RSA wrapping key pairs (a fifth of a second of CPU each).
    [0.5, () => importCycle(region, rng)],
    [1, () => aliasCycle(region, rng)],
    [1, () => grantCycle(region)],
    [1, () => rotationCycle(region)],
    [1, () => pendingDeletionUse(region, rng)],
  ]
  const secondary = regions.secondary
  if (secondary !== undefined) choices.push([1, () => multiRegionCycle(region, secondary)])
  const sequence = rng.weighted(choices)()
  return {
    index,
    category: 'structured',
    label: sequence.label,
    steps: sequence.steps,
    ...(sequence.values !== undefined ? { values: sequence.values } : {}),
  }
}
