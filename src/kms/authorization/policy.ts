/**
 * Parsing and validating policy documents: key policies (resource-based, every statement
 * names a principal) and IAM identity policies (attached to a caller, no principal).
 *
 * A key policy comes from a client, so a bad one is refused with AWS's
 * MalformedPolicyDocumentException. An identity policy comes from Trent's configuration,
 * so a bad one is a plain Error that says exactly what is wrong and where. Identity
 * policies are also held to a few rules AWS leaves loose for key policies (a statement
 * must name an Action and a Resource), because a statement that silently applies to
 * nothing is always a mistake in a file someone wrote by hand.
 *
 * @module
 */
import { KmsError } from '../../wire/errors.js'
import { ConditionProblem, parseConditionBlock, type ConditionClause } from './conditions.js'
import { POLICY_MESSAGES } from './messages.js'
import { parsePattern, type PolicyPattern } from './patterns.js'

export type PolicyKind = 'key' | 'identity'
export type PolicyVersion = '2012-10-17' | '2008-10-17'
export type Effect = 'Allow' | 'Deny'

/** Principal or NotPrincipal. */
export interface PrincipalElement {
  /** True for NotPrincipal. */
  readonly negated: boolean
  /** `"*"` or `{"AWS": "*"}`: every principal. */
  readonly everyone: boolean
  /** AWS principals: account IDs and IAM/STS ARNs, as written. */
  readonly aws: readonly string[]
  /** Service principals ("logs.amazonaws.com"). Accepted for compatibility; no Trent caller is one. */
  readonly services: readonly string[]
}

/** Action / NotAction, or Resource / NotResource. */
export interface MatchElement {
  /** True for NotAction / NotResource. */
  readonly negated: boolean
  readonly patterns: readonly PolicyPattern[]
}

export interface PolicyStatement {
  /** 0-based position in the policy. */
  readonly index: number
  readonly sid?: string
  readonly effect: Effect
  readonly principal?: PrincipalElement
  /**
   * Absent when the statement names no Action or NotAction (or an empty list). AWS accepts
   * such a key policy statement and it has no effect; so here it never applies.
   */
  readonly action?: MatchElement
  /** Absent as for `action`, for Resource / NotResource. */
  readonly resource?: MatchElement
  readonly conditions: readonly ConditionClause[]
}

export interface PolicyDocument {
  readonly kind: PolicyKind
  /** When the document names none, AWS takes 2008-10-17, which has no policy variables. */
  readonly version: PolicyVersion
  readonly id?: string
  readonly statements: readonly PolicyStatement[]
}

/** AWS's key policy quota: 32 KB (32768 bytes), not adjustable. */
export const MAX_KEY_POLICY_BYTES = 32 * 1024

const TOP_LEVEL_ELEMENTS = new Set(['Version', 'Id', 'Statement'])
const STATEMENT_ELEMENTS = new Set([
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
])

/** A principal AWS accepts in a key policy: an account ID, or the ARN of an account, user, role or session. No wildcards. */
const AWS_PRINCIPAL =
  /^(\d{12}|arn:[a-z][a-z0-9-]*:iam::\d{12}:(root|user\/.+|role\/.+)|arn:[a-z][a-z0-9-]*:sts::\d{12}:(assumed-role\/[^/]+\/.+|federated-user\/.+))$/
const SERVICE_PRINCIPAL = /^[a-z0-9][a-z0-9.-]*$/
/** Identity policy actions must be "service:action" (with wildcards) or "*". */
const ACTION_SHAPE = /^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$/

/** A validation failure, carrying AWS's message for key policies and a precise one for configuration files. */
class PolicyError extends Error {
  constructor(
    readonly awsMessage: string,
    readonly detail: string,
    readonly errorName: 'MalformedPolicyDocumentException' | 'LimitExceededException' = 'MalformedPolicyDocumentException',
  ) {
    super(detail)
  }
}

function toThrowable(error: PolicyError, kind: PolicyKind): Error {
  return kind === 'key' ? new KmsError(error.errorName, error.awsMessage) : new Error(`Invalid identity policy: ${error.detail}`)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Where a statement problem is, for identity-policy messages. */
function where(index: number, sid: unknown): string {
  return typeof sid === 'string' && sid !== '' ? `statement ${index + 1} (Sid "${sid}")` : `statement ${index + 1}`
}

function parsePrincipal(value: unknown, negated: boolean, at: string): PrincipalElement {
  const invalid = (why: string): never => {
    throw new PolicyError(POLICY_MESSAGES.invalidPrincipals, `${at}: ${why}`)
  }
  if (value === '*') return { negated, everyone: true, aws: [], services: [] }
  if (!isObject(value)) return invalid('a principal must be "*" or an object such as {"AWS": "<arn>"}')
  const aws: string[] = []
  const services: string[] = []
  let everyone = false
  for (const [type, entries] of Object.entries(value)) {
    const list = Array.isArray(entries) ? (entries as unknown[]) : [entries]
    for (const entry of list) {
      if (typeof entry !== 'string') return invalid(`${type} principals must be strings`)
      if (type === 'AWS') {
        if (entry === '*') everyone = true
        else if (AWS_PRINCIPAL.test(entry) && !/[*?]/.test(entry)) aws.push(entry)
        else return invalid(`${JSON.stringify(entry)} is not an account ID or an IAM user, role or account ARN`)
      } else if (type === 'Service') {
        if (!SERVICE_PRINCIPAL.test(entry)) return invalid(`${JSON.stringify(entry)} is not a service principal`)
        services.push(entry)
      } else {
        return invalid(`principal type ${JSON.stringify(type)} is not supported in a key policy (use AWS or Service)`)
      }
    }
  }
  if (!everyone && aws.length === 0 && services.length === 0) {
    throw new PolicyError(POLICY_MESSAGES.noPrincipal, `${at}: the principal list is empty`)
  }
  return { negated, everyone, aws, services }
}

/**
 * Action or Resource values. Variables are substituted in Resource (2012-10-17 only),
 * never in Action.
 */
function parseMatchElement(value: unknown, name: string, negated: boolean, variables: boolean, at: string): MatchElement | undefined {
  const list = Array.isArray(value) ? (value as unknown[]) : [value]
  if (!list.every((v): v is string => typeof v === 'string')) {
    throw new PolicyError(POLICY_MESSAGES.invalidElement(name), `${at}: ${name} must be a string or a list of strings`)
  }
  if (list.length === 0) return undefined
  return { negated, patterns: list.map((source) => parsePattern(source, variables)) }
}

function pickOne(
  statement: Record<string, unknown>,
  plain: string,
  negated: string,
  at: string,
): { name: string; value: unknown } | undefined {
  const hasPlain = plain in statement
  const hasNegated = negated in statement
  if (hasPlain && hasNegated)
    throw new PolicyError(POLICY_MESSAGES.conflictingElements(plain, negated), `${at}: has both ${plain} and ${negated}`)
  if (hasPlain) return { name: plain, value: statement[plain] }
  if (hasNegated) return { name: negated, value: statement[negated] }
  return undefined
}

function conditionError(problem: ConditionProblem, at: string): PolicyError {
  switch (problem.problem) {
    case 'unsupported-operator':
      return new PolicyError(
        POLICY_MESSAGES.unsupportedConditionOperator(problem.message),
        `${at}: unsupported condition operator ${problem.message}`,
      )
    case 'overly-permissive-encryption-context':
      return new PolicyError(
        POLICY_MESSAGES.overlyPermissiveEncryptionContext,
        `${at}: ForAllValues with ${problem.message}: ${POLICY_MESSAGES.overlyPermissiveEncryptionContext}`,
      )
    case 'overly-permissive-request-tag':
      return new PolicyError(
        POLICY_MESSAGES.overlyPermissiveRequestTag,
        `${at}: ForAllValues with ${problem.message}: ${POLICY_MESSAGES.overlyPermissiveRequestTag}`,
      )
    case 'invalid':
      return new PolicyError(POLICY_MESSAGES.invalidCondition(problem.message), `${at}: ${problem.message}`)
  }
}

function parseStatement(raw: unknown, index: number, kind: PolicyKind, variables: boolean): PolicyStatement {
  const at = where(index, isObject(raw) ? raw.Sid : undefined)
  if (!isObject(raw)) throw new PolicyError(POLICY_MESSAGES.statementNotObject, `${at} is not a JSON object`)
  for (const element of Object.keys(raw)) {
    if (!STATEMENT_ELEMENTS.has(element)) {
      throw new PolicyError(POLICY_MESSAGES.statementUnsupportedElement(element), `${at}: unknown element ${JSON.stringify(element)}`)
    }
  }
  const sid = raw.Sid
  if (sid !== undefined && typeof sid !== 'string')
    throw new PolicyError(POLICY_MESSAGES.invalidElement('Sid'), `${at}: Sid must be a string`)
  const effect = raw.Effect
  if (effect !== 'Allow' && effect !== 'Deny') {
    throw new PolicyError(POLICY_MESSAGES.invalidEffect, `${at}: Effect must be "Allow" or "Deny", not ${JSON.stringify(effect)}`)
  }

  const principalSource = pickOne(raw, 'Principal', 'NotPrincipal', at)
  let principal: PrincipalElement | undefined
  if (kind === 'identity') {
    if (principalSource !== undefined) {
      throw new PolicyError(
        POLICY_MESSAGES.statementUnsupportedElement(principalSource.name),
        `${at}: ${principalSource.name} is not allowed in an identity policy (it applies to the identity it is attached to)`,
      )
    }
  } else {
    if (principalSource === undefined) throw new PolicyError(POLICY_MESSAGES.noPrincipal, `${at}: no Principal`)
    principal = parsePrincipal(principalSource.value, principalSource.name === 'NotPrincipal', at)
  }

  const actionSource = pickOne(raw, 'Action', 'NotAction', at)
  const action = actionSource && parseMatchElement(actionSource.value, actionSource.name, actionSource.name === 'NotAction', false, at)
  const resourceSource = pickOne(raw, 'Resource', 'NotResource', at)
  const resource =
    resourceSource && parseMatchElement(resourceSource.value, resourceSource.name, resourceSource.name === 'NotResource', variables, at)
  if (kind === 'identity') {
    if (action === undefined)
      throw new PolicyError(POLICY_MESSAGES.invalidElement('Action'), `${at}: needs a non-empty Action or NotAction`)
    if (resource === undefined)
      throw new PolicyError(POLICY_MESSAGES.invalidElement('Resource'), `${at}: needs a non-empty Resource or NotResource`)
    const badAction = action.patterns.find((p) => !ACTION_SHAPE.test(p.source))
    if (badAction !== undefined) {
      throw new PolicyError(
        POLICY_MESSAGES.invalidElement('Action'),
        `${at}: action ${JSON.stringify(badAction.source)} is not "service:Action" (wildcards allowed) or "*"`,
      )
    }
  }

  let conditions: ConditionClause[] = []
  if (raw.Condition !== undefined) {
    try {
      conditions = parseConditionBlock(raw.Condition, variables)
    } catch (error) {
      if (error instanceof ConditionProblem) throw conditionError(error, at)
      throw error
    }
  }

  const statement: {
    index: number
    sid?: string
    effect: Effect
    principal?: PrincipalElement
    action?: MatchElement
    resource?: MatchElement
    conditions: ConditionClause[]
  } = { index, effect, conditions }
  if (sid !== undefined) statement.sid = sid
  if (principal !== undefined) statement.principal = principal
  if (action !== undefined) statement.action = action
  if (resource !== undefined) statement.resource = resource
  return statement
}

function parseDocument(value: unknown, kind: PolicyKind): PolicyDocument {
  if (!isObject(value)) throw new PolicyError(POLICY_MESSAGES.notObject, 'the policy must be a JSON object')
  for (const element of Object.keys(value)) {
    if (!TOP_LEVEL_ELEMENTS.has(element)) {
      throw new PolicyError(POLICY_MESSAGES.unsupportedElement(element), `unknown top-level element ${JSON.stringify(element)}`)
    }
  }
  const version = value.Version ?? '2008-10-17'
  if (version !== '2012-10-17' && version !== '2008-10-17') {
    throw new PolicyError(
      POLICY_MESSAGES.invalidVersion(version),
      `Version must be "2012-10-17" or "2008-10-17", not ${JSON.stringify(version)}`,
    )
  }
  const id = value.Id
  if (id !== undefined && typeof id !== 'string') throw new PolicyError(POLICY_MESSAGES.invalidId, 'Id must be a string')
  const rawStatements = value.Statement
  if (rawStatements === undefined) throw new PolicyError(POLICY_MESSAGES.missingStatement, 'the policy has no Statement')
  const list = Array.isArray(rawStatements) ? (rawStatements as unknown[]) : [rawStatements]
  // Policy variables exist only from Version 2012-10-17 on; before it `${...}` is plain text.
  const variables = version === '2012-10-17'
  const statements = list.map((raw, index) => parseStatement(raw, index, kind, variables))
  return id === undefined ? { kind, version, statements } : { kind, version, id, statements }
}

/**
 * Parses and validates a policy given as JSON text. Key policies: throws KmsError
 * MalformedPolicyDocumentException (or LimitExceededException past 32 KB) with AWS's
 * message. Identity policies: throws a plain Error naming the problem and the statement.
 */
export function parsePolicy(text: string, kind: PolicyKind): PolicyDocument {
  try {
    if (kind === 'key' && Buffer.byteLength(text, 'utf8') > MAX_KEY_POLICY_BYTES) {
      throw new PolicyError(POLICY_MESSAGES.tooLarge, 'the policy is larger than 32 KB', 'LimitExceededException')
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (error) {
      throw new PolicyError(POLICY_MESSAGES.notJson, `not valid JSON (${error instanceof Error ? error.message : String(error)})`)
    }
    return parseDocument(value, kind)
  } catch (error) {
    if (error instanceof PolicyError) throw toThrowable(error, kind)
    throw error
  }
}

/** The same for a policy already parsed from JSON (an identities file embeds policy objects). */
export function parsePolicyValue(value: unknown, kind: PolicyKind): PolicyDocument {
  try {
    return parseDocument(value, kind)
  } catch (error) {
    if (error instanceof PolicyError) throw toThrowable(error, kind)
    throw error
  }
}
