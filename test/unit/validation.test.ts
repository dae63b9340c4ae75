/**
 * Input validation against the AWS model.
 *
 * Most cases are generated from `src/api/model/kms-model.json` (the botocore facts), so a
 * model upgrade changes the cases with it: for every operation Trent serves, a valid
 * input, each missing required member, each length- or range-constrained member pushed one
 * past its limit, and each member sent with the wrong JSON type. The expected messages are
 * spelled out here independently of the implementation's tables.
 *
 * The hand-written cases at the end are pinned to responses recorded against AWS; each
 * cites where the recording was found.
 */

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as fc from 'fast-check'
import { isKnownOperation, parseOperationInput } from '../../src/api/validation.js'
import { isKmsError } from '../../src/wire/errors.js'

// ---------------------------------------------------------------------------------------
// The model, read the same way the implementation reads it but typed here on its own

interface TestShape {
  readonly type: string
  readonly min?: number
  readonly max?: number
  readonly pattern?: string
  readonly sensitive?: boolean
  readonly enum?: readonly string[]
  readonly required?: readonly string[]
  readonly members?: Readonly<Record<string, { readonly shape: string }>>
  readonly member?: { readonly shape: string }
  readonly key?: { readonly shape: string }
  readonly value?: { readonly shape: string }
}

interface TestModel {
  readonly source: { readonly package: string; readonly packageVersion: string; readonly constraints: string }
  readonly operations: Readonly<Record<string, { readonly input?: string; readonly errors: readonly string[] }>>
  readonly shapes: Readonly<Record<string, TestShape>>
}

const MODEL = JSON.parse(readFileSync(new URL('../../../src/api/model/kms-model.json', import.meta.url), 'utf8')) as TestModel

const TRENT_OPERATIONS = [
  'CreateKey',
  'DescribeKey',
  'ListKeys',
  'EnableKey',
  'DisableKey',
  'UpdateKeyDescription',
  'Encrypt',
  'Decrypt',
  'ReEncrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateRandom',
  'CreateAlias',
  'UpdateAlias',
  'DeleteAlias',
  'ListAliases',
  'TagResource',
  'UntagResource',
  'ListResourceTags',
  'GetKeyPolicy',
  'PutKeyPolicy',
  'ListKeyPolicies',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'GetKeyRotationStatus',
  'RotateKeyOnDemand',
  'ListKeyRotations',
  'ReplicateKey',
  'UpdatePrimaryRegion',
] as const

function shapeNamed(name: string): TestShape {
  const shape = MODEL.shapes[name]
  assert.ok(shape, `model has shape ${name}`)
  return shape
}

function inputShapeName(operation: string): string {
  const input = MODEL.operations[operation]?.input
  assert.ok(input, `model has an input for ${operation}`)
  return input
}

function membersOf(shape: TestShape): [string, TestShape, string][] {
  return Object.entries(shape.members ?? {}).map(([name, reference]) => [name, shapeNamed(reference.shape), reference.shape])
}

function camel(memberName: string): string {
  return memberName.charAt(0).toLowerCase() + memberName.slice(1)
}

/** Full-string match, as AWS applies model patterns. */
function matchesPattern(shape: TestShape, value: string): boolean {
  return shape.pattern === undefined || new RegExp(`^(?:${shape.pattern})$`).test(value)
}

/**
 * A string of exactly `length` code points, satisfying the shape's pattern if any of a few
 * simple forms can; `undefined` if none can (then a pattern violation is expected too).
 */
function sampleString(shape: TestShape, length: number): string | undefined {
  const candidates = [
    'a'.repeat(length),
    'A'.repeat(length),
    '1'.repeat(length),
    // Region names: ^([a-z]+-){2,3}\d+$
    length >= 5 ? `${'a'.repeat(length - 4)}-b-1` : '',
  ]
  return candidates.find((candidate) => candidate.length === length && matchesPattern(shape, candidate))
}

function base64OfLength(byteCount: number): string {
  return Buffer.alloc(byteCount, 0x61).toString('base64')
}

/** A JSON value the model accepts for the shape; structures get every member. */
function validValue(shapeName: string): unknown {
  const shape = shapeNamed(shapeName)
  switch (shape.type) {
    case 'string': {
      if (shape.enum !== undefined) return shape.enum[0]
      // The shortest sample the pattern allows (a Region name needs a few characters).
      for (let length = Math.max(shape.min ?? 1, 1); length <= Math.min(shape.max ?? 64, 64); length++) {
        const value = sampleString(shape, length)
        if (value !== undefined) return value
      }
      return assert.fail(`no valid sample for ${shapeName}`)
    }
    case 'blob':
      return base64OfLength(Math.max(shape.min ?? 1, 1))
    case 'integer':
      return shape.min ?? 1
    case 'boolean':
      return true
    case 'timestamp':
      return 1700000000.5
    case 'list':
      return shape.max === 0 ? [] : [validValue(shape.member?.shape ?? '')]
    case 'map':
      return { contextKey: validValue(shape.value?.shape ?? '') }
    case 'structure':
      return Object.fromEntries(membersOf(shape).map(([name, , memberShapeName]) => [name, validValue(memberShapeName)]))
    default:
      assert.fail(`unexpected shape type ${shape.type}`)
  }
}

/** What parseOperationInput should return for `validValue`: blobs decoded, the rest as sent. */
function expectedConversion(shapeName: string, value: unknown): unknown {
  const shape = shapeNamed(shapeName)
  switch (shape.type) {
    case 'blob': {
      // Sensitive blobs in a fresh Uint8Array of their own; the others in Node's pool.
      const bytes = Buffer.from(value as string, 'base64')
      return shape.sensitive === true ? new Uint8Array(bytes) : bytes
    }
    case 'list':
      return (value as unknown[]).map((element) => expectedConversion(shape.member?.shape ?? '', element))
    case 'map':
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([key, entry]) => [key, expectedConversion(shape.value?.shape ?? '', entry)]),
      )
    case 'structure':
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([key, entry]) => {
          const reference = shape.members?.[key]
          assert.ok(reference)
          return [key, expectedConversion(reference.shape, entry)]
        }),
      )
    default:
      return value
  }
}

function validInput(operation: string): Record<string, unknown> {
  return validValue(inputShapeName(operation)) as Record<string, unknown>
}

function expectKmsError(run: () => unknown, name: string, message: string | undefined): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isKmsError(error), `a KmsError, got ${String(error)}`)
    assert.equal(error.name, name)
    assert.equal(error.wireMessage, message)
    return true
  })
}

function expectValidation(operation: string, input: unknown, violations: readonly string[]): void {
  const count = violations.length
  expectKmsError(
    () => parseOperationInput(operation, input),
    'ValidationException',
    `${count} validation error${count === 1 ? '' : 's'} detected: ${violations.join('; ')}`,
  )
}

function expectSerialization(operation: string, input: unknown, message: string | undefined): void {
  expectKmsError(() => parseOperationInput(operation, input), 'SerializationException', message)
}

function violation(path: string, printedValue: string | undefined, constraint: string): string {
  const valuePart = printedValue === undefined ? 'Value' : `Value '${printedValue}'`
  return `${valuePart} at '${path}' failed to satisfy constraint: ${constraint}`
}

function missing(path: string): string {
  return `Value null at '${path}' failed to satisfy constraint: Member must not be null`
}

// ---------------------------------------------------------------------------------------
// Generated: every member of every input reachable through lists and structures

interface MemberSite {
  /** AWS-style location, e.g. `tags.1.member.tagKey`. */
  readonly path: string
  readonly shape: TestShape
  readonly shapeName: string
  /** Builds the whole operation input with `value` placed at this site. */
  readonly place: (value: unknown) => Record<string, unknown>
}

/** Walks structure members and list elements (first element) depth first, in model order. */
function memberSites(operation: string): MemberSite[] {
  const sites: MemberSite[] = []
  const visit = (
    structureShape: TestShape,
    parentPath: string,
    build: (structure: Record<string, unknown>) => Record<string, unknown>,
    baseStructure: Record<string, unknown>,
  ): void => {
    for (const [memberName, memberShape, memberShapeName] of membersOf(structureShape)) {
      const path = parentPath === '' ? camel(memberName) : `${parentPath}.${camel(memberName)}`
      const place = (value: unknown): Record<string, unknown> => build({ ...baseStructure, [memberName]: value })
      sites.push({ path, shape: memberShape, shapeName: memberShapeName, place })
      if (memberShape.type === 'structure') {
        visit(memberShape, path, (inner) => place(inner), validValue(memberShapeName) as Record<string, unknown>)
      } else if (memberShape.type === 'list') {
        const elementShapeName = memberShape.member?.shape ?? ''
        const elementShape = shapeNamed(elementShapeName)
        const elementPath = `${path}.1.member`
        const placeElement = (value: unknown): Record<string, unknown> => place([value])
        sites.push({ path: elementPath, shape: elementShape, shapeName: elementShapeName, place: placeElement })
        if (elementShape.type === 'structure') {
          const baseElement = validValue(elementShapeName) as Record<string, unknown>
          visit(elementShape, elementPath, (inner) => placeElement(inner), baseElement)
        }
      }
    }
  }
  visit(shapeNamed(inputShapeName(operation)), '', (structure) => structure, validInput(operation))
  return sites
}

/** A wrong JSON value for each JSON kind a member can be sent as, with AWS's message. */
function wrongTypeCases(shape: TestShape): { readonly value: unknown; readonly message: string }[] {
  const list = { value: ['x'] as unknown, message: 'Start of list found where not expected' }
  const object = { value: { x: 1 } as unknown, message: 'Start of structure or map found where not expected.' }
  switch (shape.type) {
    case 'string':
      return [
        { value: 42, message: 'NUMBER_VALUE can not be converted to a String' },
        { value: true, message: 'TRUE_VALUE can not be converted to a String' },
        { value: false, message: 'FALSE_VALUE can not be converted to a String' },
        list,
        object,
      ]
    case 'blob':
      return [
        { value: 42, message: 'NUMBER_VALUE can not be converted to a Blob' },
        { value: true, message: 'TRUE_VALUE can not be converted to a Blob' },
        { value: 'abc', message: 'Base64 encoded length is expected a multiple of 4 bytes but found: 3' },
        { value: 'ab!=', message: 'Unexpected value type in payload' },
        list,
        object,
      ]
    case 'integer':
      return [
        { value: '5', message: 'STRING_VALUE can not be converted to an Integer' },
        { value: true, message: 'TRUE_VALUE can not be converted to an Integer' },
        { value: 2 ** 31, message: 'NUMBER_VALUE can not be converted to an Integer' },
        list,
        object,
      ]
    case 'boolean':
      return [
        { value: 'maybe', message: 'STRING_VALUE can not be converted to an Boolean' },
        { value: 1, message: 'NUMBER_VALUE can not be converted to a Boolean' },
        list,
        object,
      ]
    case 'timestamp':
      return [
        { value: '2024-01-01', message: 'STRING_VALUE can not be converted to milliseconds since epoch' },
        { value: true, message: 'TRUE_VALUE can not be converted to milliseconds since epoch' },
        list,
        object,
      ]
    case 'list':
      return [{ value: 'x', message: 'Expected list or null' }, { value: 3, message: 'Expected list or null' }, object]
    case 'map':
      return [{ value: 'x', message: 'Expected map or null' }, { value: false, message: 'Expected map or null' }, list]
    case 'structure':
      return [{ value: 'x', message: 'Expected null' }, { value: 3, message: 'Expected null' }, list]
    default:
      return assert.fail(`unexpected shape type ${shape.type}`)
  }
}

/** How a value of the shape appears in a violation, or undefined for `Value at`. */
function printed(shape: TestShape, value: unknown): string | undefined {
  if (shape.sensitive === true || shape.type === 'blob') return undefined
  if (Array.isArray(value)) return `[${value.map(String).join(', ')}]`
  return String(value)
}

/** The JSON value of `length` units for a length-constrained shape, and the violations it causes besides length. */
function valueOfLength(shape: TestShape, length: number): { readonly value: unknown; readonly patternMiss: boolean } {
  switch (shape.type) {
    case 'string': {
      const sample = sampleString(shape, length)
      return sample === undefined ? { value: 'a'.repeat(length), patternMiss: true } : { value: sample, patternMiss: false }
    }
    case 'blob':
      return { value: base64OfLength(length), patternMiss: false }
    case 'list': {
      const element = validValue(shape.member?.shape ?? '')
      return { value: Array.from({ length }, () => element), patternMiss: false }
    }
    default:
      return assert.fail(`no length for ${shape.type}`)
  }
}

const LENGTH_TYPES = new Set(['string', 'blob', 'list'])

/** AWS lists a pattern violation before a length violation of the same member. */
function patternViolation(site: MemberSite, value: unknown): string {
  const constraint = `Member must satisfy regular expression pattern: ${site.shape.pattern ?? ''}`
  return violation(site.path, printed(site.shape, value), constraint)
}

let generatedCaseCount = 0

for (const operation of TRENT_OPERATIONS) {
  describe(`${operation} (generated from the model)`, () => {
    const inputShape = shapeNamed(inputShapeName(operation))
    const sites = memberSites(operation)

    test('is a known operation', () => {
      assert.equal(isKnownOperation(operation), true)
    })

    test('accepts a valid input with every member and decodes its blobs', () => {
      const input = validInput(operation)
      const result = parseOperationInput(operation, input)
      assert.deepEqual(result, expectedConversion(inputShapeName(operation), input))
      assert.equal(Object.getPrototypeOf(result), Object.prototype)
    })
    generatedCaseCount += 2

    test('drops members the model does not know', () => {
      const result = parseOperationInput(operation, { ...validInput(operation), NotAMember: 'x', keyId: 'lowercase' })
      assert.equal(Object.hasOwn(result, 'NotAMember'), false)
      assert.equal(Object.hasOwn(result, 'keyId'), false)
    })
    generatedCaseCount += 1

    const requiredMembers = inputShape.required ?? []
    for (const memberName of requiredMembers) {
      test(`missing required ${memberName}`, () => {
        const input = validInput(operation)
        delete input[memberName]
        expectValidation(operation, input, [missing(camel(memberName))])
        expectValidation(operation, { ...validInput(operation), [memberName]: null }, [missing(camel(memberName))])
      })
      generatedCaseCount += 1
    }
    if (requiredMembers.length > 0) {
      test('every required member missing, reported in model order', () => {
        const inModelOrder = Object.keys(inputShape.members ?? {}).filter((name) => requiredMembers.includes(name))
        expectValidation(
          operation,
          {},
          inModelOrder.map((name) => missing(camel(name))),
        )
      })
      generatedCaseCount += 1
    }

    for (const site of sites) {
      // Required members of nested structures (Tags' TagKey and TagValue).
      if (site.shape.type === 'structure' && site.path.includes('.member')) {
        for (const memberName of site.shape.required ?? []) {
          test(`missing required ${site.path}.${camel(memberName)}`, () => {
            const element = validValue(site.shapeName) as Record<string, unknown>
            delete element[memberName]
            expectValidation(operation, site.place(element), [missing(`${site.path}.${camel(memberName)}`)])
          })
          generatedCaseCount += 1
        }
      }

      if (LENGTH_TYPES.has(site.shape.type) && site.shape.max !== undefined) {
        const max = site.shape.max
        test(`oversized ${site.path} (${max + 1})`, () => {
          const { value, patternMiss } = valueOfLength(site.shape, max + 1)
          const expected = [
            ...(patternMiss ? [patternViolation(site, value)] : []),
            violation(site.path, printed(site.shape, value), `Member must have length less than or equal to ${max}`),
          ]
          expectValidation(operation, site.place(value), expected)
          // One less is accepted.
          const atLimit = valueOfLength(site.shape, max)
          if (!atLimit.patternMiss) parseOperationInput(operation, site.place(atLimit.value))
        })
        generatedCaseCount += 1
      }

      if (LENGTH_TYPES.has(site.shape.type) && site.shape.min !== undefined && site.shape.min > 0) {
        const min = site.shape.min
        test(`undersized ${site.path} (${min - 1})`, () => {
          const value = site.shape.type === 'string' ? 'a'.repeat(min - 1) : valueOfLength(site.shape, min - 1).value
          const patternMiss = site.shape.type === 'string' && !matchesPattern(site.shape, value as string)
          const expected = [
            ...(patternMiss ? [patternViolation(site, value)] : []),
            violation(site.path, printed(site.shape, value), `Member must have length greater than or equal to ${min}`),
          ]
          expectValidation(operation, site.place(value), expected)
        })
        generatedCaseCount += 1
      }

      if (site.shape.type === 'integer') {
        const { min, max } = site.shape
        if (max !== undefined) {
          test(`too large ${site.path} (${max + 1})`, () => {
            expectValidation(operation, site.place(max + 1), [
              violation(site.path, String(max + 1), `Member must have value less than or equal to ${max}`),
            ])
            parseOperationInput(operation, site.place(max))
          })
          generatedCaseCount += 1
        }
        if (min !== undefined) {
          test(`too small ${site.path} (${min - 1})`, () => {
            expectValidation(operation, site.place(min - 1), [
              violation(site.path, String(min - 1), `Member must have value greater than or equal to ${min}`),
            ])
          })
          generatedCaseCount += 1
        }
      }

      if (site.shape.type === 'string' && site.shape.enum !== undefined) {
        test(`value outside the enum at ${site.path}`, () => {
          assert.throws(
            () => parseOperationInput(operation, site.place('NOT_A_VALUE')),
            (error: unknown) => {
              assert.ok(isKmsError(error))
              assert.equal(error.name, 'ValidationException')
              const prefix = `1 validation error detected: Value 'NOT_A_VALUE' at '${site.path}' failed to satisfy constraint: Member must satisfy enum value set: [`
              assert.ok(error.wireMessage?.startsWith(prefix), error.wireMessage)
              // Every model value is listed once, whatever the order.
              const listed = (error.wireMessage ?? '').slice(prefix.length, -1).split(', ')
              assert.deepEqual([...listed].sort(), [...(site.shape.enum ?? [])].sort())
              return true
            },
          )
        })
        generatedCaseCount += 1
      }

      for (const { value, message } of wrongTypeCases(site.shape)) {
        test(`wrong type at ${site.path}: ${JSON.stringify(value)}`, () => {
          expectSerialization(operation, site.place(value), message)
        })
        generatedCaseCount += 1
      }
    }
  })
}

test('the generated suite covers every served operation and a meaningful number of cases', () => {
  assert.equal(TRENT_OPERATIONS.length, 31)
  assert.ok(generatedCaseCount > 400, `generated ${generatedCaseCount} cases`)
})

// ---------------------------------------------------------------------------------------
// Whole-body and protocol-level behaviour

describe('request bodies', () => {
  test('every model operation is known, nothing else is', () => {
    for (const operation of Object.keys(MODEL.operations)) assert.equal(isKnownOperation(operation), true)
    assert.equal(Object.keys(MODEL.operations).length >= 54, true)
    for (const name of ['', 'encrypt', 'TrentService.Encrypt', '__proto__', 'constructor', 'toString']) {
      assert.equal(isKnownOperation(name), false, name)
    }
    expectKmsError(() => parseOperationInput('NoSuchOperation', {}), 'UnknownOperationException', undefined)
  })

  test('the model file names its source', () => {
    assert.equal(MODEL.source.package, '@aws-sdk/client-kms')
    assert.match(MODEL.source.packageVersion, /^\d+\.\d+\.\d+$/)
    assert.match(MODEL.source.constraints, /botocore \d+\.\d+\.\d+/)
  })

  // Athena, probed over raw HTTP (athena-local `src/request.rs` test table): a top-level
  // array gets the list message; a scalar or missing body gets no message. dynalite records
  // the same message-less answer for a missing DynamoDB body.
  test('a body that is not an object is a SerializationException', () => {
    expectSerialization('DescribeKey', [], 'Start of list found where not expected')
    expectSerialization('DescribeKey', [{ KeyId: 'k' }], 'Start of list found where not expected')
    for (const body of [null, undefined, 'x', 1, true]) expectSerialization('DescribeKey', body, undefined)
    expectSerialization('ListKeys', 'x', undefined)
  })

  test('an empty object is fine for operations without required members', () => {
    assert.deepEqual(parseOperationInput('ListKeys', {}), {})
    assert.deepEqual(parseOperationInput('ListAliases', {}), {})
  })

  test('null members count as absent, null list elements and map values are dropped', () => {
    assert.deepEqual(parseOperationInput('ListKeys', { Limit: null, Marker: null }), {})
    const result = parseOperationInput('Encrypt', {
      KeyId: 'k',
      Plaintext: 'aGk=',
      GrantTokens: [null, 'g', null],
      EncryptionContext: { a: null, b: 'c' },
    })
    assert.deepEqual(result['GrantTokens'], ['g'])
    assert.deepEqual(result['EncryptionContext'], { b: 'c' })
  })

  test('list positions in paths are the positions the client sent', () => {
    expectValidation('UntagResource', { KeyId: 'k', TagKeys: [null, 'ok', 'x'.repeat(129)] }, [
      violation('tagKeys.3.member', 'x'.repeat(129), 'Member must have length less than or equal to 128'),
    ])
  })

  test('a deserialization problem wins over constraint violations and is found in model order', () => {
    // KeyId (first in the model) is too long, Plaintext (second) is not base64.
    expectSerialization(
      'Encrypt',
      { KeyId: 'k'.repeat(2049), Plaintext: 'abc' },
      'Base64 encoded length is expected a multiple of 4 bytes but found: 3',
    )
    // Both members have the wrong type: the first in model order is reported, not the first in JSON order.
    expectSerialization('Encrypt', { Plaintext: 5, KeyId: true }, 'TRUE_VALUE can not be converted to a String')
  })

  test('several violations are joined with "; " in model order, counted, and capped at ten', () => {
    expectValidation('ListAliases', { KeyId: '', Limit: 0, Marker: '' }, [
      violation('keyId', '', 'Member must have length greater than or equal to 1'),
      violation('limit', '0', 'Member must have value greater than or equal to 1'),
      violation('marker', '', 'Member must have length greater than or equal to 1'),
    ])
    const tags = Array.from({ length: 12 }, () => ({ TagKey: '', TagValue: 'v' }))
    expectValidation(
      'TagResource',
      { KeyId: 'k', Tags: tags },
      tags
        .slice(0, 10)
        .map((_, index) => violation(`tags.${index + 1}.member.tagKey`, '', 'Member must have length greater than or equal to 1')),
    )
  })

  test('fractional numbers are truncated for integer members', () => {
    assert.deepEqual(parseOperationInput('GenerateRandom', { NumberOfBytes: 31.9 }), { NumberOfBytes: 31 })
    expectValidation('GenerateRandom', { NumberOfBytes: 0.5 }, [
      violation('numberOfBytes', '0', 'Member must have value greater than or equal to 1'),
    ])
  })

  test('boolean members accept the strings AWS accepts', () => {
    const cases = [
      ['true', true],
      ['TRUE', true],
      ['yes', true],
      ['1', true],
      ['false', false],
      ['No', false],
      ['0', false],
    ] as const
    for (const [text, meaning] of cases) {
      assert.equal(parseOperationInput('Encrypt', { KeyId: 'k', Plaintext: 'aGk=', DryRun: text })['DryRun'], meaning, text)
    }
  })

  test('timestamps are epoch-second numbers and stay numbers', () => {
    const result = parseOperationInput('ImportKeyMaterial', {
      KeyId: 'k',
      ImportToken: 'aGk=',
      EncryptedKeyMaterial: 'aGk=',
      ValidTo: 1700000000.25,
    })
    assert.equal(result['ValidTo'], 1700000000.25)
  })

  test('string lengths count code points, blob lengths count decoded bytes', () => {
    const emoji = '\u{1F600}'
    parseOperationInput('CreateKey', { Tags: [{ TagKey: emoji.repeat(128), TagValue: 'v' }] })
    expectValidation('CreateKey', { Tags: [{ TagKey: emoji.repeat(129), TagValue: 'v' }] }, [
      violation('tags.1.member.tagKey', emoji.repeat(129), 'Member must have length less than or equal to 128'),
    ])
    // 4096 bytes is 5464 base64 characters: the limit is on the bytes.
    parseOperationInput('Encrypt', { KeyId: 'k', Plaintext: base64OfLength(4096) })
  })

  test('sensitive blobs (plaintext) come back as fresh Uint8Arrays, not pooled Buffers', () => {
    const result = parseOperationInput('Encrypt', { KeyId: 'k', Plaintext: 'aGVsbG8=' })
    const plaintext = result['Plaintext']
    assert.ok(plaintext instanceof Uint8Array)
    assert.equal(Object.getPrototypeOf(plaintext), Uint8Array.prototype)
    assert.equal(plaintext.byteOffset, 0)
    assert.equal(plaintext.buffer.byteLength, 5)
    assert.equal(Buffer.from(plaintext).toString('utf8'), 'hello')
    // A ciphertext is not sensitive: decoded into Node's pool, which is cheaper.
    const blob = parseOperationInput('Decrypt', { CiphertextBlob: 'AAEC/w==' })['CiphertextBlob']
    assert.ok(blob instanceof Uint8Array)
    assert.deepEqual([...blob], [0, 1, 2, 255])
  })

  test('a blob is refused unless it is the base64 alphabet then at most two =, sensitive or not', () => {
    // Every character that Node's forgiving decoder would skip or accept (base64url, white
    // space, and a character whose low byte is a letter: U+0141 is 0x41 'A') is refused.
    for (const bad of ['ab-d', 'ab_d', 'ab d', 'ab\nd', 'ab\u0141d', 'abc\u00c1', 'a=bc', '=abc', 'ab\u{1F600}', 'ab.d']) {
      const text = bad.length % 4 === 0 ? bad : `${bad}AAAA`.slice(0, 8)
      for (const input of [{ KeyId: 'k', Plaintext: text }, { CiphertextBlob: text }]) {
        const operation = 'Plaintext' in input ? 'Encrypt' : 'Decrypt'
        assert.throws(
          () => parseOperationInput(operation, input),
          (err: unknown) => isKmsError(err) && err.name === 'SerializationException',
          `${operation} ${JSON.stringify(text)}`,
        )
      }
    }
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ABCxyz019+/=-_ \u0141'), maxLength: 16 }), (text) => {
        const accepted = text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text)
        for (const input of [{ KeyId: 'k', Plaintext: text }, { CiphertextBlob: text }]) {
          const operation = 'Plaintext' in input ? 'Encrypt' : 'Decrypt'
          let result: Record<string, unknown> | undefined
          try {
            result = parseOperationInput(operation, input)
          } catch (err) {
            // An empty blob is a length violation (min 1), not a serialization error.
            if (!(isKmsError(err) && (err.name === 'SerializationException' || text === ''))) throw err
          }
          assert.equal(result !== undefined, accepted && text !== '', `${operation} ${JSON.stringify(text)}`)
          if (result !== undefined) {
            const bytes = result['Plaintext' in input ? 'Plaintext' : 'CiphertextBlob'] as Uint8Array
            assert.deepEqual(Buffer.from(bytes), Buffer.from(text, 'base64'))
          }
        }
      }),
    )
  })

  test('malformed base64 is a SerializationException that never echoes the value', () => {
    expectSerialization(
      'Encrypt',
      { KeyId: 'k', Plaintext: 'secret' },
      'Base64 encoded length is expected a multiple of 4 bytes but found: 6',
    )
    expectSerialization('Encrypt', { KeyId: 'k', Plaintext: 'sec-' }, 'Unexpected value type in payload')
    expectSerialization('Encrypt', { KeyId: 'k', Plaintext: 'se=t' }, 'Unexpected value type in payload')
    expectSerialization('Encrypt', { KeyId: 'k', Plaintext: 'A===' }, 'Unexpected value type in payload')
  })

  test('map keys are data: __proto__ in an encryption context cannot change the prototype', () => {
    const body: unknown = JSON.parse('{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"__proto__":"x","b":"c"}}')
    const result = parseOperationInput('Encrypt', body)
    const context = result['EncryptionContext'] as Record<string, unknown>
    assert.equal(Object.getPrototypeOf(context), Object.prototype)
    assert.deepEqual(Object.keys(context), ['__proto__', 'b'])
    assert.equal(Object.getOwnPropertyDescriptor(context, '__proto__')?.value, 'x')
  })

  test('inherited properties do not pose as members', () => {
    const withInheritedKeyId = Object.create({ KeyId: 'inherited' }) as Record<string, unknown>
    expectValidation('DescribeKey', withInheritedKeyId, [missing('keyId')])
  })

  test('the input object is not modified', () => {
    const input = { KeyId: 'k', Plaintext: 'aGk=', Extra: 1 }
    const copy = structuredClone(input)
    parseOperationInput('Encrypt', input)
    assert.deepEqual(input, copy)
  })
})

// ---------------------------------------------------------------------------------------
// Pinned to responses recorded against AWS

describe('recorded AWS responses', () => {
  // localstack/localstack tests/aws/services/kms/test_kms.snapshot.json,
  // test_generate_random_invalid_number_of_bytes[0] and [1025] (recorded 2023-04-13).
  test('GenerateRandom NumberOfBytes out of range', () => {
    expectValidation('GenerateRandom', { NumberOfBytes: 0 }, [
      "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
    ])
    expectKmsError(
      () => parseOperationInput('GenerateRandom', { NumberOfBytes: 1025 }),
      'ValidationException',
      "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
    )
  })

  // Same snapshot, test_plaintext_size_for_encrypt (recorded 2023-04-13): the sensitive
  // Plaintext is not printed.
  test('Encrypt with 4097 bytes of plaintext', () => {
    expectKmsError(
      () => parseOperationInput('Encrypt', { KeyId: 'k', Plaintext: base64OfLength(4097) }),
      'ValidationException',
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    )
  })

  // Same snapshot, test_invalid_generate_mac[HMAC_256-INVALID] and
  // test_invalid_verify_mac[HMAC_256-INVALID-some important message] (recorded 2023-04-13):
  // AWS's enum order, not the model's.
  test('GenerateMac and VerifyMac with an unknown MacAlgorithm', () => {
    const recorded =
      "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]"
    expectKmsError(
      () => parseOperationInput('GenerateMac', { KeyId: 'k', Message: 'aGk=', MacAlgorithm: 'INVALID' }),
      'ValidationException',
      recorded,
    )
    expectKmsError(
      () => parseOperationInput('VerifyMac', { KeyId: 'k', Message: 'aGk=', MacAlgorithm: 'INVALID', Mac: 'aGk=' }),
      'ValidationException',
      recorded,
    )
  })

  // Same snapshot, test_hmac_create_key_invalid_operations (recorded 2023-04-13). The model
  // has gained values since (SM2, ML_DSA_*, ECC_NIST_EDWARDS25519, ML_KEM_*; KEY_AGREEMENT,
  // ENCAPSULATE_DECAPSULATE): the recorded order is kept and the newer values follow in
  // model order (botocore's, then the npm model's for values botocore does not have yet).
  test('CreateKey with an unknown KeySpec or KeyUsage', () => {
    const recordedKeySpecs =
      'RSA_2048, ECC_NIST_P384, ECC_NIST_P256, ECC_NIST_P521, HMAC_384, RSA_3072, ECC_SECG_P256K1, RSA_4096, SYMMETRIC_DEFAULT, HMAC_256, HMAC_224, HMAC_512'
    expectKmsError(
      () => parseOperationInput('CreateKey', { KeySpec: 'HMAC_random' }),
      'ValidationException',
      `1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [${recordedKeySpecs}, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519, ML_KEM_1024, ML_KEM_512, ML_KEM_768]`,
    )
    expectKmsError(
      () => parseOperationInput('CreateKey', { KeyUsage: 'RANDOM' }),
      'ValidationException',
      "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]",
    )
  })

  // Reference §1.9 from the same snapshot (test_key_with_long_tag_value_raises_error and
  // test_create_key_with_invalid_tag_key[too_long_key]); LocalStack's provider
  // (localstack-core/localstack/services/kms/utils.py validate_tag) mirrors the wording.
  test('CreateKey with an over-long tag value or key', () => {
    expectKmsError(
      () =>
        parseOperationInput('CreateKey', {
          Description: 'test key 123',
          KeyUsage: 'ENCRYPT_DECRYPT',
          Tags: [{ TagKey: 'tag1', TagValue: 'v'.repeat(257) }],
        }),
      'ValidationException',
      `1 validation error detected: Value '${'v'.repeat(257)}' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256`,
    )
    expectKmsError(
      () => parseOperationInput('CreateKey', { Tags: [{ TagKey: 'a'.repeat(129), TagValue: 'value1' }] }),
      'ValidationException',
      `1 validation error detected: Value '${'a'.repeat(129)}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128`,
    )
  })

  // Real AWS CLI output quoted in LunaTW/aws-kms-demo README.md (kms decrypt with an empty
  // file): CiphertextBlob is not sensitive in the model, yet its value is not printed.
  test('Decrypt with an empty CiphertextBlob', () => {
    expectKmsError(
      () => parseOperationInput('Decrypt', { CiphertextBlob: '', KeyId: 'alias/luna-kms' }),
      'ValidationException',
      "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1",
    )
  })

  // The null form as AWS words it for a missing required member (STS AssumeRole and Athena
  // probes; KMS Sign errors quoted in public tests, e.g. a JWT signer's mocked KMS error).
  test('a missing KeyId', () => {
    expectKmsError(
      () => parseOperationInput('Sign', { Message: 'aGk=', SigningAlgorithm: 'ECDSA_SHA_256' }),
      'ValidationException',
      "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
    )
  })

  // Athena over raw HTTP (athena-local src/request.rs) and CodeDeploy/SQS user reports: the
  // front end's wording for wrong JSON types, reproduced for KMS members of the same types.
  test('wrong JSON types, as recorded on other AWS JSON 1.1 services', () => {
    expectSerialization('ListKeys', { Limit: '1' }, 'STRING_VALUE can not be converted to an Integer')
    expectSerialization('ListKeys', { Limit: true }, 'TRUE_VALUE can not be converted to an Integer')
    expectSerialization('ListKeys', { Limit: [1] }, 'Start of list found where not expected')
    expectSerialization('ListKeys', { Limit: { a: 1 } }, 'Start of structure or map found where not expected.')
    expectSerialization('DescribeKey', { KeyId: 1 }, 'NUMBER_VALUE can not be converted to a String')
    expectSerialization('DescribeKey', { KeyId: 1.5 }, 'NUMBER_VALUE can not be converted to a String')
    expectSerialization('DescribeKey', { KeyId: 'k', GrantTokens: 'x' }, 'Expected list or null')
    expectSerialization('DescribeKey', { KeyId: 'k', GrantTokens: [['a']] }, 'Start of list found where not expected')
    expectSerialization('GenerateRandom', { Recipient: 'x' }, 'Expected null')
  })
})

// ---------------------------------------------------------------------------------------
// Properties

describe('properties', () => {
  const allOperations = Object.keys(MODEL.operations)
  const allowedNames = new Set(['SerializationException', 'ValidationException'])

  function onlyKmsErrors(operation: string, body: unknown): void {
    try {
      parseOperationInput(operation, body)
    } catch (error: unknown) {
      assert.ok(isKmsError(error), `not a KmsError: ${String(error)}`)
      assert.ok(allowedNames.has(error.name), error.name)
    }
  }

  test('random JSON never makes it throw anything but a KmsError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...allOperations), fc.jsonValue(), (operation, body) => onlyKmsErrors(operation, body)),
      { numRuns: 2000 },
    )
  })

  test('random JSON under real member names never makes it throw anything but a KmsError', () => {
    const arbitraryBody = fc.constantFrom(...allOperations).chain((operation) => {
      const memberNames = Object.keys(shapeNamed(inputShapeName(operation)).members ?? {})
      const smallJson = fc.jsonValue({ maxDepth: 2 })
      const memberValue = fc.oneof(
        smallJson,
        fc.base64String({ maxLength: 16 }),
        fc.array(fc.dictionary(fc.constantFrom('TagKey', 'TagValue', 'x'), smallJson), { maxLength: 4 }),
      )
      return fc.tuple(fc.constant(operation), fc.dictionary(fc.constantFrom(...memberNames), memberValue))
    })
    fc.assert(
      fc.property(arbitraryBody, ([operation, body]) => onlyKmsErrors(operation, body)),
      { numRuns: 2000 },
    )
  })

  test('a ValidationException message always counts what it lists', () => {
    fc.assert(
      fc.property(
        fc.record({
          KeyId: fc.string({ maxLength: 3 }),
          Limit: fc.integer({ min: -5, max: 1005 }),
          Marker: fc.string({ maxLength: 2 }),
        }),
        (body) => {
          try {
            parseOperationInput('ListAliases', body)
          } catch (error: unknown) {
            assert.ok(isKmsError(error))
            const message = error.wireMessage ?? ''
            const match = /^(\d+) validation errors? detected: /.exec(message)
            assert.ok(match, message)
            assert.equal(Number(match[1]), message.split('; Value').length)
          }
        },
      ),
    )
  })
})
