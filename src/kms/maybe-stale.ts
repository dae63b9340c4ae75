/**
 * Refusals that a node of a shared store could give only because it has not applied a
 * change its peers just committed (docs/architecture.md, "Consistency"): access.ts's
 * runOperation catches up with the store and asks again before giving one.
 *
 * @module
 */
import { isKmsError, type KmsError } from '../wire/errors.js'

/** A key, grant or alias made on a peer; a key enabled, or its policy changed, there. */
const MAYBE_STALE_NAMES: ReadonlySet<string> = new Set([
  'NotFoundException',
  'DisabledException',
  'KMSInvalidStateException',
  'AccessDeniedException',
  'AlreadyExistsException',
])

/** Refusals of other names marked by their maker as possibly stale (see {@link markMaybeStale}). */
const marked = new WeakSet<KmsError>()

/**
 * Marks `err` as given because of something a peer may have just changed: a ciphertext
 * under a key, or a key material, this node has no record of; a ciphertext not under the
 * key an alias names here, when a peer may have just pointed the alias at it. The error
 * stays what the caller sees (InvalidCiphertextException looks the same whatever its
 * cause); only the node asks the store again before giving it.
 */
export function markMaybeStale(err: KmsError): KmsError {
  marked.add(err)
  return err
}

/** Whether a peer's newest change could explain `err`. */
export function mayBeStale(err: unknown): err is KmsError {
  return isKmsError(err) && (MAYBE_STALE_NAMES.has(err.name) || marked.has(err))
}
