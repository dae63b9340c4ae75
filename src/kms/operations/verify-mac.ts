import { KmsError } from '../../wire/errors.js'
import { macAlgorithmsFor, type MacAlgorithm } from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { checkAlgorithm, keyForUse, rejectDryRun } from '../crypto-keys.js'
import { type Operation } from '../operation.js'

export const verifyMac: Operation<'VerifyMac'> = {
  name: 'VerifyMac',
  members: ['Message', 'KeyId', 'MacAlgorithm', 'Mac', 'GrantTokens', 'DryRun'],
  access: keyAccess('VerifyMac', { allowAlias: true, conditionMembers: { 'kms:MacAlgorithm': 'MacAlgorithm' } }),
  async handle(kms, input) {
    const { key, arn, material } = keyForUse(kms, input.KeyId, 'VerifyMac', 'GENERATE_VERIFY_MAC')
    const algorithm = checkAlgorithm<MacAlgorithm>(input, 'MacAlgorithm', key, macAlgorithmsFor(key.keySpec))
    const message = input.Message ?? new Uint8Array()
    const mac = input.Mac ?? new Uint8Array()
    rejectDryRun(input)
    // The comparison happens in the HSM, in constant time.
    const valid = await kms.hsm.keyOperation('verifyMac', { key: kms.refOf(material), algorithm, message, mac })
    if (!valid) throw new KmsError('KMSInvalidMacException')
    return { KeyId: arn, MacValid: true, MacAlgorithm: algorithm }
  },
}
