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

/**
 * The names CreateAlias accepts beyond checkAliasName. The model's pattern admits a colon
 * (`^[a-zA-Z0-9:/_-]+$`, for alias ARNs elsewhere), but an alias name "can contain only
 * alphanumeric characters, forward slashes (/), underscores (_), and dashes (-)" (AWS,
 * CreateAlias AliasName). The answer for a colon, ValidationException "<name> contains
 * invalid characters for an alias", is the one moto's KMS tests expect (getmoto/moto,
 * tests/test_kms, test__create_alias__raises_if_alias_has_restricted_characters_semicolon);
 * no recording from AWS itself is on record. UpdateAlias and DeleteAlias do not check it:
 * no alias with a colon can exist, so they answer NotFoundException as for any unknown alias.
 */
export function checkNewAliasName(aliasName: string): void {
  checkAliasName(aliasName)
  if (aliasName.includes(':')) throw new KmsError('ValidationException', `${aliasName} contains invalid characters for an alias`)
}
