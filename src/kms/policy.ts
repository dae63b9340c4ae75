/**
 * Key policies. Trent stores and returns policies; it does not evaluate them yet (every
 * caller is the account's administrator), so the checks here are the document checks.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'

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

export function checkPolicyDocument(policy: string): void {
  if (Buffer.byteLength(policy, 'utf8') > MAX_POLICY_BYTES) {
    throw new KmsError('LimitExceededException', 'Policy exceeds the maximum allowed size of 32 KB.')
  }
  let document: unknown
  try {
    document = JSON.parse(policy)
  } catch {
    throw new KmsError('MalformedPolicyDocumentException', 'The policy document is not valid JSON.')
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new KmsError('MalformedPolicyDocumentException', 'The policy document must be a JSON object.')
  }
  const statement = (document as Record<string, unknown>).Statement
  if (statement === undefined) {
    throw new KmsError('MalformedPolicyDocumentException', 'Policy is missing required element - Statement')
  }
}

export function checkPolicyName(policyName: string | undefined): void {
  if (policyName !== undefined && policyName !== 'default') {
    throw new KmsError('NotFoundException', 'No such policy exists')
  }
}
