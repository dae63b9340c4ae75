/**
 * Exponential backoff with jitter for redelivery. Jitter keeps the retries of many
 * messages (and of several relays) to a region that comes back from spreading into one
 * synchronized burst.
 *
 * @module
 */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number
  /** Ceiling of the delay, however many attempts failed. */
  maxMs: number
  /** Growth per failed attempt. */
  multiplier: number
  /**
   * Share of the delay that is random, 0 to 1: a delay d becomes a uniform pick in
   * [d·(1 − jitter), d].
   */
  jitter: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 10_000, multiplier: 2, jitter: 0.5 }

/** The delay before retry number `failures` (1 after the first failure). */
export function backoffDelayMs(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, failures - 1)
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** exponent)
  const jitter = Math.min(1, Math.max(0, policy.jitter))
  return Math.round(ceiling * (1 - jitter * random()))
}
