/**
 * The audit record of one request the region answered (docs/spec/audit-trail.md §2),
 * from what the front end learnt of it as it went: who signed it (verified or not), which
 * operation, its validated input, its output or its error.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import {
  buildRecord,
  isReadOnly,
  keyResources,
  requestParameters,
  responseElements,
  serviceIdentity,
  userIdentityOf,
  type AuditRecord,
} from '../audit/record.js'
import type { Kms } from '../kms/kms.js'
import type { InboundResult } from '../kms/multi-region/inbound.js'
import { resolveKey } from '../kms/resolve-key.js'
import type { KmsError } from '../wire/errors.js'

/** What the pipeline learnt of a request, filled in as it gets there. */
export interface RequestFacts {
  /** The operation named by X-Amz-Target, if any. */
  eventName?: string
  /** The access key id the request claims (verified once `authenticated`). */
  accessKeyId?: string
  authenticated: boolean
  principalArn?: string
  /** The validated input (blobs as Uint8Array, dropped from the record). */
  input?: Record<string, unknown>
}

const MAX_EVENT_NAME = 128

/** The operation name a target header claims, kept to a safe shape for the record. */
export function eventNameOf(target: string | string[] | undefined): string | undefined {
  if (typeof target !== 'string') return undefined
  const name = target.slice(target.indexOf('.') + 1)
  if (target.startsWith('TrentAdmin.')) return /^\w{1,64}$/.test(name) ? `TrentAdmin.${name}` : undefined
  return /^\w{1,128}$/.test(name) ? name.slice(0, MAX_EVENT_NAME) : undefined
}

function keyArnsOfOutput(output: Record<string, unknown> | undefined): string[] {
  if (output === undefined) return []
  const arns: string[] = []
  for (const value of [output.KeyId, output.SourceKeyId, (output.KeyMetadata as Record<string, unknown> | undefined)?.Arn]) {
    if (typeof value === 'string' && /^arn:[^:]+:kms:[^:]+:\d+:key\//.test(value)) arns.push(value)
  }
  return arns
}

/** The keys an input names, as ARNs of this region, where they resolve (best effort: the request may have failed on them). */
function keyArnsOfInput(kms: Kms, input: Record<string, unknown> | undefined): string[] {
  if (input === undefined) return []
  const arns: string[] = []
  for (const name of ['KeyId', 'SourceKeyId', 'DestinationKeyId', 'TargetKeyId']) {
    const value = input[name]
    if (typeof value !== 'string') continue
    try {
      arns.push(kms.arnOf(resolveKey(kms, value, { allowAlias: true }).keyId))
    } catch {
      if (/^arn:[^:]+:kms:[^:]+:\d+:key\//.test(value)) arns.push(value)
    }
  }
  return arns
}

function sourceAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown'
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

export function requestRecord(
  kms: Kms,
  req: IncomingMessage,
  requestId: string,
  facts: RequestFacts,
  outcome: { output: Record<string, unknown> } | { error: KmsError },
  time: number,
  eventId: string,
): AuditRecord {
  const eventName = facts.eventName ?? 'Unknown'
  const output = 'output' in outcome ? outcome.output : undefined
  const outputArns = keyArnsOfOutput(output)
  const userAgent = req.headers['user-agent']
  return buildRecord({
    eventName,
    eventType: 'AwsApiCall',
    region: kms.region,
    accountId: kms.accountId,
    time,
    requestId,
    eventId,
    userIdentity: userIdentityOf(kms.accountId, facts.authenticated ? facts.principalArn : undefined, facts.accessKeyId),
    sourceIPAddress: sourceAddress(req),
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 1024) : '',
    requestParameters: requestParameters(facts.input),
    responseElements: responseElements(eventName, output),
    resources: keyResources(kms.accountId, outputArns.length > 0 ? outputArns : keyArnsOfInput(kms, facts.input)),
    readOnly: isReadOnly(eventName),
    ...('error' in outcome ? { error: { code: outcome.error.name, message: outcome.error.wireMessage ?? '' } } : {}),
  })
}

/**
 * The event a replication message is recorded as in the region that receives it, by
 * the AWS operation it stands for: a new replica is ReplicateKey's second half; a change
 * of primary is UpdatePrimaryRegion's; everything else keeps related keys in step, which
 * AWS records as SynchronizeMultiRegionKey.
 */
function replicationEventName(type: string | undefined): string {
  switch (type) {
    case 'ReplicaCreate':
      return 'ReplicateKey'
    case 'PrimaryHandoff':
    case 'HandoffRefused':
      return 'UpdatePrimaryRegion'
    default:
      return 'SynchronizeMultiRegionKey'
  }
}

/** The record of one replication message this region received, applied or not. */
export function replicationRecord(kms: Kms, requestId: string, result: InboundResult, time: number, eventId: string): AuditRecord {
  const keyArn = result.keyId === undefined ? undefined : kms.arnOf(result.keyId)
  const record = buildRecord({
    eventName: replicationEventName(result.type),
    eventType: 'AwsServiceEvent',
    region: kms.region,
    accountId: kms.accountId,
    time,
    requestId: result.messageId ?? requestId,
    eventId,
    userIdentity: serviceIdentity(kms.accountId),
    sourceIPAddress: 'AWS Internal',
    userAgent: 'AWS Internal',
    requestParameters: null,
    // AWS names the affected key here although the operation returns nothing.
    responseElements: keyArn === undefined || result.outcome === 'refused' ? null : { keyId: keyArn },
    resources: keyResources(kms.accountId, keyArn === undefined ? [] : [keyArn]),
    readOnly: false,
    ...(result.outcome === 'refused' ? { error: { code: 'ReplicationMessageRefused', message: result.reason ?? '' } } : {}),
  })
  return {
    ...record,
    additionalEventData: {
      replicationMessage: result.type ?? 'unparsed',
      ...(result.from !== undefined ? { sourceRegion: result.from } : {}),
      outcome: result.outcome,
    },
  }
}

/**
 * The record of a change as far as it is known before the answer, for the change's commit
 * (src/kms/audit-intent.ts): no response elements yet; the keys the change writes stand in
 * for the output's.
 */
export function intentRecord(
  kms: Kms,
  req: IncomingMessage,
  requestId: string,
  facts: RequestFacts,
  eventId: string,
  keyIds: readonly string[],
): AuditRecord {
  const record = requestRecord(kms, req, requestId, facts, { output: {} }, kms.clock.now(), eventId)
  return keyIds.length === 0
    ? record
    : {
        ...record,
        resources: keyResources(
          kms.accountId,
          keyIds.map((id) => kms.arnOf(id)),
        ),
      }
}

/** A replication message's record as far as it is known when its change commits (src/kms/audit-intent.ts). */
export function replicationIntentRecord(
  kms: Kms,
  requestId: string,
  eventId: string,
  detail: Readonly<Record<string, string>> | undefined,
): AuditRecord {
  const about: InboundResult = {
    outcome: 'applied',
    ...(detail?.type !== undefined ? { type: detail.type } : {}),
    ...(detail?.from !== undefined ? { from: detail.from } : {}),
    ...(detail?.keyId !== undefined ? { keyId: detail.keyId } : {}),
    ...(detail?.messageId !== undefined ? { messageId: detail.messageId } : {}),
  }
  const record = replicationRecord(kms, requestId, about, kms.clock.now(), eventId)
  return { ...record, additionalEventData: { ...record.additionalEventData, outcome: 'committed' } }
}
