/**
 * Byte helpers used inside the HSM boundary.
 *
 * @module
 */
import { timingSafeEqual as nodeTimingSafeEqual } from 'node:crypto'

/**
 * Overwrites secrets in place once they are no longer needed. JavaScript gives no
 * guarantee that no other copy exists (the engine may have moved or copied the buffer,
 * and strings and bigints cannot be wiped at all); this narrows the window, nothing more.
 * See docs/security.md.
 */
export function clean(...arrays: Uint8Array[]): void {
  for (const array of arrays) array.fill(0)
}

/** Constant-time equality; unequal lengths return false without comparing. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && nodeTimingSafeEqual(a, b)
}

/** Checks a byte argument at the boundary; the label names it in the error. */
export function abytes(value: unknown, label: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${label}: expected Uint8Array, got ${typeof value}`)
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${label}: expected ${length} bytes, got ${value.length}`)
  }
  return value
}

export function anumber(value: unknown, label: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${label}: expected an integer`)
  if (value < min || value > max) throw new RangeError(`${label}: expected ${min}..${max}, got ${value}`)
  return value
}

export function astring(value: unknown, label: string): string {
  if (typeof value !== 'string') throw new TypeError(`${label}: expected a string`)
  return value
}

export function u32be(value: number): Uint8Array {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(value, 0)
  return out
}
