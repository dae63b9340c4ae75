import { encryptionAlgorithmsFor, maxRsaOaepPlaintextBytes, type AsymmetricEncryptionAlgorithm } from '../../wire/key-specs.js'
import { KmsError } from '../../wire/errors.js'
import { keyAccess } from '../access.js'
import { checkAlgorithm, encodedContext, keyForUse, rejectContextForAsymmetric, rejectDryRun } from '../crypto-keys.js'
import { base64, type Operation } from '../operation.js'

export const encrypt: Operation<'Encrypt'> = {
  name: 'Encrypt',
  members: ['KeyId', 'Plaintext', 'EncryptionContext', 'GrantTokens', 'EncryptionAlgorithm', 'DryRun'],
  access: keyAccess('Encrypt', {
    allowAlias: true,
    contextMember: 'EncryptionContext',
    conditionMembers: { 'kms:EncryptionAlgorithm': 'EncryptionAlgorithm' },
  }),
  async handle(kms, input) {
    const plaintext = input.Plaintext ?? new Uint8Array()
    const usable = keyForUse(kms, input.KeyId, 'Encrypt', 'ENCRYPT_DECRYPT')
    const { key, arn, material } = usable
    const algorithm = checkAlgorithm<string>(input, 'EncryptionAlgorithm', key, encryptionAlgorithmsFor(key.keySpec), 'SYMMETRIC_DEFAULT')
    if (key.keySpec === 'SYMMETRIC_DEFAULT') {
      const context = encodedContext(input, 'EncryptionContext')
      rejectDryRun(input)
      const blob = await kms.hsm.encrypt(kms.refOf(material), plaintext, context)
      return { CiphertextBlob: base64(blob), KeyId: arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
    }
    //= reference §4.9: RSA keys encrypt with RSAES-OAEP; the ciphertext is the bare RSA output.
    rejectContextForAsymmetric(input, 'EncryptionContext')
    const rsaAlgorithm = algorithm as AsymmetricEncryptionAlgorithm
    const limit = maxRsaOaepPlaintextBytes(key.keySpec, rsaAlgorithm)
    if (plaintext.length > limit) {
      throw new KmsError('ValidationException', `Plaintext is too long for ${key.keySpec} with ${rsaAlgorithm}: at most ${limit} bytes.`)
    }
    rejectDryRun(input)
    const ciphertext = await kms.hsm.keyOperation('asymmetricEncrypt', { key: kms.refOf(material), algorithm: rsaAlgorithm, plaintext })
    return { CiphertextBlob: base64(ciphertext), KeyId: arn, EncryptionAlgorithm: rsaAlgorithm }
  },
}
