/**
 * Random bytes for the HSM's hot path, drawn from the CSPRNG a block at a time.
 *
 * Why: every Encrypt needs a salt and an IV, and every GenerateDataKey a data key too,
 * and each `randomBytes` call costs about 5 µs in Node 20 (a trip into OpenSSL's DRBG per
 * call) — more than the AES-GCM and the key derivation of a small request together.
 * Drawing 4 KiB at once and handing it out in slices costs a tenth of that.
 *
 * What keeps it as strong as calling the CSPRNG each time: every byte comes from
 * `randomFillSync` (the same OpenSSL DRBG), each byte is handed out at most once, the
 * slice handed out is a copy, and the pool's copy is zeroed the moment it is handed out,
 * so the pool never holds a byte that someone else has seen or will see. The pool lives
 * in the thread that uses it (module state is per worker thread), and Node never forks
 * a running process, so no two holders can share its state. Only small requests are
 * pooled; larger ones go straight to the CSPRNG.
 *
 * @module
 */
import { randomBytes, randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
/** Larger requests gain nothing from the pool and would drain it. */
const MAX_POOLED_BYTES = 64

const pool = Buffer.alloc(POOL_BYTES)
/** Bytes before this offset have been handed out (and zeroed); at POOL_BYTES, refill. */
let next = POOL_BYTES

/** `length` fresh random bytes, in a buffer of their own. */
export function freshRandomBytes(length: number): Buffer {
  if (length > MAX_POOLED_BYTES) return randomBytes(length)
  if (next + length > POOL_BYTES) {
    randomFillSync(pool)
    next = 0
  }
  const bytes = Buffer.allocUnsafeSlow(length)
  pool.copy(bytes, 0, next, next + length)
  pool.fill(0, next, next + length)
  next += length
  return bytes
}
