/**
 * Policy document validation: which documents are refused, with which exception and text.
 * Key policies answer with AWS's MalformedPolicyDocumentException (texts on record where
 * AWS's are known, see docs/authorization.md); identity policies, which come from Trent's
 * configuration, with a plain Error that names the statement.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { LOCKOUT_MESSAGE, parsePolicy, parsePolicyValue, POLICY_MESSAGES } from '../../src/kms/authorization/index.js'
import { matchesLiteralPattern } from '../../src/kms/authorization/patterns.js'
import { isKmsError } from '../../src/wire/errors.js'

const ROOT = 'arn:aws:iam::111122223333:root'
const GOOD_STATEMENT = { Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' }
const withStatement = (statement: unknown): string => JSON.stringify({ Version: '2012-10-17', Statement: [statement] })

function assertMalformed(text: string, message: string, name: string = 'MalformedPolicyDocumentException'): void {
  assert.throws(
    () => parsePolicy(text, 'key'),
    (error: unknown) => {
      assert.ok(isKmsError(error), 'a KmsError')
      assert.equal(error.name, name)
      assert.equal(error.wireMessage, message)
      return true
    },
  )
}

describe('key policy validation', () => {
  const cases: readonly { name: string; text: string; message: string; exception?: string }[] = [
    { name: 'invalid JSON', text: '{"Statement": [', message: POLICY_MESSAGES.notJson },
    { name: 'a JSON array', text: '[]', message: POLICY_MESSAGES.notObject },
    { name: 'a JSON string', text: '"policy"', message: POLICY_MESSAGES.notObject },
    { name: 'no Statement', text: '{"Version": "2012-10-17"}', message: 'Policy is missing required element - Statement' },
    {
      name: 'an unknown top-level element',
      text: JSON.stringify({ Version: '2012-10-17', Statement: [GOOD_STATEMENT], Extra: 1 }),
      message: 'Policy contains an unsupported element: Extra.',
    },
    {
      name: 'an unsupported Version',
      text: JSON.stringify({ Version: '2020-01-01', Statement: [GOOD_STATEMENT] }),
      message: POLICY_MESSAGES.invalidVersion('2020-01-01'),
    },
    { name: 'a non-string Id', text: JSON.stringify({ Id: 5, Statement: [GOOD_STATEMENT] }), message: POLICY_MESSAGES.invalidId },
    { name: 'a statement that is not an object', text: withStatement('Allow everything'), message: POLICY_MESSAGES.statementNotObject },
    {
      name: 'a statement without Effect',
      text: withStatement({ ...GOOD_STATEMENT, Effect: undefined }),
      message: POLICY_MESSAGES.invalidEffect,
    },
    {
      name: 'Effect in the wrong case',
      text: withStatement({ ...GOOD_STATEMENT, Effect: 'allow' }),
      message: POLICY_MESSAGES.invalidEffect,
    },
    {
      name: 'an unknown statement element',
      text: withStatement({ ...GOOD_STATEMENT, Principals: '*' }),
      message: 'Policy contains a statement with an unsupported element: Principals.',
    },
    {
      name: 'a statement without Principal',
      text: withStatement({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }),
      message: 'Policy contains a statement with no principal.',
    },
    {
      name: 'an empty principal list',
      text: withStatement({ ...GOOD_STATEMENT, Principal: { AWS: [] } }),
      message: 'Policy contains a statement with no principal.',
    },
    {
      name: 'both Principal and NotPrincipal',
      text: withStatement({ ...GOOD_STATEMENT, NotPrincipal: { AWS: ROOT } }),
      message: 'Policy contains a statement with both Principal and NotPrincipal.',
    },
    {
      name: 'both Action and NotAction',
      text: withStatement({ ...GOOD_STATEMENT, NotAction: 'kms:Decrypt' }),
      message: 'Policy contains a statement with both Action and NotAction.',
    },
    {
      name: 'a non-string action',
      text: withStatement({ ...GOOD_STATEMENT, Action: ['kms:Encrypt', 7] }),
      message: 'Policy contains a statement with an invalid Action element.',
    },
    {
      name: 'a non-string Sid',
      text: withStatement({ ...GOOD_STATEMENT, Sid: 1 }),
      message: 'Policy contains a statement with an invalid Sid element.',
    },
    {
      name: 'a principal that is a plain name',
      text: withStatement({ ...GOOD_STATEMENT, Principal: { AWS: 'alice' } }),
      message: 'Policy contains a statement with one or more invalid principals.',
    },
    {
      name: 'a principal with a wildcard',
      text: withStatement({ ...GOOD_STATEMENT, Principal: { AWS: 'arn:aws:iam::111122223333:user/*' } }),
      message: 'Policy contains a statement with one or more invalid principals.',
    },
    {
      name: 'a group as principal',
      text: withStatement({ ...GOOD_STATEMENT, Principal: { AWS: 'arn:aws:iam::111122223333:group/admins' } }),
      message: 'Policy contains a statement with one or more invalid principals.',
    },
    {
      name: 'a Federated principal',
      text: withStatement({ ...GOOD_STATEMENT, Principal: { Federated: 'cognito-identity.amazonaws.com' } }),
      message: 'Policy contains a statement with one or more invalid principals.',
    },
    {
      name: 'a principal string other than *',
      text: withStatement({ ...GOOD_STATEMENT, Principal: ROOT }),
      message: 'Policy contains a statement with one or more invalid principals.',
    },
    {
      name: 'a numeric principal',
      text: withStatement({ ...GOOD_STATEMENT, Principal: { AWS: 111122223333 } }),
      message: 'Policy contains a statement with one or more invalid principals.',
    },
    {
      name: 'an unsupported condition operator',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { StringSortOf: { 'kms:CallerAccount': 'x' } } }),
      message: 'Policy contains a statement with an unsupported condition operator: StringSortOf.',
    },
    {
      name: 'an unknown set operator',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { 'ForSomeValues:StringEquals': { 'kms:GrantOperations': 'x' } } }),
      message: 'Policy contains a statement with an unsupported condition operator: ForSomeValues:StringEquals.',
    },
    {
      name: 'NullIfExists',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { NullIfExists: { 'kms:ViaService': 'true' } } }),
      message: 'Policy contains a statement with an unsupported condition operator: NullIfExists.',
    },
    {
      name: 'a numeric condition with a word',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { NumericLessThan: { 'kms:Custom': 'ten' } } }),
      message: POLICY_MESSAGES.invalidCondition('NumericLessThan cannot compare kms:Custom with "ten"'),
    },
    {
      name: 'a Bool condition with a word',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { Bool: { 'aws:SecureTransport': 'yes' } } }),
      message: POLICY_MESSAGES.invalidCondition('Bool cannot compare aws:SecureTransport with "yes"'),
    },
    {
      name: 'an IP condition that is not an address',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } }),
      message: POLICY_MESSAGES.invalidCondition('IpAddress cannot compare aws:SourceIp with "10.0.0.0/33"'),
    },
    {
      name: 'a condition value that is an object',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { StringEquals: { 'kms:CallerAccount': { a: 1 } } } }),
      message: POLICY_MESSAGES.invalidCondition('StringEquals needs a key and one or more string, number or boolean values'),
    },
    {
      name: 'a Condition that is not an object',
      text: withStatement({ ...GOOD_STATEMENT, Condition: 'none' }),
      message: POLICY_MESSAGES.invalidCondition('the Condition element must be a JSON object'),
    },
    {
      name: 'ForAllValues with kms:EncryptionContext:<key> (AWS text)',
      text: withStatement({ ...GOOD_STATEMENT, Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContext:Department': 'IT' } } }),
      message:
        'OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues.',
    },
    {
      name: 'a policy over 32 KB',
      text: withStatement({ ...GOOD_STATEMENT, Sid: 'x'.repeat(32 * 1024) }),
      message: 'Policy exceeds the maximum allowed size of 32 KB.',
      exception: 'LimitExceededException',
    },
  ]
  for (const c of cases) test(`refuses ${c.name}`, () => assertMalformed(c.text, c.message, c.exception))

  test('accepts the default key policy exactly as AWS writes it', () => {
    const text =
      '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n      "AWS" : "arn:aws:iam::111122223333:root"\n    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}'
    const policy = parsePolicy(text, 'key')
    assert.equal(policy.id, 'key-default-1')
    assert.equal(policy.version, '2012-10-17')
    assert.equal(policy.statements.length, 1)
    assert.equal(policy.statements[0]?.sid, 'Enable IAM User Permissions')
  })
  test('accepts a policy of exactly 32768 bytes', () => {
    const base = withStatement({ ...GOOD_STATEMENT, Sid: '' })
    const text = withStatement({ ...GOOD_STATEMENT, Sid: 'x'.repeat(32 * 1024 - Buffer.byteLength(base)) })
    assert.equal(Buffer.byteLength(text), 32 * 1024)
    assert.equal(parsePolicy(text, 'key').statements.length, 1)
  })
  test('accepts the principal forms AWS documents', () => {
    const principals = [
      '*',
      { AWS: '*' },
      { AWS: '111122223333' },
      { AWS: ['arn:aws:iam::111122223333:user/path/alice', 'arn:aws:iam::111122223333:role/Admin', '111122223333'] },
      { AWS: 'arn:aws:sts::111122223333:assumed-role/Admin/session' },
      { Service: 'logs.amazonaws.com' },
      { AWS: ROOT, Service: ['cloudtrail.amazonaws.com'] },
    ]
    for (const principal of principals)
      assert.doesNotThrow(() => parsePolicy(withStatement({ ...GOOD_STATEMENT, Principal: principal }), 'key'), JSON.stringify(principal))
  })
  test('accepts a statement without Action or Resource (AWS stores it; it has no effect)', () => {
    const policy = parsePolicy(withStatement({ Effect: 'Allow', Principal: '*' }), 'key')
    assert.equal(policy.statements[0]?.action, undefined)
    assert.equal(policy.statements[0]?.resource, undefined)
  })
  test('accepts every supported operator with IfExists and set operators', () => {
    const condition = {
      StringEqualsIfExists: { 'kms:ViaService': 'x' },
      'ForAnyValue:StringLikeIfExists': { 'kms:EncryptionContextKeys': 'a*' },
      'forallvalues:stringequals': { 'kms:GrantOperations': ['Encrypt'] },
      ArnNotLikeIfExists: { 'aws:PrincipalArn': 'arn:aws:iam::*:user/*' },
      NumericLessThanEqualsIfExists: { 'kms:Custom': 1.5 },
      DateGreaterThanEquals: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' },
      BinaryEquals: { 'kms:Custom': 'QmluYXJ5' },
      Null: { 'kms:RequestAlias': 'true' },
    }
    assert.equal(parsePolicy(withStatement({ ...GOOD_STATEMENT, Condition: condition }), 'key').statements[0]?.conditions.length, 8)
  })
  test('the lockout message is AWS text', () =>
    assert.equal(LOCKOUT_MESSAGE, 'The new key policy will not allow you to update the key policy in the future.'))
})

describe('identity policy validation', () => {
  const refuse = (policy: unknown, pattern: RegExp): void => {
    assert.throws(
      () => parsePolicyValue(policy, 'identity'),
      (error: unknown) => {
        assert.ok(error instanceof Error)
        assert.ok(!isKmsError(error), 'a configuration error is not a wire error')
        assert.match(error.message, pattern)
        return true
      },
    )
  }
  const statement = { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' }
  test('accepts a plain identity policy', () =>
    assert.equal(parsePolicyValue({ Version: '2012-10-17', Statement: [statement] }, 'identity').kind, 'identity'))
  test('accepts the same as text', () =>
    assert.equal(parsePolicy(JSON.stringify({ Statement: statement }), 'identity').statements.length, 1))
  test('refuses a Principal', () =>
    refuse({ Statement: [{ ...statement, Principal: '*' }] }, /statement 1: Principal is not allowed in an identity policy/))
  test('refuses a NotPrincipal, naming the Sid', () =>
    refuse(
      { Statement: [statement, { ...statement, Sid: 'Two', NotPrincipal: { AWS: ROOT } }] },
      /statement 2 \(Sid "Two"\): NotPrincipal is not allowed/,
    ))
  test('refuses a statement without Action', () =>
    refuse({ Statement: [{ Effect: 'Allow', Resource: '*' }] }, /needs a non-empty Action or NotAction/))
  test('refuses a statement without Resource', () =>
    refuse({ Statement: [{ Effect: 'Allow', Action: 'kms:*' }] }, /needs a non-empty Resource or NotResource/))
  test('refuses an action without a service prefix', () =>
    refuse({ Statement: [{ ...statement, Action: 'Encrypt' }] }, /"Encrypt" is not "service:Action"/))
  test('refuses invalid JSON text', () => assert.throws(() => parsePolicy('{', 'identity'), /Invalid identity policy: not valid JSON/))
  test('refuses a bad Effect', () =>
    refuse({ Statement: [{ ...statement, Effect: 'Permit' }] }, /Effect must be "Allow" or "Deny", not "Permit"/))
  test('refuses an unsupported operator', () =>
    refuse({ Statement: [{ ...statement, Condition: { Foo: { a: 'b' } } }] }, /unsupported condition operator Foo/))
  test('refuses ForAllValues with kms:EncryptionContext:<key>', () =>
    refuse(
      { Statement: [{ ...statement, Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContext:a': 'b' } } }] },
      /OverlyPermissiveCondition/,
    ))
  test('has no size limit of its own', () =>
    assert.doesNotThrow(() => parsePolicyValue({ Statement: [{ ...statement, Sid: 'x'.repeat(40_000) }] }, 'identity')))
})

describe('wildcard patterns', () => {
  const cases: readonly [pattern: string, text: string, ignoreCase: boolean, expected: boolean][] = [
    ['*', '', false, true],
    ['*', 'anything:at/all', false, true],
    ['kms:*', 'kms:Encrypt', false, true],
    ['kms:*', 's3:GetObject', false, false],
    ['kms:Generate*', 'kms:GenerateDataKeyPairWithoutPlaintext', false, true],
    ['kms:generate*', 'kms:GenerateDataKey', false, false],
    ['kms:generate*', 'kms:GenerateDataKey', true, true],
    ['a?c', 'abc', false, true],
    ['a?c', 'ac', false, false],
    ['a*b*c', 'aXbYbZc', false, true],
    ['a*b*c', 'aXbYbZ', false, false],
    ['*a', 'bbbba', false, true],
    ['', '', false, true],
    ['', 'x', false, false],
  ]
  for (const [pattern, text, ignoreCase, expected] of cases) {
    test(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(text)}${ignoreCase ? ' (ignoring case)' : ''}`, () =>
      assert.equal(matchesLiteralPattern(pattern, text, ignoreCase), expected))
  }
})
