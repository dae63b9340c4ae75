/**
 * What an operation is: a name (the AWS operation name), which key-state rule it
 * follows, and a handler from validated input to the wire output.
 *
 * Handlers get their input after the API layer has checked it against the AWS model
 * (types, required members, lengths, patterns, enums; blobs already base64-decoded to
 * Uint8Array), so they check only what the model cannot express.
 *
 * @module
 */
import type { Kms } from './kms.js'

export type Input = Record<string, unknown>
export type Output = Record<string, unknown>

export interface RequestContext {
  requestId: string
}

export interface Operation {
  readonly name: string
  handle(kms: Kms, input: Input, context: RequestContext): Promise<Output>
}

/** Epoch milliseconds as AWS JSON timestamps: seconds with a fractional part. */
export function epochSeconds(ms: number): number {
  return ms / 1000
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

// Accessors for validated input: the model check has already fixed the types, these
// only narrow them for TypeScript.
export function str(input: Input, name: string): string | undefined {
  const value = input[name]
  return typeof value === 'string' ? value : undefined
}

export function requiredStr(input: Input, name: string): string {
  const value = str(input, name)
  if (value === undefined) throw new TypeError(`${name}: missing after validation`)
  return value
}

export function num(input: Input, name: string): number | undefined {
  const value = input[name]
  return typeof value === 'number' ? value : undefined
}

export function bool(input: Input, name: string): boolean | undefined {
  const value = input[name]
  return typeof value === 'boolean' ? value : undefined
}

export function bytes(input: Input, name: string): Uint8Array | undefined {
  const value = input[name]
  return value instanceof Uint8Array ? value : undefined
}

export function stringMap(input: Input, name: string): Record<string, string> | undefined {
  const value = input[name]
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  return value as Record<string, string>
}

export function list<T>(input: Input, name: string): T[] | undefined {
  const value = input[name]
  return Array.isArray(value) ? (value as T[]) : undefined
}
