/**
 * Trent against the newest AWS KMS model (src/api/model/kms-model.json, generated from
 * @aws-sdk/client-kms by tools/gen-kms-model.mjs): every operation is served or refused
 * on purpose; every member of every served operation's input is acted on or refused on
 * purpose, exactly once; every enum value an input can carry is implemented or refused on
 * purpose (src/kms/coverage.ts). A model upgrade that brings something new fails here
 * until someone decides what Trent does with it.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { inputLeafPaths, presentLeafPaths, projectOutput } from '../../src/api/members.js'
import { KMS_MODEL } from '../../src/api/validation.js'
import { IMPLEMENTED_ENUM_VALUES, REFUSED_ENUM_VALUES, REFUSED_OPERATIONS } from '../../src/kms/coverage.js'
import { OPERATIONS } from '../../src/kms/operations/index.js'

const modelOperations = Object.keys(KMS_MODEL.operations)

test('every operation of the model is served or refused with a reason, not both', () => {
  for (const name of modelOperations) {
    const served = OPERATIONS.has(name)
    const refused = Object.hasOwn(REFUSED_OPERATIONS, name)
    assert.ok(served !== refused, `${name}: ${served ? 'served and refused' : 'neither served nor refused'}`)
  }
  for (const name of [...OPERATIONS.keys(), ...Object.keys(REFUSED_OPERATIONS)]) {
    assert.ok(modelOperations.includes(name), `${name} is not an operation of the model`)
  }
})

test('every served operation names each input member of the model exactly once, as acted on or refused', () => {
  for (const operation of OPERATIONS.values()) {
    const model = inputLeafPaths(operation.name)
    const refused = Object.keys(operation.refuses ?? {})
    const named = [...operation.members, ...refused]
    assert.equal(new Set(named).size, named.length, `${operation.name} names a member twice`)
    assert.deepEqual([...named].sort(), [...model].sort(), `${operation.name}: members + refuses must be exactly the model's input members`)
  }
})

/** The enums an operation's input can carry (output-only enums describe what Trent answers). */
function inputEnums(): Map<string, readonly string[]> {
  const seen = new Set<string>()
  const enums = new Map<string, readonly string[]>()
  const walk = (name: string): void => {
    if (seen.has(name)) return
    seen.add(name)
    const shape = KMS_MODEL.shapes[name]
    if (shape === undefined) throw new Error(`unknown shape ${name}`)
    if (shape.enum !== undefined) enums.set(name, shape.enum)
    for (const reference of Object.values(shape.members ?? {})) walk(reference.shape)
    if (shape.member !== undefined) walk(shape.member.shape)
    if (shape.value !== undefined) walk(shape.value.shape)
  }
  for (const operation of Object.values(KMS_MODEL.operations)) if (operation.input !== undefined) walk(operation.input)
  return enums
}

test('every enum value an input can carry is implemented or refused with a reason, not both', () => {
  const problems: string[] = []
  for (const [name, values] of inputEnums()) {
    const implemented = IMPLEMENTED_ENUM_VALUES[name] ?? []
    const refused = REFUSED_ENUM_VALUES[name] ?? {}
    for (const value of values) {
      const isImplemented = implemented.includes(value)
      const isRefused = Object.hasOwn(refused, value)
      if (isImplemented === isRefused)
        problems.push(`${name}.${value}: ${isImplemented ? 'implemented and refused' : 'neither implemented nor refused'}`)
    }
    for (const value of [...implemented, ...Object.keys(refused)]) {
      if (!values.includes(value)) problems.push(`${name}.${value} is not a value of the model`)
    }
  }
  assert.deepEqual(problems, [])
})

test('the leaf paths of a request are what it carries, into structures and lists of structures', () => {
  const paths = presentLeafPaths('CreateGrant', {
    KeyId: 'k',
    Operations: ['Decrypt'],
    Constraints: { EncryptionContextSubset: { a: 'b' }, SourceArn: 'arn:aws:s3:::bucket' },
  })
  assert.deepEqual([...paths].sort(), ['Constraints.EncryptionContextSubset', 'Constraints.SourceArn', 'KeyId', 'Operations'])
  const tagged = presentLeafPaths('TagResource', { KeyId: 'k', Tags: [{ TagKey: 'a', TagValue: 'b' }] })
  assert.deepEqual([...tagged].sort(), ['KeyId', 'Tags.TagKey', 'Tags.TagValue'])
})

test('an output keeps only the members the model declares, at every depth', () => {
  const output = projectOutput('DescribeKey', {
    KeyMetadata: {
      KeyId: 'k',
      Arn: 'arn',
      Secret: 'must not leave',
      MultiRegionConfiguration: { MultiRegionKeyType: 'PRIMARY', Internal: 1 },
    },
    Extra: true,
  })
  assert.deepEqual(output, { KeyMetadata: { KeyId: 'k', Arn: 'arn', MultiRegionConfiguration: { MultiRegionKeyType: 'PRIMARY' } } })
  assert.deepEqual(projectOutput('DisableKey', { Anything: 1 }), {})
})

test('the generated model is from the pinned @aws-sdk/client-kms', () => {
  const pinned = (JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> }).devDependencies[
    '@aws-sdk/client-kms'
  ]
  const model = JSON.parse(readFileSync('src/api/model/kms-model.json', 'utf8')) as { source: { packageVersion: string } }
  assert.equal(model.source.packageVersion, pinned)
})

test('an output keeps the order its operation wrote it in (AWS sends KeyMetadata alphabetically)', () => {
  const output = projectOutput('DescribeKey', { KeyMetadata: { AWSAccountId: '1', Arn: 'a', KeyId: 'k', Origin: 'AWS_KMS' } })
  assert.deepEqual(Object.keys((output as { KeyMetadata: object }).KeyMetadata), ['AWSAccountId', 'Arn', 'KeyId', 'Origin'])
})
