/**
 * The texts the engine answers with. Where AWS's own wording is on record, it is copied
 * byte for byte and the record is cited; the others are Trent's, and docs/authorization.md
 * lists which are which.
 *
 * @module
 */
import type { AuthorizationRequest, Decision } from './types.js'

/**
 * PutKeyPolicy / CreateKey / ReplicateKey when the new policy would lock the caller out.
 * Recorded in many public reports of the AWS error, e.g. trussworks/terraform-aws-cloudtrail
 * issue #178 and aws-solutions/innovation-sandbox-on-aws issue #31 (CloudTrail errorMessage).
 */
export const LOCKOUT_MESSAGE = 'The new key policy will not allow you to update the key policy in the future.'

/** Texts of MalformedPolicyDocumentException (and one LimitExceededException) for key policies. */
export const POLICY_MESSAGES = {
  /** AWS (terraform-aws-modules/terraform-aws-eks PR #2163: a statement whose principal list came out empty). */
  noPrincipal: 'Policy contains a statement with no principal.',
  /** AWS (AWS knowledge-center article "kms-policy-error-invalid-principals"; many Terraform reports). */
  invalidPrincipals: 'Policy contains a statement with one or more invalid principals.',
  /**
   * AWS, verbatim from the KMS developer guide (conditions-kms, kms:EncryptionContext:context-key):
   * ForAllValues with kms:EncryptionContext:<key> is refused.
   */
  overlyPermissiveEncryptionContext:
    'OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues.',
  /** Filled in from the guide's general template ("[encryption context or tag]"); the exact tag variant is not on record. */
  overlyPermissiveRequestTag:
    'OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues.',
  /** Trent's wording (as src/kms/policy.ts already used it); AWS's is not on record. Raised as LimitExceededException, as the API reference documents. */
  tooLarge: 'Policy exceeds the maximum allowed size of 32 KB.',
  // The rest are Trent's wording: no AWS recording of these cases was found.
  notJson: 'The policy document is not valid JSON.',
  notObject: 'The policy document must be a JSON object.',
  missingStatement: 'Policy is missing required element - Statement',
  unsupportedElement: (name: string) => `Policy contains an unsupported element: ${name}.`,
  invalidVersion: (version: unknown) =>
    `Policy contains an unsupported Version: ${JSON.stringify(version)}. Use "2012-10-17" or "2008-10-17".`,
  invalidId: 'Policy contains an Id that is not a string.',
  statementNotObject: 'Policy contains a statement that is not a JSON object.',
  statementUnsupportedElement: (name: string) => `Policy contains a statement with an unsupported element: ${name}.`,
  invalidEffect: 'Policy contains a statement with a missing or invalid Effect. Effect must be "Allow" or "Deny".',
  conflictingElements: (a: string, b: string) => `Policy contains a statement with both ${a} and ${b}.`,
  invalidElement: (name: string) => `Policy contains a statement with an invalid ${name} element.`,
  unsupportedConditionOperator: (operator: string) => `Policy contains a statement with an unsupported condition operator: ${operator}.`,
  invalidCondition: (detail: string) => `Policy contains a statement with an invalid condition: ${detail}.`,
} as const

/**
 * AWS's AccessDeniedException text for a denied decision. The four forms are on record
 * from real AWS KMS responses:
 * - "... because no resource-based policy allows the kms:DescribeKey action" (jbrt/ec2cryptomatic issue #26;
 *   for the root user: "User: arn:aws:iam::<acct>:root is not authorized to perform: kms:Decrypt on resource: ...");
 * - "... because no identity-based policy allows the kms:Decrypt action" (cattle-ops/terraform-aws-gitlab-runner PR #1253);
 *   for CreateKey the resource is "*" (aws-ia/terraform-aws-control_tower_account_factory issue #569);
 * - "... with an explicit deny in a resource-based policy" (aws/aws-nitro-enclaves-sdk-c issue #157, raw JSON body);
 * - "... with an explicit deny in an identity-based policy" (the IAM form; AWS may append ": <policy ARN>",
 *   which Trent cannot give: its identity policies have no ARN).
 * None ends with a period.
 */
export function accessDeniedMessage(request: AuthorizationRequest, decision: Decision): string {
  if (decision.allowed) throw new Error('accessDeniedMessage: the decision allows the request')
  const head = `User: ${request.principalArn} is not authorized to perform: ${request.action} on resource: ${request.resource}`
  if (decision.explicitDeny) {
    const source = decision.deniedBy ?? (request.resource === '*' ? 'identity-policy' : 'key-policy')
    return source === 'key-policy'
      ? `${head} with an explicit deny in a resource-based policy`
      : `${head} with an explicit deny in an identity-based policy`
  }
  const missing = decision.noAllowIn ?? (request.resource === '*' ? 'identity-policy' : 'key-policy')
  const kind = missing === 'key-policy' ? 'resource-based' : 'identity-based'
  return `${head} because no ${kind} policy allows the ${request.action} action`
}
