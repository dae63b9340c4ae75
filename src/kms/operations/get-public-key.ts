import { KmsError } from '../../wire/errors.js'
import {
  encapsulationAlgorithmsFor,
  encryptionAlgorithmsFor,
  isAsymmetric,
  keyAgreementAlgorithmsFor,
  signingAlgorithmsFor,
} from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { checkKeyState } from '../key-state.js'
import { base64, type Operation, type Output } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

export const getPublicKey: Operation<'GetPublicKey'> = {
  name: 'GetPublicKey',
  members: ['KeyId', 'GrantTokens'],
  access: keyAccess('GetPublicKey', { allowAlias: true }),
  async handle(kms, input) {
    const key = resolveKey(kms, input.KeyId, { allowAlias: true })
    const arn = kms.arnOf(key.keyId)
    checkKeyState('cryptographic', key.state, arn)
    if (!isAsymmetric(key.keySpec)) {
      throw new KmsError('UnsupportedOperationException', `${arn} key spec is ${key.keySpec} which is not valid for GetPublicKey.`)
    }
    const publicKey = await kms.hsm.keyOperation('getPublicKey', { key: kms.refOf(kms.currentMaterial(key)) })
    const out: Output = {
      KeyId: arn,
      PublicKey: base64(publicKey),
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
    }
    if (key.keyUsage === 'ENCRYPT_DECRYPT') out.EncryptionAlgorithms = encryptionAlgorithmsFor(key.keySpec)
    if (key.keyUsage === 'SIGN_VERIFY') out.SigningAlgorithms = signingAlgorithmsFor(key.keySpec)
    if (key.keyUsage === 'KEY_AGREEMENT') out.KeyAgreementAlgorithms = keyAgreementAlgorithmsFor(key.keySpec)
    if (key.keyUsage === 'ENCAPSULATE_DECAPSULATE') out.EncapsulationAlgorithms = encapsulationAlgorithmsFor(key.keySpec)
    return out
  },
}
