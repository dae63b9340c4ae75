/**
 * The AWS KMS model the structured generator walks (src/api/model/kms-model.json, as the
 * server's validation loads it), and which of its operations Trent serves.
 *
 * @module
 */
import { KMS_MODEL as MODEL, type ModelShape, type ShapeReference } from '../src/api/validation.js'
import { OPERATIONS } from '../src/kms/operations/index.js'

export type Shape = ModelShape
export type { ShapeReference }

/** Every operation of the model, served or not. */
export const MODEL_OPERATIONS: readonly string[] = Object.keys(MODEL.operations).sort()

/** The operations Trent serves (the others answer UnsupportedOperationException). */
export const SERVED_OPERATIONS: ReadonlySet<string> = new Set(OPERATIONS.keys())

/** Trent's own operations (`TrentAdmin.<Name>`); Reconcile and AdvanceClock only exist with --allow-test-hooks. */
export const ADMIN_OPERATIONS: readonly string[] = ['DescribeReplication', 'RotateReplicationSigningKey', 'Reconcile', 'AdvanceClock']

export function shapeNamed(name: string): Shape {
  const shape = MODEL.shapes[name]
  if (shape === undefined) throw new Error(`kms-model.json has no shape ${name}`)
  return shape
}

/** The input structure of an operation (an empty one for operations without input). */
export function inputShapeOf(operation: string): Shape {
  const name = MODEL.operations[operation]?.input
  return name === undefined ? { type: 'structure', members: {} } : shapeNamed(name)
}

export interface MemberInfo {
  readonly name: string
  readonly shapeName: string
  readonly shape: Shape
  readonly required: boolean
}

export function membersOf(structure: Shape): MemberInfo[] {
  const required = new Set(structure.required ?? [])
  return Object.entries(structure.members ?? {}).map(([name, reference]) => ({
    name,
    shapeName: reference.shape,
    shape: shapeNamed(reference.shape),
    required: required.has(name),
  }))
}
