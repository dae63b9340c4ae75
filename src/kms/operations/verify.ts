import { KmsError } from '../../wire/errors.js'
import { keyAccess } from '../access.js'
import { rejectDryRun } from '../crypto-keys.js'
import { type Operation } from '../operation.js'
import { signingRequest } from './sign.js'

export const verify: Operation<'Verify'> = {
  name: 'Verify',
  members: ['KeyId', 'Message', 'MessageType', 'Signature', 'SigningAlgorithm', 'GrantTokens', 'DryRun'],
  access: keyAccess('Verify', {
    allowAlias: true,
    conditionMembers: { 'kms:SigningAlgorithm': 'SigningAlgorithm', 'kms:MessageType': 'MessageType' },
  }),
  async handle(kms, input) {
    const { usable, algorithm, messageType, message } = signingRequest(kms, input, 'Verify')
    const signature = input.Signature ?? new Uint8Array()
    rejectDryRun(input)
    const valid = await kms.hsm.keyOperation('verify', { key: kms.refOf(usable.material), algorithm, messageType, message, signature })
    // AWS answers an invalid signature with an error, never with SignatureValid: false.
    if (!valid) throw new KmsError('KMSInvalidSignatureException')
    return { KeyId: usable.arn, SignatureValid: true, SigningAlgorithm: algorithm }
  },
}
