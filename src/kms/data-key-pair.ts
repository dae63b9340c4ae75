/**
 * GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a key pair made in the
 * HSM, its private key (PKCS#8 DER) encrypted under a symmetric KMS key, so that Decrypt
 * returns it.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import type { KeyPairSpec } from '../wire/key-specs.js'
import { KEY_PAIR_SPECS } from '../wire/key-specs.js'
import { encodedContext, keyForEncryption, rejectDryRun } from './crypto-keys.js'
import type { Kms } from './kms.js'
import type {
  GenerateDataKeyPairRequest,
  GenerateDataKeyPairResponse,
  GenerateDataKeyPairWithoutPlaintextRequest,
} from '../wire/kms-model-types.js'
import { base64 } from './operation.js'

/** GenerateDataKeyPairWithoutPlaintext answers the same without the private key in plaintext. */
export async function generateDataKeyPair(
  kms: Kms,
  input: GenerateDataKeyPairRequest | GenerateDataKeyPairWithoutPlaintextRequest,
  operation: string,
  includePlaintext: boolean,
): Promise<GenerateDataKeyPairResponse> {
  const keyPairSpec = input.KeyPairSpec
  if (!(KEY_PAIR_SPECS as readonly string[]).includes(keyPairSpec)) {
    throw new KmsError('UnsupportedOperationException', `KeyPairSpec ${keyPairSpec} is not supported in this region.`)
  }
  if ('Recipient' in input && input.Recipient !== undefined) {
    throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
  }
  const { arn, material } = keyForEncryption(kms, input.KeyId, operation)
  const context = encodedContext(input, 'EncryptionContext')
  rejectDryRun(input)
  const pair = await kms.hsm.keyOperation('generateDataKeyPair', {
    key: kms.refOf(material),
    keyPairSpec: keyPairSpec as KeyPairSpec,
    encodedContext: context,
    includePlaintext,
  })
  const out: GenerateDataKeyPairResponse = { PrivateKeyCiphertextBlob: base64(pair.privateKeyCiphertextBlob) }
  if (includePlaintext && pair.privateKeyPlaintext !== undefined) out.PrivateKeyPlaintext = base64(pair.privateKeyPlaintext)
  out.PublicKey = base64(pair.publicKey)
  out.KeyId = arn
  out.KeyPairSpec = keyPairSpec
  out.KeyMaterialId = material.materialId
  return out
}
