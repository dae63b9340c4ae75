import { generateDataKey as generate } from '../data-key.js'
import type { Operation } from '../operation.js'
import { keyAccess } from '../access.js'

export const generateDataKey: Operation<'GenerateDataKey'> = {
  name: 'GenerateDataKey',
  members: [
    'KeyId',
    'EncryptionContext',
    'NumberOfBytes',
    'KeySpec',
    'GrantTokens',
    'Recipient.KeyEncryptionAlgorithm',
    'Recipient.AttestationDocument',
    'DryRun',
  ],
  access: keyAccess('GenerateDataKey', { allowAlias: true, contextMember: 'EncryptionContext' }),
  handle: (kms, input) => generate(kms, input, 'GenerateDataKey', true),
}
