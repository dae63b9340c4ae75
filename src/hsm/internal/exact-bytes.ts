/**
 * What crosses the HSM boundary carries exactly its own bytes.
 *
 * A worker message is a structured clone, and structured clone copies a typed array's
 * whole ArrayBuffer, not just the bytes the array shows. Most small Buffers Node makes
 * (Buffer.concat, Buffer.from, hex and base64 decoding) are views into a shared 8 KiB
 * pool, so a 60-byte ciphertext sent as such a view would carry 8 KiB: whatever else of
 * that thread's pool is there. From the HSM thread that was opened key material (HMAC
 * keys, PKCS#8 private keys: docs/security.md, "Key material"); from the region's thread,
 * other requests' plaintext. And copying 8 KiB each way cost more than the crossing itself
 * (measured on Node 20: a message with one pooled 24-byte view, 13–29 µs; with an exact
 * one, 5–8 µs).
 *
 * So every message is passed through {@link exactBytes} first: each Uint8Array that does
 * not span its whole buffer is replaced by a copy that does. Plain objects and arrays are
 * walked; everything else is left as it is. The value given is never modified: a copy is
 * made along the path to each replaced array, and only there.
 *
 * @module
 */

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null
}

/** `value` with every Uint8Array in it spanning exactly its own ArrayBuffer. */
export function exactBytes<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (value instanceof Uint8Array) {
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value
    const copy = new Uint8Array(value.byteLength)
    copy.set(value)
    return copy as T
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    for (let index = 0; index < value.length; index++) {
      const element: unknown = value[index]
      const exact = exactBytes(element)
      if (exact !== element) {
        copy ??= value.slice()
        copy[index] = exact
      }
    }
    return (copy ?? value) as T
  }
  if (!isPlainObject(value)) return value
  let copy: Record<string, unknown> | undefined
  for (const name of Object.keys(value)) {
    const member = value[name]
    const exact = exactBytes(member)
    if (exact !== member) {
      copy ??= { ...value }
      copy[name] = exact
    }
  }
  return (copy ?? value) as T
}
