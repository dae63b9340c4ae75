/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) and the choices the generators
 * make with it. Every fuzz case draws from its own generator, seeded from the run's seed
 * and the case's index, so case N of a seed is the same case whatever the concurrency,
 * the order answers come back in, or the categories generated before it.
 *
 * @module
 */

/** splitmix32: spreads a 32-bit seed over the four words sfc32 needs. */
function splitmix32(state: number): () => number {
  let s = state >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** FNV-1a of a string, for seeds given as text. */
export function hashSeed(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    const next = splitmix32(seed)
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  /** The generator of case `index` of the run seeded with `seed`. */
  static forCase(seed: number, index: number): Prng {
    return new Prng((Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(index + 1, 0x165667b1)) >>> 0)
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextUint32() / 4294967296
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    if (max < min) throw new RangeError(`int(${min}, ${max})`)
    return min + Math.floor(this.float() * (max - min + 1))
  }

  chance(probability: number): boolean {
    return this.float() < probability
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.int(0, items.length - 1)] as T
  }

  /** Picks by weight; entries are [weight, value]. */
  weighted<T>(entries: readonly (readonly [number, T])[]): T {
    let total = 0
    for (const [weight] of entries) total += weight
    let roll = this.float() * total
    for (const [weight, value] of entries) {
      roll -= weight
      if (roll < 0) return value
    }
    const last = entries[entries.length - 1]
    if (last === undefined) throw new RangeError('weighted pick from an empty list')
    return last[1]
  }

  /** Up to `count` distinct items, in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const copy = [...items]
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(0, i)
      const swap = copy[i] as T
      copy[i] = copy[j] as T
      copy[j] = swap
    }
    return copy.slice(0, Math.min(count, copy.length))
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    let i = 0
    for (; i + 4 <= length; i += 4) out.writeUInt32LE(this.nextUint32(), i)
    if (i < length) {
      const tail = this.nextUint32()
      for (let k = 0; i < length; i++, k++) out[i] = (tail >>> (8 * k)) & 0xff
    }
    return out
  }

  /** A string of `length` characters drawn from `alphabet`. */
  string(length: number, alphabet: string): string {
    let out = ''
    for (let i = 0; i < length; i++) out += alphabet.charAt(this.int(0, alphabet.length - 1))
    return out
  }

  hex(length: number): string {
    return this.string(length, '0123456789abcdef')
  }
}
