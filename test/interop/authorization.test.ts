/**
 * Authorization through the AWS SDK v3, end to end (docs/authorization.md): real SDK
 * calls, signed by the account's root user or by IAM users of an identities directory,
 * against an in-process region. Each row of the table is one principal × key policy ×
 * identity policy × condition, with the decision AWS KMS would make, and, for a denial,
 * AWS's exact AccessDeniedException text. Grants, PutKeyPolicy's validation and lockout
 * check, account-level actions, TrentAdmin and a changing directory follow.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import {
  CreateAliasCommand,
  DeleteAliasCommand,
  UpdateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecapsulateCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncapsulateCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  ListGrantsCommand,
  ListKeysCommand,
  ListRetirableGrantsCommand,
  PutKeyPolicyCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  SignCommand,
  type CreateGrantCommandInput,
  type GrantListEntry,
  type KMSClient,
  type KeySpec,
  type KeyUsageType,
} from '@aws-sdk/client-kms'
import { createApiServer } from '../../src/api/server.js'
import { describeReplication } from '../../src/kms/admin/describe-replication.js'
import { parseIdentities, rootIdentity } from '../../src/kms/principals.js'
import { createLogger } from '../../src/log/logger.js'
import { rejectsWith } from '../helpers/aws-errors.js'
import { startInProcessRegion, TEST_CREDENTIALS, type InProcessRegion } from '../helpers/in-process-region.js'
import { sendRaw } from '../helpers/signed-http.js'

// The SDK warns once that it will drop Node 20; that is about the SDK, not Trent.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const ACCOUNT = '111122223333'
const REGION = 'us-east-1'
const ROOT_ARN = `arn:aws:iam::${ACCOUNT}:root`
const PLAINTEXT = Buffer.from('authorization test plaintext')
const LOCKOUT = 'The new key policy will not allow you to update the key policy in the future.'

const userArn = (name: string): string => `arn:aws:iam::${ACCOUNT}:user/${name}`

type Json = Record<string, unknown>
type EncryptionContext = Record<string, string>

// ---------------------------------------------------------------------------------------
// The region and its users
// ---------------------------------------------------------------------------------------

let region: InProcessRegion
let root: KMSClient

/** The users of the directory, by name: their IAM policies, as an identities file holds them. */
const users = new Map<string, Json[]>()
const clients = new Map<string, KMSClient>()

/** Access keys are derived from the name, so a user keeps its credentials across directory changes. */
function credentialsOf(name: string): { accessKeyId: string; secretAccessKey: string } {
  const digest = createHash('sha256').update(name).digest('hex').toUpperCase()
  return { accessKeyId: `AKIA${digest.slice(0, 16)}`, secretAccessKey: `secret-of-${name}-${digest.slice(16, 40)}` }
}

/** Publishes the directory to the region, through the same parser the identities file goes through. */
function publishDirectory(): void {
  const file = { users: [...users].map(([name, policies]) => ({ name, ...credentialsOf(name), policies })) }
  region.principals.replace([rootIdentity('aws', ACCOUNT, TEST_CREDENTIALS), ...parseIdentities(JSON.stringify(file), 'aws', ACCOUNT)])
}

function setUser(name: string, policies: Json[] = []): void {
  users.set(name, policies)
  publishDirectory()
}

function removeUser(name: string): void {
  users.delete(name)
  publishDirectory()
}

function clientOf(name: string): KMSClient {
  let client = clients.get(name)
  if (client === undefined) {
    client = region.clientAs(credentialsOf(name))
    clients.set(name, client)
  }
  return client
}

before(async () => {
  region = await startInProcessRegion({ region: REGION, accountId: ACCOUNT })
  root = region.client()
})
after(async () => {
  await region.close()
})

// ---------------------------------------------------------------------------------------
// Policies and expectations
// ---------------------------------------------------------------------------------------

/** The statement of the default key policy: the account delegates to IAM. */
const ACCOUNT_STATEMENT: Json = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: ROOT_ARN },
  Action: 'kms:*',
  Resource: '*',
}

function policy(...statements: Json[]): Json {
  return { Version: '2012-10-17', Statement: statements }
}

function allow(action: string | string[], resource: string | string[] = '*', condition?: Json): Json {
  return { Effect: 'Allow', Action: action, Resource: resource, ...(condition !== undefined ? { Condition: condition } : {}) }
}

function deny(action: string | string[], resource: string | string[] = '*', condition?: Json): Json {
  return { Effect: 'Deny', Action: action, Resource: resource, ...(condition !== undefined ? { Condition: condition } : {}) }
}

/** A key policy statement for `principal` (an ARN, or '*'). */
function forPrincipal(principal: string, statement: Json): Json {
  return { ...statement, Principal: principal === '*' ? '*' : { AWS: principal } }
}

/**
 * AWS's AccessDeniedException texts (docs/authorization.md §6), written out here rather
 * than taken from the engine, so a change of wording fails these tests.
 */
type DenialKind = 'no-resource-policy' | 'no-identity-policy' | 'explicit-deny-resource' | 'explicit-deny-identity'

function accessDenied(kind: DenialKind, principal: string, action: string, resource: string): string {
  const head = `User: ${principal} is not authorized to perform: ${action} on resource: ${resource}`
  switch (kind) {
    case 'no-resource-policy':
      return `${head} because no resource-based policy allows the ${action} action`
    case 'no-identity-policy':
      return `${head} because no identity-based policy allows the ${action} action`
    case 'explicit-deny-resource':
      return `${head} with an explicit deny in a resource-based policy`
    case 'explicit-deny-identity':
      return `${head} with an explicit deny in an identity-based policy`
  }
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

interface TestKey {
  keyId: string
  arn: string
}

async function createKey(spec: KeySpec = 'SYMMETRIC_DEFAULT', usage?: KeyUsageType, client: KMSClient = root): Promise<TestKey> {
  const { KeyMetadata } = await client.send(new CreateKeyCommand({ KeySpec: spec, ...(usage !== undefined ? { KeyUsage: usage } : {}) }))
  assert.ok(KeyMetadata?.KeyId !== undefined && KeyMetadata.Arn !== undefined)
  return { keyId: KeyMetadata.KeyId, arn: KeyMetadata.Arn }
}

/** Root sets a key policy, bypassing the lockout check: rows may lock root out on purpose. */
async function setKeyPolicy(keyId: string, document: Json): Promise<void> {
  await root.send(
    new PutKeyPolicyCommand({
      KeyId: keyId,
      PolicyName: 'default',
      Policy: JSON.stringify(document),
      BypassPolicyLockoutSafetyCheck: true,
    }),
  )
}

function encrypt(client: KMSClient, keyId: string, context?: EncryptionContext, grantTokens?: string[]): Promise<unknown> {
  return client.send(
    new EncryptCommand({
      KeyId: keyId,
      Plaintext: PLAINTEXT,
      ...(context !== undefined ? { EncryptionContext: context } : {}),
      ...(grantTokens !== undefined ? { GrantTokens: grantTokens } : {}),
    }),
  )
}

async function rootCiphertext(keyId: string, context?: EncryptionContext): Promise<Uint8Array> {
  const { CiphertextBlob } = await root.send(
    new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT, ...(context !== undefined ? { EncryptionContext: context } : {}) }),
  )
  return CiphertextBlob ?? assert.fail('no ciphertext')
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/** What a row's call sees: its key, its alias, a ciphertext made under its context, its user. */
interface RowContext {
  key: TestKey
  alias: string
  ciphertext: Uint8Array | undefined
  user: string
  userArn: string
}

type Expectation = 'allowed' | { denied: DenialKind; action: string; resource?: 'key' | '*' } | { error: string; message?: string }

interface Row {
  name: string
  /** The row's key; symmetric by default. */
  key?: { spec: KeySpec; usage: KeyUsageType }
  /** The key policy; the default one when absent. */
  keyPolicy?: (c: RowContext) => Json
  /** The calling user's IAM policies; none when absent. Ignored when the row calls as root. */
  iam?: (c: RowContext) => Json[]
  as?: 'root' | 'user'
  /** For calls that decrypt: the encryption context root encrypts under before the policy is set. */
  ciphertextContext?: EncryptionContext
  call: (kms: KMSClient, c: RowContext) => Promise<unknown>
  expect: Expectation
}

const sign = (kms: KMSClient, keyId: string, algorithm: 'ECDSA_SHA_256' | 'RSASSA_PSS_SHA_256'): Promise<unknown> =>
  kms.send(new SignCommand({ KeyId: keyId, Message: PLAINTEXT, MessageType: 'RAW', SigningAlgorithm: algorithm }))
const describeKey = (kms: KMSClient, keyId: string): Promise<unknown> => kms.send(new DescribeKeyCommand({ KeyId: keyId }))
const decrypt = (kms: KMSClient, c: RowContext, context?: EncryptionContext): Promise<unknown> =>
  kms.send(
    new DecryptCommand({
      CiphertextBlob: c.ciphertext ?? assert.fail('the row made no ciphertext'),
      ...(context !== undefined ? { EncryptionContext: context } : {}),
    }),
  )
const createGrant = (kms: KMSClient, c: RowContext, operations: CreateGrantCommandInput['Operations']): Promise<unknown> =>
  kms.send(new CreateGrantCommand({ KeyId: c.key.keyId, GranteePrincipal: userArn('grant-target'), Operations: operations }))

const ECC_SIGN = { spec: 'ECC_NIST_P256', usage: 'SIGN_VERIFY' } as const
const RSA_SIGN = { spec: 'RSA_2048', usage: 'SIGN_VERIFY' } as const
const IT = { Department: 'IT' }
const EC_DEPARTMENT_IS_IT = { StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }

const ROWS: Row[] = [
  // --- The root user --------------------------------------------------------------------
  { name: 'root, default key policy: Encrypt', as: 'root', call: (k, c) => encrypt(k, c.key.keyId), expect: 'allowed' },
  { name: 'root, default key policy: DescribeKey', as: 'root', call: (k, c) => describeKey(k, c.key.keyId), expect: 'allowed' },
  {
    name: 'root, a key policy that names neither root nor the account: Encrypt is denied',
    as: 'root',
    keyPolicy: () => policy(forPrincipal(userArn('someone-else'), allow('kms:*'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  },
  {
    name: 'root, a key policy that names neither root nor the account: DescribeKey is denied',
    as: 'root',
    keyPolicy: () => policy(forPrincipal(userArn('someone-else'), allow('kms:*'))),
    call: (k, c) => describeKey(k, c.key.keyId),
    expect: { denied: 'no-resource-policy', action: 'kms:DescribeKey' },
  },
  {
    name: 'root, a key policy naming the bare account id: allowed',
    as: 'root',
    keyPolicy: () => policy(forPrincipal(ACCOUNT, allow('kms:*'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'root, a Deny for the account in the key policy: denied even though the account is allowed',
    as: 'root',
    keyPolicy: () => policy(ACCOUNT_STATEMENT, forPrincipal(ROOT_ARN, deny('kms:Encrypt'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'explicit-deny-resource', action: 'kms:Encrypt' },
  },

  // --- Users, the default key policy and IAM ---------------------------------------------
  {
    name: 'user without IAM policy, default key policy: Encrypt is denied',
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'no-identity-policy', action: 'kms:Encrypt' },
  },
  {
    name: 'user without IAM policy, default key policy: DescribeKey is denied',
    call: (k, c) => describeKey(k, c.key.keyId),
    expect: { denied: 'no-identity-policy', action: 'kms:DescribeKey' },
  },
  {
    name: 'IAM allows kms:Encrypt on the key ARN: Encrypt is allowed',
    iam: (c) => [policy(allow('kms:Encrypt', c.key.arn))],
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'IAM allows kms:Encrypt on the key ARN: Decrypt is still denied',
    iam: (c) => [policy(allow('kms:Encrypt', c.key.arn))],
    ciphertextContext: {},
    call: (k, c) => decrypt(k, c),
    expect: { denied: 'no-identity-policy', action: 'kms:Decrypt' },
  },
  {
    name: 'IAM allows kms:Encrypt on *: Encrypt is allowed',
    iam: () => [policy(allow('kms:Encrypt'))],
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'IAM allows kms:Encrypt on *: Decrypt is still denied',
    iam: () => [policy(allow('kms:Encrypt'))],
    ciphertextContext: {},
    call: (k, c) => decrypt(k, c),
    expect: { denied: 'no-identity-policy', action: 'kms:Decrypt' },
  },
  {
    name: 'IAM action names ignore case (kms:encrypt)',
    iam: () => [policy(allow('kms:encrypt'))],
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'IAM allows kms:Encrypt on another key only: denied',
    iam: () => [policy(allow('kms:Encrypt', `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`))],
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'no-identity-policy', action: 'kms:Encrypt' },
  },
  {
    name: 'IAM allows kms:Encrypt on key/* of the account (wildcard resource): allowed',
    iam: () => [policy(allow('kms:Encrypt', `arn:aws:kms:*:${ACCOUNT}:key/*`))],
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'IAM allows kms:* on *, but the key policy does not delegate to the account: denied',
    iam: () => [policy(allow('kms:*'))],
    keyPolicy: () => policy(forPrincipal(userArn('someone-else'), allow('kms:*'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  },
  {
    name: 'the key policy names the user directly (no IAM policy): allowed',
    keyPolicy: (c) => policy(ACCOUNT_STATEMENT, forPrincipal(c.userArn, allow(['kms:Encrypt', 'kms:DescribeKey']))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'the key policy names the user for Encrypt only: Decrypt is denied',
    keyPolicy: (c) => policy(forPrincipal(c.userArn, allow('kms:Encrypt'))),
    ciphertextContext: {},
    call: (k, c) => decrypt(k, c),
    expect: { denied: 'no-resource-policy', action: 'kms:Decrypt' },
  },
  {
    name: 'the key policy names the user, but another key in Resource: denied',
    keyPolicy: (c) =>
      policy(forPrincipal(c.userArn, allow('kms:Encrypt', `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  },
  {
    name: 'the key policy allows Principal "*": allowed without IAM',
    keyPolicy: () => policy(forPrincipal('*', allow('kms:Encrypt'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: 'allowed',
  },

  // --- Explicit Deny -----------------------------------------------------------------------
  {
    name: 'an explicit Deny in the key policy beats an IAM Allow',
    iam: () => [policy(allow('kms:*'))],
    keyPolicy: (c) => policy(ACCOUNT_STATEMENT, forPrincipal(c.userArn, deny('kms:Encrypt'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'explicit-deny-resource', action: 'kms:Encrypt' },
  },
  {
    name: 'an explicit Deny in IAM beats a key policy Allow naming the user',
    iam: () => [policy(deny('kms:Encrypt'))],
    keyPolicy: (c) => policy(ACCOUNT_STATEMENT, forPrincipal(c.userArn, allow('kms:*'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'explicit-deny-identity', action: 'kms:Encrypt' },
  },
  {
    name: 'a Deny of the account in the key policy applies to its users',
    iam: () => [policy(allow('kms:*'))],
    keyPolicy: () => policy(ACCOUNT_STATEMENT, forPrincipal(ROOT_ARN, deny('kms:Encrypt'))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: { denied: 'explicit-deny-resource', action: 'kms:Encrypt' },
  },
  ...(['IT', 'HR', undefined] as const).map((department): Row => ({
    name: `a key policy Deny with StringNotEquals kms:EncryptionContext:Department IT, context Department=${department ?? '(none)'}`,
    iam: () => [policy(allow('kms:*'))],
    keyPolicy: (c) =>
      policy(
        ACCOUNT_STATEMENT,
        forPrincipal(c.userArn, deny('kms:Encrypt', '*', { StringNotEquals: { 'kms:EncryptionContext:Department': 'IT' } })),
      ),
    call: (k, c) => encrypt(k, c.key.keyId, department === undefined ? undefined : { Department: department }),
    // A negated operator holds when the key is absent, so the Deny applies without a context.
    expect: department === 'IT' ? 'allowed' : { denied: 'explicit-deny-resource', action: 'kms:Encrypt' },
  })),
  ...(['IT', 'HR'] as const).map((department): Row => ({
    name: `an IAM Deny with StringNotEquals kms:EncryptionContext:Department IT, context Department=${department}`,
    iam: () => [policy(allow('kms:*'), deny('kms:Encrypt', '*', { StringNotEquals: { 'kms:EncryptionContext:Department': 'IT' } }))],
    call: (k, c) => encrypt(k, c.key.keyId, { Department: department }),
    expect: department === 'IT' ? 'allowed' : { denied: 'explicit-deny-identity', action: 'kms:Encrypt' },
  })),

  // --- Conditions on real requests ----------------------------------------------------------
  ...(
    [
      [{ Department: 'IT' }, 'allowed'],
      [{ department: 'IT' }, 'allowed'], // the context-key part of the condition key ignores case
      [{ Department: 'it' }, 'denied'], // StringEquals compares values with case
      [{ Department: 'HR' }, 'denied'],
      [undefined, 'denied'],
    ] as const
  ).map(([context, outcome]): Row => ({
    name: `kms:EncryptionContext:Department StringEquals IT in the key policy, context ${JSON.stringify(context ?? null)}: ${outcome}`,
    keyPolicy: (c) => policy(forPrincipal(c.userArn, allow('kms:Encrypt', '*', EC_DEPARTMENT_IS_IT))),
    call: (k, c) => encrypt(k, c.key.keyId, context),
    expect: outcome === 'allowed' ? 'allowed' : { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  })),
  {
    name: 'kms:EncryptionContext:Department StringEquals IT in IAM, Decrypt with that context: allowed',
    iam: () => [policy(allow('kms:Decrypt', '*', EC_DEPARTMENT_IS_IT))],
    ciphertextContext: IT,
    call: (k, c) => decrypt(k, c, IT),
    expect: 'allowed',
  },
  ...(
    [
      [{ Department: 'IT' }, 'allowed'],
      [{ Department: 'IT', Project: 'X' }, 'allowed'],
      [{ Department: 'IT', Other: 'X' }, 'denied'],
      [undefined, 'allowed'], // ForAllValues holds when the key is absent
    ] as const
  ).map(([context, outcome]): Row => ({
    name: `ForAllValues:StringEquals kms:EncryptionContextKeys [Department, Project], context ${JSON.stringify(context ?? null)}: ${outcome}`,
    iam: () => [
      policy(allow('kms:Encrypt', '*', { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['Department', 'Project'] } })),
    ],
    call: (k, c) => encrypt(k, c.key.keyId, context),
    expect: outcome === 'allowed' ? 'allowed' : { denied: 'no-identity-policy', action: 'kms:Encrypt' },
  })),
  ...(
    [
      [{ Department: 'IT', Other: 'X' }, 'allowed'],
      [{ department: 'IT' }, 'denied'], // the key is a condition value here: its case counts
      [{ Other: 'X' }, 'denied'],
      [undefined, 'denied'], // ForAnyValue fails when the key is absent
    ] as const
  ).map(([context, outcome]): Row => ({
    name: `ForAnyValue:StringEquals kms:EncryptionContextKeys Department, context ${JSON.stringify(context ?? null)}: ${outcome}`,
    iam: () => [policy(allow('kms:Encrypt', '*', { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'Department' } }))],
    call: (k, c) => encrypt(k, c.key.keyId, context),
    expect: outcome === 'allowed' ? 'allowed' : { denied: 'no-identity-policy', action: 'kms:Encrypt' },
  })),
  ...([ACCOUNT, '444455556666'] as const).map((account): Row => ({
    name: `kms:CallerAccount StringEquals ${account} with Principal "*"`,
    keyPolicy: () => policy(forPrincipal('*', allow('kms:Encrypt', '*', { StringEquals: { 'kms:CallerAccount': account } }))),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: account === ACCOUNT ? 'allowed' : { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  })),
  {
    name: 'kms:KeySpec: IAM allows Sign only on ECC keys; Sign with an ECC key is allowed',
    key: ECC_SIGN,
    iam: () => [policy(allow('kms:Sign', '*', { StringLike: { 'kms:KeySpec': 'ECC_*' } }))],
    call: (k, c) => sign(k, c.key.keyId, 'ECDSA_SHA_256'),
    expect: 'allowed',
  },
  {
    name: 'kms:KeySpec: IAM allows Sign only on ECC keys; Sign with an RSA key is denied',
    key: RSA_SIGN,
    iam: () => [policy(allow('kms:Sign', '*', { StringLike: { 'kms:KeySpec': 'ECC_*' } }))],
    call: (k, c) => sign(k, c.key.keyId, 'RSASSA_PSS_SHA_256'),
    expect: { denied: 'no-identity-policy', action: 'kms:Sign' },
  },
  {
    name: 'kms:KeyUsage SIGN_VERIFY: DescribeKey of a signing key is allowed',
    key: ECC_SIGN,
    iam: () => [policy(allow('kms:DescribeKey', '*', { StringEquals: { 'kms:KeyUsage': 'SIGN_VERIFY' } }))],
    call: (k, c) => describeKey(k, c.key.keyId),
    expect: 'allowed',
  },
  {
    name: 'kms:KeyUsage SIGN_VERIFY: DescribeKey of an encryption key is denied',
    iam: () => [policy(allow('kms:DescribeKey', '*', { StringEquals: { 'kms:KeyUsage': 'SIGN_VERIFY' } }))],
    call: (k, c) => describeKey(k, c.key.keyId),
    expect: { denied: 'no-identity-policy', action: 'kms:DescribeKey' },
  },
  ...(['alias name', 'alias ARN', 'key id', 'key ARN'] as const).map((via): Row => ({
    name: `kms:RequestAlias: Encrypt via the ${via}`,
    keyPolicy: (c) =>
      policy(ACCOUNT_STATEMENT, forPrincipal(c.userArn, allow('kms:Encrypt', '*', { StringEquals: { 'kms:RequestAlias': c.alias } }))),
    call: (k, c) => {
      const keyId = {
        'alias name': c.alias,
        'alias ARN': `arn:aws:kms:${REGION}:${ACCOUNT}:${c.alias}`,
        'key id': c.key.keyId,
        'key ARN': c.key.arn,
      }[via]
      return encrypt(k, keyId)
    },
    expect: via.startsWith('alias') ? 'allowed' : { denied: 'no-identity-policy', action: 'kms:Encrypt' },
  })),
  ...(
    [
      [['Encrypt'], 'allowed'],
      [['Encrypt', 'Decrypt'], 'allowed'],
      [['Encrypt', 'ReEncryptFrom'], 'denied'],
    ] as const
  ).map(([operations, outcome]): Row => ({
    name: `kms:GrantOperations ForAllValues [Encrypt, Decrypt], CreateGrant for ${operations.join(', ')}: ${outcome}`,
    keyPolicy: (c) =>
      policy(
        forPrincipal(
          c.userArn,
          allow('kms:CreateGrant', '*', { 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Encrypt', 'Decrypt'] } }),
        ),
      ),
    call: (k, c) => createGrant(k, c, [...operations]),
    expect: outcome === 'allowed' ? 'allowed' : { denied: 'no-resource-policy', action: 'kms:CreateGrant' },
  })),
  ...([true, false] as const).map((itself): Row => ({
    name: `aws:PrincipalArn ArnEquals ${itself ? 'the caller' : 'another user'} with Principal "*"`,
    keyPolicy: (c) =>
      policy(
        forPrincipal('*', allow('kms:Encrypt', '*', { ArnEquals: { 'aws:PrincipalArn': itself ? c.userArn : userArn('someone-else') } })),
      ),
    call: (k, c) => encrypt(k, c.key.keyId),
    expect: itself ? 'allowed' : { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  })),
  ...([IT, undefined] as const).map((context): Row => ({
    name: `Null kms:EncryptionContextKeys false (a context is required), context ${JSON.stringify(context ?? null)}`,
    keyPolicy: (c) => policy(forPrincipal(c.userArn, allow('kms:Encrypt', '*', { Null: { 'kms:EncryptionContextKeys': 'false' } }))),
    call: (k, c) => encrypt(k, c.key.keyId, context),
    expect: context !== undefined ? 'allowed' : { denied: 'no-resource-policy', action: 'kms:Encrypt' },
  })),
  ...([true, false] as const).map((forAwsResource): Row => ({
    // Trent never calls on behalf of an AWS service: kms:GrantIsForAWSResource is always false.
    name: `Bool kms:GrantIsForAWSResource ${forAwsResource} on CreateGrant`,
    keyPolicy: (c) =>
      policy(forPrincipal(c.userArn, allow('kms:CreateGrant', '*', { Bool: { 'kms:GrantIsForAWSResource': String(forAwsResource) } }))),
    call: (k, c) => createGrant(k, c, ['Encrypt']),
    expect: forAwsResource ? { denied: 'no-resource-policy', action: 'kms:CreateGrant' } : 'allowed',
  })),
  ...([IT, { Department: 'HR' }, undefined] as const).map((context): Row => ({
    name: `StringEqualsIfExists kms:EncryptionContext:Department IT, context ${JSON.stringify(context ?? null)}`,
    iam: () => [policy(allow('kms:Encrypt', '*', { StringEqualsIfExists: { 'kms:EncryptionContext:Department': 'IT' } }))],
    call: (k, c) => encrypt(k, c.key.keyId, context),
    // IfExists holds when the key is absent.
    expect: context?.Department === 'HR' ? { denied: 'no-identity-policy', action: 'kms:Encrypt' } : 'allowed',
  })),
  ...([IT, undefined] as const).map((context): Row => ({
    name: `a Deny with StringNotEqualsIfExists kms:EncryptionContext:Department IT applies without a context too, context ${JSON.stringify(context ?? null)}`,
    iam: () => [
      policy(allow('kms:*'), deny('kms:Encrypt', '*', { StringNotEqualsIfExists: { 'kms:EncryptionContext:Department': 'IT' } })),
    ],
    call: (k, c) => encrypt(k, c.key.keyId, context),
    expect: context !== undefined ? 'allowed' : { denied: 'explicit-deny-identity', action: 'kms:Encrypt' },
  })),
  ...([true, false] as const).map((own): Row => ({
    name: `policy variable \${aws:username} in a condition, context Owner=${own ? 'the caller' : 'someone else'}`,
    iam: () => [policy(allow('kms:Encrypt', '*', { StringEquals: { 'kms:EncryptionContext:Owner': '${aws:username}' } }))],
    call: (k, c) => encrypt(k, c.key.keyId, { Owner: own ? c.user : 'someone-else' }),
    expect: own ? 'allowed' : { denied: 'no-identity-policy', action: 'kms:Encrypt' },
  })),

  // --- Actions on the account (no key policy) ---------------------------------------------
  { name: 'root: CreateKey', as: 'root', call: (k) => k.send(new CreateKeyCommand({})), expect: 'allowed' },
  { name: 'root: ListKeys', as: 'root', call: (k) => k.send(new ListKeysCommand({})), expect: 'allowed' },
  {
    name: 'user without IAM policy: CreateKey is denied',
    call: (k) => k.send(new CreateKeyCommand({})),
    expect: { denied: 'no-identity-policy', action: 'kms:CreateKey', resource: '*' },
  },
  {
    name: 'user without IAM policy: ListKeys is denied',
    call: (k) => k.send(new ListKeysCommand({})),
    expect: { denied: 'no-identity-policy', action: 'kms:ListKeys', resource: '*' },
  },
  {
    name: 'IAM allows kms:CreateKey on *: CreateKey',
    iam: () => [policy(allow('kms:CreateKey'))],
    call: (k) => k.send(new CreateKeyCommand({})),
    expect: 'allowed',
  },
  {
    name: 'IAM allows kms:ListKeys on *: ListKeys',
    iam: () => [policy(allow('kms:ListKeys'))],
    call: (k) => k.send(new ListKeysCommand({})),
    expect: 'allowed',
  },
  {
    name: 'IAM allows kms:CreateKey on key/* only: CreateKey is denied (key/* does not match *)',
    iam: () => [policy(allow('kms:CreateKey', `arn:aws:kms:*:${ACCOUNT}:key/*`))],
    call: (k) => k.send(new CreateKeyCommand({})),
    expect: { denied: 'no-identity-policy', action: 'kms:CreateKey', resource: '*' },
  },
  {
    name: 'IAM allows kms:* but denies kms:CreateKey: CreateKey is denied',
    iam: () => [policy(allow('kms:*'), deny('kms:CreateKey'))],
    call: (k) => k.send(new CreateKeyCommand({})),
    expect: { denied: 'explicit-deny-identity', action: 'kms:CreateKey', resource: '*' },
  },
  {
    name: 'IAM allows kms:ListKeys: CreateKey is still denied',
    iam: () => [policy(allow('kms:ListKeys'))],
    call: (k) => k.send(new CreateKeyCommand({})),
    expect: { denied: 'no-identity-policy', action: 'kms:CreateKey', resource: '*' },
  },
]

describe('authorization table: principals × key policies × IAM policies × conditions', () => {
  ROWS.forEach((row, index) => {
    it(row.name, async () => {
      const key = row.key === undefined ? await createKey() : await createKey(row.key.spec, row.key.usage)
      const alias = `alias/authz-row-${index}`
      await root.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }))
      const user = `row-${index}`
      const c: RowContext = { key, alias, ciphertext: undefined, user, userArn: userArn(user) }
      // Made before the key policy changes, which may lock root out.
      if (row.ciphertextContext !== undefined) c.ciphertext = await rootCiphertext(key.keyId, row.ciphertextContext)
      if (row.keyPolicy !== undefined) await setKeyPolicy(key.keyId, row.keyPolicy(c))
      setUser(user, row.iam?.(c) ?? [])

      const asRoot = row.as === 'root'
      const outcome = row.call(asRoot ? root : clientOf(user), c)
      const expected = row.expect
      if (expected === 'allowed') {
        await outcome
      } else if ('denied' in expected) {
        const resource = expected.resource === '*' ? '*' : key.arn
        await rejectsWith(
          outcome,
          'AccessDeniedException',
          accessDenied(expected.denied, asRoot ? ROOT_ARN : c.userArn, expected.action, resource),
        )
      } else {
        await rejectsWith(outcome, expected.error, expected.message)
      }
    })
  })
})

// ---------------------------------------------------------------------------------------
// Decisions remembered between requests (src/kms/access.ts, policyAllows)
// ---------------------------------------------------------------------------------------

describe('an allow remembered for the hot path follows every change that could revoke it', () => {
  const USER = 'remembered'

  it("a change of the caller's IAM policies takes effect on the next request", async () => {
    const key = await createKey()
    setUser(USER, [policy(allow('kms:Encrypt'))])
    for (let i = 0; i < 3; i++) await encrypt(clientOf(USER), key.keyId)
    setUser(USER, [policy(allow('kms:Encrypt'), deny('kms:Encrypt', key.arn))])
    await rejectsWith(
      encrypt(clientOf(USER), key.keyId),
      'AccessDeniedException',
      accessDenied('explicit-deny-identity', userArn(USER), 'kms:Encrypt', key.arn),
    )
    setUser(USER, [])
    await rejectsWith(
      encrypt(clientOf(USER), key.keyId),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(USER), 'kms:Encrypt', key.arn),
    )
  })

  it('a change of the key policy takes effect on the next request, for root too', async () => {
    const key = await createKey()
    setUser(USER, [policy(allow('kms:Encrypt'))])
    for (let i = 0; i < 3; i++) {
      await encrypt(clientOf(USER), key.keyId)
      await encrypt(root, key.keyId)
    }
    await setKeyPolicy(key.keyId, policy(ACCOUNT_STATEMENT, forPrincipal(userArn(USER), deny('kms:Encrypt'))))
    await rejectsWith(
      encrypt(clientOf(USER), key.keyId),
      'AccessDeniedException',
      accessDenied('explicit-deny-resource', userArn(USER), 'kms:Encrypt', key.arn),
    )
    await encrypt(root, key.keyId)
    await setKeyPolicy(key.keyId, policy(forPrincipal(ROOT_ARN, allow('kms:PutKeyPolicy'))))
    await rejectsWith(
      encrypt(root, key.keyId),
      'AccessDeniedException',
      accessDenied('no-resource-policy', ROOT_ARN, 'kms:Encrypt', key.arn),
    )
  })

  it('an allow that depended on a condition is decided again for every request', async () => {
    const key = await createKey()
    setUser(USER, [])
    await setKeyPolicy(
      key.keyId,
      policy(
        ACCOUNT_STATEMENT,
        forPrincipal(userArn(USER), allow('kms:Encrypt', '*', { StringEquals: { 'kms:EncryptionContext:Dept': 'IT' } })),
      ),
    )
    for (let i = 0; i < 3; i++) await encrypt(clientOf(USER), key.keyId, { Dept: 'IT' })
    await rejectsWith(
      encrypt(clientOf(USER), key.keyId, { Dept: 'HR' }),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(USER), 'kms:Encrypt', key.arn),
    )
    await rejectsWith(
      encrypt(clientOf(USER), key.keyId),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(USER), 'kms:Encrypt', key.arn),
    )
  })

  it('an allow by a grant is decided again for every request: a revoked grant stops at once', async () => {
    const key = await createKey()
    setUser(USER, [])
    const { GrantId } = await root.send(
      new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: userArn(USER), Operations: ['Encrypt'] }),
    )
    for (let i = 0; i < 3; i++) await encrypt(clientOf(USER), key.keyId)
    await root.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId }))
    await rejectsWith(
      encrypt(clientOf(USER), key.keyId),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(USER), 'kms:Encrypt', key.arn),
    )
  })
})

// ---------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------

describe('grants', () => {
  const GRANTEE = 'grantee'
  const RETIRER = 'retirer'
  const OTHER = 'other'
  let key: TestKey
  let grantId: string
  let grantToken: string

  before(() => {
    for (const name of [GRANTEE, RETIRER, OTHER]) users.set(name, [])
    publishDirectory()
  })

  async function grant(
    input: Omit<CreateGrantCommandInput, 'KeyId'> & { KeyId?: string },
    client: KMSClient = root,
  ): Promise<{ id: string; token: string }> {
    const out = await client.send(new CreateGrantCommand({ KeyId: key.keyId, ...input }))
    assert.match(out.GrantId ?? '', /^[0-9a-f]{64}$/)
    assert.ok(out.GrantToken !== undefined && out.GrantToken.length > 0)
    return { id: out.GrantId ?? '', token: out.GrantToken ?? '' }
  }

  const denied = (name: string, action: string, k: TestKey = key, kind: DenialKind = 'no-identity-policy'): string =>
    accessDenied(kind, userArn(name), action, k.arn)

  it('root creates a grant for a user: Encrypt and Decrypt, EncryptionContextSubset Department=IT', async () => {
    key = await createKey()
    const created = await grant({
      GranteePrincipal: userArn(GRANTEE),
      RetiringPrincipal: userArn(RETIRER),
      Operations: ['Encrypt', 'Decrypt'],
      Constraints: { EncryptionContextSubset: IT },
      Name: 'grantee-it',
    })
    grantId = created.id
    grantToken = created.token
  })

  it('the grantee (no IAM policy, default key policy) encrypts and decrypts at once with a matching context', async () => {
    const context = { Department: 'IT', Project: 'Apollo' }
    const { CiphertextBlob } = await clientOf(GRANTEE).send(
      new EncryptCommand({ KeyId: key.keyId, Plaintext: PLAINTEXT, EncryptionContext: context, GrantTokens: [grantToken] }),
    )
    const { Plaintext, KeyId } = await clientOf(GRANTEE).send(
      new DecryptCommand({ CiphertextBlob, EncryptionContext: context, GrantTokens: [grantToken] }),
    )
    assert.deepEqual(Buffer.from(Plaintext ?? []), PLAINTEXT)
    assert.equal(KeyId, key.arn)
  })

  it('constraint keys ignore case, values do not', async () => {
    await encrypt(clientOf(GRANTEE), key.keyId, { department: 'IT' }, [grantToken])
    await rejectsWith(
      encrypt(clientOf(GRANTEE), key.keyId, { Department: 'it' }, [grantToken]),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:Encrypt'),
    )
  })

  it('the grantee is denied without the context, with another value, and for operations not granted', async () => {
    await rejectsWith(
      encrypt(clientOf(GRANTEE), key.keyId, undefined, [grantToken]),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:Encrypt'),
    )
    await rejectsWith(
      encrypt(clientOf(GRANTEE), key.keyId, { Department: 'HR' }, [grantToken]),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:Encrypt'),
    )
    const ciphertext = await rootCiphertext(key.keyId, { Department: 'HR' })
    await rejectsWith(
      clientOf(GRANTEE).send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { Department: 'HR' } })),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:Decrypt'),
    )
    await rejectsWith(
      clientOf(GRANTEE).send(
        new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', EncryptionContext: IT, GrantTokens: [grantToken] }),
      ),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:GenerateDataKey'),
    )
    await rejectsWith(describeKey(clientOf(GRANTEE), key.keyId), 'AccessDeniedException', denied(GRANTEE, 'kms:DescribeKey'))
  })

  it('a grant for another principal does not help', async () => {
    await rejectsWith(encrypt(clientOf(OTHER), key.keyId, IT, [grantToken]), 'AccessDeniedException', denied(OTHER, 'kms:Encrypt'))
  })

  it('EncryptionContextEquals: the exact context only', async () => {
    await grant({ GranteePrincipal: userArn(OTHER), Operations: ['Encrypt'], Constraints: { EncryptionContextEquals: { App: 'billing' } } })
    await encrypt(clientOf(OTHER), key.keyId, { App: 'billing' })
    await rejectsWith(
      encrypt(clientOf(OTHER), key.keyId, { App: 'billing', Extra: 'pair' }),
      'AccessDeniedException',
      denied(OTHER, 'kms:Encrypt'),
    )
    await rejectsWith(encrypt(clientOf(OTHER), key.keyId), 'AccessDeniedException', denied(OTHER, 'kms:Encrypt'))
  })

  it('ListGrants shows the grant as AWS does', async () => {
    const { Grants } = await root.send(new ListGrantsCommand({ KeyId: key.keyId }))
    const entry = Grants?.find((g) => g.GrantId === grantId) ?? assert.fail('the grant is not listed')
    assert.ok(entry.CreationDate instanceof Date && !Number.isNaN(entry.CreationDate.getTime()))
    const { CreationDate: _created, ...rest } = entry
    assert.deepEqual(rest, {
      KeyId: key.arn,
      GrantId: grantId,
      Name: 'grantee-it',
      GranteePrincipal: userArn(GRANTEE),
      RetiringPrincipal: userArn(RETIRER),
      IssuingAccount: ROOT_ARN,
      Operations: ['Encrypt', 'Decrypt'],
      Constraints: { EncryptionContextSubset: IT },
    } satisfies Omit<GrantListEntry, 'CreationDate'>)
    const byId = await root.send(new ListGrantsCommand({ KeyId: key.keyId, GrantId: grantId }))
    assert.deepEqual(
      byId.Grants?.map((g) => g.GrantId),
      [grantId],
    )
    const byGrantee = await root.send(new ListGrantsCommand({ KeyId: key.keyId, GranteePrincipal: userArn(GRANTEE) }))
    assert.deepEqual(
      byGrantee.Grants?.map((g) => g.GrantId),
      [grantId],
    )
  })

  it('ListGrants needs kms:ListGrants: the grantee is denied', async () => {
    await rejectsWith(
      clientOf(GRANTEE).send(new ListGrantsCommand({ KeyId: key.keyId })),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:ListGrants'),
    )
  })

  it('ListRetirableGrants lists the grants of a retiring principal', async () => {
    const { Grants } = await root.send(new ListRetirableGrantsCommand({ RetiringPrincipal: userArn(RETIRER) }))
    assert.ok((Grants ?? []).some((g) => g.GrantId === grantId && g.KeyId === key.arn))
    assert.ok((Grants ?? []).every((g) => g.RetiringPrincipal === userArn(RETIRER)))
    const none = await root.send(new ListRetirableGrantsCommand({ RetiringPrincipal: userArn(OTHER) }))
    assert.deepEqual(none.Grants, [])
    // An action on the account: a user needs an IAM Allow.
    await rejectsWith(
      clientOf(RETIRER).send(new ListRetirableGrantsCommand({ RetiringPrincipal: userArn(RETIRER) })),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(RETIRER), 'kms:ListRetirableGrants', '*'),
    )
  })

  it('CreateGrant with the same Name and parameters returns the same grant; other parameters make a new one', async () => {
    const input = { GranteePrincipal: userArn(OTHER), Operations: ['Decrypt' as const], Name: 'idempotent' }
    const first = await grant(input)
    const again = await grant(input)
    assert.equal(again.id, first.id)
    const different = await grant({ ...input, Operations: ['Encrypt'] })
    assert.notEqual(different.id, first.id)
  })

  it('the retiring principal retires a grant with its token; the grantee is denied again', async () => {
    await clientOf(RETIRER).send(new RetireGrantCommand({ GrantToken: grantToken }))
    await rejectsWith(encrypt(clientOf(GRANTEE), key.keyId, IT), 'AccessDeniedException', denied(GRANTEE, 'kms:Encrypt'))
    const { Grants } = await root.send(new ListGrantsCommand({ KeyId: key.keyId }))
    assert.ok(!(Grants ?? []).some((g) => g.GrantId === grantId))
  })

  it('the retiring principal retires a grant by KeyId and GrantId', async () => {
    const g = await grant({ GranteePrincipal: userArn(GRANTEE), RetiringPrincipal: userArn(RETIRER), Operations: ['Encrypt'] })
    await encrypt(clientOf(GRANTEE), key.keyId)
    await clientOf(RETIRER).send(new RetireGrantCommand({ KeyId: key.arn, GrantId: g.id }))
    await rejectsWith(encrypt(clientOf(GRANTEE), key.keyId), 'AccessDeniedException', denied(GRANTEE, 'kms:Encrypt'))
  })

  it('the grantee retires its grant when the grant allows RetireGrant, not otherwise', async () => {
    const without = await grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Encrypt'] })
    await rejectsWith(
      clientOf(GRANTEE).send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: without.id })),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:RetireGrant'),
    )
    const withRetire = await grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Encrypt', 'RetireGrant'] })
    await clientOf(GRANTEE).send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: withRetire.id }))
    await root.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: without.id }))
    await rejectsWith(encrypt(clientOf(GRANTEE), key.keyId), 'AccessDeniedException', denied(GRANTEE, 'kms:Encrypt'))
  })

  it('anyone else is refused RetireGrant, by token and by id', async () => {
    const g = await grant({ GranteePrincipal: userArn(GRANTEE), RetiringPrincipal: userArn(RETIRER), Operations: ['Encrypt'] })
    await rejectsWith(
      clientOf(OTHER).send(new RetireGrantCommand({ GrantToken: g.token })),
      'AccessDeniedException',
      denied(OTHER, 'kms:RetireGrant'),
    )
    await rejectsWith(
      clientOf(OTHER).send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: g.id })),
      'AccessDeniedException',
      denied(OTHER, 'kms:RetireGrant'),
    )
    await encrypt(clientOf(GRANTEE), key.keyId)
  })

  it('RevokeGrant: root revokes, the grantee is denied again; a user without permission is refused', async () => {
    const g = await grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Decrypt'] })
    const ciphertext = await rootCiphertext(key.keyId)
    await clientOf(GRANTEE).send(new DecryptCommand({ CiphertextBlob: ciphertext }))
    await rejectsWith(
      clientOf(GRANTEE).send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: g.id })),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:RevokeGrant'),
    )
    // DryRun checks everything and changes nothing.
    const DRY_RUN = 'The request would have succeeded, but the DryRun option is set.'
    await rejectsWith(
      root.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: g.id, DryRun: true })),
      'DryRunOperationException',
      DRY_RUN,
    )
    await rejectsWith(
      root.send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: g.id, DryRun: true })),
      'DryRunOperationException',
      DRY_RUN,
    )
    await rejectsWith(
      grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Decrypt'], Name: 'dry-run', DryRun: true }),
      'DryRunOperationException',
      DRY_RUN,
    )
    await clientOf(GRANTEE).send(new DecryptCommand({ CiphertextBlob: ciphertext }))
    const { Grants } = await root.send(new ListGrantsCommand({ KeyId: key.keyId }))
    assert.ok(!(Grants ?? []).some((listed) => listed.Name === 'dry-run'))
    await root.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: g.id }))
    await rejectsWith(
      clientOf(GRANTEE).send(new DecryptCommand({ CiphertextBlob: ciphertext })),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:Decrypt'),
    )
    await rejectsWith(root.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: g.id })), 'NotFoundException')
  })

  it('grant operations the key type cannot do are refused (Sign on a symmetric key)', async () => {
    await rejectsWith(grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Sign'] }), 'ValidationException')
    await rejectsWith(grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Encrypt', 'GenerateMac'] }), 'ValidationException')
  })

  it('constraints are refused for operations without an encryption context (Sign on an ECC key)', async () => {
    const ecc = await createKey('ECC_NIST_P256', 'SIGN_VERIFY')
    await rejectsWith(
      grant({ KeyId: ecc.keyId, GranteePrincipal: userArn(GRANTEE), Operations: ['Sign'], Constraints: { EncryptionContextSubset: IT } }),
      'ValidationException',
    )
    const rsa = await createKey('RSA_2048', 'ENCRYPT_DECRYPT')
    await rejectsWith(
      grant({
        KeyId: rsa.keyId,
        GranteePrincipal: userArn(GRANTEE),
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: IT },
      }),
      'ValidationException',
    )
  })

  it('a constrained grant may include DescribeKey and RetireGrant; the constraint does not bind them (AWS GrantConstraints)', async () => {
    const name = 'constrained-describer'
    setUser(name)
    const g = await grant({
      GranteePrincipal: userArn(name),
      Operations: ['Encrypt', 'DescribeKey', 'RetireGrant'],
      Constraints: { EncryptionContextSubset: IT },
    })
    await describeKey(clientOf(name), key.keyId)
    await encrypt(clientOf(name), key.keyId, IT)
    await rejectsWith(encrypt(clientOf(name), key.keyId, { Department: 'HR' }), 'AccessDeniedException', denied(name, 'kms:Encrypt'))
    await clientOf(name).send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: g.id }))
    await rejectsWith(describeKey(clientOf(name), key.keyId), 'AccessDeniedException', denied(name, 'kms:DescribeKey'))
  })

  it('CreateGrant from a grant: the grantee creates grants only for operations of its grant', async () => {
    const delegate = 'delegate'
    const holder = 'child-holder'
    for (const name of [delegate, holder]) users.set(name, [])
    publishDirectory()
    await grant({ GranteePrincipal: userArn(delegate), Operations: ['Encrypt', 'Decrypt', 'CreateGrant'] })
    await grant({ GranteePrincipal: userArn(holder), Operations: ['Encrypt'] }, clientOf(delegate))
    await encrypt(clientOf(holder), key.keyId)
    await grant({ GranteePrincipal: userArn(holder), Operations: ['Decrypt', 'CreateGrant'] }, clientOf(delegate))
    // GenerateDataKey is not in the delegate's grant: it cannot hand it out, to anyone, itself included.
    for (const grantee of [holder, delegate]) {
      await rejectsWith(
        grant({ GranteePrincipal: userArn(grantee), Operations: ['Encrypt', 'GenerateDataKey'] }, clientOf(delegate)),
        'AccessDeniedException',
        denied(delegate, 'kms:CreateGrant'),
      )
    }
  })

  it('CreateGrant from a constrained grant: the new grant must be constrained at least as strictly', async () => {
    const delegate = 'delegate-it'
    const holder = 'child-holder-it'
    for (const name of [delegate, holder]) users.set(name, [])
    publishDirectory()
    // The parent's constraint binds the grants made with it, not the CreateGrant call (which has no context).
    await grant({
      GranteePrincipal: userArn(delegate),
      Operations: ['Encrypt', 'CreateGrant'],
      Constraints: { EncryptionContextSubset: IT },
    })
    const within: NonNullable<CreateGrantCommandInput['Constraints']>[] = [
      { EncryptionContextSubset: IT },
      { EncryptionContextSubset: { Department: 'IT', Project: 'Apollo' } },
      { EncryptionContextEquals: { department: 'IT', Project: 'Apollo' } },
    ]
    for (const constraints of within) {
      await grant({ GranteePrincipal: userArn(holder), Operations: ['Encrypt'], Constraints: constraints }, clientOf(delegate))
    }
    await encrypt(clientOf(holder), key.keyId, { Department: 'IT', Project: 'Apollo' })
    const beyond: (CreateGrantCommandInput['Constraints'] | undefined)[] = [
      undefined,
      { EncryptionContextSubset: { Project: 'Apollo' } },
      { EncryptionContextSubset: { Department: 'HR' } },
      { EncryptionContextEquals: { Department: 'it' } },
    ]
    for (const constraints of beyond) {
      await rejectsWith(
        grant(
          {
            GranteePrincipal: userArn(holder),
            Operations: ['Encrypt'],
            ...(constraints !== undefined ? { Constraints: constraints } : {}),
          },
          clientOf(delegate),
        ),
        'AccessDeniedException',
        denied(delegate, 'kms:CreateGrant'),
      )
    }
  })

  it('a malformed GrantId is InvalidGrantIdException', async () => {
    await rejectsWith(root.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: 'not-a-grant-id' })), 'InvalidGrantIdException')
    await rejectsWith(root.send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: 'not-a-grant-id' })), 'InvalidGrantIdException')
    await rejectsWith(root.send(new ListGrantsCommand({ KeyId: key.keyId, GrantId: 'not-a-grant-id' })), 'InvalidGrantIdException')
  })

  it('a malformed grant token is InvalidGrantTokenException', async () => {
    await rejectsWith(
      grant({ GranteePrincipal: userArn(GRANTEE), Operations: ['Encrypt'], GrantTokens: ['not-a-grant-token'] }),
      'InvalidGrantTokenException',
    )
    await rejectsWith(encrypt(root, key.keyId, undefined, ['not-a-grant-token']), 'InvalidGrantTokenException')
    await rejectsWith(root.send(new RetireGrantCommand({ GrantToken: 'not-a-grant-token' })), 'InvalidGrantTokenException')
  })

  it('an explicit Deny in the key policy beats a grant', async () => {
    const denyKey = await createKey()
    await grant({ KeyId: denyKey.keyId, GranteePrincipal: userArn(GRANTEE), Operations: ['Encrypt'] })
    await encrypt(clientOf(GRANTEE), denyKey.keyId)
    await setKeyPolicy(denyKey.keyId, policy(ACCOUNT_STATEMENT, forPrincipal(userArn(GRANTEE), deny('kms:Encrypt'))))
    await rejectsWith(
      encrypt(clientOf(GRANTEE), denyKey.keyId),
      'AccessDeniedException',
      denied(GRANTEE, 'kms:Encrypt', denyKey, 'explicit-deny-resource'),
    )
  })

  it('an explicit Deny in IAM beats a grant', async () => {
    const name = 'grantee-denied-by-iam'
    setUser(name, [policy(deny('kms:Encrypt'))])
    await grant({ GranteePrincipal: userArn(name), Operations: ['Encrypt'] })
    await rejectsWith(
      encrypt(clientOf(name), key.keyId),
      'AccessDeniedException',
      denied(name, 'kms:Encrypt', key, 'explicit-deny-identity'),
    )
  })
})

// ---------------------------------------------------------------------------------------
// PutKeyPolicy and CreateKey: document validation and the lockout check
// ---------------------------------------------------------------------------------------

describe('key policy validation and the lockout safety check', () => {
  const MALFORMED = 'MalformedPolicyDocumentException'
  let key: TestKey

  before(async () => {
    key = await createKey()
  })

  const put = (client: KMSClient, document: string, keyId = key.keyId, bypass = false): Promise<unknown> =>
    client.send(
      new PutKeyPolicyCommand({
        KeyId: keyId,
        PolicyName: 'default',
        Policy: document,
        ...(bypass ? { BypassPolicyLockoutSafetyCheck: true } : {}),
      }),
    )

  const INVALID: [string, string, string][] = [
    ['not JSON', '{"Version": "2012-10-17", ', 'The policy document is not valid JSON.'],
    ['not an object', '["Statement"]', 'The policy document must be a JSON object.'],
    ['no Statement', '{"Version": "2012-10-17"}', 'Policy is missing required element - Statement'],
    [
      'a bad Effect',
      JSON.stringify(policy({ ...ACCOUNT_STATEMENT, Effect: 'Permit' })),
      'Policy contains a statement with a missing or invalid Effect. Effect must be "Allow" or "Deny".',
    ],
    [
      'an invalid principal',
      JSON.stringify(policy({ ...ACCOUNT_STATEMENT, Principal: { AWS: 'not-an-arn' } })),
      'Policy contains a statement with one or more invalid principals.',
    ],
    ['a statement without a principal', JSON.stringify(policy(allow('kms:*'))), 'Policy contains a statement with no principal.'],
    [
      'ForAllValues with kms:EncryptionContext:<key>',
      JSON.stringify(
        policy({ ...ACCOUNT_STATEMENT, Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContext:Department': 'IT' } } }),
      ),
      'OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues.',
    ],
  ]
  for (const [what, document, message] of INVALID) {
    it(`PutKeyPolicy refuses a policy with ${what}: ${MALFORMED}`, async () => {
      await rejectsWith(put(root, document), MALFORMED, message)
      // Bypassing the lockout check does not bypass the document checks.
      await rejectsWith(put(root, document, key.keyId, true), MALFORMED, message)
    })
  }

  it('PutKeyPolicy refuses a policy over 32 KB: LimitExceededException', async () => {
    const padded = policy({ ...ACCOUNT_STATEMENT, Sid: 'x'.repeat(33 * 1024) })
    await rejectsWith(put(root, JSON.stringify(padded)), 'LimitExceededException', 'Policy exceeds the maximum allowed size of 32 KB.')
  })

  const LOCKS_ROOT_OUT = JSON.stringify(policy(forPrincipal(userArn('someone-else'), allow('kms:*'))))

  it('PutKeyPolicy refuses a policy that would not let root update it again, unless the check is bypassed', async () => {
    const lockable = await createKey()
    await rejectsWith(put(root, LOCKS_ROOT_OUT, lockable.keyId), MALFORMED, LOCKOUT)
    // Refused, so nothing changed: root still manages the key.
    await describeKey(root, lockable.keyId)
    await put(root, LOCKS_ROOT_OUT, lockable.keyId, true)
    await rejectsWith(
      root.send(new GetKeyPolicyCommand({ KeyId: lockable.keyId, PolicyName: 'default' })),
      'AccessDeniedException',
      accessDenied('no-resource-policy', ROOT_ARN, 'kms:GetKeyPolicy', lockable.arn),
    )
  })

  it('a policy that allows root everything but PutKeyPolicy fails the check', async () => {
    const document = JSON.stringify(policy(ACCOUNT_STATEMENT, forPrincipal(ROOT_ARN, deny('kms:PutKeyPolicy'))))
    await rejectsWith(put(root, document), MALFORMED, LOCKOUT)
  })

  it('CreateKey with a policy that locks the caller out is refused, and accepted with the bypass', async () => {
    await rejectsWith(root.send(new CreateKeyCommand({ Policy: LOCKS_ROOT_OUT })), MALFORMED, LOCKOUT)
    const { KeyMetadata } = await root.send(new CreateKeyCommand({ Policy: LOCKS_ROOT_OUT, BypassPolicyLockoutSafetyCheck: true }))
    const arn = KeyMetadata?.Arn ?? assert.fail('no key ARN')
    await rejectsWith(describeKey(root, arn), 'AccessDeniedException', accessDenied('no-resource-policy', ROOT_ARN, 'kms:DescribeKey', arn))
  })

  it('a user whose IAM allows everything, with a key policy delegating to the account, passes the check', async () => {
    const name = 'policy-admin'
    setUser(name, [policy(allow('kms:*'))])
    const defaultPolicy = JSON.stringify(policy(ACCOUNT_STATEMENT))
    await put(clientOf(name), defaultPolicy)
    const { KeyMetadata } = await clientOf(name).send(new CreateKeyCommand({ Policy: defaultPolicy }))
    assert.ok(KeyMetadata?.KeyId !== undefined)
    // The same user, handing the key to someone else only, fails it.
    await rejectsWith(put(clientOf(name), LOCKS_ROOT_OUT), MALFORMED, LOCKOUT)
    await rejectsWith(clientOf(name).send(new CreateKeyCommand({ Policy: LOCKS_ROOT_OUT })), MALFORMED, LOCKOUT)
  })

  it('a user whose IAM denies kms:PutKeyPolicy cannot pass the check with a policy naming the user', async () => {
    const name = 'policy-denied'
    setUser(name, [policy(allow('kms:*'), deny('kms:PutKeyPolicy'))])
    const document = JSON.stringify(policy(ACCOUNT_STATEMENT, forPrincipal(userArn(name), allow('kms:*'))))
    await rejectsWith(clientOf(name).send(new CreateKeyCommand({ Policy: document })), MALFORMED, LOCKOUT)
  })

  it('a user whose IAM allows kms:PutKeyPolicy on this key ARN only passes the check on PutKeyPolicy', async () => {
    const name = 'policy-admin-of-one-key'
    const own = await createKey()
    setUser(name, [policy(allow('kms:PutKeyPolicy', own.arn))])
    await put(clientOf(name), JSON.stringify(policy(ACCOUNT_STATEMENT)), own.keyId)
  })
})

// ---------------------------------------------------------------------------------------
// TrentAdmin and the directory
// ---------------------------------------------------------------------------------------

describe('TrentAdmin operations', () => {
  let adminEndpoint: string
  let close: () => Promise<void>

  before(async () => {
    // The in-process region serves no TrentAdmin operations; a second front end on the same
    // KMS and principals does, as a region composed by src/region/compose-region.ts does.
    const server = createApiServer({
      kms: region.kms,
      logger: createLogger({ region: REGION }, 'error'),
      principals: region.principals,
      adminOperations: new Map([['DescribeReplication', describeReplication]]),
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    adminEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    close = () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  })
  after(async () => {
    await close()
  })

  it('TrentAdmin.DescribeReplication is refused for a user whose IAM allows everything, and served to root', async () => {
    const name = 'not-an-admin'
    setUser(name, [policy(allow('*'))])
    const { KeyMetadata } = await root.send(new CreateKeyCommand({ MultiRegion: true }))
    const body = JSON.stringify({ KeyId: KeyMetadata?.KeyId })
    const asUser = await sendRaw({
      endpoint: adminEndpoint,
      region: REGION,
      target: 'TrentAdmin.DescribeReplication',
      body,
      credentials: credentialsOf(name),
    })
    assert.equal(asUser.status, 400)
    assert.deepEqual(asUser.json, {
      __type: 'AccessDeniedException',
      message: `User: ${userArn(name)} is not authorized to perform: TrentAdmin.DescribeReplication`,
    })
    const asRoot = await sendRaw({
      endpoint: adminEndpoint,
      region: REGION,
      target: 'TrentAdmin.DescribeReplication',
      body,
      credentials: TEST_CREDENTIALS,
    })
    assert.equal(asRoot.status, 200, asRoot.body)
    assert.equal(asRoot.json?.Role, 'PRIMARY')
  })
})

describe('a changing directory (principals.replace)', () => {
  it('a user removed from the directory is UnrecognizedClientException on its next call; a policy change applies at once', async () => {
    const name = 'transient'
    const key = await createKey()
    setUser(name, [policy(allow('kms:DescribeKey'))])
    const client = clientOf(name)
    await describeKey(client, key.keyId)
    setUser(name, [])
    await rejectsWith(
      describeKey(client, key.keyId),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(name), 'kms:DescribeKey', key.arn),
    )
    removeUser(name)
    await rejectsWith(
      describeKey(client, key.keyId),
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    )
    setUser(name, [policy(allow('kms:DescribeKey'))])
    await describeKey(client, key.keyId)
    // Root is untouched by every change.
    await describeKey(root, key.keyId)
  })
})

describe('aliases need the permission on the alias (identity policies) and on the key', () => {
  const aliasArnOf = (name: string): string => `arn:aws:kms:${REGION}:${ACCOUNT}:${name}`

  it('CreateAlias, UpdateAlias and DeleteAlias: allowed with both, denied by the missing one, with its resource in the message', async () => {
    const name = 'alias-admin'
    const key = await createKey()
    const other = await createKey()
    const alias = `alias/app-${Math.random().toString(36).slice(2, 10)}`
    // The key (default key policy: IAM decides) but not the alias.
    setUser(name, [policy(allow(['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'], [key.arn, other.arn]))])
    await rejectsWith(
      clientOf(name).send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId })),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(name), 'kms:CreateAlias', aliasArnOf(alias)),
    )
    // The alias (by a wildcard) but not the key.
    setUser(name, [
      policy(allow(['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'], `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app-*`)),
    ])
    await rejectsWith(
      clientOf(name).send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId })),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(name), 'kms:CreateAlias', key.arn),
    )
    // Both.
    setUser(name, [
      policy(
        allow(
          ['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias'],
          [key.arn, other.arn, `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app-*`],
        ),
      ),
    ])
    await clientOf(name).send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }))
    await clientOf(name).send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: other.keyId }))
    // An alias outside the wildcard is refused even with both keys allowed.
    await rejectsWith(
      clientOf(name).send(new CreateAliasCommand({ AliasName: 'alias/other-app', TargetKeyId: key.keyId })),
      'AccessDeniedException',
      accessDenied('no-identity-policy', userArn(name), 'kms:CreateAlias', aliasArnOf('alias/other-app')),
    )
    await clientOf(name).send(new DeleteAliasCommand({ AliasName: alias }))
    // Root needs nothing more.
    await root.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }))
  })
})

describe('ML-KEM keys: Encapsulate and Decapsulate are authorized like every key operation', () => {
  it('a user with no IAM policy is denied both; a grant of Encapsulate allows that one only; an IAM policy allows Decapsulate', async () => {
    const GRANTEE = 'kem-grantee'
    const DECAPSULATOR = 'kem-decapsulator'
    setUser(GRANTEE)
    setUser(DECAPSULATOR, [policy(allow('kms:Decapsulate'))])
    const created = await root.send(new CreateKeyCommand({ KeySpec: 'ML_KEM_768', KeyUsage: 'ENCAPSULATE_DECAPSULATE' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    const encapsulate = new EncapsulateCommand({ KeyId: keyId, EncapsulationAlgorithm: 'ML_KEM' })
    await rejectsWith(clientOf(GRANTEE).send(encapsulate), 'AccessDeniedException')
    await root.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: userArn(GRANTEE), Operations: ['Encapsulate'] }))
    const out = await clientOf(GRANTEE).send(encapsulate)
    const decapsulate = new DecapsulateCommand({
      KeyId: keyId,
      EncapsulationAlgorithm: 'ML_KEM',
      SharedSecretCiphertextBlob: out.SharedSecretCiphertextBlob,
    })
    await rejectsWith(clientOf(GRANTEE).send(decapsulate), 'AccessDeniedException')
    const opened = await clientOf(DECAPSULATOR).send(decapsulate)
    assert.deepEqual(opened.SharedSecret, out.SharedSecret)
    await rejectsWith(clientOf(DECAPSULATOR).send(encapsulate), 'AccessDeniedException')
  })
})
