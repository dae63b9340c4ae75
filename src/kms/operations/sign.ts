import { KmsError } from '../../wire/errors.js'
import { digestLengthOf, signingAlgorithmsFor, type MessageType, type SigningAlgorithm } from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { checkAlgorithm, keyForUse, rejectDryRun, type UsableKey } from '../crypto-keys.js'
import type { SignRequest, VerifyRequest } from '../../wire/kms-model-types.js'
import { base64, type Operation } from '../operation.js'

export interface SigningRequest {
  usable: UsableKey
  algorithm: SigningAlgorithm
  messageType: MessageType
  message: Uint8Array
}

/** What Sign and Verify check alike: the key, its algorithm, and a digest's length. */
export function signingRequest(kms: Parameters<typeof keyForUse>[0], input: SignRequest | VerifyRequest, operation: string): SigningRequest {
  const usable = keyForUse(kms, input.KeyId, operation, 'SIGN_VERIFY')
  const algorithm = checkAlgorithm<SigningAlgorithm>(input, 'SigningAlgorithm', usable.key, signingAlgorithmsFor(usable.key.keySpec))
  const requested = input.MessageType ?? 'RAW'
  if (requested !== 'RAW' && requested !== 'DIGEST') {
    // EXTERNAL_MU is ML-DSA's precomputed μ (FIPS 204 §6.2); no key spec Trent offers signs
    // that way, so it is refused here rather than reaching the HSM (docs/errors.md).
    throw new KmsError('ValidationException', `MessageType ${requested} is not valid for signing algorithm ${algorithm}.`)
  }
  const messageType: MessageType = requested
  const message = input.Message ?? new Uint8Array()
  if (messageType === 'DIGEST' && message.length !== digestLengthOf(algorithm)) {
    throw new KmsError('ValidationException', `Digest is invalid length for algorithm ${algorithm}.`)
  }
  return { usable, algorithm, messageType, message }
}

export const sign: Operation<'Sign'> = {
  name: 'Sign',
  members: ['KeyId', 'Message', 'MessageType', 'GrantTokens', 'SigningAlgorithm', 'DryRun'],
  access: keyAccess('Sign', {
    allowAlias: true,
    conditionMembers: { 'kms:SigningAlgorithm': 'SigningAlgorithm', 'kms:MessageType': 'MessageType' },
  }),
  async handle(kms, input) {
    const { usable, algorithm, messageType, message } = signingRequest(kms, input, 'Sign')
    rejectDryRun(input)
    const signature = await kms.hsm.keyOperation('sign', { key: kms.refOf(usable.material), algorithm, messageType, message })
    return { KeyId: usable.arn, Signature: base64(signature), SigningAlgorithm: algorithm }
  },
}
