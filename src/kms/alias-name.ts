/**
 * Alias name rules beyond the model's pattern.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'

export function checkAliasName(aliasName: string): void {
  if (!aliasName.startsWith('alias/')) {
    // Recorded AWS text (reference §4.6).
    throw new KmsError(
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    )
  }
  if (aliasName === 'alias/') throw new KmsError('InvalidAliasNameException', 'Alias name must not be empty after "alias/".')
  if (aliasName.startsWith('alias/aws/')) {
    throw new KmsError('InvalidAliasNameException', 'Alias names that begin with alias/aws/ are reserved for AWS managed keys.')
  }
}
