/**
 * Changes as stored in a change log (docs/spec/storage.md §2): the batch of writes as
 * JSON, with every byte array (key tokens, message bodies) as `{"$bytes": "<base64>"}`.
 * Key material appears only as the key tokens the records already carry.
 *
 * @module
 */
import type { Write } from './records.js'

const BYTES = '$bytes'

export function encodeWrites(writes: readonly Write[]): string {
  return JSON.stringify(writes, function (this: Record<string, unknown>, name: string, value: unknown) {
    // The holder's own value: a Buffer has already been through its toJSON() by now.
    const original = this[name]
    return original instanceof Uint8Array
      ? { [BYTES]: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') }
      : value
  })
}

export function decodeWrites(text: string): Write[] {
  const parsed = JSON.parse(text, (_name, value: unknown) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const bytes = (value as Record<string, unknown>)[BYTES]
      if (typeof bytes === 'string' && Object.keys(value).length === 1) return new Uint8Array(Buffer.from(bytes, 'base64'))
    }
    return value
  }) as unknown
  if (!Array.isArray(parsed)) throw new Error('storage: a change log entry is not a list of writes')
  return parsed as Write[]
}
