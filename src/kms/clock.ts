/**
 * Time, injectable: background work (deletion, automatic rotation) reads this clock, so
 * tests can move a running region forward in time.
 *
 * @module
 */

export interface Clock {
  /** Epoch milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** The system clock plus an offset that only moves forward. */
export class AdjustableClock implements Clock {
  #offsetMs = 0
  now(): number {
    return Date.now() + this.#offsetMs
  }
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advance: expected a non-negative duration')
    this.#offsetMs += ms
  }
}
