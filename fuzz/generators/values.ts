/**
 * Values for model members, valid and otherwise: what the structured generator puts in
 * a member when no pool-aware rule knows better, and every way it breaks a member.
 *
 * Each broken value says whether it is certainly invalid under the model (a required
 * member missing, a type JSON cannot convert, a length out of bounds, a value outside an
 * enum): a request carrying one must fail, so a 2xx answer is a finding. Values that are
 * merely odd (unicode edge cases, a fractional integer, "yes" for a boolean, unknown
 * members) are sent for what they shake loose, with no claim about the answer.
 *
 * @module
 */
import { membersOf, shapeNamed, type MemberInfo, type Shape } from '../model.js'
import type { Prng } from '../prng.js'
import { withMember, type Template } from '../recipe.js'

export const REMOVE = Symbol('remove the member')

export interface MemberValue {
  value: Template | typeof REMOVE
  /** Certainly invalid under the model: the request must fail. */
  invalid: boolean
  /** What was done, for the case label. */
  note: string
}

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

/** Strings that satisfy a shape's pattern, where a plain word would not. */
const PATTERN_EXAMPLES: Readonly<Record<string, (rng: Prng) => string>> = {
  AliasNameType: (rng) => `alias/fuzz-gen-${rng.string(6, ALPHANUMERIC)}`,
  GrantNameType: (rng) => `grant-${rng.string(8, ALPHANUMERIC)}`,
  PolicyNameType: () => 'default',
  PrincipalIdType: (rng) => `arn:aws:iam::${rng.string(12, '0123456789')}:user/fuzz`,
  RegionType: (rng) => rng.pick(['us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-gov-west-1']),
  MarkerType: (rng) => rng.string(rng.int(1, 40), ALPHANUMERIC + ' !"#$%&()*+,-./:;<=>?@[]^_{|}~'),
  BackingKeyIdType: (rng) => rng.hex(64),
  KeyMaterialDescriptionType: (rng) => `fuzz material ${rng.string(4, ALPHANUMERIC)}`,
  XksKeyIdType: (rng) => rng.string(rng.int(1, 40), ALPHANUMERIC),
  CloudHsmClusterIdType: (rng) => `cluster-${rng.string(11, 'abcdefghijkmnpqrstuvwxyz234567')}`,
  XksProxyUriEndpointType: () => 'https://xks.example.com',
  XksProxyUriPathType: () => '/kms/xks/v1',
  XksProxyVpcEndpointServiceNameType: () => 'com.amazonaws.vpce.us-east-1.vpce-svc-0a1b2c3d4e',
  AccountIdType: (rng) => rng.string(12, '0123456789'),
  XksProxyAuthenticationAccessKeyIdType: (rng) => rng.string(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'),
  XksProxyAuthenticationRawSecretAccessKeyType: (rng) => rng.string(43, ALPHANUMERIC),
  PolicyType: () => '{"Version":"2012-10-17","Statement":[]}',
}

/** A character each pattern accepts, to make strings of an exact length. */
const PATTERN_FILL: Readonly<Record<string, string>> = {
  AccountIdType: '1',
  BackingKeyIdType: 'a',
}

/** Unicode and text that has broken parsers, loggers and normalisers before. */
const ODD_STRINGS: readonly { text: string; note: string }[] = [
  { text: '\u0000', note: 'NUL' },
  { text: 'a\u0000b', note: 'embedded NUL' },
  { text: '\u202eevil', note: 'right-to-left override' },
  { text: '\ufeffbom', note: 'byte order mark' },
  { text: 'e\u0301', note: 'combining accent (NFD)' },
  { text: '\u00e9', note: 'precomposed (NFC)' },
  { text: '\ud83d\ude00', note: 'emoji (surrogate pair)' },
  { text: '\u200d\u200b', note: 'zero-width joiner and space' },
  { text: '\u2028\u2029', note: 'line and paragraph separators' },
  { text: '\r\n\tx', note: 'control characters' },
  { text: '\u{10ffff}', note: 'last code point' },
  { text: '\ufffd\ufffe\uffff', note: 'noncharacters' },
  { text: ' ', note: 'a space' },
  { text: "' OR '1'='1' --", note: 'SQL injection' },
  { text: '../../../../etc/passwd', note: 'path traversal' },
  { text: '%s%s%n%x', note: 'format string' },
  { text: '${jndi:ldap://x}{{7*7}}<script>', note: 'template injection' },
  { text: 'null', note: 'the word null' },
  { text: '__proto__', note: '__proto__ as a value' },
  { text: 'alias/aws/kms', note: 'an AWS managed alias' },
]

/** Raw JSON values a string (or anything) member should never choke on. */
const LONE_SURROGATES = ['"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\u0000\\ud800\\u0000"']

/** Numbers JSON allows or almost allows, as raw text. */
const ODD_NUMBERS: readonly { json: string; invalidForInteger: boolean }[] = [
  { json: '2147483648', invalidForInteger: true },
  { json: '-2147483649', invalidForInteger: true },
  { json: '9007199254740993', invalidForInteger: true },
  { json: '123456789012345678901234567890', invalidForInteger: true },
  { json: '1e400', invalidForInteger: true },
  { json: '-1e400', invalidForInteger: true },
  { json: '1e-400', invalidForInteger: false },
  { json: '-0', invalidForInteger: false },
  { json: '0.5', invalidForInteger: false },
  { json: '7.999999999999999999', invalidForInteger: false },
  { json: 'NaN', invalidForInteger: true },
  { json: 'Infinity', invalidForInteger: true },
  { json: '0x10', invalidForInteger: true },
  { json: '1_000', invalidForInteger: true },
  { json: '+1', invalidForInteger: true },
  { json: '01', invalidForInteger: true },
]

function validString(shapeName: string, shape: Shape, rng: Prng): string {
  if (shape.enum !== undefined) return rng.pick(shape.enum)
  const example = PATTERN_EXAMPLES[shapeName]
  if (example !== undefined) return example(rng)
  const min = Math.max(shape.min ?? 0, 1)
  const max = Math.min(shape.max ?? 64, Math.max(min, 32))
  return rng.string(rng.int(min, max), ALPHANUMERIC)
}

/** A valid value of a shape, from the model alone. */
export function validValue(shapeName: string, rng: Prng, depth = 0): Template {
  const shape = shapeNamed(shapeName)
  switch (shape.type) {
    case 'string':
      return validString(shapeName, shape, rng)
    case 'blob': {
      const min = Math.max(shape.min ?? 1, 1)
      const max = Math.min(shape.max ?? 64, 64)
      return rng.bytes(rng.int(min, Math.max(min, max))).toString('base64')
    }
    case 'integer':
      return rng.int(shape.min ?? 0, Math.min(shape.max ?? 1000, (shape.min ?? 0) + 1000))
    case 'boolean':
      return rng.chance(0.5)
    case 'timestamp':
      return { $fuzz: 'epoch', offsetSeconds: rng.int(1, 365) * 86_400 }
    case 'list': {
      const member = shape.member?.shape ?? 'String'
      const count = depth > 3 ? 0 : rng.int(shape.min ?? 0, Math.min(shape.max ?? 3, 3))
      return Array.from({ length: count }, () => validValue(member, rng, depth + 1))
    }
    case 'map': {
      const result: Record<string, Template> = {}
      const value = shape.value?.shape ?? 'String'
      for (let i = rng.int(0, 3); i > 0; i--)
        withMember(result, rng.string(rng.int(1, 12), ALPHANUMERIC), validValue(value, rng, depth + 1))
      return result
    }
    case 'structure':
      return validStructure(shape, rng, depth + 1)
  }
}

/** Required members always, optional ones sometimes. */
export function validStructure(shape: Shape, rng: Prng, depth = 0): Record<string, Template> {
  const result: Record<string, Template> = {}
  for (const member of membersOf(shape)) {
    if (member.required || (depth < 4 && rng.chance(0.3))) withMember(result, member.name, validValue(member.shapeName, rng, depth))
  }
  return result
}

/** A JSON value of another type than the shape's, and whether the model refuses it. */
function wrongType(shape: Shape, rng: Prng): MemberValue {
  const candidates: MemberValue[] = []
  const add = (value: Template, invalid: boolean, note: string): void => void candidates.push({ value, invalid, note })
  switch (shape.type) {
    case 'string':
    case 'blob':
      add(12345, true, 'a number')
      add(rng.chance(0.5), true, 'a boolean')
      add([], true, 'an array')
      add({}, true, 'an object')
      add(['x'], true, 'an array of a string')
      break
    case 'integer':
      add(`${rng.int(1, 50)}`, true, 'a numeric string')
      add(true, true, 'a boolean')
      add([1], true, 'an array')
      add({ value: 1 }, true, 'an object')
      add(1.5, false, 'a fraction')
      break
    case 'boolean':
      add(rng.pick(['true', 'false', 'yes', 'no', 'T', '0', '1']), false, 'a boolean as a string')
      add('maybe', true, 'a non-boolean string')
      add(1, true, 'a number')
      add([true], true, 'an array')
      add({}, true, 'an object')
      break
    case 'timestamp':
      add('2030-01-01T00:00:00Z', true, 'an ISO date string')
      add(true, true, 'a boolean')
      add([], true, 'an array')
      break
    case 'list':
      add('x', true, 'a string')
      add(7, true, 'a number')
      add({}, true, 'an object')
      break
    case 'map':
    case 'structure':
      add([], true, 'an array')
      add('x', true, 'a string')
      add(7, true, 'a number')
      add(false, true, 'a boolean')
      break
  }
  return rng.pick(candidates)
}

/** A string of exactly `length` code points (or bytes, for blobs). */
function sized(shapeName: string, shape: Shape, length: number, rng: Prng): Template {
  if (shape.type === 'blob') return { $fuzz: 'zeros', length, byte: rng.int(0, 255) }
  const fill = PATTERN_FILL[shapeName] ?? (rng.chance(0.2) ? '\ud83d\ude00' : 'a')
  return { $fuzz: 'fill', length, text: fill }
}

function boundary(shapeName: string, shape: Shape, rng: Prng): MemberValue | undefined {
  const options: MemberValue[] = []
  const min = shape.min
  const max = shape.max
  if (shape.type === 'string' || shape.type === 'blob') {
    if (min !== undefined && min > 0)
      options.push({ value: sized(shapeName, shape, min - 1, rng), invalid: true, note: `length min-1 (${min - 1})` })
    if (min !== undefined) options.push({ value: sized(shapeName, shape, min, rng), invalid: false, note: `length min (${min})` })
    if (max !== undefined) {
      options.push({ value: sized(shapeName, shape, max, rng), invalid: false, note: `length max (${max})` })
      options.push({ value: sized(shapeName, shape, max + 1, rng), invalid: true, note: `length max+1 (${max + 1})` })
    }
    if (max === undefined && shape.enum === undefined)
      options.push({ value: sized(shapeName, shape, rng.pick([10_000, 100_000]), rng), invalid: false, note: 'very long (no max)' })
  } else if (shape.type === 'integer') {
    if (min !== undefined) {
      options.push({ value: min - 1, invalid: true, note: `min-1 (${min - 1})` })
      options.push({ value: min, invalid: false, note: `min (${min})` })
    }
    if (max !== undefined) {
      options.push({ value: max, invalid: false, note: `max (${max})` })
      options.push({ value: max + 1, invalid: true, note: `max+1 (${max + 1})` })
    }
    options.push({ value: 0, invalid: min !== undefined && min > 0, note: 'zero' })
    options.push({ value: -1, invalid: min !== undefined && min > -1, note: 'minus one' })
  } else if (shape.type === 'list' || shape.type === 'map') {
    const element = shape.type === 'list' ? (shape.member?.shape ?? 'String') : (shape.value?.shape ?? 'String')
    const build = (count: number): Template => {
      if (shape.type === 'list') return Array.from({ length: count }, () => validValue(element, rng, 3))
      const result: Record<string, Template> = {}
      for (let i = 0; i < count; i++) withMember(result, `k${i}`, validValue(element, rng, 3))
      return result
    }
    if (min !== undefined && min > 0) options.push({ value: build(min - 1), invalid: true, note: `${min - 1} elements (min-1)` })
    if (max !== undefined) {
      options.push({ value: build(max), invalid: false, note: `${max} elements (max)` })
      options.push({ value: build(max + 1), invalid: true, note: `${max + 1} elements (max+1)` })
    }
    options.push({ value: build(rng.pick([100, 1000])), invalid: max !== undefined && max < 100, note: 'many elements' })
  }
  return options.length === 0 ? undefined : rng.pick(options)
}

/** One element or entry of a container replaced by a broken one (nested paths: `tags.1.member.tagKey`). */
function brokenInside(shape: Shape, current: Template | undefined, rng: Prng, depth: number): MemberValue | undefined {
  if (shape.type === 'list' && shape.member !== undefined) {
    const elementShape = shape.member.shape
    const base = Array.isArray(current) && current.length > 0 ? [...(current as Template[])] : [validValue(elementShape, rng, 2)]
    const at = rng.int(0, base.length - 1)
    if (rng.chance(0.2)) {
      base.splice(at, 0, null)
      return { value: base, invalid: false, note: 'a null element' }
    }
    const broken = breakValue(
      { name: 'member', shapeName: elementShape, shape: shapeNamed(elementShape), required: false },
      base[at],
      rng,
      depth + 1,
    )
    if (broken.value === REMOVE) return undefined
    base[at] = broken.value
    return { value: base, invalid: broken.invalid, note: `element ${at + 1}: ${broken.note}` }
  }
  if (shape.type === 'map' && shape.value !== undefined) {
    const result: Record<string, Template> = {}
    if (typeof current === 'object' && current !== null && !Array.isArray(current))
      for (const [k, v] of Object.entries(current)) withMember(result, k, v as Template)
    const valueShape = shape.value.shape
    const choice = rng.int(0, 4)
    if (choice === 0) {
      const odd = rng.pick(ODD_STRINGS)
      withMember(result, odd.text, 'v')
      return { value: result, invalid: false, note: `a key: ${odd.note}` }
    }
    if (choice === 1) {
      withMember(result, rng.pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty']), 'v')
      return { value: result, invalid: false, note: 'a key named like an Object.prototype member' }
    }
    if (choice === 2) {
      withMember(result, 'null-value', null)
      return { value: result, invalid: false, note: 'a null value' }
    }
    const broken = breakValue(
      { name: 'value', shapeName: valueShape, shape: shapeNamed(valueShape), required: false },
      undefined,
      rng,
      depth + 1,
    )
    if (broken.value === REMOVE) return undefined
    withMember(result, 'broken', broken.value)
    return { value: result, invalid: broken.invalid, note: `a value: ${broken.note}` }
  }
  if (shape.type === 'structure') {
    const members = membersOf(shape)
    if (members.length === 0) return undefined
    const result: Record<string, Template> = {}
    const existing =
      typeof current === 'object' && current !== null && !Array.isArray(current)
        ? (current as Record<string, Template>)
        : validStructure(shape, rng, 2)
    for (const [k, v] of Object.entries(existing)) withMember(result, k, v)
    const member = rng.pick(members)
    const broken = breakValue(member, result[member.name], rng, depth + 1)
    if (broken.value === REMOVE) delete result[member.name]
    else withMember(result, member.name, broken.value)
    return { value: result, invalid: broken.invalid, note: `${member.name}: ${broken.note}` }
  }
  return undefined
}

/**
 * One broken value for a member (or REMOVE), chosen among every kind that applies to
 * its shape. `current` is the valid value it replaces, if any.
 */
export function breakValue(member: MemberInfo, current: Template | undefined, rng: Prng, depth = 0): MemberValue {
  const { shape, shapeName } = member
  const scalar = shape.type !== 'list' && shape.type !== 'map' && shape.type !== 'structure'
  const kinds: [number, () => MemberValue | undefined][] = [
    [1, () => ({ value: REMOVE, invalid: member.required, note: 'missing' })],
    [1, () => ({ value: null, invalid: member.required, note: 'null' })],
    [3, () => wrongType(shape, rng)],
    [3, () => boundary(shapeName, shape, rng)],
    [
      0.5,
      () => {
        // Deep enough to break a recursive reader; every 10,000 levels cost the server
        // (and the fuzzer) a few milliseconds of JSON parsing.
        const depthOf = rng.pick([10, 1000, 20_000])
        // Nested arrays are never a KMS member's type (no list holds lists); nested
        // objects are only harmless where a structure ignores the unknown member `a`.
        const kind = rng.pick(['array', 'object'] as const)
        return {
          value: { $fuzz: 'nest', depth: depthOf, kind },
          invalid: !(kind === 'object' && shape.type === 'structure'),
          note: `nested ${depthOf} deep (${kind})`,
        }
      },
    ],
  ]
  if (shape.type === 'string') {
    kinds.push([2, () => ({ value: rng.pick(ODD_STRINGS).text, invalid: false, note: 'odd text' })])
    kinds.push([1, () => ({ value: { $fuzz: 'raw', json: rng.pick(LONE_SURROGATES) }, invalid: false, note: 'a lone surrogate' })])
    if (shape.enum !== undefined) {
      const enumValues = shape.enum
      kinds.push([
        3,
        () =>
          rng.pick<MemberValue>([
            { value: 'NOT_A_VALID_VALUE', invalid: true, note: 'not in the enum' },
            { value: rng.pick(enumValues).toLowerCase(), invalid: true, note: 'an enum value in lower case' },
            { value: `${rng.pick(enumValues)} `, invalid: true, note: 'an enum value with a trailing space' },
            { value: '', invalid: true, note: 'an empty enum value' },
          ]),
      ])
    }
  }
  if (shape.type === 'blob') {
    kinds.push([
      3,
      () =>
        rng.pick<MemberValue>([
          { value: 'not base64!', invalid: true, note: 'not base64' },
          { value: 'QUJD' + 'A', invalid: true, note: 'base64 of a length not a multiple of 4' },
          { value: 'QU-_', invalid: true, note: 'base64url characters' },
          { value: 'QU JD', invalid: true, note: 'base64 with a space' },
          { value: 'QUJD\n', invalid: true, note: 'base64 with a newline' },
          { value: 'Q===', invalid: true, note: 'three padding characters' },
          { value: '=QUJ', invalid: true, note: 'padding first' },
          { value: 'QUI=', invalid: false, note: 'non-canonical padding bits' },
        ]),
    ])
  }
  if (shape.type === 'integer' || shape.type === 'timestamp') {
    kinds.push([
      2,
      () => {
        const odd = rng.pick(ODD_NUMBERS)
        const jsonInvalid = /^(NaN|Infinity|0x|1_|\+|01)/.test(odd.json)
        return {
          value: { $fuzz: 'raw', json: odd.json },
          invalid: shape.type === 'integer' ? odd.invalidForInteger : jsonInvalid || /e400$/.test(odd.json),
          note: `the number ${odd.json}`,
        }
      },
    ])
  }
  if (!scalar && depth < 3) kinds.push([3, () => brokenInside(shape, current, rng, depth)])
  for (let attempt = 0; attempt < 8; attempt++) {
    const made = rng.weighted(kinds)()
    if (made !== undefined) return made
  }
  return { value: null, invalid: member.required, note: 'null' }
}

/** Members a structure does not have, some named to confuse (case, prototype, whitespace). */
export function unknownMember(existing: readonly string[], rng: Prng): { name: string; value: Template } {
  const similar = existing.length > 0 ? rng.pick(existing) : 'KeyId'
  const name = rng.pick([
    'Foo',
    similar.toLowerCase(),
    similar.toUpperCase(),
    `${similar} `,
    ` ${similar}`,
    '__proto__',
    'constructor',
    'prototype',
    '',
    '\u0000',
    'x'.repeat(rng.pick([100, 5000])),
    '\ud83d\ude00',
  ])
  return { name, value: rng.pick<Template>(['x', 1, true, null, [], { KeyId: 'x' }, { polluted: true }]) }
}
