/**
 * Audit records in CloudTrail's record format for AWS KMS (docs/spec/audit-trail.md §2):
 * what a request or a replication event becomes. Pure: no I/O.
 *
 * What never goes into a record: plaintext, ciphertext, signatures, MACs, key material,
 * import tokens, public keys the caller sent, random bytes. Every byte-array member of an
 * input or output is dropped before anything else looks at it, whatever its name, so a
 * member the model gains later cannot leak by being forgotten here.
 *
 * @module
 */

export const EVENT_VERSION = '1.11'
export const EVENT_SOURCE = 'kms.amazonaws.com'

export interface UserIdentity {
  type?: 'Root' | 'IAMUser' | 'Unknown'
  principalId?: string
  arn?: string
  accountId: string
  accessKeyId?: string
  userName?: string
  /** Events KMS itself causes (replication): who did it on the account's behalf. */
  invokedBy?: string
}

export interface AuditResource {
  accountId: string
  type: 'AWS::KMS::Key'
  ARN: string
}

export interface AuditRecord {
  eventVersion: string
  userIdentity: UserIdentity
  eventTime: string
  eventSource: string
  eventName: string
  awsRegion: string
  sourceIPAddress: string
  userAgent: string
  errorCode?: string
  errorMessage?: string
  requestParameters: Record<string, unknown> | null
  responseElements: Record<string, unknown> | null
  /** What AWS records beside the request (e.g. the key material used); here, a replication message's type, sender and outcome. */
  additionalEventData?: Record<string, string>
  requestID: string
  eventID: string
  readOnly: boolean
  resources: AuditResource[]
  eventType: 'AwsApiCall' | 'AwsServiceEvent'
  managementEvent: true
  recipientAccountId: string
  eventCategory: 'Management'
}

/**
 * The operations GetKeyLastUsage tracks: the model's KeyLastUsageTrackingOperation enum
 * (@aws-sdk/client-kms), the cryptographic operations. Only successful ones count.
 */
export const TRACKED_OPERATIONS: ReadonlySet<string> = new Set([
  'Decapsulate',
  'Decrypt',
  'DeriveSharedSecret',
  'Encapsulate',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateMac',
  'ReEncrypt',
  'Sign',
  'Verify',
  'VerifyMac',
])

/**
 * Operations whose records carry no response elements, as AWS records them: the
 * cryptographic ones (their answers are the secrets) and those that only read.
 */
function responseIsRecorded(eventName: string): boolean {
  if (TRACKED_OPERATIONS.has(eventName) || eventName === 'GenerateRandom') return false
  return !/^(Describe|Get|List)/.test(eventName)
}

/** Whether an operation changes nothing: AWS's `readOnly`. */
export function isReadOnly(eventName: string): boolean {
  return TRACKED_OPERATIONS.has(eventName) || eventName === 'GenerateRandom' || /^(Describe|Get|List)/.test(eventName)
}

/** CloudTrail's event time: UTC, seconds precision. */
export function eventTime(ms: number): string {
  // Every record of a second has the same text: formatting a Date per record was a
  // measurable share of a request's CPU.
  const second = Math.floor(ms / 1000)
  if (second !== lastEventSecond) {
    lastEventSecond = second
    lastEventTime = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`
  }
  return lastEventTime
}
let lastEventSecond = Number.NaN
let lastEventTime = ''

/**
 * AWS's rendering of dates inside response elements ("Nov 18, 2020, 1:29:18 AM"). One
 * formatter for every record: `toLocaleString` with options builds a new one per call,
 * which was 7% of a node's main thread under a CreateKey load (its record holds dates).
 */
const RESPONSE_DATE_FORMAT = new Intl.DateTimeFormat('en-US', {
  timeZone: 'UTC',
  month: 'short',
  day: 'numeric',
  year: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
  second: '2-digit',
})

function responseDate(seconds: number): string {
  return RESPONSE_DATE_FORMAT.format(new Date(seconds * 1000))
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1)
}

/** Members of the model holding a date (AWS JSON: epoch seconds on the wire). */
const DATE_MEMBER = /(Date|^ValidTo)$/

/**
 * An input or output as CloudTrail shows it: member names with a lower-case first
 * letter (AWS's `aWSAccountId` included), byte arrays dropped, dates rendered. Maps
 * that are the caller's own (encryption context, tags' values) keep their keys.
 */
export function cloudTrailMembers(value: Record<string, unknown>, options: { renderDates: boolean }): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, member] of Object.entries(value)) {
    const converted = convert(member, name, options)
    if (converted !== DROPPED) out[lowerFirst(name)] = converted
  }
  return out
}

const DROPPED = Symbol('dropped')
const CALLERS_MAPS = new Set(['EncryptionContext', 'EncryptionContextSubset', 'EncryptionContextEquals'])

function convert(value: unknown, name: string, options: { renderDates: boolean }): unknown {
  if (value instanceof Uint8Array || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return DROPPED
  if (value === undefined) return DROPPED
  if (typeof value === 'number' && options.renderDates && DATE_MEMBER.test(name)) return responseDate(value)
  if (Array.isArray(value)) {
    return value.map((item) => convert(item, name, options)).filter((item) => item !== DROPPED)
  }
  if (typeof value === 'object' && value !== null) {
    if (CALLERS_MAPS.has(name)) {
      return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string'))
    }
    return cloudTrailMembers(value as Record<string, unknown>, options)
  }
  return value
}

export function requestParameters(input: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (input === undefined) return null
  const converted = cloudTrailMembers(input, { renderDates: false })
  return Object.keys(converted).length === 0 ? null : converted
}

export function responseElements(eventName: string, output: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (output === undefined || !responseIsRecorded(eventName)) return null
  const converted = cloudTrailMembers(output, { renderDates: true })
  return Object.keys(converted).length === 0 ? null : converted
}

/** The key ARNs a request concerned, for `resources`. */
export function keyResources(accountId: string, arns: Iterable<string>): AuditResource[] {
  return [...new Set(arns)].map((ARN) => ({ accountId, type: 'AWS::KMS::Key', ARN }))
}

/** The caller, as CloudTrail names IAM identities. */
export function userIdentityOf(accountId: string, principalArn: string | undefined, accessKeyId: string | undefined): UserIdentity {
  const withKey = accessKeyId === undefined ? {} : { accessKeyId }
  if (principalArn === undefined) return { type: 'Unknown', accountId, ...withKey }
  if (principalArn.endsWith(':root')) return { type: 'Root', principalId: accountId, arn: principalArn, accountId, ...withKey }
  const userName = principalArn.slice(principalArn.lastIndexOf('/') + 1)
  // Trent has no IAM unique ids (AIDA...): the user's name stands for it, stable per user.
  return { type: 'IAMUser', principalId: userName, arn: principalArn, accountId, ...withKey, userName }
}

/** What AWS records for events KMS causes itself: the account, invoked by AWS. */
export function serviceIdentity(accountId: string): UserIdentity {
  return { accountId, invokedBy: 'AWS Internal' }
}

export interface RecordFields {
  eventName: string
  eventType: AuditRecord['eventType']
  region: string
  accountId: string
  time: number
  requestId: string
  eventId: string
  userIdentity: UserIdentity
  sourceIPAddress: string
  userAgent: string
  requestParameters: Record<string, unknown> | null
  responseElements: Record<string, unknown> | null
  resources: AuditResource[]
  readOnly: boolean
  error?: { code: string; message: string }
}

/** The record, members in CloudTrail's order. */
export function buildRecord(fields: RecordFields): AuditRecord {
  return {
    eventVersion: EVENT_VERSION,
    userIdentity: fields.userIdentity,
    eventTime: eventTime(fields.time),
    eventSource: EVENT_SOURCE,
    eventName: fields.eventName,
    awsRegion: fields.region,
    sourceIPAddress: fields.sourceIPAddress,
    userAgent: fields.userAgent,
    ...(fields.error !== undefined ? { errorCode: fields.error.code, errorMessage: fields.error.message } : {}),
    requestParameters: fields.requestParameters,
    responseElements: fields.responseElements,
    requestID: fields.requestId,
    eventID: fields.eventId,
    readOnly: fields.readOnly,
    resources: fields.resources,
    eventType: fields.eventType,
    managementEvent: true,
    recipientAccountId: fields.accountId,
    eventCategory: 'Management',
  }
}
