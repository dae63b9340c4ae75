/**
 * The AWS KMS model the structured generator walks (src/api/model/kms-model.json, the
 * same file the server validates against), and which of its operations Trent serves.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { OPERATIONS } from '../src/kms/operations/index.js'

export interface ShapeReference {
  readonly shape: string
}

export interface Shape {
  readonly type: 'string' | 'blob' | 'integer' | 'boolean' | 'timestamp' | 'list' | 'map' | 'structure'
  readonly min?: number
  readonly max?: number
  readonly pattern?: string
  readonly sensitive?: boolean
  readonly enum?: readonly string[]
  readonly required?: readonly string[]
  readonly members?: Readonly<Record<string, ShapeReference>>
  readonly member?: ShapeReference
  readonly key?: ShapeReference
  readonly value?: ShapeReference
}

interface KmsModel {
  readonly operations: Readonly<Record<string, { readonly input?: string }>>
  readonly shapes: Readonly<Record<string, Shape>>
}

// Compiled to dist/fuzz/model.js: the project root is two levels up.
const MODEL: KmsModel = JSON.parse(readFileSync(new URL('../../src/api/model/kms-model.json', import.meta.url), 'utf8')) as KmsModel

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
