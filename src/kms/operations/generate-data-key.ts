import { generateDataKey as generate } from '../data-key.js'
import type { Operation } from '../operation.js'

export const generateDataKey: Operation = {
  name: 'GenerateDataKey',
  handle: (kms, input) => generate(kms, input, 'GenerateDataKey', true),
}
