/**
 * NIST SP 800-108r1 §4.1 key derivation in counter mode with HMAC-SHA256 as the PRF.
 *
 * K(i) = HMAC(K_IN, [i]_32 || Label || 0x00 || Context || [L]_32), i = 1..n, and the
 * output is the first L bits of K(1) || K(2) || ... The counter and L are 32-bit
 * big-endian. AWS KMS derives its per-request keys with this construction (reference
 * §8.1); the label and context Trent uses are in docs/spec/ciphertext-blob.md §3.
 *
 * @module
 */
import { createHmac, type KeyObject } from 'node:crypto'
import { u32be } from './bytes.js'
import { HmacSha256Key } from './hmac-sha256-key.js'

const HMAC_SHA256_BYTES = 32

/** `keyIn` as an {@link HmacSha256Key} is the fast form, for keys that derive many times. */
export function kbkdfCounterHmacSha256(
  keyIn: HmacSha256Key | KeyObject | Uint8Array,
  label: Uint8Array,
  context: Uint8Array,
  outputBytes: number,
): Buffer {
  if (!Number.isInteger(outputBytes) || outputBytes < 1 || outputBytes > 0xffffffff / 8) {
    throw new RangeError('outputBytes: out of range')
  }
  const blocks = Math.ceil(outputBytes / HMAC_SHA256_BYTES)
  const lengthInBits = u32be(outputBytes * 8)
  const separator = Buffer.of(0)
  const out = Buffer.alloc(blocks * HMAC_SHA256_BYTES)
  for (let i = 1; i <= blocks; i++) {
    if (keyIn instanceof HmacSha256Key) {
      const block = keyIn.mac([u32be(i), label, separator, context, lengthInBits])
      block.copy(out, (i - 1) * HMAC_SHA256_BYTES)
      block.fill(0)
      continue
    }
    const hmac = createHmac('sha256', keyIn)
    hmac.update(u32be(i))
    hmac.update(label)
    hmac.update(separator)
    hmac.update(context)
    hmac.update(lengthInBits)
    hmac.digest().copy(out, (i - 1) * HMAC_SHA256_BYTES)
  }
  if (out.length === outputBytes) return out
  const trimmed = Buffer.from(out.subarray(0, outputBytes))
  out.fill(0)
  return trimmed
}
