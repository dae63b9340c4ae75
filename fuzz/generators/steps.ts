/**
 * Helpers the generators share to make steps and cases.
 *
 * @module
 */
import type { Category, Expectation, FuzzCase, SignedRequestRecipe, Step, Template } from '../recipe.js'

export const KMS_TARGET_PREFIX = 'TrentService.'
export const ADMIN_TARGET_PREFIX = 'TrentAdmin.'

export interface KmsStepOptions {
  expect?: Expectation
  bind?: Record<string, string>
  setup?: boolean
  waitMs?: number
  /** Overrides the request recipe's fields (signing, tamper, content type...). */
  request?: Partial<Omit<SignedRequestRecipe, 'kind'>>
  /** The operation name used in the counts, if not the target's. */
  countAs?: string
}

/** A signed AWS JSON 1.1 request for `operation` (a TrentService operation, or a whole `TrentAdmin.X` target). */
export function kmsStep(region: string, operation: string, input: Template, options: KmsStepOptions = {}): Step {
  const target = operation.includes('.') ? operation : `${KMS_TARGET_PREFIX}${operation}`
  const request: SignedRequestRecipe = { kind: 'signed', region, target, body: { json: input }, ...options.request }
  return {
    request,
    operation: options.countAs ?? (target.startsWith(KMS_TARGET_PREFIX) ? target.slice(KMS_TARGET_PREFIX.length) : target),
    ...(options.expect !== undefined ? { expect: options.expect } : {}),
    ...(options.bind !== undefined ? { bind: options.bind } : {}),
    ...(options.setup !== undefined ? { setup: options.setup } : {}),
    ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
  }
}

export function oneStepCase(index: number, category: Category, label: string, step: Step): FuzzCase {
  return { index, category, label, steps: [step] }
}

/** A dotted path in a JSON answer, for `bind`. */
export const KEY_ID_PATH = 'KeyMetadata.KeyId'
export const KEY_STATE_PATH = 'KeyMetadata.KeyState'
