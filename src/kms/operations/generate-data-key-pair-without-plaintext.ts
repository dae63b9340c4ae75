import { keyAccess } from '../access.js'
import { generateDataKeyPair as generate } from '../data-key-pair.js'
import type { Operation } from '../operation.js'

export const generateDataKeyPairWithoutPlaintext: Operation<'GenerateDataKeyPairWithoutPlaintext'> = {
  name: 'GenerateDataKeyPairWithoutPlaintext',
  members: ['EncryptionContext', 'KeyId', 'KeyPairSpec', 'GrantTokens', 'DryRun'],
  access: keyAccess('GenerateDataKeyPairWithoutPlaintext', {
    allowAlias: true,
    contextMember: 'EncryptionContext',
    conditionMembers: { 'kms:DataKeyPairSpec': 'KeyPairSpec' },
  }),
  handle: (kms, input) => generate(kms, input, 'GenerateDataKeyPairWithoutPlaintext', false),
}
