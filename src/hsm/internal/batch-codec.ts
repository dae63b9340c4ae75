/**
 * How a batch of calls or answers crosses the HSM boundary: as one JSON text, with the
 * batch's bytes in buffers made for them and moved rather than copied.
 *
 * What crosses must be exactly the batch's own bytes. Node makes most small Buffers as
 * views into a shared 8 KiB pool, and a typed array crosses with its whole ArrayBuffer: a
 * 60-byte ciphertext sent as such a view once carried the rest of the HSM thread's pool,
 * which can hold opened key material (docs/security.md, "Key material"). Here each buffer
 * is new and holds nothing but the arrays copied into it.
 *
 * Why not structured clone, the default for a worker message: it was the largest cost of
 * a crossing. V8's serializer writes every property name of every call again, and the
 * other side makes an ArrayBuffer for each typed array, which in Node 20 costs 2–6 µs
 * apiece outside V8's heap (anything over 64 bytes). A batch of 20 Decrypt calls took
 * 53 µs to post as objects; its JSON takes about 5. So a batch is written as
 *
 *   message = [text, ...buffers]
 *   text    = JSON of [value, bytes, holes]
 *
 * where `value` is the batch with each Uint8Array replaced by null, `bytes` lists where
 * each went, as [buffer index, offset, length, ...path], and `holes` lists the paths of
 * array elements that were undefined (JSON would make them null). Every buffer goes in
 * the transfer list: it changes thread without a copy, and each array arrives as a view
 * of exactly its own bytes.
 *
 * Every view of a buffer keeps all of it alive, so a result that may be kept for long (a
 * key's token) must not share a buffer with results that are secrets: `ownBuffer` puts an
 * element of the batch in a buffer of its own.
 *
 * Only what JSON carries exactly crosses, plus Uint8Arrays and undefined: anything else
 * (a Map, a KeyObject, NaN, an object with a prototype) is a TypeError at the sender,
 * never a silent change on the way.
 *
 * @module
 */

type PathSegment = string | number
/** [buffer index, offset, length, ...path] */
type BytesEntry = [number, number, number, ...PathSegment[]]

/** A batch as it is posted: the JSON text, then the buffers it refers to. */
export type EncodedBatch = [text: string, ...buffers: ArrayBuffer[]]

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null
}

class Encoder {
  readonly #arrays: { bytes: Uint8Array; buffer: number; path: PathSegment[] }[] = []
  readonly #holes: PathSegment[][] = []
  readonly #lengths: number[] = [0]
  readonly #path: PathSegment[] = []
  #buffer = 0

  /** The batch with its arrays replaced; top-level elements for which `ownBuffer` holds get a buffer of their own. */
  batch(elements: readonly unknown[], ownBuffer: (element: unknown) => boolean): unknown[] {
    let copy: unknown[] | undefined
    for (let index = 0; index < elements.length; index++) {
      const element = elements[index]
      const own = ownBuffer(element)
      if (own) {
        this.#buffer = this.#lengths.length
        this.#lengths.push(0)
      }
      this.#path.push(index)
      const written = this.#inArray(element)
      this.#path.pop()
      if (own) this.#buffer = 0
      if (written !== element) {
        copy ??= elements.slice()
        copy[index] = written
      }
    }
    return copy ?? (elements as unknown[])
  }

  #inArray(element: unknown): unknown {
    if (element === undefined) {
      this.#holes.push([...this.#path])
      return null
    }
    return this.#value(element)
  }

  #value(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value
      case 'number':
        if (!Number.isFinite(value)) throw new TypeError('hsm: a number that JSON cannot carry')
        return value
      case 'object':
        break
      default:
        throw new TypeError(`hsm: cannot send a ${typeof value}`)
    }
    if (value === null) return null
    if (value instanceof Uint8Array) {
      this.#arrays.push({ bytes: value, buffer: this.#buffer, path: [...this.#path] })
      this.#lengths[this.#buffer] = (this.#lengths[this.#buffer] ?? 0) + value.byteLength
      return null
    }
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined
      for (let index = 0; index < value.length; index++) {
        const element: unknown = value[index]
        this.#path.push(index)
        const written = this.#inArray(element)
        this.#path.pop()
        if (written !== element) {
          copy ??= value.slice()
          copy[index] = written
        }
      }
      return copy ?? value
    }
    if (!isPlainObject(value)) throw new TypeError('hsm: only plain objects, arrays and Uint8Arrays cross')
    let copy: Record<string, unknown> | undefined
    for (const name of Object.keys(value)) {
      const member = value[name]
      // An undefined member is an absent one, as JSON has it.
      if (member === undefined) continue
      this.#path.push(name)
      const written = this.#value(member)
      this.#path.pop()
      if (written !== member) {
        copy ??= { ...value }
        copy[name] = written
      }
    }
    return copy ?? value
  }

  finish(value: unknown): { message: EncodedBatch; transfer: ArrayBuffer[] } {
    const buffers = this.#lengths.map((length) => new ArrayBuffer(length))
    const offsets = this.#lengths.map(() => 0)
    const entries: BytesEntry[] = []
    for (const { bytes, buffer, path } of this.#arrays) {
      const offset = offsets[buffer] ?? 0
      new Uint8Array(buffers[buffer] as ArrayBuffer, offset, bytes.byteLength).set(bytes)
      offsets[buffer] = offset + bytes.byteLength
      entries.push([buffer, offset, bytes.byteLength, ...path])
    }
    // Without arrays, buffer 0 is empty and nothing needs to travel with the text.
    const used = entries.length === 0 ? [] : buffers
    return { message: [JSON.stringify([value, entries, this.#holes]), ...used], transfer: used }
  }
}

/**
 * The message that carries `batch` (an array of calls or answers) across, and the buffers
 * to transfer with it. The elements for which `ownBuffer` holds keep their bytes in
 * buffers of their own; the others share one.
 */
export function encodeBatch(
  batch: readonly unknown[],
  ownBuffer: (element: unknown) => boolean = () => false,
): { message: EncodedBatch; transfer: ArrayBuffer[] } {
  const encoder = new Encoder()
  return encoder.finish(encoder.batch(batch, ownBuffer))
}

function place(root: unknown[], path: readonly PathSegment[], value: unknown): void {
  let node: unknown = root
  for (let index = 0; index < path.length - 1; index++) {
    node = (node as Record<PathSegment, unknown>)[path[index] as PathSegment]
  }
  const last = path[path.length - 1] as PathSegment
  // Defined, not assigned: a member named `__proto__` is data here, as JSON.parse made it.
  Object.defineProperty(node, last, { value, writable: true, enumerable: true, configurable: true })
}

/** The batch a message from {@link encodeBatch} carries. */
export function decodeBatch<T>(message: EncodedBatch): T[] {
  const [text, ...buffers] = message
  const [batch, entries, holes] = JSON.parse(text) as [unknown[], BytesEntry[], PathSegment[][]]
  for (const [buffer, offset, length, ...path] of entries) {
    place(batch, path, new Uint8Array(buffers[buffer] as ArrayBuffer, offset, length))
  }
  for (const path of holes) place(batch, path, undefined)
  return batch as T[]
}
