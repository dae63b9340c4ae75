/**
 * An HMAC-SHA-256 key held as its two padded blocks (RFC 2104: the key XOR ipad, the key
 * XOR opad), so that one MAC is two one-shot SHA-256 hashes. In Node 20 an `Hmac` object,
 * with the key given as a KeyObject, costs about three times as much (3.8 against 1.4 µs
 * for one KBKDF block), and every symmetric Encrypt, Decrypt and GenerateDataKey derives
 * one key this way (kbkdf.ts).
 *
 * The pads are as secret as the key. They live only inside the HSM thread, like the rest
 * of its opened material; the blocks built for each MAC are zeroed once hashed, and the
 * intermediate digests exist only as short-lived strings in the HSM thread's heap.
 *
 * @module
 */
import { hash } from 'node:crypto'

const BLOCK_BYTES = 64
const DIGEST_BYTES = 32

export class HmacSha256Key {
  readonly #inner = Buffer.alloc(BLOCK_BYTES, 0x36)
  readonly #outer = Buffer.alloc(BLOCK_BYTES, 0x5c)

  /** `key` is read, not kept: the caller may zero it afterwards. */
  constructor(key: Uint8Array) {
    // RFC 2104: a key longer than the block is hashed first.
    const block = key.length > BLOCK_BYTES ? hash('sha256', key, 'buffer') : key
    for (let i = 0; i < block.length; i++) {
      const byte = block[i] ?? 0
      this.#inner[i] = 0x36 ^ byte
      this.#outer[i] = 0x5c ^ byte
    }
    if (block !== key) block.fill(0)
  }

  /** Zeroes the pads; the key MACs garbage afterwards and must not be used. */
  destroy(): void {
    this.#inner.fill(0)
    this.#outer.fill(0)
  }

  /** HMAC-SHA-256 of the concatenation of `parts`, into a new Buffer the caller zeroes when done. */
  mac(parts: readonly Uint8Array[]): Buffer {
    let length = BLOCK_BYTES
    for (const part of parts) length += part.length
    const inner = scratch(length)
    try {
      this.#inner.copy(inner, 0)
      let offset = BLOCK_BYTES
      for (const part of parts) {
        inner.set(part, offset)
        offset += part.length
      }
      // 'binary' (latin1): one byte per character, and no Buffer made for the digest (each
      // costs more than the hash).
      const innerDigest = hash('sha256', inner.subarray(0, length), 'binary')
      const outer = inner.subarray(0, BLOCK_BYTES + DIGEST_BYTES)
      this.#outer.copy(outer, 0)
      outer.write(innerDigest, BLOCK_BYTES, 'binary')
      return Buffer.from(hash('sha256', outer, 'binary'), 'binary')
    } finally {
      inner.fill(0, 0, Math.max(length, BLOCK_BYTES + DIGEST_BYTES))
    }
  }
}

/**
 * One buffer for the blocks every MAC builds, reused: MACs run one at a time on the HSM
 * thread, and taking ~200 bytes of Node's pool for each would have it make a new 8 KiB
 * pool every few dozen calls (several µs each). Zeroed after every use.
 */
let scratchBuffer = Buffer.alloc(1024)

function scratch(length: number): Buffer {
  if (scratchBuffer.length < length) scratchBuffer = Buffer.alloc(length)
  return scratchBuffer
}
