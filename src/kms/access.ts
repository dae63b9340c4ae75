/**
 * Authorization of every request (docs/authorization.md): what each operation needs
 * (its AccessChecks), the condition keys AWS KMS sets for it, and the decision, made
 * before the operation runs by the engine in ./authorization.
 *
 * @module
 */
import { aliasArn } from '../wire/arn.js'
import { KmsError } from '../wire/errors.js'
import type { GrantRecord, KeyRecord } from '../storage/records.js'
import {
  accessDeniedMessage,
  authorize,
  parsePolicy,
  type AuthorizationRequest,
  type ConditionContext,
  type GrantForAuthorization,
  type PolicyDocument,
} from './authorization/index.js'
import { GRANT_OPERATIONS, checkGrantTokens } from './grants.js'
import type { Kms } from './kms.js'
import { list, stringMap, str, type AccessCheck, type Caller, type Input, type Operation, type RequestContext } from './operation.js'
import { mayBeStale } from './maybe-stale.js'
import { rootPrincipalArn } from './principals.js'
import { aliasNamedBy, resolveKey } from './resolve-key.js'

/** Parsed key policies by their text: a key's policy is parsed once, not per request. */
const parsedPolicies = new Map<string, PolicyDocument>()
const PARSED_POLICY_CACHE_LIMIT = 10_000

export function parsedKeyPolicy(text: string): PolicyDocument {
  const cached = parsedPolicies.get(text)
  if (cached !== undefined) return cached
  const parsed = parsePolicy(text, 'key')
  if (parsedPolicies.size >= PARSED_POLICY_CACHE_LIMIT) parsedPolicies.clear()
  parsedPolicies.set(text, parsed)
  return parsed
}

/** The account's root user: what the region's admin credentials are. */
export function rootCaller(kms: Kms): Caller {
  return { principalArn: rootPrincipalArn(kms.partition, kms.accountId), identityPolicies: [] }
}

function grantForAuthorization(grant: GrantRecord): GrantForAuthorization {
  return {
    grantId: grant.grantId,
    ...(grant.granteePrincipal !== undefined ? { granteePrincipal: grant.granteePrincipal } : {}),
    operations: grant.operations,
    ...(grant.constraints !== undefined ? { constraints: grant.constraints } : {}),
  }
}

/** The condition keys every request carries, and those of its key (AWS KMS condition keys). */
function conditionContext(kms: Kms, caller: Caller, check: AccessCheck): ConditionContext {
  const context: ConditionContext = {
    'aws:PrincipalArn': caller.principalArn,
    'aws:PrincipalAccount': kms.accountId,
    'aws:RequestedRegion': kms.region,
    'kms:CallerAccount': kms.accountId,
    'kms:GrantIsForAWSResource': false,
  }
  const key = check.key
  if (key !== undefined) {
    context['kms:KeySpec'] = key.keySpec
    context['kms:KeyUsage'] = key.keyUsage
    context['kms:KeyOrigin'] = key.origin
    context['kms:CustomerMasterKeySpec'] = key.keySpec
    context['kms:CustomerMasterKeyUsage'] = key.keyUsage
    context['kms:MultiRegion'] = key.multiRegion
    if (key.mrk !== undefined) context['kms:MultiRegionKeyType'] = key.mrk.role
  }
  if (check.encryptionContext !== undefined) {
    for (const [name, value] of Object.entries(check.encryptionContext)) context[`kms:EncryptionContext:${name}`] = value
    context['kms:EncryptionContextKeys'] = Object.keys(check.encryptionContext)
  }
  for (const [name, value] of Object.entries(check.conditions ?? {})) if (value !== undefined) context[name] = value
  return context
}

/**
 * Allow decisions that depended on nothing but the caller, the action, the key and the
 * policies: no condition key or policy variable was read, and no grant took part (a grant
 * is consulted only when no policy allows). Such a decision is the same for every request
 * with the same four, so the hot path (the same caller encrypting under the same key) pays
 * two map lookups instead of an evaluation. Each entry holds the key policy text and the
 * caller's identity-policy list it was made with, and is used only while both are still
 * the same; the map is keyed by the key's record, which a change of the key replaces.
 * Denials are never cached.
 */
const policyAllows = new WeakMap<KeyRecord, Map<string, PolicyAllow>>()
const POLICY_ALLOWS_PER_KEY = 64

interface PolicyAllow {
  policy: string
  identityPolicies: Caller['identityPolicies']
}

function cachedAllow(key: KeyRecord, caller: Caller, action: string): boolean {
  const allow = policyAllows.get(key)?.get(`${caller.principalArn}\n${action}`)
  return allow !== undefined && allow.policy === key.policy && allow.identityPolicies === caller.identityPolicies
}

function rememberAllow(key: KeyRecord, caller: Caller, action: string): void {
  let perKey = policyAllows.get(key)
  if (perKey === undefined) {
    perKey = new Map()
    policyAllows.set(key, perKey)
  }
  if (perKey.size >= POLICY_ALLOWS_PER_KEY) perKey.clear()
  perKey.set(`${caller.principalArn}\n${action}`, { policy: key.policy, identityPolicies: caller.identityPolicies })
}

/** Throws AccessDeniedException, with AWS's message, unless `caller` may make every check. */
export function enforce(kms: Kms, caller: Caller, checks: readonly AccessCheck[]): void {
  for (const check of checks) {
    const key = check.key
    if (key !== undefined && cachedAllow(key, caller, check.action)) continue
    let context: ConditionContext | undefined
    let contextRead = false
    const request: AuthorizationRequest = {
      partition: kms.partition,
      account: kms.accountId,
      principalArn: caller.principalArn,
      action: check.action,
      resource: key !== undefined ? kms.arnOf(key.keyId) : (check.resource ?? '*'),
      // Made only if a statement's condition or policy variable asks for it: most requests
      // meet policies without any (the default key policy has none).
      get context() {
        contextRead = true
        context ??= conditionContext(kms, caller, check)
        return context
      },
    }
    const decision = authorize(request, {
      ...(key !== undefined ? { keyPolicy: parsedKeyPolicy(key.policy) } : {}),
      identityPolicies: caller.identityPolicies as PolicyDocument[],
      grants: key === undefined || check.grantOperation === undefined ? [] : kms.grantsOf(key.keyId).map(grantForAuthorization),
      ...(check.grantOperation !== undefined ? { grantOperation: check.grantOperation } : {}),
      ...(check.encryptionContext !== undefined ? { encryptionContext: check.encryptionContext } : {}),
      // Grant constraints bind only requests that carry an encryption context. On a symmetric
      // key the engine knows which operations do (not DescribeKey, CreateGrant or RetireGrant:
      // AWS GrantConstraints); on any other key none does.
      ...(key !== undefined && key.keySpec !== 'SYMMETRIC_DEFAULT' ? { encryptionContextApplies: false } : {}),
    })
    if (!decision.allowed) throw new KmsError('AccessDeniedException', accessDeniedMessage(request, decision))
    if (key !== undefined && !contextRead && decision.by !== 'grant') rememberAllow(key, caller, check.action)
  }
}

/** Runs the operation's checks (or its default one) for this request. */
export function authorizeOperation(kms: Kms, operation: Operation, input: Input, context: RequestContext): void {
  const checks = operation.access?.(kms, input, context) ?? [{ action: `kms:${operation.name}` }]
  enforce(kms, context.caller, checks)
}

export interface KeyAccessOptions {
  /** The input member naming the key (default KeyId). */
  member?: string
  /** Whether the operation accepts an alias name or alias ARN for the key. */
  allowAlias: boolean
  /** The input member holding the encryption context, for constraints and conditions. */
  contextMember?: string
  /** Condition keys taken from input members: condition key → member name. */
  conditionMembers?: Record<string, string>
  /** The action, when it is not kms:<operation name>. */
  action?: string
}

/** The access rule of an operation on one key named in its input. */
export function keyAccess(operationName: string, options: KeyAccessOptions): NonNullable<Operation['access']> {
  const action = options.action ?? `kms:${operationName}`
  const grantName = action.slice('kms:'.length)
  return (kms, input) => {
    const keyIdInput = str(input, options.member ?? 'KeyId')
    if (keyIdInput === undefined) return [{ action }]
    const key = resolveKey(kms, keyIdInput, { allowAlias: options.allowAlias })
    return [keyCheck(action, key, input, options, keyIdInput, GRANT_OPERATIONS.has(grantName) ? grantName : undefined)]
  }
}

export function keyCheck(
  action: string,
  key: KeyRecord,
  input: Input,
  options: Pick<KeyAccessOptions, 'contextMember' | 'conditionMembers'>,
  keyIdInput?: string,
  grantOperation?: string,
): AccessCheck {
  const conditions: NonNullable<AccessCheck['conditions']> = {}
  const alias = aliasNamedBy(keyIdInput)
  if (alias !== undefined) conditions['kms:RequestAlias'] = alias
  for (const [conditionKey, member] of Object.entries(options.conditionMembers ?? {})) {
    const value = input[member]
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') conditions[conditionKey] = value
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) conditions[conditionKey] = value as string[]
  }
  const encryptionContext = options.contextMember === undefined ? undefined : (stringMap(input, options.contextMember) ?? {})
  return {
    action,
    key,
    ...(grantOperation !== undefined ? { grantOperation } : {}),
    ...(encryptionContext !== undefined ? { encryptionContext } : {}),
    conditions,
  }
}

/** The identity-policy check on an alias that CreateAlias, UpdateAlias and DeleteAlias need besides the key's. */
export function aliasCheck(kms: Kms, action: string, aliasName: string): AccessCheck {
  return { action, resource: aliasArn(kms.partition, kms.region, kms.accountId, aliasName) }
}

/**
 * Authorizes, then runs, one request: the only way the API invokes an operation.
 *
 * On a node that shares its store with others, a request decides at the end of the
 * event-loop turn it started in, after any announcement of the store that arrived with it
 * (Kms.announcementsHeard); if the store has announced a change the node lacks, it waits
 * for it (Kms.catchingUp); and a refusal that a peer's latest change could explain
 * (maybe-stale.ts) is not given at once: the node catches up with the store and, if it
 * now shows anything new since it decided, asks again. A client that created a key
 * through one node and uses it through another is then not told the key does not exist,
 * without any read of the store on the way of a request that succeeds
 * (docs/architecture.md, "Consistency").
 */
export async function runOperation(
  kms: Kms,
  operation: Operation,
  input: Input,
  context: RequestContext,
): Promise<Record<string, unknown>> {
  // An announcement that arrived with this request is heard before the request decides.
  const heard = kms.announcementsHeard()
  if (heard !== undefined) await heard
  // A change the store announced and this node has yet to apply: decide after it.
  const announced = kms.catchingUp
  if (announced !== undefined) await announced
  // What the node showed when it decided: the follower may bring a peer's change between
  // the refusal and the catch-up below, so "did the catch-up find anything" is the wrong
  // question; "does the node show anything new since it decided" is the right one.
  const decidedOn = kms.stateVersion
  try {
    return await runOnce(kms, operation, input, context)
  } catch (err) {
    if (!kms.followsPeers || !mayBeStale(err)) throw err
    await kms.sync()
    if (kms.stateVersion === decidedOn) throw err
    return runOnce(kms, operation, input, context)
  }
}

function runOnce(kms: Kms, operation: Operation, input: Input, context: RequestContext): Promise<Record<string, unknown>> {
  // Every operation that takes GrantTokens refuses one Trent did not issue, as AWS does.
  checkGrantTokens(list<string>(input, 'GrantTokens'))
  authorizeOperation(kms, operation, input, context)
  return operation.handle(kms, input, context)
}
