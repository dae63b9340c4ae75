/**
 * Who may call a region: the account's root user (the region's admin credentials) and the
 * IAM users of the identities file (`--identities FILE`, docs/authorization.md §1), each
 * with an access key and identity policies.
 *
 * @module
 */
import { parsePolicyValue } from './authorization/index.js'
import type { Caller } from './operation.js'

export interface Identity {
  accessKeyId: string
  secretAccessKey: string
  caller: Caller
}

/** Looks up the identity an access key id belongs to. */
export interface PrincipalDirectory {
  lookup(accessKeyId: string): Identity | undefined
}

export class StaticPrincipalDirectory implements PrincipalDirectory {
  #byAccessKey: ReadonlyMap<string, Identity>

  constructor(identities: readonly Identity[]) {
    this.#byAccessKey = new Map(identities.map((identity) => [identity.accessKeyId, identity]))
  }

  /** Swaps in a new set of identities at once (the identities file changed). */
  replace(identities: readonly Identity[]): void {
    this.#byAccessKey = new Map(identities.map((identity) => [identity.accessKeyId, identity]))
  }

  lookup(accessKeyId: string): Identity | undefined {
    return this.#byAccessKey.get(accessKeyId)
  }
}

/** The account's root user, as AWS names it. */
export function rootPrincipalArn(partition: string, account: string): string {
  return `arn:${partition}:iam::${account}:root`
}

export function rootIdentity(partition: string, account: string, credentials: { accessKeyId: string; secretAccessKey: string }): Identity {
  return { ...credentials, caller: { principalArn: rootPrincipalArn(partition, account), identityPolicies: [] } }
}

const USER_NAME = /^[\w+=,.@-]{1,64}$/
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/

/**
 * Parses the identities file: `{"users": [{"name", "accessKeyId", "secretAccessKey",
 * "policies": [IAM policy documents]}]}`. Throws an Error naming the first problem; the
 * messages name fields and users, never secrets.
 */
export function parseIdentities(text: string, partition: string, account: string): Identity[] {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw new Error('identities file: not valid JSON')
  }
  const users = (document as { users?: unknown } | null)?.users
  if (!Array.isArray(users)) throw new Error('identities file: "users" must be an array')
  const seen = new Set<string>()
  return users.map((raw: unknown, index) => {
    const user = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
    const where = `identities file: users[${index}]`
    const { name, accessKeyId, secretAccessKey, policies } = user
    if (typeof name !== 'string' || !USER_NAME.test(name)) throw new Error(`${where}.name must be an IAM user name`)
    if (typeof accessKeyId !== 'string' || !ACCESS_KEY_ID.test(accessKeyId))
      throw new Error(`${where}.accessKeyId must be 16-128 upper-case letters and digits`)
    if (typeof secretAccessKey !== 'string' || secretAccessKey.length < 16)
      throw new Error(`${where}.secretAccessKey must be at least 16 characters`)
    if (seen.has(accessKeyId)) throw new Error(`${where}.accessKeyId is used twice`)
    seen.add(accessKeyId)
    if (policies !== undefined && !Array.isArray(policies)) throw new Error(`${where}.policies must be an array of IAM policy documents`)
    const identityPolicies = (policies ?? []).map((policy: unknown, i: number) => {
      try {
        return parsePolicyValue(policy, 'identity')
      } catch (err) {
        throw new Error(`${where}.policies[${i}]: ${err instanceof Error ? err.message : 'invalid policy'}`, { cause: err })
      }
    })
    return { accessKeyId, secretAccessKey, caller: { principalArn: `arn:${partition}:iam::${account}:user/${name}`, identityPolicies } }
  })
}
