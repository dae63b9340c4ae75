import { macAlgorithmsFor, type MacAlgorithm } from '../../wire/key-specs.js'
import { keyAccess } from '../access.js'
import { checkAlgorithm, keyForUse, rejectDryRun } from '../crypto-keys.js'
import { base64, type Operation } from '../operation.js'

export const generateMac: Operation<'GenerateMac'> = {
  name: 'GenerateMac',
  members: ['Message', 'KeyId', 'MacAlgorithm', 'GrantTokens', 'DryRun'],
  access: keyAccess('GenerateMac', { allowAlias: true, conditionMembers: { 'kms:MacAlgorithm': 'MacAlgorithm' } }),
  async handle(kms, input) {
    const { key, arn, material } = keyForUse(kms, input.KeyId, 'GenerateMac', 'GENERATE_VERIFY_MAC')
    const algorithm = checkAlgorithm<MacAlgorithm>(input, 'MacAlgorithm', key, macAlgorithmsFor(key.keySpec))
    const message = input.Message ?? new Uint8Array()
    rejectDryRun(input)
    const mac = await kms.hsm.keyOperation('generateMac', { key: kms.refOf(material), algorithm, message })
    return { Mac: base64(mac), MacAlgorithm: algorithm, KeyId: arn }
  },
}
