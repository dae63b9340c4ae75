/**
 * What an operation is: a name (the AWS operation name), which key-state rule it
 * follows, and a handler from validated input to the wire output.
 *
 * Handlers get their input after the API layer has checked it against the AWS model
 * (types, required members, lengths, patterns, enums; blobs already base64-decoded to
 * Uint8Array), so they check only what the model cannot express.
 *
 * @module
 */
import type { KeyRecord } from '../storage/records.js'
import type { AuditIntentSource } from './audit-intent.js'
import type { PolicyDocument } from './authorization/index.js'
import type { Kms } from './kms.js'
import { KmsError, validation } from '../wire/errors.js'
import type { KmsOperationName, KmsOperations } from '../wire/kms-model-types.js'

export type Input = Record<string, unknown>
export type Output = Record<string, unknown>

/** Who is calling: an IAM principal of the region's account (docs/authorization.md). */
export interface Caller {
  /** `arn:<partition>:iam::<account>:root` or `arn:<partition>:iam::<account>:user/<name>`. */
  principalArn: string
  /** The principal's IAM identity policies; the root user has none (it needs none). */
  identityPolicies: readonly PolicyDocument[]
}

export interface RequestContext {
  requestId: string
  caller: Caller
  /** Builds the request's audit record for the changes it commits (audit-intent.ts); pass it to Kms.mutate. */
  auditIntent?: AuditIntentSource
}

/**
 * One permission a request needs: an action, on a key or on the account (`key` absent),
 * with what grants and condition keys may look at (docs/authorization.md).
 */
export interface AccessCheck {
  action: string
  key?: KeyRecord
  /**
   * A resource other than a key, judged by identity policies alone (an alias ARN: AWS wants
   * kms:CreateAlias on the alias in an IAM policy as well as on the key). Without `key`.
   */
  resource?: string
  /** The grant operation that may allow it; absent if no grant can (e.g. PutKeyPolicy). */
  grantOperation?: string
  /** The request's encryption context, for grant constraints and kms:EncryptionContext conditions. */
  encryptionContext?: Record<string, string>
  /** Further condition keys of this request (kms:SigningAlgorithm, kms:GrantOperations, ...). */
  conditions?: Record<string, string | string[] | boolean | number | undefined>
}

/**
 * One of Trent's own operations (`TrentAdmin.*`): outside the AWS model, so it checks its
 * own input and has no members to declare; the account root alone may call them.
 */
export interface AdminOperation {
  readonly name: string
  handle(kms: Kms, input: Input, context: RequestContext): Promise<Output>
}

/** An operation's input, as its handler receives it after validation (src/wire/kms-model-types.ts). */
export type InputOf<Name extends KmsOperationName> = KmsOperations[Name]['input']
/** An operation's output, as its handler returns it for the wire. */
export type OutputOf<Name extends KmsOperationName> = KmsOperations[Name]['output']

/**
 * An AWS KMS operation: its input and output are the model's types for it, so the
 * compiler checks what a handler reads and returns against the newest model.
 */
export interface Operation<Name extends KmsOperationName = KmsOperationName> {
  readonly name: Name
  /**
   * The input members this operation acts on, as leaf paths (`KeyId`,
   * `Constraints.EncryptionContextSubset`, `Tags.TagKey`: src/api/members.ts). The API
   * layer refuses a request carrying any other member of the model, so a member the model
   * gains is refused until an operation says it honours it, never silently dropped
   * (docs/spec/kms-model.md). test/unit/model-coverage.test.ts checks that these and
   * `refuses` together name every member of the model exactly once.
   */
  readonly members: readonly string[]
  /** Members of the model refused on purpose: leaf path → the reason the caller is given. */
  readonly refuses?: Readonly<Record<string, string>>
  /**
   * What the request must be allowed to do, checked before `handle` runs. Absent: the
   * operation's own action on the account (`kms:<Name>` on `*`), as for CreateKey.
   */
  access?(kms: Kms, input: InputOf<Name>, context: RequestContext): AccessCheck[]
  handle(kms: Kms, input: InputOf<Name>, context: RequestContext): Promise<OutputOf<Name>>
}

/** Epoch milliseconds as AWS JSON timestamps: seconds with a fractional part. */
export function epochSeconds(ms: number): number {
  return ms / 1000
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

// Accessors for validated input: the model check has already fixed the types, these
// only narrow them for TypeScript.
export function str(input: Input, name: string): string | undefined {
  const value = input[name]
  return typeof value === 'string' ? value : undefined
}

/**
 * A required string member of an operation outside the AWS model (`TrentAdmin.*`), which
 * the API layer has no shape to check against: checked here, with AWS's wording.
 */
export function requiredStringMember(input: Input, name: string, maxLength: number): string {
  const value = input[name]
  const location = `${name.charAt(0).toLowerCase()}${name.slice(1)}`
  if (value === undefined || value === null) {
    throw validation(`1 validation error detected: Value null at '${location}' failed to satisfy constraint: Member must not be null`)
  }
  if (typeof value !== 'string') throw new KmsError('SerializationException', `${name} must be a string.`)
  if (value.length < 1 || value.length > maxLength) {
    throw validation(
      `1 validation error detected: Value '${value.slice(0, 64)}' at '${location}' failed to satisfy constraint: Member must have length between 1 and ${maxLength}, inclusive`,
    )
  }
  return value
}

export function requiredStr(input: Input, name: string): string {
  const value = str(input, name)
  if (value === undefined) throw new TypeError(`${name}: missing after validation`)
  return value
}

export function num(input: Input, name: string): number | undefined {
  const value = input[name]
  return typeof value === 'number' ? value : undefined
}

export function bool(input: Input, name: string): boolean | undefined {
  const value = input[name]
  return typeof value === 'boolean' ? value : undefined
}

export function bytes(input: Input, name: string): Uint8Array | undefined {
  const value = input[name]
  return value instanceof Uint8Array ? value : undefined
}

export function stringMap(input: Input, name: string): Record<string, string> | undefined {
  const value = input[name]
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  return value as Record<string, string>
}

export function list<T>(input: Input, name: string): T[] | undefined {
  const value = input[name]
  return Array.isArray(value) ? (value as T[]) : undefined
}

/**
 * A principal member the newest model makes optional (its service-principal alternative is
 * refused until implemented: src/kms/coverage.ts), so still one a request must carry: the
 * validation error AWS gave when the model required it.
 */
export function principalMember(input: Input, name: 'GranteePrincipal' | 'RetiringPrincipal'): string {
  const value = str(input, name)
  if (value !== undefined) return value
  const location = `${name.charAt(0).toLowerCase()}${name.slice(1)}`
  throw validation(`1 validation error detected: Value null at '${location}' failed to satisfy constraint: Member must not be null`)
}
