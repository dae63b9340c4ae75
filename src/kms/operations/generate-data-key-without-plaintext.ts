import { generateDataKey } from '../data-key.js'
import type { Operation } from '../operation.js'
import { keyAccess } from '../access.js'

export const generateDataKeyWithoutPlaintext: Operation<'GenerateDataKeyWithoutPlaintext'> = {
  name: 'GenerateDataKeyWithoutPlaintext',
  members: ['KeyId', 'EncryptionContext', 'KeySpec', 'NumberOfBytes', 'GrantTokens', 'DryRun'],
  access: keyAccess('GenerateDataKeyWithoutPlaintext', { allowAlias: true, contextMember: 'EncryptionContext' }),
  handle: (kms, input) => generateDataKey(kms, input, 'GenerateDataKeyWithoutPlaintext', false),
}
