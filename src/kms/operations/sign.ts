import { KmsError } from '../../wire/errors.js'
import { digestLengthOf, messageTypesFor, signingAlgorithmsFor, type MessageType, type SigningAlgorithm } from '../../wire/key-specs.js'
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

/**
 * The message type a request names, which its algorithm must take (wire/key-specs.ts
 * messageTypesFor). AWS words the refusal by key spec where the spec decides it (ML-DSA
 * never takes a DIGEST) and by algorithm where the algorithm does (Ed25519's two); both
 * wordings as recorded against AWS (docs/errors.md). RSA and ECDSA keys, refusing only
 * EXTERNAL_MU, are worded as the ML-DSA case: by key spec.
 */
function checkMessageType(input: SignRequest | VerifyRequest, keySpec: string, algorithm: SigningAlgorithm): MessageType {
  const requested = input.MessageType ?? 'RAW'
  if (!messageTypesFor(algorithm).includes(requested)) {
    const subject = algorithm.startsWith('ED25519_') ? `algorithm ${algorithm}` : `key spec ${keySpec}`
    throw new KmsError('ValidationException', `Message type ${requested} is incompatible with ${subject}.`)
  }
  return requested
}

/** What Sign and Verify check alike: the key, its algorithm, the message type, and a digest's (or μ's) length. */
export function signingRequest(
  kms: Parameters<typeof keyForUse>[0],
  input: SignRequest | VerifyRequest,
  operation: string,
): SigningRequest {
  const usable = keyForUse(kms, input.KeyId, operation, 'SIGN_VERIFY')
  const algorithm = checkAlgorithm<SigningAlgorithm>(input, 'SigningAlgorithm', usable.key, signingAlgorithmsFor(usable.key.keySpec))
  const messageType = checkMessageType(input, usable.key.keySpec, algorithm)
  const message = input.Message ?? new Uint8Array()
  // A DIGEST must be the algorithm's hash length; an EXTERNAL_MU is ML-DSA's 64-byte μ.
  if (messageType !== 'RAW' && message.length !== digestLengthOf(algorithm)) {
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
