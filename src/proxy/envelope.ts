/**
 * What the relay reads of a replication envelope (docs/spec/replication.md §5.1): the
 * routing and de-duplication copies `v`, `messageId`, `from`, `to`, and that `body` and
 * `signature` are there with the right JSON types. The relay has no keys: it never
 * decodes the body nor verifies the signature, and it relays the envelope's bytes exactly
 * as received, so nothing it parses here is ever written back.
 *
 * @module
 */

//= docs/spec/replication.md#envelope
//# An envelope is at most 1 MiB.
import { ENVELOPE_VERSION, MAX_ENVELOPE_BYTES } from '../wire/replication-endpoint.js'

export { ENVELOPE_VERSION, MAX_ENVELOPE_BYTES }

/**
 * Region names and message ids become store keys, log fields and status keys, so they
 * are held to a tame alphabet. Region names are looser than AWS's own pattern on purpose:
 * the relay routes whatever regions it is configured with.
 */
const REGION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/
const MESSAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** The envelope fields the relay routes and de-duplicates by. */
export interface EnvelopeHeader {
  messageId: string
  from: string
  to: string
}

export type EnvelopeRejection = 'invalid' | 'too-large' | 'unknown-destination'

/** An envelope the relay will not take; `reason` is short and safe to send back and log. */
export class EnvelopeRejectedError extends Error {
  override readonly name = 'EnvelopeRejectedError'
  constructor(
    readonly rejection: EnvelopeRejection,
    readonly reason: string,
  ) {
    super(reason)
  }
}

export function isRegionName(value: string): boolean {
  return REGION_NAME.test(value)
}

function invalid(reason: string): EnvelopeRejectedError {
  return new EnvelopeRejectedError('invalid', reason)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function requireString(envelope: Record<string, unknown>, field: string, pattern: RegExp): string {
  const value = envelope[field]
  if (value === undefined) throw invalid(`missing field '${field}'`)
  if (typeof value !== 'string') throw invalid(`field '${field}' must be a string`)
  if (!pattern.test(value)) throw invalid(`field '${field}' is not well-formed`)
  return value
}

/**
 * Reads the header of an envelope, or throws {@link EnvelopeRejectedError}. Destination
 * routing (whether `to` is a region this relay knows) is the caller's concern.
 */
export function readEnvelopeHeader(envelopeBytes: Uint8Array): EnvelopeHeader {
  if (envelopeBytes.length > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeRejectedError('too-large', `envelope exceeds ${MAX_ENVELOPE_BYTES} bytes`)
  }
  let parsed: unknown
  try {
    // fatal: bytes that are not UTF-8 are not JSON, rather than silently replaced.
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(envelopeBytes))
  } catch {
    throw invalid('envelope is not JSON')
  }
  if (!isObject(parsed)) throw invalid('envelope is not a JSON object')

  if (parsed.v === undefined) throw invalid("missing field 'v'")
  if (typeof parsed.v !== 'number') throw invalid("field 'v' must be a number")
  if (parsed.v !== ENVELOPE_VERSION) throw invalid(`unsupported envelope version ${String(parsed.v)}`)

  const messageId = requireString(parsed, 'messageId', MESSAGE_ID)
  const from = requireString(parsed, 'from', REGION_NAME)
  const to = requireString(parsed, 'to', REGION_NAME)

  if (parsed.body === undefined) throw invalid("missing field 'body'")
  if (typeof parsed.body !== 'string') throw invalid("field 'body' must be a string")
  const signature = parsed.signature
  if (signature === undefined) throw invalid("missing field 'signature'")
  if (!isObject(signature)) throw invalid("field 'signature' must be an object")
  for (const field of ['keyId', 'value'] as const) {
    if (signature[field] === undefined) throw invalid(`missing field 'signature.${field}'`)
    if (typeof signature[field] !== 'string') throw invalid(`field 'signature.${field}' must be a string`)
  }
  return { messageId, from, to }
}
