/**
 * HMAC (RFC 2104) for the AWS KMS MAC algorithms. The primitive takes any key length so it
 * can be checked against RFC 4231, whose keys are not KMS key lengths; key-specs.ts checks
 * the key against its spec before calling it.
 *
 * @module
 */
import { createHmac } from 'node:crypto'
import type { MacAlgorithm } from '../../wire/key-specs.js'
import { equalBytes } from '../internal/bytes.js'

export const MAC_HASH: Record<MacAlgorithm, { hash: 'sha224' | 'sha256' | 'sha384' | 'sha512'; bytes: number }> = {
  HMAC_SHA_224: { hash: 'sha224', bytes: 28 },
  HMAC_SHA_256: { hash: 'sha256', bytes: 32 },
  HMAC_SHA_384: { hash: 'sha384', bytes: 48 },
  HMAC_SHA_512: { hash: 'sha512', bytes: 64 },
}

export function hmac(algorithm: MacAlgorithm, key: Uint8Array, message: Uint8Array): Buffer {
  const params = MAC_HASH[algorithm]
  if (params === undefined) throw new RangeError(`unknown MAC algorithm ${String(algorithm)}`)
  return createHmac(params.hash, key).update(message).digest()
}

/**
 * Constant-time check of a full-length tag. A tag of any other length is simply wrong:
 * AWS VerifyMac compares the whole HMAC, and accepting truncated tags would let a caller
 * guess a short prefix.
 */
export function hmacVerify(algorithm: MacAlgorithm, key: Uint8Array, message: Uint8Array, mac: Uint8Array): boolean {
  const expected = hmac(algorithm, key, message)
  return equalBytes(expected, mac)
}
