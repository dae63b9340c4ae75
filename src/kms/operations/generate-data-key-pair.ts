import { keyAccess } from '../access.js'
import { generateDataKeyPair as generate } from '../data-key-pair.js'
import type { Operation } from '../operation.js'

export const generateDataKeyPair: Operation<'GenerateDataKeyPair'> = {
  name: 'GenerateDataKeyPair',
  members: [
    'EncryptionContext',
    'KeyId',
    'KeyPairSpec',
    'GrantTokens',
    'Recipient.KeyEncryptionAlgorithm',
    'Recipient.AttestationDocument',
    'DryRun',
  ],
  access: keyAccess('GenerateDataKeyPair', {
    allowAlias: true,
    contextMember: 'EncryptionContext',
    conditionMembers: { 'kms:DataKeyPairSpec': 'KeyPairSpec' },
  }),
  handle: (kms, input) => generate(kms, input, 'GenerateDataKeyPair', true),
}
