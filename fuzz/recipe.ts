/**
 * What a fuzz case is, as data: the recipes of its requests, never their bytes alone.
 *
 * A case is written to the findings file as it was generated, so `--replay` can send it
 * again minutes or days later: signed requests are signed again with the current time,
 * fixture names (`key:sym:arn`, `ct:sym`) resolve to the fixtures of the partition being
 * replayed against, and each tamper step is applied again after signing. The exact bytes
 * first sent are kept next to the recipe, for people and for `nc`.
 *
 * Bodies are JSON templates: plain JSON values, plus placeholders (objects with a `$fuzz`
 * member) for what only exists at send time (a fixture, a value an earlier step returned,
 * an import wrapped with a fresh public key) or what JSON values cannot hold (a number
 * too large for a double, duplicate members, nesting ten thousand deep).
 *
 * @module
 */
import type { AlgorithmSpec } from '@aws-sdk/client-kms'
import { wrapForImport } from '../test/helpers/import-wrap.js'

export type Category = 'structured' | 'http' | 'sigv4' | 'crypto'
export const CATEGORIES: readonly Category[] = ['structured', 'http', 'sigv4', 'crypto']

// ---------------------------------------------------------------------------------------
// Templates

export type Template = null | boolean | number | string | readonly Template[] | TemplateObject | Placeholder
export interface TemplateObject {
  readonly [member: string]: Template
}

/** A change to a fixture's bytes, resolved against its real length at send time. */
export type BlobMutation =
  /** `byte` < 0 counts from the end. */
  | { readonly op: 'flip-bit'; readonly byte: number; readonly bit: number }
  /** `length` < 0 drops that many bytes from the end. */
  | { readonly op: 'truncate'; readonly length: number }
  | { readonly op: 'append'; readonly base64: string }
  | { readonly op: 'prepend'; readonly base64: string }
  | { readonly op: 'set-byte'; readonly byte: number; readonly value: number }
  /** Bytes [start, end) come from another fixture (a header from one ciphertext, the rest of another). */
  | { readonly op: 'splice'; readonly from: string; readonly start: number; readonly end: number }

export type Placeholder =
  /** A fixture or a value bound by an earlier step, as a JSON string. */
  | { readonly $fuzz: 'ref'; readonly name: string }
  /** A fixture holding base64 bytes, possibly mutated, as a JSON string. */
  | { readonly $fuzz: 'bytes'; readonly name: string; readonly mutate?: BlobMutation }
  /** JSON text written verbatim: 1e400, duplicate members, `__proto__` members, broken JSON. */
  | { readonly $fuzz: 'raw'; readonly json: string }
  /** `depth` nested arrays or objects around `leaf` (raw JSON, default nothing). */
  | { readonly $fuzz: 'nest'; readonly depth: number; readonly kind: 'array' | 'object'; readonly leaf?: string }
  /** A string of `length` characters made by repeating `text` (long values, compactly). */
  | { readonly $fuzz: 'fill'; readonly length: number; readonly text: string }
  /** Key material wrapped for ImportKeyMaterial with a public key from a fixture or an earlier step. */
  | { readonly $fuzz: 'wrap'; readonly publicKey: string; readonly material: string; readonly algorithm: string }
  /** Seconds since the epoch, `offsetSeconds` from the time of sending, as a JSON number. */
  | { readonly $fuzz: 'epoch'; readonly offsetSeconds: number }
  /** base64 of `length` bytes of value `byte` (large blobs, compactly). */
  | { readonly $fuzz: 'zeros'; readonly length: number; readonly byte?: number }
  /** A JSON string: `text` with every `{{name}}` replaced by that value (policies, ARNs made of fixtures). */
  | { readonly $fuzz: 'format'; readonly text: string }

export function isPlaceholder(value: Template): value is Placeholder {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, '$fuzz')
}

/** A member set with defineProperty, so that a member called `__proto__` is data, not a prototype. */
export function withMember(object: Record<string, Template>, name: string, value: Template): void {
  Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true })
}

export type BodyRecipe = { readonly json: Template } | { readonly base64: string } | { readonly text: string }

// ---------------------------------------------------------------------------------------
// Requests

/** How a signed request is signed; every field has the honest default. */
export interface SigningRecipe {
  /** 'none' sends no signature at all. Default 'header'. */
  readonly mode?: 'header' | 'presigned' | 'none'
  readonly credentials?: 'admin' | 'unknown-key' | 'wrong-secret' | 'session-token'
  /** The service in the credential scope. Default 'kms'. */
  readonly service?: string
  /** The region in the credential scope. Default the request's region. */
  readonly scopeRegion?: string
  /** The signing time is now plus this many seconds. */
  readonly skewSeconds?: number
  /** Headers left out of SignedHeaders (they are still sent). */
  readonly unsigned?: readonly string[]
  /** Sign `x-amz-content-sha256: UNSIGNED-PAYLOAD` instead of the body's hash. */
  readonly unsignedPayload?: boolean
  /** Presigned form: X-Amz-Expires. */
  readonly expiresIn?: number
}

/** A change made after signing. Header names are matched case-insensitively. */
export type Tamper =
  | { readonly op: 'set-header'; readonly name: string; readonly value: string }
  /** Another header; with `first`, placed before the first one of the same name (duplicates in either order). */
  | { readonly op: 'add-header'; readonly name: string; readonly value: string; readonly first?: boolean }
  | { readonly op: 'remove-header'; readonly name: string }
  /** Same value, new spelling of the name (case games) or another name. */
  | { readonly op: 'rename-header'; readonly from: string; readonly to: string }
  /** Replaces the first (or every) occurrence of `find` in the header's value. */
  | { readonly op: 'edit-header'; readonly name: string; readonly find: string; readonly replace: string; readonly all?: boolean }
  /** Changes the signature, wherever it is (Authorization header or X-Amz-Signature). */
  | { readonly op: 'signature'; readonly change: 'uppercase' | 'truncate' | 'extend' | 'flip' | 'empty' | 'non-hex' | 'zero' }
  | { readonly op: 'set-body'; readonly body: BodyRecipe }
  | { readonly op: 'set-path'; readonly path: string }
  /** Sets (or, with null, removes) a query parameter of the request target. */
  | { readonly op: 'set-query'; readonly name: string; readonly value: string | null }
  | { readonly op: 'set-method'; readonly method: string }
  /** Replaces X-Amz-Date with a Date header holding the same instant as an HTTP date. */
  | { readonly op: 'date-as-http-date' }
  /** Moves X-Amz-Date (header or query parameter) by some seconds, keeping its format. */
  | { readonly op: 'shift-date'; readonly seconds: number }

export interface SignedRequestRecipe {
  readonly kind: 'signed'
  readonly region: string
  /** X-Amz-Target; absent: no such header. */
  readonly target?: string
  readonly body: BodyRecipe
  /** Default application/x-amz-json-1.1; null: no Content-Type header. */
  readonly contentType?: string | null
  readonly method?: string
  readonly path?: string
  /** Sent and signed (unless listed in `signing.unsigned`). */
  readonly extraHeaders?: readonly (readonly [string, string])[]
  readonly signing?: SigningRecipe
  readonly tamper?: readonly Tamper[]
}

/**
 * A request only raw bytes can express (malformed HTTP). `builder` names a function of
 * generators/http.ts that makes the bytes from `params` at send time (so that a signed
 * request inside is signed again on replay).
 */
export interface RawHttpRecipe {
  readonly kind: 'raw'
  readonly builder: string
  readonly params: JsonObject
}

export type RequestRecipe = SignedRequestRecipe | RawHttpRecipe

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject
export interface JsonObject {
  readonly [name: string]: JsonValue
}

// ---------------------------------------------------------------------------------------
// Cases

/** What the oracle is told about one request beyond "never 5xx, never hang, never a stack trace". */
export interface Expectation {
  /** The request must not succeed: a 2xx is a finding (an accepted attack, misuse or invalid input). */
  readonly mustFail?: boolean
  /** When it fails with a JSON error, `__type` must be one of these. */
  readonly errorTypes?: readonly string[]
  /** On a 2xx JSON answer, the value at `path` must be `equals` (key-state sequences). */
  readonly check?: { readonly path: string; readonly equals: string }
  /** The server may close the connection without answering (a body it will not read). */
  readonly closeAllowed?: boolean
  /** Why, for the report. */
  readonly why?: string
}

export interface Step {
  readonly request: RequestRecipe
  /** For the per-operation counts: the KMS operation, `TrentAdmin.X`, `http:<kind>` or `sigv4:<attack>`. */
  readonly operation: string
  readonly expect?: Expectation
  /** Values of a 2xx JSON answer to keep for later steps: name → dotted path. */
  readonly bind?: Readonly<Record<string, string>>
  /** The sequence stops (without a finding) if this step does not succeed. */
  readonly setup?: boolean
  /** Pause before sending (replication has to happen first). */
  readonly waitMs?: number
}

export interface FuzzCase {
  /** The case's index in its run: with the seed, enough to generate it again. */
  readonly index: number
  readonly category: Category
  /** One line for people. */
  readonly label: string
  readonly steps: readonly Step[]
  /** Values the steps name besides fixtures and bound values (key material made for this case). */
  readonly values?: Readonly<Record<string, string>>
}

/** Values an earlier step bound are named `bound:<name>`. */
export function boundName(name: string): string {
  return `bound:${name}`
}

// ---------------------------------------------------------------------------------------
// Rendering

/** A template names a value that does not exist here (a fixture this target lacks). */
export class MissingValue extends Error {}

export interface RenderContext {
  /** Fixture values and values bound by earlier steps, by name. */
  readonly values: ReadonlyMap<string, string>
  readonly nowMs: number
}

function lookup(context: RenderContext, name: string): string {
  const value = context.values.get(name)
  if (value === undefined) throw new MissingValue(`no value named '${name}'`)
  return value
}

function offsetOf(index: number, length: number): number {
  return index < 0 ? Math.max(0, length + index) : Math.min(index, Math.max(0, length - 1))
}

export function mutateBytes(input: Buffer, mutation: BlobMutation, context: RenderContext): Buffer {
  const bytes = Buffer.from(input)
  switch (mutation.op) {
    case 'flip-bit': {
      if (bytes.length === 0) return bytes
      const at = offsetOf(mutation.byte, bytes.length)
      bytes[at] = (bytes[at] ?? 0) ^ (1 << (mutation.bit & 7))
      return bytes
    }
    case 'truncate':
      return bytes.subarray(0, mutation.length < 0 ? Math.max(0, bytes.length + mutation.length) : mutation.length)
    case 'append':
      return Buffer.concat([bytes, Buffer.from(mutation.base64, 'base64')])
    case 'prepend':
      return Buffer.concat([Buffer.from(mutation.base64, 'base64'), bytes])
    case 'set-byte': {
      if (bytes.length === 0) return bytes
      bytes[offsetOf(mutation.byte, bytes.length)] = mutation.value & 0xff
      return bytes
    }
    case 'splice': {
      const other = Buffer.from(lookup(context, mutation.from), 'base64')
      const end = Math.min(mutation.end, bytes.length, other.length)
      if (mutation.start < end) other.copy(bytes, mutation.start, mutation.start, end)
      return bytes
    }
  }
}

/** `text` with every `{{name}}` replaced by that value. */
export function formatText(text: string, context: RenderContext): string {
  return text.replace(/\{\{([^{}]+)\}\}/g, (_, name: string) => lookup(context, name))
}

function renderPlaceholder(placeholder: Placeholder, context: RenderContext): string {
  switch (placeholder.$fuzz) {
    case 'ref':
      return JSON.stringify(lookup(context, placeholder.name))
    case 'bytes': {
      const bytes = Buffer.from(lookup(context, placeholder.name), 'base64')
      const mutated = placeholder.mutate === undefined ? bytes : mutateBytes(bytes, placeholder.mutate, context)
      return JSON.stringify(mutated.toString('base64'))
    }
    case 'raw':
      return placeholder.json
    case 'nest': {
      const [open, close] = placeholder.kind === 'array' ? ['[', ']'] : ['{"a":', '}']
      return `${open.repeat(placeholder.depth)}${placeholder.leaf ?? (placeholder.kind === 'array' ? '' : 'null')}${close.repeat(placeholder.depth)}`
    }
    case 'fill': {
      const text = placeholder.text === '' ? 'a' : placeholder.text
      const units = [...text]
      let out = text.repeat(Math.floor(placeholder.length / units.length))
      out += units.slice(0, placeholder.length % units.length).join('')
      return JSON.stringify(out)
    }
    case 'wrap': {
      const publicKey = Buffer.from(lookup(context, placeholder.publicKey), 'base64')
      const material = Buffer.from(lookup(context, placeholder.material), 'base64')
      return JSON.stringify(wrapForImport(publicKey, placeholder.algorithm as AlgorithmSpec, material).toString('base64'))
    }
    case 'epoch':
      return String(Math.floor(context.nowMs / 1000) + placeholder.offsetSeconds)
    case 'zeros':
      return JSON.stringify(Buffer.alloc(placeholder.length, placeholder.byte ?? 0).toString('base64'))
    case 'format':
      return JSON.stringify(formatText(placeholder.text, context))
  }
}

/** JSON text of a template. Iterative over arrays and objects would buy nothing: depth comes from `nest`. */
export function renderTemplate(template: Template, context: RenderContext): string {
  if (template === null) return 'null'
  switch (typeof template) {
    case 'string':
    case 'boolean':
      return JSON.stringify(template)
    case 'number':
      return Number.isFinite(template) ? JSON.stringify(template) : 'null'
  }
  if (Array.isArray(template)) return `[${(template as readonly Template[]).map((item) => renderTemplate(item, context)).join(',')}]`
  if (isPlaceholder(template as Template)) return renderPlaceholder(template as Placeholder, context)
  const members = Object.keys(template).map(
    (name) => `${JSON.stringify(name)}:${renderTemplate((template as TemplateObject)[name] ?? null, context)}`,
  )
  return `{${members.join(',')}}`
}

export function renderBody(body: BodyRecipe, context: RenderContext): Buffer {
  if ('json' in body) return Buffer.from(renderTemplate(body.json, context), 'utf8')
  if ('base64' in body) return Buffer.from(body.base64, 'base64')
  return Buffer.from(body.text, 'utf8')
}

/** The fixture and bound names a recipe uses, to say in a finding what they were. */
export function namesUsed(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) namesUsed(item, into)
  } else if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>
    if (typeof record.$fuzz === 'string' || typeof record.op === 'string') {
      for (const field of ['name', 'publicKey', 'material', 'from'] as const) {
        const named = record[field]
        if (typeof named === 'string') into.add(named)
      }
      if (record.$fuzz === 'format' && typeof record.text === 'string') {
        for (const match of record.text.matchAll(/\{\{([^{}]+)\}\}/g)) if (match[1] !== undefined) into.add(match[1])
      }
    }
    for (const name of Object.keys(record)) namesUsed(record[name], into)
  }
  return into
}
