/**
 * Audit records of what a region does on its own (docs/spec/audit-trail.md §2): a
 * scheduled deletion coming due (`DeleteKey`), an automatic rotation (`RotateKey`) and
 * imported key material expiring (`DeleteExpiredKeyMaterial`), recorded as AWS records
 * them, as service events. Like a request's, the record of such a
 * change goes into the change's own store commit (audit-intent.ts) and is on disk in the
 * node's trail before the work goes on.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { buildRecord, keyResources, serviceIdentity, type AuditRecord } from '../audit/record.js'
import type { AuditIntentSource } from './audit-intent.js'
import type { Kms } from './kms.js'

function serviceEvent(kms: Kms, eventName: string, keyId: string, eventId: string, time: number): AuditRecord {
  const arn = kms.arnOf(keyId)
  return buildRecord({
    eventName,
    eventType: 'AwsServiceEvent',
    region: kms.region,
    accountId: kms.accountId,
    time,
    requestId: eventId,
    eventId,
    userIdentity: serviceIdentity(kms.accountId),
    sourceIPAddress: 'AWS Internal',
    userAgent: 'AWS Internal',
    requestParameters: null,
    responseElements: null,
    resources: keyResources(kms.accountId, [arn]),
    readOnly: false,
  })
}

/**
 * Runs `work` (one kms.mutate, given the event's intent to commit with its change); if it
 * changed the key, records `eventName` for it.
 */
export async function recordedServiceChange(
  kms: Kms,
  eventName: string,
  keyId: string,
  work: (auditIntent: AuditIntentSource) => Promise<boolean>,
): Promise<boolean> {
  const eventId = randomUUID()
  const intent = () => ({
    node: kms.audit.node,
    eventId,
    record: JSON.stringify(serviceEvent(kms, eventName, keyId, eventId, kms.clock.now())),
  })
  const changed = await work(intent)
  if (changed) {
    const time = kms.clock.now()
    await kms.audit.append(serviceEvent(kms, eventName, keyId, eventId, time), { durable: true, time })
  }
  return changed
}
