/**
 * The decision: may this principal perform this action on this key, given the key policy,
 * the caller's IAM policies and the key's grants. Pure: everything it needs is passed in.
 *
 * The order, as AWS KMS documents it (developer guide, "policy-evaluation"):
 * 1. An applicable Deny in the key policy or in any of the caller's IAM policies denies,
 *    whatever allows elsewhere; grants cannot override it.
 * 2. Otherwise the key policy allows the caller directly, or
 * 3. the key policy allows the caller's account (the account principal), which delegates
 *    to IAM, and one of the caller's IAM policies allows, or
 * 4. a grant for the caller covers the operation and its constraints hold.
 * 5. Otherwise the request is denied (implicitly).
 *
 * The account's root user is never subject to IAM policies: it is allowed exactly when the
 * key policy allows it, directly or through the account principal, and for actions on '*'
 * (no key policy) it is always allowed.
 *
 * @module
 */
import { conditionsHold } from './conditions.js'
import { buildEvaluationContext, variableValue, type EvaluationContext } from './context.js'
import { findAllowingGrant, OPERATIONS_WITH_ENCRYPTION_CONTEXT } from './grants.js'
import { compilePatternCached, matchesPattern, UnresolvedPolicyVariable } from './patterns.js'
import type { MatchElement, PolicyDocument, PolicyStatement, PrincipalElement } from './policy.js'
import type { AuthorizationInputs, AuthorizationRequest, Decision, DecidingStatement } from './types.js'

/**
 * How a key policy statement's principal relates to the caller:
 * - 'direct': it names the caller (or everyone, or, for the root user, its account);
 * - 'account': it names the caller's account, which for an IAM user or role means the
 *   permission is delegated to IAM: it allows only together with an IAM policy Allow,
 *   while a Deny applies to every identity of the account.
 */
type PrincipalRelation = 'direct' | 'account' | 'none'

interface Caller {
  readonly request: AuthorizationRequest
  readonly isRoot: boolean
  readonly rootArn: string
}

function isOwnAccount(entry: string, caller: Caller): boolean {
  return entry === caller.request.account || entry === caller.rootArn
}

function principalRelation(principal: PrincipalElement, caller: Caller): PrincipalRelation {
  if (principal.negated) {
    // NotPrincipal excludes exactly what it names: the account entry excludes the root
    // user, not the account's users (AWS asks for both the user's and the account's ARN
    // to exclude a user completely).
    const excluded =
      principal.everyone ||
      principal.aws.some((entry) => entry === caller.request.principalArn || (caller.isRoot && isOwnAccount(entry, caller)))
    return excluded ? 'none' : 'direct'
  }
  if (principal.everyone) return 'direct'
  let relation: PrincipalRelation = 'none'
  for (const entry of principal.aws) {
    if (entry === caller.request.principalArn) return 'direct'
    if (isOwnAccount(entry, caller)) {
      if (caller.isRoot) return 'direct'
      relation = 'account'
    }
  }
  return relation
}

function elementMatches(element: MatchElement, text: string, ignoreCase: boolean, context: EvaluationContext): boolean {
  const lookup = (key: string): string | undefined => variableValue(context, key)
  const subject = ignoreCase ? text.toLowerCase() : text
  const matched = element.patterns.some((pattern) => matchesPattern(compilePatternCached(pattern, lookup, ignoreCase), subject))
  return element.negated ? !matched : matched
}

/**
 * Whether the statement's Action, Resource and Condition all hold for the request (the
 * principal is checked by the caller). A statement without Action or Resource applies to
 * nothing; one that needs a policy variable the request lacks is void.
 */
function statementApplies(statement: PolicyStatement, request: AuthorizationRequest, context: EvaluationContext): boolean {
  if (statement.action === undefined || statement.resource === undefined) return false
  try {
    return (
      // Action names ignore case (kms:encrypt is kms:Encrypt); ARNs do not.
      elementMatches(statement.action, request.action, true, context) &&
      elementMatches(statement.resource, request.resource, false, context) &&
      conditionsHold(statement.conditions, context)
    )
  } catch (error) {
    if (error instanceof UnresolvedPolicyVariable) return false
    throw error
  }
}

function describe(statement: PolicyStatement, policy: 'key-policy' | 'identity-policy', policyIndex?: number): DecidingStatement {
  const described: DecidingStatement = { policy, statementIndex: statement.index }
  if (policyIndex !== undefined) described.policyIndex = policyIndex
  if (statement.sid !== undefined) described.sid = statement.sid
  return described
}

interface KeyPolicyOutcome {
  deny?: DecidingStatement
  allowDirect?: DecidingStatement
  /** An Allow for the caller's account: IAM decides. */
  allowThroughAccount?: DecidingStatement
}

function evaluateKeyPolicy(policy: PolicyDocument, caller: Caller, context: EvaluationContext): KeyPolicyOutcome {
  const outcome: KeyPolicyOutcome = {}
  for (const statement of policy.statements) {
    if (statement.principal === undefined) continue
    const relation = principalRelation(statement.principal, caller)
    if (relation === 'none' || !statementApplies(statement, caller.request, context)) continue
    if (statement.effect === 'Deny') {
      // One Deny is enough; the first one is reported.
      outcome.deny ??= describe(statement, 'key-policy')
    } else if (relation === 'direct') {
      outcome.allowDirect ??= describe(statement, 'key-policy')
    } else {
      outcome.allowThroughAccount ??= describe(statement, 'key-policy')
    }
  }
  return outcome
}

interface IdentityOutcome {
  deny?: DecidingStatement
  allow?: DecidingStatement
}

function evaluateIdentityPolicies(
  policies: readonly PolicyDocument[],
  request: AuthorizationRequest,
  context: EvaluationContext,
): IdentityOutcome {
  const outcome: IdentityOutcome = {}
  policies.forEach((policy, policyIndex) => {
    for (const statement of policy.statements) {
      // A statement with a principal belongs to a key policy; it has no meaning here.
      if (statement.principal !== undefined || !statementApplies(statement, request, context)) continue
      if (statement.effect === 'Deny') outcome.deny ??= describe(statement, 'identity-policy', policyIndex)
      else outcome.allow ??= describe(statement, 'identity-policy', policyIndex)
    }
  })
  return outcome
}

export function authorize(request: AuthorizationRequest, inputs: AuthorizationInputs): Decision {
  const rootArn = `arn:${request.partition}:iam::${request.account}:root`
  const caller: Caller = { request, isRoot: request.principalArn === rootArn, rootArn }
  const context = buildEvaluationContext(request)

  const key = inputs.keyPolicy === undefined ? undefined : evaluateKeyPolicy(inputs.keyPolicy, caller, context)
  // IAM policies cannot be attached to the root user; whatever is passed for it is ignored.
  const identity: IdentityOutcome = caller.isRoot ? {} : evaluateIdentityPolicies(inputs.identityPolicies, request, context)

  if (key?.deny !== undefined) return { allowed: false, explicitDeny: true, deniedBy: 'key-policy', statement: key.deny }
  if (identity.deny !== undefined) return { allowed: false, explicitDeny: true, deniedBy: 'identity-policy', statement: identity.deny }

  if (key === undefined) {
    // An action on '*': no resource policy takes part, IAM alone decides, and root may do anything.
    if (caller.isRoot) return { allowed: true, by: 'identity-policy' }
    if (identity.allow !== undefined) return { allowed: true, by: 'identity-policy', statement: identity.allow }
  } else {
    if (key.allowDirect !== undefined) return { allowed: true, by: 'key-policy', statement: key.allowDirect }
    if (key.allowThroughAccount !== undefined && identity.allow !== undefined) {
      return { allowed: true, by: 'identity-policy', statement: identity.allow }
    }
  }

  if (inputs.grantOperation !== undefined) {
    const checkConstraints = inputs.encryptionContextApplies ?? OPERATIONS_WITH_ENCRYPTION_CONTEXT.has(inputs.grantOperation)
    const grant = findAllowingGrant(
      inputs.grants,
      request.principalArn,
      inputs.grantOperation,
      inputs.encryptionContext,
      checkConstraints,
      requestSourceArn(request),
    )
    if (grant !== undefined) return { allowed: true, by: 'grant', grantId: grant.grantId }
  }

  const noAllowIn = key === undefined || key.allowThroughAccount !== undefined ? 'identity-policy' : 'key-policy'
  return { allowed: false, explicitDeny: false, noAllowIn }
}

/**
 * The policy lockout safety check of CreateKey, PutKeyPolicy and ReplicateKey: would
 * `policy` still let `principalArn` call kms:PutKeyPolicy on the key? The request context
 * is empty (only the keys that describe the principal itself, such as aws:PrincipalArn,
 * are present, since they hold for any future call), no grant takes part (grants cannot
 * allow PutKeyPolicy), and the caller's IAM policies count through the account principal.
 */
export function allowsFuturePolicyUpdate(
  policy: PolicyDocument,
  request: Omit<AuthorizationRequest, 'action' | 'context'>,
  identityPolicies: PolicyDocument[],
): boolean {
  const decision = authorize({ ...request, action: 'kms:PutKeyPolicy', context: {} }, { keyPolicy: policy, identityPolicies, grants: [] })
  return decision.allowed
}

/** The request's `aws:SourceArn`, for SourceArn grant constraints (condition key names ignore case). */
function requestSourceArn(request: AuthorizationRequest): string | undefined {
  for (const [name, value] of Object.entries(request.context)) {
    if (name.toLowerCase() === 'aws:sourcearn' && typeof value === 'string') return value
  }
  return undefined
}
