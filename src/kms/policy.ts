/**
 * Key policies: the default one, and the checks a new policy passes before it is stored
 * (the document checks of ./authorization, and AWS's policy lockout safety check).
 * Policies are evaluated on every request by ./access.ts (docs/authorization.md).
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import { LOCKOUT_MESSAGE, allowsFuturePolicyUpdate } from './authorization/index.js'
import { parsedKeyPolicy } from './access.js'
import type { Kms } from './kms.js'
import type { Caller } from './operation.js'

/** The default key policy, byte for byte as AWS returns it (reference §4.6). */
export function defaultKeyPolicy(partition: string, accountId: string): string {
  return (
    '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n' +
    '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n' +
    `      "AWS" : "arn:${partition}:iam::${accountId}:root"\n    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}`
  )
}

/** AWS's key policy quota: 32 KB, not adjustable (reference §9.2). */
const MAX_POLICY_BYTES = 32 * 1024

/** The document checks: size, then AWS's MalformedPolicyDocumentException checks. */
export function checkPolicyDocument(policy: string): void {
  if (Buffer.byteLength(policy, 'utf8') > MAX_POLICY_BYTES) {
    throw new KmsError('LimitExceededException', 'Policy exceeds the maximum allowed size of 32 KB.')
  }
  parsedKeyPolicy(policy)
}

/**
 * A policy about to become a key's (CreateKey, PutKeyPolicy, ReplicateKey): a valid
 * document that, unless the caller bypasses the check, still lets the caller change the
 * policy later (AWS's policy lockout safety check): kms:PutKeyPolicy on the key's ARN.
 */
export function checkNewKeyPolicy(kms: Kms, policy: string, caller: Caller, bypassLockoutCheck: boolean, keyArn: string): void {
  checkPolicyDocument(policy)
  if (bypassLockoutCheck) return
  const allowed = allowsFuturePolicyUpdate(
    parsedKeyPolicy(policy),
    { partition: kms.partition, account: kms.accountId, principalArn: caller.principalArn, resource: keyArn },
    [...caller.identityPolicies],
  )
  if (!allowed) throw new KmsError('MalformedPolicyDocumentException', LOCKOUT_MESSAGE)
}

export function checkPolicyName(policyName: string | undefined): void {
  if (policyName !== undefined && policyName !== 'default') {
    throw new KmsError('NotFoundException', 'No such policy exists')
  }
}
