/**
 * The replication endpoint's core: an envelope in, an outcome out. Everything is
 * checked before anything changes (docs/spec/replication.md#acceptance).
 *
 * @module
 */
import { EnvelopeFormatError, parseEnvelope } from '../../replication/envelope.js'
import type { AuditIntentSource } from '../audit-intent.js'
import { MessageFormatError, parseMessage } from '../../replication/messages.js'
import type { Kms } from '../kms.js'
import { failpoint } from '../failpoints.js'
import { ReplicationRefused, handleMessage, type Outcome } from './handlers.js'
import { wallClock } from './outbound.js'

/** How far in the future a message's issue time may lie: clock skew between regions. */
const MAX_FUTURE_SKEW_MS = 5 * 60_000
const MAX_LIFETIME_MS = 15 * 60_000

export interface InboundResult {
  outcome: 'applied' | 'duplicate' | 'ignored' | 'refused'
  /** Why a message was refused: for logs and the proxy's status, never secret. */
  reason?: string
  type?: string
  from?: string
  keyId?: string
  /** The signed message's id, once it parsed: what the audit record names as its request. */
  messageId?: string
}

function refused(reason: string, extra: Omit<InboundResult, 'outcome' | 'reason'> = {}): InboundResult {
  return { outcome: 'refused', reason, ...extra }
}

export async function receiveEnvelope(kms: Kms, bytes: Uint8Array, auditIntent?: AuditIntentSource): Promise<InboundResult> {
  let parsed: ReturnType<typeof parseEnvelope>
  try {
    parsed = parseEnvelope(bytes)
  } catch (err) {
    if (err instanceof EnvelopeFormatError) return refused(err.message)
    throw err
  }
  const { envelope, body, signature } = parsed
  //= docs/spec/replication.md#acceptance
  //# the signature verifies ... under a key of the trust store listed for the region the body names as from
  if (!kms.peers.verify(envelope.from, envelope.signature.keyId, body, signature)) {
    return refused(`signature does not verify under a key pinned for ${envelope.from}`)
  }
  let message: ReturnType<typeof parseMessage>
  try {
    message = parseMessage(body)
  } catch (err) {
    if (err instanceof MessageFormatError) return refused(err.message)
    throw err
  }
  const about = { type: message.type, from: message.from, keyId: message.keyId, messageId: message.messageId }
  // The envelope's copies are for routing only; they must agree with the signed body.
  if (message.from !== envelope.from || message.to !== envelope.to || message.messageId !== envelope.messageId) {
    return refused('envelope fields disagree with the signed body', about)
  }
  if (message.partition !== kms.peers.partitionId()) return refused('message is for another partition', about)
  if (message.to !== kms.region) return refused('message is for another region', about)
  const now = wallClock()
  if (message.issuedAt > now + MAX_FUTURE_SKEW_MS || message.expiresAt < now || message.expiresAt - message.issuedAt > MAX_LIFETIME_MS) {
    return refused('message is expired or not yet valid', about)
  }
  let outcome: Outcome
  failpoint('inbound:before-apply')
  try {
    // What the message's audit record, committed with its change, says of it (audit-intent.ts).
    const auditDetail = { type: message.type, from: message.from, keyId: message.keyId, messageId: message.messageId }
    outcome = await kms.mutate(() => handleMessage(kms, message), auditIntent, auditDetail)
  } catch (err) {
    if (err instanceof ReplicationRefused) return refused(err.message, about)
    throw err
  }
  failpoint('inbound:after-commit')
  if (typeof outcome === 'object') return refused(outcome.refused, about)
  return { outcome, ...about }
}
