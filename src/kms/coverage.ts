/**
 * How much of the AWS KMS model Trent serves: for every enum an operation's input can
 * carry, the values Trent implements and those it refuses on purpose, each with its
 * reason; and the operations of the model it refuses. test/unit/model-coverage.test.ts
 * fails when the model (tools/gen-kms-model.mjs) has a value or operation that is in
 * neither list, so a new AWS feature is either built or refused with a reason, never
 * half there. docs/spec/kms-model.md gives the same reasons for people.
 *
 * @module
 */
import { ENCRYPTION_ALGORITHMS, KEY_PAIR_SPECS, KEY_SPECS, MAC_ALGORITHMS, SIGNING_ALGORITHMS, keyUsagesFor } from '../wire/key-specs.js'
import { GRANT_OPERATIONS } from './grants.js'

const CHINA_REGIONS_ONLY = 'AWS offers SM2 only in its China Regions; Trent does not offer it.'
const NO_CUSTOM_KEY_STORES = 'Trent has no custom key stores (AWS CloudHSM or external key stores): every key lives in its region HSM.'

/** Enum name → the values Trent implements. */
export const IMPLEMENTED_ENUM_VALUES: Readonly<Record<string, readonly string[]>> = {
  KeySpec: KEY_SPECS,
  // The deprecated twin of KeySpec, whose enum stopped growing before Ed25519, ML-DSA and ML-KEM.
  CustomerMasterKeySpec: KEY_SPECS.filter((spec) => !spec.startsWith('ML_') && spec !== 'ECC_NIST_EDWARDS25519'),
  KeyUsageType: [...new Set(KEY_SPECS.flatMap((spec) => keyUsagesFor(spec)))],
  OriginType: ['AWS_KMS', 'EXTERNAL'],
  SigningAlgorithmSpec: SIGNING_ALGORITHMS,
  EncryptionAlgorithmSpec: ['SYMMETRIC_DEFAULT', ...ENCRYPTION_ALGORITHMS],
  MacAlgorithmSpec: MAC_ALGORITHMS,
  KeyAgreementAlgorithmSpec: ['ECDH'],
  EncapsulationAlgorithmSpec: ['ML_KEM'],
  DataKeySpec: ['AES_256', 'AES_128'],
  DataKeyPairSpec: KEY_PAIR_SPECS,
  GrantOperation: [...GRANT_OPERATIONS],
  MessageType: ['RAW', 'DIGEST', 'EXTERNAL_MU'],
  AlgorithmSpec: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
  WrappingKeySpec: ['RSA_2048', 'RSA_3072', 'RSA_4096'],
  ExpirationModelType: ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'],
  ImportType: ['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL'],
  IncludeKeyMaterial: ['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY'],
  KeyEncryptionMechanism: ['RSAES_OAEP_SHA_256'],
  DryRunModifierType: ['IGNORE_CIPHERTEXT'],
}

/** Enum name → value → why Trent refuses it. */
export const REFUSED_ENUM_VALUES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  KeySpec: { SM2: CHINA_REGIONS_ONLY },
  CustomerMasterKeySpec: { SM2: CHINA_REGIONS_ONLY },
  OriginType: { AWS_CLOUDHSM: NO_CUSTOM_KEY_STORES, EXTERNAL_KEY_STORE: NO_CUSTOM_KEY_STORES },
  SigningAlgorithmSpec: { SM2DSA: CHINA_REGIONS_ONLY },
  EncryptionAlgorithmSpec: { SM2PKE: CHINA_REGIONS_ONLY },
  DataKeyPairSpec: { SM2: CHINA_REGIONS_ONLY },
  AlgorithmSpec: {
    RSAES_PKCS1_V1_5: 'AWS withdrew RSAES_PKCS1_V1_5 as a wrapping algorithm for key material in 2023.',
    SM2PKE: CHINA_REGIONS_ONLY,
  },
  WrappingKeySpec: { SM2: CHINA_REGIONS_ONLY },
  CustomKeyStoreType: { AWS_CLOUDHSM: NO_CUSTOM_KEY_STORES, EXTERNAL_KEY_STORE: NO_CUSTOM_KEY_STORES },
  XksProxyConnectivityType: { PUBLIC_ENDPOINT: NO_CUSTOM_KEY_STORES, VPC_ENDPOINT_SERVICE: NO_CUSTOM_KEY_STORES },
}

/** Operations of the model that Trent answers with UnsupportedOperationException, and why. */
export const REFUSED_OPERATIONS: Readonly<Record<string, string>> = {
  // None: every operation of the model is served (the custom key store ones answer as for
  // an account without custom key stores).
}
