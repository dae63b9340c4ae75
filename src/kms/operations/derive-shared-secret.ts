import { KmsError } from '../../wire/errors.js'
import { keyAgreementAlgorithmsFor } from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { checkAlgorithm, hsmErrorCode, keyForUse, rejectDryRun } from '../crypto-keys.js'
import { base64, type Operation } from '../operation.js'

export const deriveSharedSecret: Operation<'DeriveSharedSecret'> = {
  name: 'DeriveSharedSecret',
  members: [
    'KeyId',
    'KeyAgreementAlgorithm',
    'PublicKey',
    'GrantTokens',
    'DryRun',
    'Recipient.KeyEncryptionAlgorithm',
    'Recipient.AttestationDocument',
  ],
  access: keyAccess('DeriveSharedSecret', { allowAlias: true, conditionMembers: { 'kms:KeyAgreementAlgorithm': 'KeyAgreementAlgorithm' } }),
  async handle(kms, input) {
    const { key, arn, material } = keyForUse(kms, input.KeyId, 'DeriveSharedSecret', 'KEY_AGREEMENT')
    const algorithm = checkAlgorithm<'ECDH'>(input, 'KeyAgreementAlgorithm', key, keyAgreementAlgorithmsFor(key.keySpec))
    if (input.Recipient !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.')
    }
    const peerPublicKey = input.PublicKey ?? new Uint8Array()
    rejectDryRun(input)
    try {
      const secret = await kms.hsm.keyOperation('deriveSharedSecret', { key: kms.refOf(material), peerPublicKey })
      return { KeyId: arn, SharedSecret: base64(secret), KeyAgreementAlgorithm: algorithm, KeyOrigin: key.origin }
    } catch (err) {
      if (hsmErrorCode(err) === 'INVALID_PUBLIC_KEY') {
        throw new KmsError(
          'ValidationException',
          `PublicKey is not a valid ${key.keySpec} public key in DER-encoded SubjectPublicKeyInfo form.`,
        )
      }
      throw err
    }
  },
}
