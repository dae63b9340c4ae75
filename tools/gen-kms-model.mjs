#!/usr/bin/env node
/**
 * Generates Trent's AWS KMS model from the newest one available offline: the model inside
 * the `@aws-sdk/client-kms` npm package (pinned in package.json).
 *
 *   node tools/gen-kms-model.mjs           writes the two files below
 *   node tools/gen-kms-model.mjs --check   exits 1 when either committed file is stale
 *                                          (npm test runs this)
 *
 * Writes:
 * - src/api/model/kms-model.json: every operation (input, output, modeled errors) and
 *   every shape reachable from them, in botocore's layout, which src/api/validation.ts
 *   compiles into validators and the API layer uses to write outputs;
 * - src/wire/kms-model-types.ts: a TypeScript type for every operation's input and
 *   output and for every enum, which the operation handlers use.
 *
 * Where each fact comes from (docs/spec/kms-model.md says more):
 * - operations, structures, their members, which members are required, member types and
 *   enum values: the npm package's schemas (its CommonJS bundle exports them, `X$`) and
 *   enum objects; which enum a string member takes, from the package's type declarations
 *   (`dist-types/models/models_0.d.ts`); each operation's errors from its command's
 *   `@throws` list (`dist-types/commands/*Command.d.ts`).
 * - lengths, ranges and patterns, which the JavaScript SDK strips from its schemas: from
 *   tools/kms-model/constraints.json (botocore's copy of the same model, extracted by
 *   tools/kms-model/extract-constraints.py, plus hand additions with their sources for
 *   members botocore does not have yet). An input member with neither fails the
 *   generation: a new member must come with its constraints.
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MODEL_PATH = join(ROOT, 'src/api/model/kms-model.json')
const TYPES_PATH = join(ROOT, 'src/wire/kms-model-types.ts')
const CONSTRAINTS_PATH = join(ROOT, 'tools/kms-model/constraints.json')

const require = createRequire(import.meta.url)
const PACKAGE_DIR = dirname(require.resolve('@aws-sdk/client-kms/package.json'))
const sdk = require('@aws-sdk/client-kms')
const packageVersion = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')).version

// Smithy's JavaScript schema encoding (@smithy/core/schema): a member's schema is a number
// for the simple types, `64 | x` for a list of x and `128 | x` for a map to x, a function
// returning a named schema `[kind, namespace, name, traits, ...]`, or `[schema, traits]`
// for a member with traits of its own.
const SIMPLE = { 0: 'string', 1: 'number', 2: 'boolean', 4: 'timestamp', 21: 'blob' }
const LIST_BIT = 64
const MAP_BIT = 128
const KIND = { simple: 0, list: 1, map: 2, structure: 3, operation: 9, error: -3 }

const constraints = JSON.parse(readFileSync(CONSTRAINTS_PATH, 'utf8'))
const memberShapes = { ...constraints.memberShapes, ...constraints.additions.memberShapes }
const constraintShapes = { ...constraints.shapes, ...constraints.additions.shapes }

/** Botocore's order first (AWS's messages follow it), then what only the npm model has, in its order. */
function inBotocoreOrder(shapeName, names) {
  const known = constraints.order[shapeName] ?? []
  return [...known.filter((name) => names.includes(name)), ...names.filter((name) => !known.includes(name))]
}

// --- What the npm package declares ----------------------------------------------------

/** Enum objects: every export whose values are all strings naming themselves. */
const enums = new Map()
for (const [name, value] of Object.entries(sdk)) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) continue
  const values = Object.values(value)
  if (values.length > 0 && values.every((v) => typeof v === 'string')) enums.set(name, values)
}

/** interface name → member name → the TypeScript type the package gives it. */
function declaredMemberTypes() {
  const text = readFileSync(join(PACKAGE_DIR, 'dist-types/models/models_0.d.ts'), 'utf8')
  const interfaces = new Map()
  const interfacePattern = /export interface (\w+) \{([\s\S]*?)\n\}/g
  for (const [, name, body] of text.matchAll(interfacePattern)) {
    const members = new Map()
    for (const [, member, type] of body.matchAll(/^\s{4}(\w+)\??: (.+?)(?: \| undefined)?;$/gm)) members.set(member, type)
    interfaces.set(name, members)
  }
  return interfaces
}
const declaredTypes = declaredMemberTypes()

/** The enum a string (or list-of-string) member takes, if the package's declarations name one. */
function enumOf(structure, member) {
  const type = declaredTypes.get(structure)?.get(member)
  if (type === undefined) return undefined
  const bare = type.replace(/^\((\w+)\)\[\]$/, '$1').replace(/^(\w+)\[\]$/, '$1')
  return enums.has(bare) ? bare : undefined
}

function operationErrors(operation) {
  const text = readFileSync(join(PACKAGE_DIR, `dist-types/commands/${operation}Command.d.ts`), 'utf8')
  const errors = [...text.matchAll(/@throws \{@link (\w+)\}/g)].map((match) => match[1]).filter((name) => name !== 'KMSServiceException')
  return [...new Set(errors)]
}

const operations = Object.entries(sdk)
  .filter(([name, value]) => name.endsWith('$') && Array.isArray(value) && value[0] === KIND.operation)
  .map(([, value]) => ({ name: value[2], input: value[4](), output: value[5]() }))
  .sort((a, b) => (a.name < b.name ? -1 : 1))

// --- Building the model ---------------------------------------------------------------

const shapes = {}
/** Shapes reached from an operation's input; from its output. */
const reachedFrom = { input: new Set(), output: new Set() }
const problems = []

function unwrapMember(schema) {
  // `[schema, traits]`: a member with traits of its own (sensitive, for example).
  if (Array.isArray(schema) && schema.length === 2 && !(typeof schema[0] === 'number' && schema[0] >= 0 && typeof schema[1] === 'string')) {
    return { schema: schema[0], traits: schema[1] }
  }
  return { schema, traits: 0 }
}

function resolveSchema(schema) {
  return typeof schema === 'function' ? schema() : schema
}

const PRIMITIVE_SHAPE = { string: '__string', number: '__number', boolean: '__boolean', timestamp: '__timestamp', blob: '__blob' }
const PRIMITIVE_TYPE = { string: 'string', number: 'integer', boolean: 'boolean', timestamp: 'timestamp', blob: 'blob' }

/** A constrained (botocore) shape, copied in with list and map references in botocore's form. */
function addConstraintShape(name, direction, enumName) {
  reachedFrom[direction].add(name)
  const source = constraintShapes[name]
  if (source === undefined) throw new Error(`constraints.json: no shape ${name}`)
  const shape = { type: source.type }
  for (const key of ['min', 'max', 'pattern', 'sensitive']) if (key in source) shape[key] = source[key]
  if (source.type === 'string' && enumName !== undefined) shape.enum = inBotocoreOrder(name, enums.get(enumName))
  if (source.type === 'list') {
    shape.member = { shape: source.member }
    addConstraintShape(source.member, direction, enumName)
  }
  if (source.type === 'map') {
    shape.key = { shape: source.key }
    shape.value = { shape: source.value }
    addConstraintShape(source.key, direction)
    addConstraintShape(source.value, direction)
  }
  const existing = shapes[name]
  if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(shape)) {
    // The same botocore shape used once as an enum and once as plain text would be a model change to look at.
    problems.push(`shape ${name} is used in two ways: ${JSON.stringify(existing)} vs ${JSON.stringify(shape)}`)
  }
  shapes[name] = shape
}

function addStructure(schema, direction) {
  const [, , name, , memberNames, memberSchemas, requiredCount = 0] = schema
  reachedFrom[direction].add(name)
  if (shapes[name] !== undefined) return name
  const required = new Set(memberNames.slice(0, requiredCount))
  const shape = { type: 'structure', required: [], members: {} }
  shapes[name] = shape
  for (const member of inBotocoreOrder(name, memberNames)) {
    if (required.has(member)) shape.required.push(member)
    shape.members[member] = { shape: memberShape(name, member, memberSchemas[memberNames.indexOf(member)], direction) }
  }
  if (shape.required.length === 0) delete shape.required
  return name
}

function memberShape(structure, member, rawSchema, direction) {
  const { schema: unresolved } = unwrapMember(rawSchema)
  const schema = resolveSchema(unresolved)
  if (Array.isArray(schema) && schema[0] === KIND.structure) return addStructure(schema, direction)
  if (Array.isArray(schema) && (schema[0] === KIND.list || schema[0] === KIND.map)) {
    const elementSchema = resolveSchema(unwrapMember(schema[4]).schema)
    if (Array.isArray(elementSchema) && elementSchema[0] === KIND.structure) {
      // A list of structures: botocore's list shape gives its length limits, if it has any.
      const listName = schema[2]
      const elementName = addStructure(elementSchema, direction)
      const listShape = { type: 'list', member: { shape: elementName } }
      const limits = constraintShapes[listName]
      for (const key of ['min', 'max']) if (limits !== undefined && key in limits) listShape[key] = limits[key]
      shapes[listName] = listShape
      reachedFrom[direction].add(listName)
      return listName
    }
  }
  const enumName = enumOf(structure, member)
  // A named simple schema (`[0, namespace, 'PlaintextType', traits, 21]`) keeps botocore's shape name.
  const schemaName = Array.isArray(schema) && schema[0] === KIND.simple ? schema[2] : undefined
  const named =
    memberShapes[`${structure}.${member}`] ??
    (schemaName !== undefined && constraintShapes[schemaName] !== undefined ? schemaName : undefined)
  if (named !== undefined) {
    addConstraintShape(named, direction, enumName)
    return named
  }
  if (enumName !== undefined && typeof schema === 'number' && (schema === 0 || schema === (LIST_BIT | 0))) {
    // An enum member botocore does not know yet: its values say everything there is to check.
    if (schema === 0) {
      shapes[enumName] = { type: 'string', enum: inBotocoreOrder(enumName, enums.get(enumName)) }
      reachedFrom[direction].add(enumName)
      return enumName
    }
  }
  if (direction === 'input') {
    problems.push(
      `${structure}.${member}: an input member without constraints; add it to tools/kms-model/constraints.json "additions" with its source`,
    )
    return '__unknown'
  }
  // Output members need only their type: what the API layer writes and the types say.
  const simple = typeof schema === 'number' ? SIMPLE[schema & ~(LIST_BIT | MAP_BIT)] : undefined
  if (simple === undefined) {
    problems.push(`${structure}.${member}: schema ${JSON.stringify(schema)} not understood`)
    return '__unknown'
  }
  const primitive = PRIMITIVE_SHAPE[simple]
  shapes[primitive] = { type: PRIMITIVE_TYPE[simple] }
  reachedFrom[direction].add(primitive)
  if (schema & LIST_BIT) {
    const listName = `${primitive}List`
    shapes[listName] = { type: 'list', member: { shape: enumName ?? primitive } }
    if (enumName !== undefined) shapes[enumName] = { type: 'string', enum: inBotocoreOrder(enumName, enums.get(enumName)) }
    reachedFrom[direction].add(listName)
    return listName
  }
  if (schema & MAP_BIT) {
    const mapName = `${primitive}Map`
    shapes[mapName] = { type: 'map', key: { shape: '__string' }, value: { shape: primitive } }
    shapes.__string = { type: 'string' }
    reachedFrom[direction].add(mapName)
    return mapName
  }
  return primitive
}

const modelOperations = {}
shapes.Unit = { type: 'structure', members: {} }
reachedFrom.output.add('Unit')
for (const operation of operations) {
  modelOperations[operation.name] = {
    input: addStructure(operation.input, 'input'),
    // Smithy's `Unit`: the operation answers an empty body (`{}` on the wire).
    output: operation.output === 'unit' ? 'Unit' : addStructure(operation.output, 'output'),
    errors: operationErrors(operation.name),
  }
}

if (problems.length > 0) {
  console.error(`gen-kms-model: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`)
  process.exit(2)
}

const sortedShapes = Object.fromEntries(Object.entries(shapes).sort(([a], [b]) => (a < b ? -1 : 1)))
const model = {
  source: {
    generator: 'tools/gen-kms-model.mjs',
    package: '@aws-sdk/client-kms',
    packageVersion,
    constraints: `tools/kms-model/constraints.json (botocore ${constraints.source.botocoreVersion} + additions)`,
    apiVersion: '2014-11-01',
  },
  metadata: { protocol: 'json', jsonVersion: '1.1', targetPrefix: 'TrentService' },
  operations: modelOperations,
  shapes: sortedShapes,
}
const modelText = `${JSON.stringify(model, null, 2)}\n`

// --- TypeScript types ------------------------------------------------------------------

/**
 * Inputs reach handlers after validation (blobs decoded to bytes); outputs are what the
 * handlers return for the wire (blobs as base64 text, timestamps as epoch seconds).
 */
function typeOf(shapeName, direction) {
  const shape = sortedShapes[shapeName]
  switch (shape.type) {
    case 'string':
      return shape.enum !== undefined && shapeName !== '__string' ? shapeName : 'string'
    case 'blob':
      return direction === 'input' ? 'Uint8Array' : 'string'
    case 'integer':
    case 'long':
    case 'timestamp':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'list':
      return `${typeOf(shape.member.shape, direction)}[]`
    case 'map':
      return `Record<string, ${typeOf(shape.value.shape, direction)}>`
    case 'structure':
      return shapeName
    default:
      throw new Error(`no TypeScript type for ${shapeName} (${shape.type})`)
  }
}

function containsBlob(shapeName, seen = new Set()) {
  if (seen.has(shapeName)) return false
  seen.add(shapeName)
  const shape = sortedShapes[shapeName]
  if (shape.type === 'blob' || shape.type === 'timestamp') return true
  if (shape.type === 'list') return containsBlob(shape.member.shape, seen)
  if (shape.type === 'map') return containsBlob(shape.value.shape, seen)
  if (shape.type === 'structure') return Object.values(shape.members).some((ref) => containsBlob(ref.shape, seen))
  return false
}

const lines = [
  '// Generated by tools/gen-kms-model.mjs from @aws-sdk/client-kms ' + packageVersion + '. Do not edit:',
  '// change the generator or tools/kms-model/constraints.json, then run `node tools/gen-kms-model.mjs`.',
  '//',
  '// Inputs are what an operation handler receives after validation (blobs as bytes);',
  '// outputs are what it returns for the wire (blobs as base64 text, timestamps as epoch seconds).',
  '',
]
for (const [name, shape] of Object.entries(sortedShapes)) {
  if (shape.type !== 'string' || shape.enum === undefined) continue
  lines.push(`export type ${name} = ${shape.enum.map((value) => `'${value}'`).join(' | ')}`)
}
lines.push('')
for (const [name, shape] of Object.entries(sortedShapes)) {
  if (shape.type !== 'structure') continue
  const inInput = reachedFrom.input.has(name)
  const inOutput = reachedFrom.output.has(name)
  if (inInput && inOutput && containsBlob(name)) {
    console.error(`gen-kms-model: ${name} is both input and output and holds a blob or timestamp, whose types differ`)
    process.exit(2)
  }
  const direction = inInput ? 'input' : 'output'
  const required = new Set(shape.required ?? [])
  // Type aliases, not interfaces: an alias of an object type is assignable to
  // Record<string, unknown>, which the operations' generic helpers take.
  if (Object.keys(shape.members).length === 0) {
    // A structure without members: an empty JSON object, and nothing else.
    lines.push(`export type ${name} = Record<string, never>`, '')
    continue
  }
  lines.push(`export type ${name} = {`)
  for (const [member, ref] of Object.entries(shape.members)) {
    lines.push(`  ${member}${required.has(member) ? '' : '?'}: ${typeOf(ref.shape, direction)}`)
  }
  lines.push('}', '')
}
lines.push('/** Every operation of the model, with its input and output types. */')
lines.push('export type KmsOperations = {')
for (const [name, operation] of Object.entries(modelOperations)) {
  lines.push(`  ${name}: { input: ${operation.input}; output: ${operation.output} }`)
}
lines.push('}', '', 'export type KmsOperationName = keyof KmsOperations', '')
const typesText = lines.join('\n')

// --- Write or check ----------------------------------------------------------------------

const outputs = [
  [MODEL_PATH, modelText],
  [TYPES_PATH, typesText],
]
if (process.argv.includes('--check')) {
  const stale = outputs.filter(([path, text]) => {
    try {
      return readFileSync(path, 'utf8') !== text
    } catch {
      return true
    }
  })
  if (stale.length > 0) {
    console.error(
      `gen-kms-model: stale, regenerate with \`node tools/gen-kms-model.mjs\`: ${stale.map(([path]) => path.slice(ROOT.length + 1)).join(', ')}`,
    )
    process.exit(1)
  }
  console.log(`gen-kms-model: up to date with @aws-sdk/client-kms ${packageVersion}`)
} else {
  for (const [path, text] of outputs) writeFileSync(path, text)
  console.log(
    `gen-kms-model: ${Object.keys(modelOperations).length} operations, ${Object.keys(sortedShapes).length} shapes from @aws-sdk/client-kms ${packageVersion}`,
  )
}
