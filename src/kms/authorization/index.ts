/**
 * The KMS authorization engine: key policies, IAM identity policies and grants, evaluated
 * as AWS KMS evaluates them. Pure functions over parsed data; see docs/authorization.md.
 *
 * @module
 */
export type { PolicyDocument, PolicyKind, PolicyVersion, PolicyStatement, PrincipalElement, MatchElement, Effect } from './policy.js'
export { parsePolicy, parsePolicyValue, MAX_KEY_POLICY_BYTES } from './policy.js'
export type {
  ConditionValue,
  ConditionContext,
  AuthorizationRequest,
  GrantForAuthorization,
  AuthorizationInputs,
  Decision,
  DecidingStatement,
  PolicySource,
} from './types.js'
export { authorize, allowsFuturePolicyUpdate } from './evaluate.js'
export { grantConstraintsSatisfied, OPERATIONS_WITH_ENCRYPTION_CONTEXT, sourceArnConstraintSatisfied } from './grants.js'
export { encryptionContextConditions } from './context.js'
export { SUPPORTED_CONDITION_OPERATORS } from './conditions.js'
export { accessDeniedMessage, LOCKOUT_MESSAGE, POLICY_MESSAGES } from './messages.js'
