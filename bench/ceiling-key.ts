/**
 * The ceiling server's one key. Kept apart from bench/ceiling-server.ts, which starts a
 * server when it is imported.
 *
 * @module
 */
export const CEILING_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab'
/** Its ECC_NIST_P256 signing key and its HMAC_256 key (it serves any KeyId; these are for the fixtures). */
export const CEILING_SIGNING_KEY_ID = '2234abcd-12ab-34cd-56ef-1234567890ab'
export const CEILING_MAC_KEY_ID = '3234abcd-12ab-34cd-56ef-1234567890ab'
