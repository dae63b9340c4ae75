/**
 * Wildcard patterns and policy variables, as IAM policies use them in Action, Resource and
 * condition values.
 *
 * A pattern is parsed once, when its policy is parsed, into parts; it is turned into a
 * matcher only when a request is evaluated, because a policy variable (`${aws:username}`)
 * takes its value from the request. Whatever a variable resolves to is literal text: a
 * user name holding a `*` must not become a wildcard.
 *
 * @module
 */

/** Matches any run of characters, the empty one included (`*`). */
const ANY_RUN = -1
/** Matches exactly one character (`?`). */
const ANY_ONE = -2

/** A pattern ready to match: UTF-16 code units, or {@link ANY_RUN} / {@link ANY_ONE}. */
export type CompiledPattern = readonly number[]

type PatternPart =
  /** Text as written in the policy; `*` and `?` in it are wildcards where the element allows them. */
  | { readonly kind: 'text'; readonly text: string }
  /** `${*}`, `${?}` or `${$}`: a character that is always literal. */
  | { readonly kind: 'escaped'; readonly char: string }
  /** `${key}` or `${key, 'default'}`; `key` is kept lower-cased since context keys ignore case. */
  | { readonly kind: 'variable'; readonly key: string; readonly fallback?: string }
  /** `${...}` whose inside is not a variable reference: it can never be resolved. */
  | { readonly kind: 'malformed-variable' }

export interface PolicyPattern {
  /** The value as written in the policy. */
  readonly source: string
  readonly parts: readonly PatternPart[]
  readonly hasVariables: boolean
}

/**
 * Thrown while evaluating a statement that uses a policy variable the request has no
 * value for. AWS documents that such a reference "fails and causes the statement to be
 * invalid": the statement then applies to nothing, whether it allows or denies.
 */
export class UnresolvedPolicyVariable extends Error {
  constructor(readonly reference: string) {
    super(`policy variable ${reference} has no value in this request`)
    this.name = 'UnresolvedPolicyVariable'
  }
}

/** Looks a variable up (by its lower-cased key); `undefined` when the request has no single value for it. */
export type VariableLookup = (lowerCaseKey: string) => string | undefined

const VARIABLE_REFERENCE = /^\s*([^\s,'}]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$/

/**
 * Splits a policy value into parts. Variables are recognised only when `variables` is true:
 * in policies of Version 2012-10-17, and only in the elements AWS substitutes them in.
 */
export function parsePattern(source: string, variables: boolean): PolicyPattern {
  if (!variables || !source.includes('${')) {
    return { source, parts: [{ kind: 'text', text: source }], hasVariables: false }
  }
  const parts: PatternPart[] = []
  let hasVariables = false
  let rest = source
  for (;;) {
    const start = rest.indexOf('${')
    const end = start < 0 ? -1 : rest.indexOf('}', start + 2)
    if (start < 0 || end < 0) {
      // An opening `${` that is never closed is plain text.
      if (rest !== '') parts.push({ kind: 'text', text: rest })
      break
    }
    if (start > 0) parts.push({ kind: 'text', text: rest.slice(0, start) })
    const inside = rest.slice(start + 2, end)
    if (inside === '*' || inside === '?' || inside === '$') {
      parts.push({ kind: 'escaped', char: inside })
    } else {
      hasVariables = true
      const reference = VARIABLE_REFERENCE.exec(inside)
      const key = reference?.[1]
      if (reference === null || key === undefined) {
        parts.push({ kind: 'malformed-variable' })
      } else {
        const fallback = reference[2]
        parts.push(
          fallback === undefined
            ? { kind: 'variable', key: key.toLowerCase() }
            : { kind: 'variable', key: key.toLowerCase(), fallback: fallback.replaceAll("''", "'") },
        )
      }
    }
    rest = rest.slice(end + 1)
  }
  return { source, parts, hasVariables }
}

function resolveVariable(pattern: PolicyPattern, part: PatternPart & { kind: 'variable' }, lookup: VariableLookup): string {
  const value = lookup(part.key)
  if (value !== undefined) return value
  if (part.fallback !== undefined) return part.fallback
  throw new UnresolvedPolicyVariable(pattern.source)
}

/** The pattern with its variables substituted, wildcards left as characters: for exact comparisons. */
export function resolveText(pattern: PolicyPattern, lookup: VariableLookup): string {
  let text = ''
  for (const part of pattern.parts) {
    if (part.kind === 'text') text += part.text
    else if (part.kind === 'escaped') text += part.char
    else if (part.kind === 'variable') text += resolveVariable(pattern, part, lookup)
    else throw new UnresolvedPolicyVariable(pattern.source)
  }
  return text
}

/**
 * The pattern as a matcher: `*` and `?` in the policy's own text are wildcards, everything
 * substituted is literal. With `ignoreCase`, the caller must lower-case the text it matches.
 */
export function compilePattern(pattern: PolicyPattern, lookup: VariableLookup, ignoreCase: boolean): CompiledPattern {
  const units: number[] = []
  const pushLiteral = (text: string): void => {
    const folded = ignoreCase ? text.toLowerCase() : text
    for (let i = 0; i < folded.length; i++) units.push(folded.charCodeAt(i))
  }
  for (const part of pattern.parts) {
    if (part.kind === 'text') {
      const folded = ignoreCase ? part.text.toLowerCase() : part.text
      for (let i = 0; i < folded.length; i++) {
        const unit = folded.charCodeAt(i)
        units.push(unit === 0x2a ? ANY_RUN : unit === 0x3f ? ANY_ONE : unit)
      }
    } else if (part.kind === 'escaped') {
      pushLiteral(part.char)
    } else if (part.kind === 'variable') {
      pushLiteral(resolveVariable(pattern, part, lookup))
    } else {
      throw new UnresolvedPolicyVariable(pattern.source)
    }
  }
  return units
}

const compiledExact = new WeakMap<PolicyPattern, CompiledPattern>()
const compiledFolded = new WeakMap<PolicyPattern, CompiledPattern>()

/**
 * {@link compilePattern}, remembered per parsed pattern when no variable makes the result
 * depend on the request (Action and most Resource values).
 */
export function compilePatternCached(pattern: PolicyPattern, lookup: VariableLookup, ignoreCase: boolean): CompiledPattern {
  if (pattern.hasVariables) return compilePattern(pattern, lookup, ignoreCase)
  const cache = ignoreCase ? compiledFolded : compiledExact
  let compiled = cache.get(pattern)
  if (compiled === undefined) {
    compiled = compilePattern(pattern, lookup, ignoreCase)
    cache.set(pattern, compiled)
  }
  return compiled
}

/** Whole-string match of `text` against a compiled pattern (backtracking only to the last `*`). */
export function matchesPattern(pattern: CompiledPattern, text: string): boolean {
  let p = 0
  let t = 0
  let lastRun = -1
  let resumeAt = 0
  while (t < text.length) {
    const unit = pattern[p]
    if (unit !== undefined && (unit === ANY_ONE || unit === text.charCodeAt(t))) {
      p++
      t++
    } else if (unit === ANY_RUN) {
      lastRun = p++
      resumeAt = t
    } else if (lastRun >= 0) {
      // Let the last `*` swallow one more character and retry from there.
      p = lastRun + 1
      t = ++resumeAt
    } else {
      return false
    }
  }
  while (pattern[p] === ANY_RUN) p++
  return p === pattern.length
}

/** Convenience for patterns without variables (actions, and tests). */
export function matchesLiteralPattern(source: string, text: string, ignoreCase: boolean): boolean {
  const compiled = compilePattern(parsePattern(source, false), () => undefined, ignoreCase)
  return matchesPattern(compiled, ignoreCase ? text.toLowerCase() : text)
}
