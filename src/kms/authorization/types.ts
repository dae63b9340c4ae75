/**
 * The shapes the authorization engine is called with and answers with.
 *
 * @module
 */
import type { PolicyDocument } from './policy.js'

/** A condition key's value in a request: a list is a multi-valued key (kms:EncryptionContextKeys, kms:GrantOperations). */
export type ConditionValue = string | string[] | boolean | number

/**
 * The request's condition keys, named as AWS names them ('kms:EncryptionContext:Department',
 * 'kms:CallerAccount', 'aws:SecureTransport', ...). Names are matched ignoring case, as AWS
 * does. A key that is missing, `undefined` or an empty list is not present in the request.
 */
export type ConditionContext = Record<string, ConditionValue | undefined>

export interface AuthorizationRequest {
  /** 'aws' */
  partition: string
  /** The account that owns the key, which is also the caller's: Trent serves a single account. */
  account: string
  /** 'arn:aws:iam::111122223333:root' or 'arn:aws:iam::111122223333:user/alice' */
  principalArn: string
  /** 'kms:Encrypt'; matched against policies ignoring case. */
  action: string
  /** The key ARN, or '*' for actions that name no key (CreateKey, ListKeys, GenerateRandom, ...). */
  resource: string
  context: ConditionContext
}

export interface GrantForAuthorization {
  grantId: string
  /**
   * The grantee's principal ARN, compared exactly with the caller's. Absent for a grant to an
   * AWS service principal (GranteeServicePrincipal), which no caller of Trent ever is.
   */
  granteePrincipal?: string
  /** KMS operation names: 'Encrypt', 'ReEncryptFrom', 'CreateGrant', ... */
  operations: string[]
  constraints?: {
    encryptionContextEquals?: Record<string, string>
    encryptionContextSubset?: Record<string, string>
    /**
     * The grant applies only to requests whose `aws:SourceArn` is this ARN (AWS: "effectively
     * the same as having the aws:SourceArn global condition key in the grant").
     */
    sourceArn?: string
  }
}

export interface AuthorizationInputs {
  /** The key's policy; undefined for actions on '*'. */
  keyPolicy?: PolicyDocument
  /** The caller's IAM policies; empty for root (and ignored for root in any case). */
  identityPolicies: PolicyDocument[]
  /** Every grant on the key, whoever the grantee; the engine picks the ones that apply. */
  grants: GrantForAuthorization[]
  /** The grant operation this request is ('Encrypt', 'ReEncryptFrom', ...); undefined if no grant can allow it. */
  grantOperation?: string
  /** The request's encryption context, for grant constraints (undefined = none given). */
  encryptionContext?: Record<string, string>
  /**
   * Whether the operation takes an encryption context on this key, which decides whether
   * grant constraints are checked at all. AWS applies them only to cryptographic operations
   * with symmetric encryption keys: leave this out and it is true exactly for the
   * operations that take one (Encrypt, Decrypt, ReEncryptFrom/To, GenerateDataKey*); pass
   * false for an asymmetric or HMAC key.
   */
  encryptionContextApplies?: boolean
}

export type PolicySource = 'key-policy' | 'identity-policy'

/** Which statement decided, for logs: `policyIndex` is the position in identityPolicies. */
export interface DecidingStatement {
  policy: PolicySource
  policyIndex?: number
  /** 0-based position of the statement in its policy. */
  statementIndex: number
  sid?: string
}

export type Decision =
  | { allowed: true; by: 'key-policy' | 'identity-policy' | 'grant'; grantId?: string; statement?: DecidingStatement }
  | {
      allowed: false
      explicitDeny: boolean
      deniedBy?: PolicySource
      /**
       * For an implicit deny, the kind of policy whose Allow was missing, which is what
       * AWS's message names: 'key-policy' when the key policy neither allows the caller
       * nor delegates to the account, 'identity-policy' when it delegates but no IAM
       * policy allows (and for actions on '*').
       */
      noAllowIn?: PolicySource
      statement?: DecidingStatement
    }
