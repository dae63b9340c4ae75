/**
 * Structured requests: every operation of the model (served or not) and Trent's own
 * `TrentAdmin.*` operations, member by member.
 *
 * A case starts from a request that makes sense for the operation and the key pool (a
 * Sign with a signing key and one of its algorithms, a Decrypt of a real ciphertext with
 * its context, a PutKeyPolicy on a scratch key), so that requests get past validation
 * and reach deep into the service; then 0 to 3 members are broken (values.ts), or the
 * body as a whole is (not an object, truncated, nested, too large, the wrong content
 * type or target). A request with a certainly invalid member, `DryRun: true`, an
 * operation Trent does not serve or a target that names no operation must fail.
 *
 * Requests that change keys (disable, schedule deletion, put a policy, import, rotate,
 * replicate, move the primary) only ever touch scratch keys, so the pool the other
 * categories rely on stays what fixtures.ts made it.
 *
 * @module
 */
import { ADMIN_OPERATIONS, MODEL_OPERATIONS, SERVED_OPERATIONS, inputShapeOf, membersOf, shapeNamed, type MemberInfo } from '../model.js'
import {
  ENCRYPTION_CONTEXT,
  POOL_GRANT_OPERATIONS,
  RSA_ENCRYPTION_ALGORITHMS,
  curveOf,
  digestLengthOf,
  fixture,
  macAlgorithmOf,
  rsaMaxPlaintext,
  signingAlgorithmsOf,
  type KeySlot,
} from '../pool.js'
import type { Prng } from '../prng.js'
import { withMember, type FuzzCase, type Template } from '../recipe.js'
import { keyStateSequence } from './key-states.js'
import {
  base64Of,
  encryptionContext,
  fixtureBytes,
  grantTokens,
  keyPolicy,
  keyReference,
  pickSlot,
  ref,
  strayKeyReference,
  type Regions,
} from './pool-values.js'
import { ADMIN_TARGET_PREFIX, KMS_TARGET_PREFIX, kmsStep, oneStepCase } from './steps.js'
import { REMOVE, breakValue, unknownMember, validValue } from './values.js'

interface Skeleton {
  input: Record<string, Template>
  region: string
  notes: string[]
}

const isSymmetricEncryption = (slot: KeySlot): boolean => slot.keySpec === 'SYMMETRIC_DEFAULT' && slot.keyUsage === 'ENCRYPT_DECRYPT'
const hasMaterial = (slot: KeySlot): boolean => slot.state !== 'PendingImport'
const isAsymmetric = (slot: KeySlot): boolean => slot.keySpec.startsWith('RSA_') || slot.keySpec.startsWith('ECC_')

/** A key of the pool for a request that only reads or uses keys; rarely, a KeyId that names none. */
function usableKey(
  rng: Prng,
  regions: Regions,
  predicate: (slot: KeySlot) => boolean,
  notes: string[],
): { slot: KeySlot; reference: Template } {
  const slot = pickSlot(rng, predicate, regions)
  if (rng.chance(0.05)) {
    const stray = strayKeyReference(rng)
    notes.push(`KeyId: ${stray.note}`)
    return { slot, reference: stray.value }
  }
  return { slot, reference: keyReference(rng, slot) }
}

/** A scratch key, for requests that change keys. */
function scratchKey(
  rng: Prng,
  regions: Regions,
  predicate: (slot: KeySlot) => boolean = () => true,
): { slot: KeySlot; reference: Template } {
  const slot = pickSlot(rng, (candidate) => candidate.scratch && predicate(candidate), regions)
  return { slot, reference: keyReference(rng, slot) }
}

function randomPlaintext(rng: Prng, max: number): string {
  return base64Of(
    rng.bytes(
      rng.weighted([
        [4, () => rng.int(1, 64)],
        [1, () => rng.int(1, max)],
        [1, () => max],
      ] as const)(),
    ),
  )
}

/** KeySpec and KeyUsage of a new key; RSA (slow to make) seldom. */
function newKeySpec(rng: Prng): { KeySpec: string; KeyUsage: string } {
  return rng.weighted<{ KeySpec: string; KeyUsage: string }>([
    [30, { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' }],
    [4, { KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' }],
    [4, { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }],
    [4, { KeySpec: 'HMAC_384', KeyUsage: 'GENERATE_VERIFY_MAC' }],
    [4, { KeySpec: 'HMAC_512', KeyUsage: 'GENERATE_VERIFY_MAC' }],
    [6, { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }],
    [4, { KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' }],
    [3, { KeySpec: 'ECC_NIST_P521', KeyUsage: 'SIGN_VERIFY' }],
    [3, { KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' }],
    [3, { KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }],
    [2, { KeySpec: 'ECC_NIST_P384', KeyUsage: 'KEY_AGREEMENT' }],
    [1, { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }],
    [1, { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }],
    [0.1, { KeySpec: 'RSA_3072', KeyUsage: 'SIGN_VERIFY' }],
    [0.03, { KeySpec: 'RSA_4096', KeyUsage: 'ENCRYPT_DECRYPT' }],
    [2, { KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' }],
    [1, { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'SIGN_VERIFY' }],
    [1, { KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' }],
    [1, { KeySpec: 'ML_DSA_44', KeyUsage: 'SIGN_VERIFY' }],
    [1, { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }],
  ])
}

/** A data key pair spec; RSA seldom (a 4096-bit pair takes the server a second). */
function dataKeyPairSpec(rng: Prng): string {
  return rng.weighted<string>([
    [8, 'ECC_NIST_P256'],
    [4, 'ECC_NIST_P384'],
    [2, 'ECC_NIST_P521'],
    [2, 'ECC_SECG_P256K1'],
    [0.5, 'RSA_2048'],
    [0.05, 'RSA_3072'],
    [0.01, 'RSA_4096'],
    [0.5, 'SM2'],
    [0.5, 'ECC_NIST_EDWARDS25519'],
  ])
}

function tags(rng: Prng): Template {
  return Array.from({ length: rng.int(1, 4) }, () => ({
    TagKey: `fuzz-${rng.string(4, 'abcdef')}`,
    TagValue: rng.string(rng.int(0, 12), 'xyz012'),
  }))
}

function maybe(rng: Prng, probability: number, input: Record<string, Template>, name: string, value: () => Template): void {
  if (rng.chance(probability)) withMember(input, name, value())
}

/** A request that makes sense for `operation` and the pool, before anything is broken. */
function skeletonOf(operation: string, rng: Prng, regions: Regions): Skeleton {
  const notes: string[] = []
  const input: Record<string, Template> = {}
  let region = regions.primary
  const set = (name: string, value: Template): void => withMember(input, name, value)

  switch (operation) {
    case 'Encrypt': {
      const { slot, reference } = usableKey(rng, regions, (s) => s.keyUsage === 'ENCRYPT_DECRYPT', notes)
      set('KeyId', reference)
      if (slot.keySpec === 'SYMMETRIC_DEFAULT') {
        set('Plaintext', randomPlaintext(rng, 4096))
        maybe(rng, 0.6, input, 'EncryptionContext', () => encryptionContext(rng))
        maybe(rng, 0.3, input, 'EncryptionAlgorithm', () => 'SYMMETRIC_DEFAULT')
      } else {
        const algorithm = rng.pick(RSA_ENCRYPTION_ALGORITHMS)
        set('Plaintext', randomPlaintext(rng, rsaMaxPlaintext(slot.keySpec, algorithm)))
        set('EncryptionAlgorithm', algorithm)
      }
      maybe(rng, 0.2, input, 'GrantTokens', () => grantTokens(rng))
      break
    }
    case 'Decrypt': {
      const slot = pickSlot(rng, (s) => s.keyUsage === 'ENCRYPT_DECRYPT' && hasMaterial(s), regions)
      if (slot.keySpec === 'SYMMETRIC_DEFAULT') {
        const choice = rng.int(0, 2)
        set(
          'CiphertextBlob',
          fixtureBytes(
            choice === 0
              ? fixture.ciphertext(slot.name)
              : choice === 1
                ? fixture.ciphertextNoContext(slot.name)
                : fixture.dataKey(slot.name),
          ),
        )
        if (choice !== 1) set('EncryptionContext', { ...ENCRYPTION_CONTEXT })
        if (slot.replicated === true && regions.secondary !== undefined && rng.chance(0.3)) region = regions.secondary
      } else {
        set('CiphertextBlob', fixtureBytes(fixture.ciphertext(slot.name)))
        set('EncryptionAlgorithm', 'RSAES_OAEP_SHA_256')
      }
      if (slot.keySpec !== 'SYMMETRIC_DEFAULT' || rng.chance(0.5))
        set('KeyId', keyReference(rng, slot, { secondaryRegion: region !== regions.primary }))
      maybe(rng, 0.2, input, 'GrantTokens', () => grantTokens(rng))
      maybe(rng, 0.05, input, 'DryRunModifiers', () => ['IGNORE_CIPHERTEXT'])
      break
    }
    case 'ReEncrypt': {
      const source = pickSlot(rng, (s) => isSymmetricEncryption(s) && hasMaterial(s) && !s.scratch, regions)
      set('CiphertextBlob', fixtureBytes(fixture.ciphertext(source.name)))
      set('SourceEncryptionContext', { ...ENCRYPTION_CONTEXT })
      maybe(rng, 0.3, input, 'SourceKeyId', () => keyReference(rng, source))
      const destination = pickSlot(rng, (s) => s.keyUsage === 'ENCRYPT_DECRYPT', regions)
      set('DestinationKeyId', keyReference(rng, destination))
      if (destination.keySpec === 'SYMMETRIC_DEFAULT') maybe(rng, 0.5, input, 'DestinationEncryptionContext', () => encryptionContext(rng))
      else set('DestinationEncryptionAlgorithm', rng.pick(RSA_ENCRYPTION_ALGORITHMS))
      break
    }
    case 'GenerateDataKey':
    case 'GenerateDataKeyWithoutPlaintext': {
      set('KeyId', usableKey(rng, regions, isSymmetricEncryption, notes).reference)
      if (rng.chance(0.6)) set('KeySpec', rng.pick(['AES_256', 'AES_128']))
      else set('NumberOfBytes', rng.int(1, 1024))
      maybe(rng, 0.5, input, 'EncryptionContext', () => encryptionContext(rng))
      break
    }
    case 'GenerateDataKeyPair':
    case 'GenerateDataKeyPairWithoutPlaintext': {
      set('KeyId', usableKey(rng, regions, (s) => s.keyUsage === 'ENCRYPT_DECRYPT', notes).reference)
      set('KeyPairSpec', dataKeyPairSpec(rng))
      maybe(rng, 0.5, input, 'EncryptionContext', () => encryptionContext(rng))
      break
    }
    case 'GenerateMac': {
      const { slot, reference } = usableKey(rng, regions, (s) => s.keyUsage === 'GENERATE_VERIFY_MAC', notes)
      set('KeyId', reference)
      set('MacAlgorithm', slot.keySpec.startsWith('HMAC_') ? macAlgorithmOf(slot.keySpec) : 'HMAC_SHA_256')
      set('Message', randomPlaintext(rng, 4096))
      break
    }
    case 'VerifyMac': {
      const slot = pickSlot(rng, (s) => s.keyUsage === 'GENERATE_VERIFY_MAC' && hasMaterial(s) && !s.scratch, regions)
      set('KeyId', keyReference(rng, slot))
      set('MacAlgorithm', macAlgorithmOf(slot.keySpec))
      set('Message', ref(fixture.message))
      set('Mac', fixtureBytes(fixture.mac(slot.name)))
      break
    }
    case 'Sign': {
      const { slot, reference } = usableKey(rng, regions, (s) => s.keyUsage === 'SIGN_VERIFY', notes)
      set('KeyId', reference)
      const algorithm = rng.pick(signingAlgorithmsOf(slot.keySpec).length > 0 ? signingAlgorithmsOf(slot.keySpec) : ['ECDSA_SHA_256'])
      set('SigningAlgorithm', algorithm)
      if (rng.chance(0.3)) {
        set('MessageType', 'DIGEST')
        set('Message', base64Of(rng.bytes(digestLengthOf(algorithm))))
      } else {
        set('Message', randomPlaintext(rng, 4096))
        maybe(rng, 0.3, input, 'MessageType', () => 'RAW')
      }
      break
    }
    case 'Verify': {
      const slot = pickSlot(rng, (s) => s.keyUsage === 'SIGN_VERIFY' && hasMaterial(s) && s.state === 'Enabled' && !s.scratch, regions)
      set('KeyId', keyReference(rng, slot))
      set('SigningAlgorithm', signingAlgorithmsOf(slot.keySpec)[0] ?? 'ECDSA_SHA_256')
      set('Message', ref(fixture.message))
      set('Signature', fixtureBytes(fixture.signature(slot.name)))
      maybe(rng, 0.3, input, 'MessageType', () => 'RAW')
      break
    }
    case 'DeriveSharedSecret': {
      const { slot, reference } = usableKey(rng, regions, (s) => s.keyUsage === 'KEY_AGREEMENT', notes)
      set('KeyId', reference)
      set('KeyAgreementAlgorithm', 'ECDH')
      set('PublicKey', fixtureBytes(fixture.peerPublicKey(curveOf(slot.keySpec) ?? 'P-256')))
      break
    }
    case 'GetPublicKey':
      set('KeyId', usableKey(rng, regions, isAsymmetric, notes).reference)
      maybe(rng, 0.2, input, 'GrantTokens', () => grantTokens(rng))
      break
    case 'GenerateRandom':
      maybe(rng, 0.9, input, 'NumberOfBytes', () => rng.int(1, 1024))
      break
    case 'DescribeKey':
    case 'GetKeyRotationStatus':
    case 'ListKeyPolicies':
    case 'ListResourceTags':
    case 'ListGrants':
    case 'ListKeyRotations':
    case 'GetKeyPolicy': {
      const { slot, reference } = usableKey(rng, regions, () => true, notes)
      set(
        'KeyId',
        slot.replicated === true && regions.secondary !== undefined && rng.chance(0.2)
          ? keyReference(rng, slot, { secondaryRegion: true })
          : reference,
      )
      if (operation === 'DescribeKey') maybe(rng, 0.2, input, 'GrantTokens', () => grantTokens(rng))
      if (operation === 'GetKeyPolicy') maybe(rng, 0.5, input, 'PolicyName', () => 'default')
      if (operation.startsWith('List')) maybe(rng, 0.4, input, 'Limit', () => rng.int(1, 1000))
      if (operation === 'ListKeyRotations')
        maybe(rng, 0.3, input, 'IncludeKeyMaterial', () => rng.pick(['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY']))
      if (operation === 'ListGrants') maybe(rng, 0.2, input, 'GrantId', () => ref(fixture.grantId('sym')))
      break
    }
    case 'ListKeys':
    case 'ListAliases':
      maybe(rng, 0.5, input, 'Limit', () => rng.int(1, 1000))
      maybe(rng, 0.1, input, 'Marker', () => rng.string(rng.int(1, 40), 'abcdefABCDEF0123456789=+/'))
      if (operation === 'ListAliases') maybe(rng, 0.4, input, 'KeyId', () => usableKey(rng, regions, () => true, notes).reference)
      break
    case 'ListRetirableGrants':
      set('RetiringPrincipal', ref(fixture.rootArn))
      maybe(rng, 0.3, input, 'Limit', () => rng.int(1, 100))
      break
    case 'CreateKey': {
      const spec = newKeySpec(rng)
      set('KeySpec', spec.KeySpec)
      set('KeyUsage', spec.KeyUsage)
      maybe(rng, 0.2, input, 'Origin', () =>
        rng.weighted([
          [3, 'EXTERNAL'],
          [3, 'AWS_KMS'],
          [1, 'AWS_CLOUDHSM'],
          [1, 'EXTERNAL_KEY_STORE'],
        ] as const),
      )
      maybe(rng, 0.2, input, 'MultiRegion', () => true)
      maybe(rng, 0.3, input, 'Description', () => `fuzz ${rng.string(8, 'abcdef')}`)
      maybe(rng, 0.2, input, 'Tags', () => tags(rng))
      if (rng.chance(0.15)) {
        const policy = keyPolicy(rng)
        set('Policy', policy.value)
        notes.push(`Policy: ${policy.note}`)
        maybe(rng, 0.3, input, 'BypassPolicyLockoutSafetyCheck', () => rng.chance(0.5))
      }
      maybe(rng, 0.05, input, 'CustomerMasterKeySpec', () => spec.KeySpec)
      break
    }
    case 'EnableKey':
    case 'DisableKey':
    case 'CancelKeyDeletion':
    case 'DisableKeyRotation':
      set('KeyId', scratchKey(rng, regions).reference)
      break
    case 'ScheduleKeyDeletion':
      set('KeyId', scratchKey(rng, regions).reference)
      maybe(rng, 0.7, input, 'PendingWindowInDays', () => rng.int(7, 30))
      break
    case 'EnableKeyRotation':
      set('KeyId', scratchKey(rng, regions).reference)
      maybe(rng, 0.5, input, 'RotationPeriodInDays', () => rng.int(90, 2560))
      break
    case 'RotateKeyOnDemand':
      set('KeyId', scratchKey(rng, regions).reference)
      break
    case 'PutKeyPolicy': {
      set('KeyId', scratchKey(rng, regions).reference)
      const policy = keyPolicy(rng)
      set('Policy', policy.value)
      notes.push(`Policy: ${policy.note}`)
      maybe(rng, 0.5, input, 'PolicyName', () => 'default')
      maybe(rng, 0.2, input, 'BypassPolicyLockoutSafetyCheck', () => false)
      break
    }
    case 'UpdateKeyDescription':
      set('KeyId', scratchKey(rng, regions).reference)
      set('Description', rng.string(rng.int(0, 64), 'abcdef ghij'))
      break
    case 'TagResource':
      set('KeyId', scratchKey(rng, regions).reference)
      set('Tags', tags(rng))
      break
    case 'UntagResource':
      set('KeyId', scratchKey(rng, regions).reference)
      set('TagKeys', [`fuzz-${rng.string(4, 'abcdef')}`])
      break
    case 'CreateAlias':
    case 'UpdateAlias':
      set('AliasName', `alias/fuzz-scratch-${rng.int(0, 9)}`)
      set('TargetKeyId', scratchKey(rng, regions, (s) => s.state === 'Enabled').reference)
      break
    case 'DeleteAlias':
      set('AliasName', `alias/fuzz-scratch-${rng.int(0, 9)}`)
      break
    case 'CreateGrant': {
      const { slot, reference } = rng.chance(0.7)
        ? scratchKey(rng, regions)
        : { slot: pickSlot(rng, (s) => s.name === 'sym', regions), reference: ref(fixture.keyId('sym')) }
      set('KeyId', reference)
      set('GranteePrincipal', rng.pick<Template>([ref(fixture.rootArn), 'arn:aws:iam::111122223333:user/fuzz', 'kms.amazonaws.com']))
      const operations =
        slot.keyUsage === 'ENCRYPT_DECRYPT'
          ? POOL_GRANT_OPERATIONS
          : ['Sign', 'Verify', 'GenerateMac', 'VerifyMac', 'DescribeKey', 'DeriveSharedSecret']
      set('Operations', rng.sample(operations, rng.int(1, operations.length)))
      maybe(rng, 0.3, input, 'Constraints', () =>
        rng.chance(0.5) ? { EncryptionContextSubset: { purpose: 'fuzz' } } : { EncryptionContextEquals: { ...ENCRYPTION_CONTEXT } },
      )
      maybe(rng, 0.3, input, 'Name', () => `fuzz-grant-${rng.int(0, 5)}`)
      maybe(rng, 0.2, input, 'RetiringPrincipal', () => ref(fixture.rootArn))
      break
    }
    case 'RetireGrant':
      if (rng.chance(0.5)) set('GrantToken', ref(fixture.grantToken('scratch-sym-1')))
      else {
        set('KeyId', ref(fixture.keyArn('scratch-sym-1')))
        set('GrantId', rng.chance(0.5) ? ref(fixture.grantId('scratch-sym-1')) : rng.hex(64))
      }
      break
    case 'RevokeGrant':
      set('KeyId', ref(fixture.keyId('scratch-sym-1')))
      set('GrantId', rng.chance(0.3) ? ref(fixture.grantId('scratch-sym-1')) : rng.hex(64))
      break
    case 'GetParametersForImport':
      set('KeyId', scratchKey(rng, regions, (s) => s.origin === 'EXTERNAL').reference)
      set(
        'WrappingAlgorithm',
        rng.pick([
          'RSAES_OAEP_SHA_256',
          'RSAES_OAEP_SHA_1',
          'RSA_AES_KEY_WRAP_SHA_256',
          'RSA_AES_KEY_WRAP_SHA_1',
          'RSAES_PKCS1_V1_5',
          'SM2PKE',
        ]),
      )
      set(
        'WrappingKeySpec',
        rng.weighted([
          [40, 'RSA_2048'],
          [1, 'RSA_3072'],
          [0.1, 'RSA_4096'],
          [2, 'SM2'],
        ] as const),
      )
      break
    case 'ImportKeyMaterial': {
      const slot = pickSlot(rng, (s) => s.scratch && s.origin === 'EXTERNAL', regions)
      set('KeyId', keyReference(rng, slot))
      set('ImportToken', fixtureBytes(fixture.importToken(slot.name)))
      set('EncryptedKeyMaterial', {
        $fuzz: 'wrap',
        publicKey: fixture.importPublicKey(slot.name),
        material: fixture.material(slot.name),
        algorithm: 'RSAES_OAEP_SHA_256',
      })
      if (rng.chance(0.3)) {
        set('ExpirationModel', 'KEY_MATERIAL_EXPIRES')
        set('ValidTo', { $fuzz: 'epoch', offsetSeconds: rng.int(1, 400) * 86_400 })
      } else maybe(rng, 0.5, input, 'ExpirationModel', () => 'KEY_MATERIAL_DOES_NOT_EXPIRE')
      maybe(rng, 0.1, input, 'ImportType', () => rng.pick(['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL']))
      break
    }
    case 'DeleteImportedKeyMaterial':
      set('KeyId', scratchKey(rng, regions, (s) => s.origin === 'EXTERNAL').reference)
      break
    case 'ReplicateKey':
      set('KeyId', scratchKey(rng, regions, (s) => s.multiRegion === true).reference)
      set(
        'ReplicaRegion',
        rng.weighted<Template>([
          [4, regions.secondary ?? 'eu-west-1'],
          [1, regions.primary],
          [1, 'ap-south-1'],
        ]),
      )
      maybe(rng, 0.2, input, 'Description', () => 'fuzz replica')
      maybe(rng, 0.1, input, 'Tags', () => tags(rng))
      break
    case 'UpdatePrimaryRegion':
      set('KeyId', scratchKey(rng, regions, (s) => s.multiRegion === true).reference)
      set(
        'PrimaryRegion',
        rng.weighted<Template>([
          [4, regions.secondary ?? 'eu-west-1'],
          [1, regions.primary],
          [1, 'ap-south-1'],
        ]),
      )
      if (regions.secondary !== undefined && rng.chance(0.3)) region = regions.secondary
      break
    case 'TrentAdmin.DescribeReplication': {
      const slot = pickSlot(rng, (s) => s.multiRegion === true || rng.chance(0.2), regions)
      set('KeyId', keyReference(rng, slot))
      if (regions.secondary !== undefined && rng.chance(0.3)) region = regions.secondary
      break
    }
    default: {
      // Operations Trent does not serve, and admin operations with no known input: the model's view.
      const shape = inputShapeOf(operation)
      for (const member of membersOf(shape)) {
        if (member.required || rng.chance(0.4))
          set(
            member.name,
            member.name === 'KeyId' ? usableKey(rng, regions, () => true, notes).reference : validValue(member.shapeName, rng),
          )
      }
    }
  }
  return { input, region, notes }
}

/** Members as the model has them, for breaking; admin operations get the one member they read. */
function membersFor(operation: string): MemberInfo[] {
  if (operation.startsWith(ADMIN_TARGET_PREFIX)) {
    return [
      { name: 'KeyId', shapeName: 'KeyIdType', shape: shapeNamed('KeyIdType'), required: operation === 'TrentAdmin.DescribeReplication' },
    ]
  }
  return membersOf(inputShapeOf(operation))
}

/** Targets that name no operation, or name one in a way that must not work. */
function strangeTarget(rng: Prng, operation: string, admin: boolean): { target: string; note: string } {
  const candidates = [
    { target: `${KMS_TARGET_PREFIX}${operation.toLowerCase()}`, note: 'the operation in lower case' },
    { target: KMS_TARGET_PREFIX, note: 'no operation name' },
    { target: `${KMS_TARGET_PREFIX}${operation}.Extra`, note: 'a dotted suffix' },
    { target: `KMS.${operation}`, note: 'another service prefix' },
    { target: `TrentService${operation}`, note: 'no dot' },
    { target: `${KMS_TARGET_PREFIX}__proto__`, note: '__proto__' },
    { target: `${KMS_TARGET_PREFIX}constructor`, note: 'constructor' },
    { target: `${KMS_TARGET_PREFIX}hasOwnProperty`, note: 'hasOwnProperty' },
    { target: `${ADMIN_TARGET_PREFIX}__proto__`, note: 'admin __proto__' },
    { target: `${ADMIN_TARGET_PREFIX}constructor`, note: 'admin constructor' },
    {
      target: admin ? `${ADMIN_TARGET_PREFIX}${operation}x` : `${ADMIN_TARGET_PREFIX}${operation}`,
      note: admin ? 'an admin operation with a suffix' : 'a KMS operation under TrentAdmin',
    },
    { target: `${ADMIN_TARGET_PREFIX}Nope`, note: 'an unknown admin operation' },
    { target: 'TrentService.Encrypt\u0000', note: 'a NUL' },
  ]
  return rng.pick(candidates)
}

/**
 * Weights of operations that cost the server far more than the others: every
 * GetParametersForImport makes an RSA key pair, a fifth of a second of CPU here.
 */
const COSTLY_OPERATIONS: Readonly<Record<string, number>> = { GetParametersForImport: 0.1 }

/** Operations by how often they are picked: what Trent serves most, the rest of the model and Trent's own too. */
function operationWeights(): [number, string][] {
  const weights: [number, string][] = []
  for (const operation of MODEL_OPERATIONS)
    weights.push([COSTLY_OPERATIONS[operation] ?? (SERVED_OPERATIONS.has(operation) ? 1 : 0.3), operation])
  for (const admin of ADMIN_OPERATIONS) {
    // RotateReplicationSigningKey really rotates the region's signing key (and the launcher
    // pins the new one everywhere): a few dozen a run are plenty.
    const weight = admin === 'DescribeReplication' ? 1.5 : admin === 'RotateReplicationSigningKey' ? 0.05 : 0.2
    weights.push([weight, `${ADMIN_TARGET_PREFIX}${admin}`])
  }
  return weights
}
const OPERATION_WEIGHTS = operationWeights()

/** Whole-body breakage: the body as a whole is not what the operation reads. */
function brokenBody(
  rng: Prng,
  rendered: Template,
): { body: { json: Template } | { text: string } | { base64: string }; invalid: boolean; note: string; closeAllowed?: boolean } {
  return rng.weighted<() => ReturnType<typeof brokenBody>>([
    [1, () => ({ body: { text: '' }, invalid: false, note: 'an empty body' })],
    [
      2,
      () => ({
        body: { text: rng.pick(['null', '[]', '"string"', '1', 'true', '[{}]']) },
        invalid: true,
        note: 'a body that is not an object',
      }),
    ],
    [
      2,
      () => ({
        body: { text: rng.pick(['{"KeyId":"alias/x","Plaintext":"QUJD', '{"KeyId":', '{', '{"', '{"KeyId":"x",']) },
        invalid: true,
        note: 'truncated JSON',
      }),
    ],
    [1, () => ({ body: { json: [rendered, { $fuzz: 'raw', json: 'x' }] }, invalid: true, note: 'a list of the input and garbage' })],
    [1, () => ({ body: { text: `{"KeyId":"x"}garbage` }, invalid: true, note: 'trailing garbage' })],
    [
      1,
      () => ({ body: { json: { $fuzz: 'nest', depth: rng.pick([1000, 50_000]), kind: 'array' } }, invalid: true, note: 'nested arrays' }),
    ],
    [
      1,
      () => ({
        body: { json: { $fuzz: 'nest', depth: rng.pick([1000, 50_000]), kind: 'object' } },
        invalid: false,
        note: 'nested objects',
      }),
    ],
    [
      1,
      () => ({
        body: { base64: Buffer.from('{"KeyId":"\u00ff\u00fe"}', 'latin1').toString('base64') },
        invalid: false,
        note: 'a body that is not UTF-8',
      }),
    ],
    [1, () => ({ body: { base64: Buffer.from('{"KeyId":"x"}', 'utf16le').toString('base64') }, invalid: true, note: 'a UTF-16 body' })],
    [1, () => ({ body: { text: '\ufeff{}' }, invalid: false, note: 'a byte order mark' })],
    [1, () => ({ body: { text: ' \n\t{ } \r\n' }, invalid: false, note: 'whitespace around an empty object' })],
    [
      1,
      () => ({
        body: { json: { $fuzz: 'raw', json: '{"KeyId":"a","KeyId":"b","KeyId":null}' } },
        invalid: false,
        note: 'duplicate members',
      }),
    ],
    [
      1,
      () => ({
        body: { json: { $fuzz: 'raw', json: '{"__proto__":{"KeyId":"polluted","admin":true},"constructor":{"prototype":{"x":1}}}' } },
        invalid: false,
        note: 'prototype pollution members',
      }),
    ],
    [
      0.3,
      () => ({ body: { json: { Plaintext: { $fuzz: 'fill', length: 1_100_000, text: 'A' } } }, invalid: true, note: 'a body over 1 MiB' }),
    ],
  ])()
}

/** One structured case. */
export function structuredCase(index: number, rng: Prng, regions: Regions): FuzzCase {
  // Sequences are a dozen mutations each, every one a durable commit: a few go a long way.
  if (rng.chance(0.02)) return keyStateSequence(index, rng, regions)
  const operation = rng.weighted(OPERATION_WEIGHTS)
  const skeleton = skeletonOf(operation, rng, regions)
  const members = membersFor(operation)
  const notes = [...skeleton.notes]
  const input = skeleton.input
  if (members.some((member) => member.name === 'DryRun') && rng.chance(0.08)) {
    const dryRun = rng.chance(0.6)
    withMember(input, 'DryRun', dryRun)
    notes.push(`DryRun: ${dryRun}`)
  }
  let invalid = false
  let target = operation.includes('.') ? operation : `${KMS_TARGET_PREFIX}${operation}`
  let body: { json: Template } | { text: string } | { base64: string } = { json: input }
  let contentType: string | null | undefined
  let closeAllowed = false

  const mode = rng.weighted([
    [30, 'valid'],
    [55, 'members'],
    [8, 'body'],
    [4, 'target'],
    [3, 'content-type'],
  ] as const)
  if (mode === 'members') {
    const count = rng.weighted([
      [60, 1],
      [25, 2],
      [10, 3],
    ] as const)
    const chosen = rng.sample(members, count)
    for (const member of chosen) {
      const broken = breakValue(member, input[member.name], rng)
      if (broken.value === REMOVE) delete input[member.name]
      else withMember(input, member.name, broken.value)
      invalid ||= broken.invalid
      notes.push(`${member.name}: ${broken.note}`)
    }
    if (chosen.length === 0 || rng.chance(0.15)) {
      const extra = unknownMember(
        members.map((member) => member.name),
        rng,
      )
      withMember(input, extra.name, extra.value)
      notes.push(`an unknown member ${JSON.stringify(extra.name.slice(0, 20))}`)
    }
  } else if (mode === 'body') {
    const broken = brokenBody(rng, input)
    body = broken.body
    invalid ||= broken.invalid
    closeAllowed = broken.closeAllowed === true
    notes.push(broken.note)
  } else if (mode === 'target') {
    const strange = strangeTarget(rng, operation.replace(ADMIN_TARGET_PREFIX, ''), operation.startsWith(ADMIN_TARGET_PREFIX))
    target = strange.target
    invalid = true
    notes.push(`target: ${strange.note}`)
  } else if (mode === 'content-type') {
    const choice = rng.pick([
      { type: null, invalid: true, note: 'no Content-Type' },
      { type: 'application/json', invalid: true, note: 'application/json' },
      { type: 'application/x-amz-json-1.0', invalid: true, note: 'AWS JSON 1.0' },
      { type: 'application/x-amz-json-1.1; charset=utf-8', invalid: false, note: 'with a charset' },
      { type: 'APPLICATION/X-AMZ-JSON-1.1', invalid: false, note: 'in upper case' },
      { type: 'text/plain', invalid: true, note: 'text/plain' },
      { type: 'application/x-amz-json-1.1, text/html', invalid: false, note: 'a list of types' },
    ])
    contentType = choice.type
    invalid = choice.invalid
    notes.push(`Content-Type: ${choice.note}`)
  }

  const dryRun = 'json' in body && body.json === input && input.DryRun === true
  const admin = target.startsWith(ADMIN_TARGET_PREFIX)
  const knownAdmin = admin && ['TrentAdmin.DescribeReplication', 'TrentAdmin.RotateReplicationSigningKey'].includes(target)
  const served = (target.startsWith(KMS_TARGET_PREFIX) && SERVED_OPERATIONS.has(target.slice(KMS_TARGET_PREFIX.length))) || knownAdmin
  // An admin operation reads its body without the model, so only DescribeReplication's KeyId is known to be required.
  const mustFail = !served || dryRun || (invalid && (!admin || target === 'TrentAdmin.DescribeReplication'))
  const why = !served ? 'no such operation is served' : dryRun ? 'DryRun is true' : invalid ? 'the input breaks the model' : undefined
  const step = kmsStep(skeleton.region, target, 'json' in body ? body.json : null, {
    countAs: operation,
    ...(mustFail || closeAllowed
      ? {
          expect: {
            ...(mustFail ? { mustFail: true } : {}),
            ...(closeAllowed ? { closeAllowed: true } : {}),
            ...(why !== undefined ? { why } : {}),
          },
        }
      : {}),
    request: { ...('json' in body ? {} : { body }), ...(contentType !== undefined ? { contentType } : {}) },
  })
  const label = `${operation}${notes.length > 0 ? `: ${notes.join('; ')}` : ' (valid)'}`
  return oneStepCase(index, 'structured', label, step)
}
