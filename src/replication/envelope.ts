/**
 * Envelopes: what the proxy relays (docs/spec/replication.md#envelope). The body is
 * carried as base64 of the exact signed bytes.
 *
 * @module
 */

import { ENVELOPE_VERSION, MAX_ENVELOPE_BYTES } from '../wire/replication-endpoint.js'

export { ENVELOPE_VERSION, MAX_ENVELOPE_BYTES }

export interface Envelope {
  v: 1
  messageId: string
  from: string
  to: string
  /** base64 of the body bytes */
  body: string
  signature: { keyId: string; value: string }
}

export class EnvelopeFormatError extends Error {}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return Buffer.from(JSON.stringify(envelope), 'utf8')
}

/** Parses the envelope's own fields; the body is left as bytes for the verifier. */
export function parseEnvelope(bytes: Uint8Array): { envelope: Envelope; body: Uint8Array; signature: Uint8Array } {
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new EnvelopeFormatError('envelope too large')
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new EnvelopeFormatError('envelope is not JSON')
  }
  if (typeof raw !== 'object' || raw === null) throw new EnvelopeFormatError('envelope is not an object')
  const e = raw as Record<string, unknown>
  const signature = e.signature as Record<string, unknown> | null | undefined
  if (
    e.v !== ENVELOPE_VERSION ||
    typeof e.messageId !== 'string' ||
    typeof e.from !== 'string' ||
    typeof e.to !== 'string' ||
    typeof e.body !== 'string' ||
    typeof signature !== 'object' ||
    signature === null ||
    typeof signature.keyId !== 'string' ||
    typeof signature.value !== 'string'
  ) {
    throw new EnvelopeFormatError('envelope fields missing or mistyped')
  }
  const envelope: Envelope = {
    v: 1,
    messageId: e.messageId,
    from: e.from,
    to: e.to,
    body: e.body,
    signature: { keyId: signature.keyId, value: signature.value },
  }
  return { envelope, body: Buffer.from(envelope.body, 'base64'), signature: Buffer.from(envelope.signature.value, 'base64') }
}
