/**
 * The Condition element: its operators, how they are parsed out of a policy, and how a
 * parsed condition is decided against a request.
 *
 * Semantics follow the IAM documentation:
 * - every operator of a Condition block must hold, every key under an operator must hold,
 *   and the values listed for one key are alternatives;
 * - a key missing from the request fails a positive operator and satisfies a negated one
 *   (StringNotEquals, StringNotLike, ArnNotLike, NumericNotEquals, NotIpAddress, ...);
 *   `...IfExists` makes any operator hold when the key is missing;
 * - `ForAnyValue:` holds when some request value satisfies the operator, and fails when the
 *   key is missing; `ForAllValues:` holds when every request value does, and holds when the
 *   key is missing.
 *
 * @module
 */
import { BlockList, isIP } from 'node:net'
import type { EvaluationContext } from './context.js'
import { variableValue } from './context.js'
import { compilePatternCached, matchesPattern, parsePattern, resolveText, type PolicyPattern } from './patterns.js'

type Family = 'string' | 'numeric' | 'date' | 'bool' | 'null' | 'arn' | 'ip' | 'binary'

/** One IP operand: the subnet it names, ready to test addresses against. */
interface SubnetOperand {
  readonly source: string
  readonly block: BlockList
}

type Operand =
  | { readonly family: 'string' | 'binary'; readonly pattern: PolicyPattern }
  /** `components` holds the six ARN components, or is absent for a value not shaped like an ARN. */
  | { readonly family: 'arn'; readonly pattern: PolicyPattern; readonly components?: readonly PolicyPattern[] }
  | { readonly family: 'numeric' | 'date'; readonly number: number }
  | { readonly family: 'bool' | 'null'; readonly flag: boolean }
  | { readonly family: 'ip'; readonly subnet: SubnetOperand }

interface OperatorDefinition {
  /** The name as AWS spells it, without qualifier or IfExists. */
  readonly name: string
  readonly family: Family
  /** A negated operator holds when its positive counterpart does not. */
  readonly negated: boolean
  /** The positive comparison of one request value with one policy operand. */
  readonly compare: (requestValue: string, operand: Operand, context: EvaluationContext) => boolean
}

export interface ConditionClause {
  /** The operator as written in the policy ('ForAnyValue:StringLike'). */
  readonly operatorSource: string
  readonly operator: OperatorDefinition
  readonly setOperator?: 'ForAnyValue' | 'ForAllValues'
  readonly ifExists: boolean
  /** The condition key as written ('kms:EncryptionContext:AppName'). */
  readonly key: string
  readonly keyLowerCase: string
  /** Alternatives: the clause holds if the request matches any of them (see the module doc for negation). */
  readonly operands: readonly Operand[]
}

const lookupIn = (context: EvaluationContext) => (key: string) => variableValue(context, key)

function compareStrings(mode: 'exact' | 'ignore-case' | 'like') {
  return (requestValue: string, operand: Operand, context: EvaluationContext): boolean => {
    if (operand.family !== 'string') return false
    if (mode === 'like') return matchesPattern(compilePatternCached(operand.pattern, lookupIn(context), false), requestValue)
    const expected = resolveText(operand.pattern, lookupIn(context))
    return mode === 'exact' ? requestValue === expected : requestValue.toLowerCase() === expected.toLowerCase()
  }
}

function parseNumber(text: string): number | undefined {
  if (text.trim() === '') return undefined
  const value = Number(text)
  return Number.isFinite(value) ? value : undefined
}

function compareNumbers(test: (request: number, policy: number) => boolean, parse: (text: string) => number | undefined) {
  return (requestValue: string, operand: Operand): boolean => {
    if (operand.family !== 'numeric' && operand.family !== 'date') return false
    const value = parse(requestValue)
    return value !== undefined && test(value, operand.number)
  }
}

/** Dates are ISO 8601 text or epoch seconds, as IAM accepts them; compared in milliseconds. */
function parseDate(text: string): number | undefined {
  const trimmed = text.trim()
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const parsed = Date.parse(trimmed)
  return Number.isNaN(parsed) ? undefined : parsed
}

/** ARNs compare component by component: arn, partition, service, region, account, and the rest. */
function splitArn(arn: string): string[] | undefined {
  const parts: string[] = []
  let rest = arn
  for (let i = 0; i < 5; i++) {
    const colon = rest.indexOf(':')
    if (colon < 0) return undefined
    parts.push(rest.slice(0, colon))
    rest = rest.slice(colon + 1)
  }
  parts.push(rest)
  return parts
}

function compareArns(requestValue: string, operand: Operand, context: EvaluationContext): boolean {
  if (operand.family !== 'arn') return false
  const lookup = lookupIn(context)
  if (operand.components === undefined) {
    // Not shaped like an ARN: "*" still means any ARN; anything else matches none.
    return operand.pattern.source === '*'
  }
  const requestParts = splitArn(requestValue)
  if (requestParts === undefined) return false
  return operand.components.every((component, i) => matchesPattern(compilePatternCached(component, lookup, false), requestParts[i] ?? ''))
}

/**
 * Splits an ARN operand into its six components on the policy's own text, so that a
 * variable's value stays inside the component it was written in even if it holds a colon.
 * Colons past the fifth belong to the last (resource) component.
 */
function splitArnOperand(pattern: PolicyPattern): PolicyPattern[] | undefined {
  type Part = PolicyPattern['parts'][number]
  const components: Part[][] = [[]]
  const current = (): Part[] => components[components.length - 1] ?? []
  for (const part of pattern.parts) {
    if (part.kind !== 'text') {
      current().push(part)
      continue
    }
    part.text.split(':').forEach((piece, i) => {
      if (i > 0) {
        if (components.length < 6) components.push([])
        else current().push({ kind: 'text', text: ':' })
      }
      if (piece !== '') current().push({ kind: 'text', text: piece })
    })
  }
  if (components.length !== 6) return undefined
  return components.map((parts) => ({ source: pattern.source, parts, hasVariables: pattern.hasVariables }))
}

function compareAddresses(requestValue: string, operand: Operand): boolean {
  if (operand.family !== 'ip') return false
  const version = isIP(requestValue)
  if (version === 0) return false
  return operand.subnet.block.check(requestValue, version === 4 ? 'ipv4' : 'ipv6')
}

function compareFlags(requestValue: string, operand: Operand): boolean {
  return operand.family === 'bool' && requestValue.toLowerCase() === (operand.flag ? 'true' : 'false')
}

function compareBinary(requestValue: string, operand: Operand, context: EvaluationContext): boolean {
  return operand.family === 'binary' && requestValue === resolveText(operand.pattern, lookupIn(context))
}

const numericTests = {
  Equals: (a: number, b: number) => a === b,
  LessThan: (a: number, b: number) => a < b,
  LessThanEquals: (a: number, b: number) => a <= b,
  GreaterThan: (a: number, b: number) => a > b,
  GreaterThanEquals: (a: number, b: number) => a >= b,
}

function defineOperators(): Map<string, OperatorDefinition> {
  const list: OperatorDefinition[] = [
    { name: 'StringEquals', family: 'string', negated: false, compare: compareStrings('exact') },
    { name: 'StringNotEquals', family: 'string', negated: true, compare: compareStrings('exact') },
    { name: 'StringEqualsIgnoreCase', family: 'string', negated: false, compare: compareStrings('ignore-case') },
    { name: 'StringNotEqualsIgnoreCase', family: 'string', negated: true, compare: compareStrings('ignore-case') },
    { name: 'StringLike', family: 'string', negated: false, compare: compareStrings('like') },
    { name: 'StringNotLike', family: 'string', negated: true, compare: compareStrings('like') },
    { name: 'NumericNotEquals', family: 'numeric', negated: true, compare: compareNumbers(numericTests.Equals, parseNumber) },
    { name: 'DateNotEquals', family: 'date', negated: true, compare: compareNumbers(numericTests.Equals, parseDate) },
    { name: 'Bool', family: 'bool', negated: false, compare: compareFlags },
    // Null is decided on presence alone (see evaluateClause); it never compares values.
    { name: 'Null', family: 'null', negated: false, compare: () => false },
    // ArnEquals and ArnLike are the same test in IAM: wildcards are allowed in both.
    { name: 'ArnEquals', family: 'arn', negated: false, compare: compareArns },
    { name: 'ArnLike', family: 'arn', negated: false, compare: compareArns },
    { name: 'ArnNotEquals', family: 'arn', negated: true, compare: compareArns },
    { name: 'ArnNotLike', family: 'arn', negated: true, compare: compareArns },
    { name: 'IpAddress', family: 'ip', negated: false, compare: compareAddresses },
    { name: 'NotIpAddress', family: 'ip', negated: true, compare: compareAddresses },
    { name: 'BinaryEquals', family: 'binary', negated: false, compare: compareBinary },
  ]
  for (const [suffix, test] of Object.entries(numericTests)) {
    list.push({ name: `Numeric${suffix}`, family: 'numeric', negated: false, compare: compareNumbers(test, parseNumber) })
    list.push({ name: `Date${suffix}`, family: 'date', negated: false, compare: compareNumbers(test, parseDate) })
  }
  return new Map(list.map((op) => [op.name.toLowerCase(), op]))
}

const OPERATORS = defineOperators()

/** The operator names this engine supports, for documentation and error messages. */
export const SUPPORTED_CONDITION_OPERATORS: readonly string[] = [...OPERATORS.values()].map((op) => op.name).sort()

/** Why a Condition element cannot be accepted; policy.ts turns it into the right error. */
export class ConditionProblem extends Error {
  constructor(
    readonly problem: 'unsupported-operator' | 'invalid' | 'overly-permissive-encryption-context' | 'overly-permissive-request-tag',
    detail: string,
  ) {
    super(detail)
    this.name = 'ConditionProblem'
  }
}

function splitOperator(source: string): { operator: OperatorDefinition; setOperator?: 'ForAnyValue' | 'ForAllValues'; ifExists: boolean } {
  let name = source
  let setOperator: 'ForAnyValue' | 'ForAllValues' | undefined
  const colon = name.indexOf(':')
  if (colon >= 0) {
    const qualifier = name.slice(0, colon).toLowerCase()
    if (qualifier === 'foranyvalue') setOperator = 'ForAnyValue'
    else if (qualifier === 'forallvalues') setOperator = 'ForAllValues'
    else throw new ConditionProblem('unsupported-operator', source)
    name = name.slice(colon + 1)
  }
  let ifExists = false
  let operator = OPERATORS.get(name.toLowerCase())
  if (operator === undefined && name.toLowerCase().endsWith('ifexists')) {
    operator = OPERATORS.get(name.slice(0, -'IfExists'.length).toLowerCase())
    ifExists = true
  }
  // Null asks whether a key exists: IfExists or a set operator on it has no meaning.
  if (operator === undefined || (operator.family === 'null' && (ifExists || setOperator !== undefined))) {
    throw new ConditionProblem('unsupported-operator', source)
  }
  return setOperator === undefined ? { operator, ifExists } : { operator, setOperator, ifExists }
}

function parseFlag(value: string | number | boolean): boolean | undefined {
  const text = String(value).toLowerCase()
  return text === 'true' ? true : text === 'false' ? false : undefined
}

function parseSubnet(source: string): SubnetOperand | undefined {
  const [address = '', prefixText, ...extra] = source.trim().split('/')
  const version = isIP(address)
  if (version === 0 || extra.length > 0) return undefined
  const maxPrefix = version === 4 ? 32 : 128
  const prefix = prefixText === undefined ? maxPrefix : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN
  if (!(prefix >= 0 && prefix <= maxPrefix)) return undefined
  const block = new BlockList()
  block.addSubnet(address, prefix, version === 4 ? 'ipv4' : 'ipv6')
  return { source, block }
}

function parseOperand(operator: OperatorDefinition, raw: string | number | boolean, variables: boolean, key: string): Operand {
  const invalid = (): never => {
    throw new ConditionProblem('invalid', `${operator.name} cannot compare ${key} with ${JSON.stringify(raw)}`)
  }
  switch (operator.family) {
    // IAM substitutes policy variables only in string and ARN conditions.
    case 'string':
      return { family: 'string', pattern: parsePattern(String(raw), variables) }
    case 'binary':
      return { family: 'binary', pattern: parsePattern(String(raw), false) }
    case 'arn': {
      const pattern = parsePattern(String(raw), variables)
      const components = splitArnOperand(pattern)
      return components === undefined ? { family: 'arn', pattern } : { family: 'arn', pattern, components }
    }
    case 'numeric': {
      const number = parseNumber(String(raw))
      return number === undefined ? invalid() : { family: 'numeric', number }
    }
    case 'date': {
      const number = parseDate(String(raw))
      return number === undefined ? invalid() : { family: 'date', number }
    }
    case 'bool':
    case 'null': {
      const flag = parseFlag(raw)
      return flag === undefined ? invalid() : { family: operator.family, flag }
    }
    case 'ip': {
      const subnet = parseSubnet(String(raw))
      return subnet === undefined ? invalid() : { family: 'ip', subnet }
    }
  }
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
}

/**
 * Parses a statement's Condition element. `variables` is whether the policy's Version
 * supports policy variables (2012-10-17).
 */
export function parseConditionBlock(block: unknown, variables: boolean): ConditionClause[] {
  if (typeof block !== 'object' || block === null || Array.isArray(block)) {
    throw new ConditionProblem('invalid', 'the Condition element must be a JSON object')
  }
  const clauses: ConditionClause[] = []
  for (const [operatorSource, keys] of Object.entries(block)) {
    const { operator, setOperator, ifExists } = splitOperator(operatorSource)
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
      throw new ConditionProblem('invalid', `${operatorSource} must map condition keys to values`)
    }
    for (const [key, value] of Object.entries(keys as Record<string, unknown>)) {
      const keyLowerCase = key.toLowerCase()
      if (setOperator === 'ForAllValues' && keyLowerCase.startsWith('kms:encryptioncontext:')) {
        throw new ConditionProblem('overly-permissive-encryption-context', key)
      }
      if (setOperator === 'ForAllValues' && keyLowerCase.startsWith('aws:requesttag/')) {
        throw new ConditionProblem('overly-permissive-request-tag', key)
      }
      const rawValues = Array.isArray(value) ? (value as unknown[]) : [value]
      if (key === '' || rawValues.length === 0 || !rawValues.every(isScalar)) {
        throw new ConditionProblem('invalid', `${operatorSource} needs a key and one or more string, number or boolean values`)
      }
      const operands = rawValues.map((raw) => parseOperand(operator, raw, variables, key))
      const clause: ConditionClause = { operatorSource, operator, ifExists, key, keyLowerCase, operands }
      clauses.push(setOperator === undefined ? clause : { ...clause, setOperator })
    }
  }
  return clauses
}

/** Whether one request value satisfies the clause's operator against its operands. */
function valueSatisfies(clause: ConditionClause, requestValue: string, context: EvaluationContext): boolean {
  const matched = clause.operands.some((operand) => clause.operator.compare(requestValue, operand, context))
  return clause.operator.negated ? !matched : matched
}

/**
 * Decides one clause. May throw UnresolvedPolicyVariable (patterns.ts); the statement is then
 * void (see evaluate.ts).
 */
export function evaluateClause(clause: ConditionClause, context: EvaluationContext): boolean {
  // A variable without a value voids the statement even where the request key is absent
  // and the operands would not be compared at all.
  for (const operand of clause.operands) {
    if ((operand.family === 'string' || operand.family === 'arn') && operand.pattern.hasVariables)
      resolveText(operand.pattern, lookupIn(context))
  }
  const entry = context.entries.get(clause.keyLowerCase)
  if (clause.operator.family === 'null') {
    // "Null": true requires the key to be absent, false requires it present.
    return clause.operands.some((operand) => operand.family === 'null' && operand.flag === (entry === undefined))
  }
  if (entry === undefined) {
    if (clause.ifExists) return true
    if (clause.setOperator === 'ForAllValues') return true
    if (clause.setOperator === 'ForAnyValue') return false
    return clause.operator.negated
  }
  if (clause.setOperator === 'ForAllValues') return entry.values.every((v) => valueSatisfies(clause, v, context))
  if (clause.setOperator === 'ForAnyValue') return entry.values.some((v) => valueSatisfies(clause, v, context))
  // Without a set operator a key normally has one value. When it has several (two
  // encryption context keys that differ only by case), a positive operator holds if any
  // value matches and a negated one holds only if none does: the negation of the positive
  // test, so an Allow and the matching Deny never disagree.
  const matched = entry.values.some((v) => clause.operands.some((operand) => clause.operator.compare(v, operand, context)))
  return clause.operator.negated ? !matched : matched
}

/** Every clause must hold. */
export function conditionsHold(clauses: readonly ConditionClause[], context: EvaluationContext): boolean {
  return clauses.every((clause) => evaluateClause(clause, context))
}
