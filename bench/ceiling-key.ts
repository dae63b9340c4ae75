/**
 * The ceiling server's one key. Kept apart from bench/ceiling-server.ts, which starts a
 * server when it is imported.
 *
 * @module
 */
export const CEILING_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab'
