/**
 * Which members of the model a request carries and a response may hold
 * (docs/spec/kms-model.md).
 *
 * A request member is named by its leaf path: the member names from the input down to a
 * member that is not a structure, joined with dots (`Constraints.SourceArn`; a list of
 * structures counts as its element, so `Tags.TagKey`). Each operation lists the paths it
 * acts on; the API layer refuses a request that carries any other path, so a member the
 * model gained and Trent has not implemented is refused, never silently dropped.
 *
 * @module
 */
import { KMS_MODEL, type KmsModel, type ModelShape } from './validation.js'

function shapeOf(model: KmsModel, name: string): ModelShape {
  const shape = model.shapes[name]
  if (shape === undefined) throw new Error(`kms-model.json: unknown shape ${name}`)
  return shape
}

/** The structure a member holds, directly or as the element of a list; undefined for anything else. */
function structureBelow(model: KmsModel, shapeName: string): string | undefined {
  const shape = shapeOf(model, shapeName)
  if (shape.type === 'structure') return shapeName
  if (shape.type === 'list' && shape.member !== undefined && shapeOf(model, shape.member.shape).type === 'structure')
    return shape.member.shape
  return undefined
}

function collectLeafPaths(model: KmsModel, structure: string, prefix: string, into: string[]): string[] {
  for (const [member, reference] of Object.entries(shapeOf(model, structure).members ?? {})) {
    const path = prefix === '' ? member : `${prefix}.${member}`
    const below = structureBelow(model, reference.shape)
    if (below === undefined) into.push(path)
    else collectLeafPaths(model, below, path, into)
  }
  return into
}

/** Every leaf path of an operation's input, in model order; [] for an operation without input. */
export function inputLeafPaths(operation: string, model: KmsModel = KMS_MODEL): string[] {
  const input = model.operations[operation]?.input
  return input === undefined ? [] : collectLeafPaths(model, input, '', [])
}

function collectPresentPaths(model: KmsModel, structure: string, value: Record<string, unknown>, prefix: string, into: Set<string>): void {
  for (const [member, reference] of Object.entries(shapeOf(model, structure).members ?? {})) {
    const memberValue = value[member]
    if (memberValue === undefined || memberValue === null) continue
    const path = prefix === '' ? member : `${prefix}.${member}`
    const below = structureBelow(model, reference.shape)
    if (below === undefined) {
      into.add(path)
      continue
    }
    const elements = Array.isArray(memberValue) ? memberValue : [memberValue]
    for (const element of elements) {
      if (typeof element === 'object' && element !== null) collectPresentPaths(model, below, element as Record<string, unknown>, path, into)
    }
  }
}

/** The leaf paths a validated input carries (members the model does not know are already gone). */
export function presentLeafPaths(operation: string, input: Record<string, unknown>, model: KmsModel = KMS_MODEL): Set<string> {
  const paths = new Set<string>()
  const inputShape = model.operations[operation]?.input
  if (inputShape !== undefined) collectPresentPaths(model, inputShape, input, '', paths)
  return paths
}

function project(model: KmsModel, shapeName: string, value: unknown): unknown {
  const shape = shapeOf(model, shapeName)
  if (shape.type === 'list' && Array.isArray(value) && shape.member !== undefined) {
    const element = shape.member.shape
    return value.map((item) => project(model, element, item))
  }
  if (shape.type !== 'structure' || typeof value !== 'object' || value === null || Array.isArray(value)) return value
  // The handler's order is kept: it writes members in the order AWS sends them.
  const projected: Record<string, unknown> = {}
  const members = shape.members ?? {}
  for (const [member, memberValue] of Object.entries(value)) {
    const reference = Object.hasOwn(members, member) ? members[member] : undefined
    if (reference !== undefined && memberValue !== undefined) projected[member] = project(model, reference.shape, memberValue)
  }
  return projected
}

/**
 * The output with only the members the model declares for it, at every depth: what an
 * operation computes for itself (or for Trent's own use) never reaches the wire by accident.
 */
export function projectOutput(operation: string, output: Record<string, unknown>, model: KmsModel = KMS_MODEL): Record<string, unknown> {
  const outputShape = model.operations[operation]?.output
  if (outputShape === undefined) return {}
  return project(model, outputShape, output) as Record<string, unknown>
}

/**
 * What an audit record shows instead of a member the model marks sensitive (a custom key
 * store's password, an XKS proxy credential): CloudTrail's own placeholder for such values.
 */
export const HIDDEN_VALUE = 'HIDDEN_DUE_TO_SECURITY_REASONS'

function hideSensitive(model: KmsModel, shapeName: string, value: unknown): unknown {
  const shape = shapeOf(model, shapeName)
  if (shape.sensitive === true) return typeof value === 'string' ? HIDDEN_VALUE : value
  if (shape.type === 'list' && Array.isArray(value) && shape.member !== undefined) {
    const element = shape.member.shape
    return value.map((item) => hideSensitive(model, element, item))
  }
  if (shape.type !== 'structure' || typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const members = shape.members ?? {}
  const hidden: Record<string, unknown> = {}
  for (const [member, memberValue] of Object.entries(value)) {
    const reference = Object.hasOwn(members, member) ? members[member] : undefined
    hidden[member] = reference === undefined ? memberValue : hideSensitive(model, reference.shape, memberValue)
  }
  return hidden
}

function holdsSensitiveText(model: KmsModel, shapeName: string, seen: Set<string>): boolean {
  if (seen.has(shapeName)) return false
  seen.add(shapeName)
  const shape = shapeOf(model, shapeName)
  if (shape.sensitive === true) return shape.type === 'string'
  const below = [...Object.values(shape.members ?? {}), shape.member, shape.key, shape.value].filter((r) => r !== undefined)
  return below.some((reference) => holdsSensitiveText(model, reference.shape, seen))
}

/** Operations whose input may hold sensitive text: found once, so other requests pay a lookup. */
const sensitiveInputs = new Map<string, boolean>()

/**
 * The input as an audit record may show it: every text member of a sensitive shape
 * replaced by HIDDEN_VALUE (blobs, Plaintext among them, are left out of records anyway).
 * The same object when the operation's input holds no sensitive text.
 */
export function withoutSensitiveText(
  operation: string,
  input: Record<string, unknown>,
  model: KmsModel = KMS_MODEL,
): Record<string, unknown> {
  const inputShape = model.operations[operation]?.input
  if (inputShape === undefined) return input
  let sensitive = sensitiveInputs.get(operation)
  if (sensitive === undefined) {
    sensitive = holdsSensitiveText(model, inputShape, new Set())
    sensitiveInputs.set(operation, sensitive)
  }
  return sensitive ? (hideSensitive(model, inputShape, input) as Record<string, unknown>) : input
}
