import { generateDataKey } from '../data-key.js'
import type { Operation } from '../operation.js'

export const generateDataKeyWithoutPlaintext: Operation = {
  name: 'GenerateDataKeyWithoutPlaintext',
  handle: (kms, input) => generateDataKey(kms, input, 'GenerateDataKeyWithoutPlaintext', false),
}
