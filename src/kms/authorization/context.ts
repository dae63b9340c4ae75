/**
 * The request context as conditions see it: keys folded to lower case, values as lists
 * of strings, plus the keys that follow from who the caller is.
 *
 * @module
 */
import type { ConditionContext, AuthorizationRequest } from './types.js'

export interface ContextEntry {
  /** Never empty: a key without values is absent. */
  readonly values: readonly string[]
  /** True for a list value (a multi-valued key); such a key cannot fill a policy variable. */
  readonly multiValued: boolean
}

export interface EvaluationContext {
  /** Keyed by the lower-cased condition key. */
  readonly entries: ReadonlyMap<string, ContextEntry>
}

function asStrings(value: string | string[] | boolean | number): string[] {
  if (Array.isArray(value)) return value.map((v) => String(v))
  return [typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value)]
}

/**
 * Condition keys the engine fills in from the request itself when the caller's context does
 * not name them. They are facts about the principal, true of any request it makes.
 */
function principalKeys(request: Pick<AuthorizationRequest, 'partition' | 'account' | 'principalArn'>): ConditionContext {
  const keys: ConditionContext = {
    'aws:PrincipalArn': request.principalArn,
    'aws:PrincipalAccount': request.account,
    'kms:CallerAccount': request.account,
  }
  const iamPrefix = `arn:${request.partition}:iam::${request.account}:`
  if (request.principalArn === `${iamPrefix}root`) {
    keys['aws:PrincipalType'] = 'Account'
  } else if (request.principalArn.startsWith(`${iamPrefix}user/`)) {
    keys['aws:PrincipalType'] = 'User'
    // The friendly name is the last segment of the user's path.
    keys['aws:username'] = request.principalArn.slice(request.principalArn.lastIndexOf('/') + 1)
  } else if (request.principalArn.startsWith(`arn:${request.partition}:sts::${request.account}:assumed-role/`)) {
    keys['aws:PrincipalType'] = 'AssumedRole'
  }
  return keys
}

/**
 * Builds the context for one request. Condition keys ignore case (AWS: "Key names are
 * case-insensitive"), and that includes the context-key part of
 * kms:EncryptionContext:<context-key>. Two request keys that differ only by case (two
 * encryption context pairs `Dept` and `dept`) therefore land on one condition key holding
 * both values.
 */
export function buildEvaluationContext(
  request: Pick<AuthorizationRequest, 'partition' | 'account' | 'principalArn' | 'context'>,
): EvaluationContext {
  // Built on first use: most requests meet only statements without conditions or policy
  // variables (the default key policy has neither), and never need it.
  let entries: ReadonlyMap<string, ContextEntry> | undefined
  return {
    get entries() {
      entries ??= contextEntries(request)
      return entries
    },
  }
}

function contextEntries(
  request: Pick<AuthorizationRequest, 'partition' | 'account' | 'principalArn' | 'context'>,
): ReadonlyMap<string, ContextEntry> {
  const entries = new Map<string, { values: string[]; multiValued: boolean }>()
  const named = new Set(Object.keys(request.context).map((k) => k.toLowerCase()))
  const add = (key: string, value: string | string[] | boolean | number | undefined): void => {
    if (value === undefined) return
    const values = asStrings(value)
    if (values.length === 0) return
    const lower = key.toLowerCase()
    const existing = entries.get(lower)
    if (existing === undefined) entries.set(lower, { values, multiValued: Array.isArray(value) })
    else entries.set(lower, { values: [...existing.values, ...values], multiValued: true })
  }
  for (const [key, value] of Object.entries(request.context)) add(key, value)
  for (const [key, value] of Object.entries(principalKeys(request))) {
    // A key the caller named, even as undefined, is the caller's to decide.
    if (!named.has(key.toLowerCase())) add(key, value)
  }
  return entries
}

/** The single value a policy variable can take from the context, if there is one. */
export function variableValue(context: EvaluationContext, lowerCaseKey: string): string | undefined {
  const entry = context.entries.get(lowerCaseKey)
  if (entry === undefined || entry.multiValued || entry.values.length !== 1) return undefined
  return entry.values[0]
}

/**
 * The condition keys KMS derives from an encryption context: one
 * kms:EncryptionContext:<key> per pair, and kms:EncryptionContextKeys listing the keys.
 * An absent or empty context yields neither, so `Null` finds them absent and
 * `ForAnyValue` fails, as AWS documents.
 */
export function encryptionContextConditions(encryptionContext: Record<string, string> | undefined): ConditionContext {
  const keys: ConditionContext = {}
  if (encryptionContext === undefined) return keys
  const contextKeys = Object.keys(encryptionContext)
  if (contextKeys.length === 0) return keys
  for (const key of contextKeys) {
    const value = encryptionContext[key]
    if (value !== undefined) keys[`kms:EncryptionContext:${key}`] = value
  }
  keys['kms:EncryptionContextKeys'] = contextKeys
  return keys
}
