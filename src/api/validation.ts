/**
 * Input validation for every KMS operation, driven by the AWS model and answering with
 * AWS's own error shapes and wording.
 *
 * A request body goes through the two stages AWS's front end (Coral) applies:
 *
 * 1. Deserialization. A member whose JSON type cannot become the modeled type, a blob that
 *    is not base64, or a body that is not a JSON object stops the request at once with a
 *    `SerializationException`. Members are read in model order, depth first, so the first
 *    such problem in model order is the one reported, whatever the JSON key order (architect/dynalite
 *    `test/listTables.js` "should serialize ExclusiveStartTableName before Limit").
 * 2. Constraint validation. Every violated `required` / `min` / `max` / `pattern` / `enum`
 *    constraint is collected and reported together as one `ValidationException`:
 *    `2 validation errors detected: Value 'x' at 'tags.1.member.tagKey' failed to satisfy
 *    constraint: ...; Value ...` (reference §1.9).
 *
 * The model facts come from `src/api/model/kms-model.json`, generated from botocore by
 * `tools/gen-kms-model.py`. Validators are compiled once per shape when this module loads;
 * a request only runs closures, no model lookups.
 *
 * Where AWS's behaviour was observed, the source is cited next to the code. Where it was
 * not, the choice is marked "unverified" with the reason for it. Short names used below:
 * - LocalStack snapshot: localstack/localstack `tests/aws/services/kms/test_kms.snapshot.json`
 *   (responses recorded against real KMS).
 * - Athena probe: aoyagikouhei/athena-local `src/request.rs` (raw-HTTP probes of Athena, an
 *   AWS JSON 1.1 service on the same front end).
 * - floci: floci-io/floci (probes of SES v2 and DynamoDB).
 * - dynalite: architect/dynalite `validations/index.js` and tests (DynamoDB, probed).
 * - STS probes: a Rust STS emulator's AssumeRole expectations (length in code points,
 *   pattern-then-length order, full-match patterns).
 * No recording of a KMS SerializationException message was found; KMS answers from the
 * same front end, so the other services' wording is used.
 *
 * What the sources do not settle, and is decided here: violations of different members are
 * listed in model order (recordings from DynamoDB and Kinesis show an order that is neither
 * model nor alphabetical order, so AWS's cannot be derived); a list's own length is checked
 * before its elements.
 *
 * @module
 */

import { readFileSync } from 'node:fs'
import { KmsError, validation } from '../wire/errors.js'

// ---------------------------------------------------------------------------------------
// The model file

interface ShapeReference {
  readonly shape: string
}

type ModelShapeType =
  | 'string'
  | 'blob'
  | 'integer'
  | 'boolean'
  | 'timestamp'
  | 'list'
  | 'map'
  | 'structure'

interface ModelShape {
  readonly type: ModelShapeType
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

interface ModelOperation {
  readonly input?: string
  readonly errors: readonly string[]
}

interface KmsModel {
  readonly operations: Readonly<Record<string, ModelOperation>>
  readonly shapes: Readonly<Record<string, ModelShape>>
}

const SUPPORTED_SHAPE_TYPES: ReadonlySet<string> = new Set<ModelShapeType>([
  'string',
  'blob',
  'integer',
  'boolean',
  'timestamp',
  'list',
  'map',
  'structure',
])

/**
 * The model is read from the source tree rather than copied into `dist`: the compiled
 * file sits at `dist/src/api/validation.js`, three levels below the project root, so the
 * same URL works from `dist` and needs no build step that copies JSON (tsconfig has no
 * `resolveJsonModule`, and the committed JSON stays the single copy).
 */
const MODEL_URL = new URL('../../../src/api/model/kms-model.json', import.meta.url)

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Checks the parts of the generated file this module relies on, so a bad regeneration fails at load. */
function parseModel(text: string): KmsModel {
  const parsed: unknown = JSON.parse(text)
  if (!isRecord(parsed) || !isRecord(parsed['operations']) || !isRecord(parsed['shapes'])) {
    throw new Error('kms-model.json: missing operations or shapes')
  }
  for (const [name, shape] of Object.entries(parsed['shapes'])) {
    if (!isRecord(shape) || typeof shape['type'] !== 'string' || !SUPPORTED_SHAPE_TYPES.has(shape['type'])) {
      throw new Error(`kms-model.json: shape ${name} has an unsupported type`)
    }
  }
  for (const [name, operation] of Object.entries(parsed['operations'])) {
    if (!isRecord(operation) || !Array.isArray(operation['errors'])) {
      throw new Error(`kms-model.json: operation ${name} is malformed`)
    }
  }
  // The per-shape fields are checked where they are compiled (compileShape).
  return parsed as unknown as KmsModel
}

const KMS_MODEL: KmsModel = parseModel(readFileSync(MODEL_URL, 'utf8'))

// ---------------------------------------------------------------------------------------
// Wording

/**
 * Deserialization messages. Recorded against AWS JSON services that share KMS's front end:
 * - `NUMBER_VALUE|TRUE_VALUE|FALSE_VALUE can not be converted to a String`,
 *   `STRING_VALUE|TRUE_VALUE|FALSE_VALUE can not be converted to an Integer`,
 *   `Expected list or null`, `Expected null`, `Start of list found where not expected`,
 *   `Start of structure or map found where not expected.`: Athena, probed over raw HTTP
 *   (aoyagikouhei/athena-local `src/request.rs` test table); SES v2 probes (floci-io/floci
 *   `services/ses/SesV2Json.java`); CodeDeploy and SQS user reports of
 *   `STRING_VALUE can not be converted to an Integer`.
 * - `STRING_VALUE can not be converted to an Boolean` (sic) and `NUMBER_VALUE can not be
 *   converted to a Boolean`: SES v2 probes (floci-io/floci `SesV2Json.java`).
 * - `STRING_VALUE can not be converted to milliseconds since epoch`: observed live against
 *   X-Ray (Paws, `t/35_json_timestamp_serialization.t`).
 * - `Expected map or null`: architect/dynalite `validations/index.js` (DynamoDB, older
 *   Coral wording; no newer record found).
 * No KMS-specific recording of a SerializationException message was found; KMS runs on the
 * same front end (its errors carry the same `__type` family), so its wording is assumed.
 * Unverified: the Blob forms and TRUE/FALSE_VALUE for timestamps follow the same pattern.
 */
const START_OF_LIST = 'Start of list found where not expected'
const START_OF_STRUCTURE = 'Start of structure or map found where not expected.'
const EXPECTED_LIST = 'Expected list or null'
const EXPECTED_MAP = 'Expected map or null'
const EXPECTED_STRUCTURE = 'Expected null'

type ScalarTarget = 'String' | 'Integer' | 'Boolean' | 'Blob' | 'Timestamp'

/** How each front-end message names the target type (the articles are AWS's, not ours). */
const TARGET_PHRASES: Readonly<Record<ScalarTarget, { readonly fromString: string; readonly fromOther: string }>> = {
  String: { fromString: 'a String', fromOther: 'a String' },
  Integer: { fromString: 'an Integer', fromOther: 'an Integer' },
  Boolean: { fromString: 'an Boolean', fromOther: 'a Boolean' },
  Blob: { fromString: 'a Blob', fromOther: 'a Blob' },
  Timestamp: { fromString: 'milliseconds since epoch', fromOther: 'milliseconds since epoch' },
}

/** A SerializationException; `undefined` sends none, as AWS does for an unreadable body. */
function serializationError(message: string | undefined): KmsError {
  return new KmsError('SerializationException', message)
}

function jsonTokenName(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return 'STRING_VALUE'
    case 'number':
      return 'NUMBER_VALUE'
    case 'boolean':
      return value ? 'TRUE_VALUE' : 'FALSE_VALUE'
    default:
      return undefined
  }
}

/** The error for a JSON value that cannot become the scalar `target`. */
function scalarMismatch(value: unknown, target: ScalarTarget): KmsError {
  if (Array.isArray(value)) return serializationError(START_OF_LIST)
  if (isRecord(value)) return serializationError(START_OF_STRUCTURE)
  const token = jsonTokenName(value)
  if (token === undefined) return serializationError(undefined)
  const phrases = TARGET_PHRASES[target]
  return serializationError(
    `${token} can not be converted to ${token === 'STRING_VALUE' ? phrases.fromString : phrases.fromOther}`,
  )
}

/**
 * Enum sets in AWS's messages are not in model order. Where a message was recorded against
 * AWS, its order is used: recorded values first, in recorded order, then any value the
 * model has gained since the recording, in model order (where AWS puts those is unknown).
 * Recorded values the model no longer has are dropped.
 *
 * Source: localstack/localstack `tests/aws/services/kms/test_kms.snapshot.json`,
 * `test_hmac_create_key_invalid_operations` (keySpec, keyUsage; recorded 2023-04-13) and
 * `test_invalid_generate_mac[HMAC_256-INVALID]` (macAlgorithm; recorded 2023-04-13).
 * Keyed by shape: each of these shapes is used by exactly the recorded input member.
 */
const RECORDED_ENUM_ORDER: Readonly<Record<string, readonly string[]>> = {
  KeySpec: [
    'RSA_2048',
    'ECC_NIST_P384',
    'ECC_NIST_P256',
    'ECC_NIST_P521',
    'HMAC_384',
    'RSA_3072',
    'ECC_SECG_P256K1',
    'RSA_4096',
    'SYMMETRIC_DEFAULT',
    'HMAC_256',
    'HMAC_224',
    'HMAC_512',
  ],
  KeyUsageType: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC'],
  MacAlgorithmSpec: ['HMAC_SHA_384', 'HMAC_SHA_256', 'HMAC_SHA_224', 'HMAC_SHA_512'],
}

function enumMessageOrder(shapeName: string, modelValues: readonly string[]): readonly string[] {
  const recorded = RECORDED_ENUM_ORDER[shapeName]
  if (recorded === undefined) return modelValues
  const inModel = new Set(modelValues)
  const recordedStillValid = recorded.filter((value) => inModel.has(value))
  const seen = new Set(recordedStillValid)
  return [...recordedStillValid, ...modelValues.filter((value) => !seen.has(value))]
}

/**
 * Strings a Boolean member accepts in place of JSON true/false, compared case-insensitively.
 * Source: SES v2 probes (floci-io/floci `SesV2Json.coerceBoolean`); architect/dynalite
 * notes the same for DynamoDB ('true'/'false'/'1'/'0'/'yes'/'no'). Both services run on the
 * front end KMS uses. SDKs always send JSON booleans, so this only matters for hand-made
 * requests (`"DryRun": "true"` means a dry run, as it would on AWS).
 */
const STRINGS_MEANING_TRUE: ReadonlySet<string> = new Set(['true', 'yes', 'y', 't', '1'])
const STRINGS_MEANING_FALSE: ReadonlySet<string> = new Set(['false', 'no', 'n', 'f', '0'])

/**
 * AWS reports at most this many violations in one message. Source: architect/dynalite (DynamoDB
 * emulator whose messages were probed against AWS) stops collecting at ten. Unverified
 * for KMS itself.
 */
const MAX_REPORTED_VIOLATIONS = 10

// ---------------------------------------------------------------------------------------
// Compiled readers

/** Constraint violations of one request, in model order (see the module comment). */
type Violations = string[]

/**
 * Reads one non-null JSON value as a shape: returns the converted value, throws a
 * SerializationException for a JSON type that cannot be converted, and appends constraint
 * violations. `path` is the AWS-style location of the value (`tags.1.member.tagKey`).
 */
type ValueReader = (raw: unknown, path: string, violations: Violations) => unknown

/**
 * How a value is printed inside a violation: the text between the quotes of
 * `Value '...'`, or `undefined` to print `Value at` with no value at all.
 */
type ValueFormatter = (value: unknown) => string | undefined

interface CompiledShape {
  readonly read: ValueReader
  readonly format: ValueFormatter
  /** True if printing a value of this shape could reveal a sensitive value or blob bytes. */
  readonly concealed: boolean
}

/**
 * Coral names members in paths with the first letter lowered (`keyId`, `tags.1.member.tagKey`).
 * Source: reference §1.9 and every recorded message.
 */
function pathSegment(memberName: string): string {
  return memberName.charAt(0).toLowerCase() + memberName.slice(1)
}

function childPath(parentPath: string, segment: string): string {
  return parentPath === '' ? segment : `${parentPath}.${segment}`
}

function recordViolation(
  violations: Violations,
  path: string,
  printedValue: string | undefined,
  constraint: string,
): void {
  if (violations.length >= MAX_REPORTED_VIOLATIONS) return
  const valuePart = printedValue === undefined ? 'Value' : `Value '${printedValue}'`
  violations.push(`${valuePart} at '${path}' failed to satisfy constraint: ${constraint}`)
}

function recordMissing(violations: Violations, path: string): void {
  if (violations.length >= MAX_REPORTED_VIOLATIONS) return
  violations.push(`Value null at '${path}' failed to satisfy constraint: Member must not be null`)
}

/**
 * AWS counts string length in Unicode code points, not UTF-16 units: a 2048-emoji value
 * passes a 2048 limit. Source: STS AssumeRole probes (roleArn, supplementary characters),
 * a public Rust STS emulator's recorded expectations.
 */
function codePointLength(text: string): number {
  let length = text.length
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index)
    if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--
        index++
      }
    }
  }
  return length
}

/**
 * Appends a length violation. AWS uses the same `length` wording for strings (code points),
 * blobs (bytes), lists (elements) and maps (entries). `printedValue` is only called when
 * a violation is recorded, so the happy path never formats anything.
 */
function checkLength(
  shape: ModelShape,
  length: number,
  path: string,
  printedValue: () => string | undefined,
  violations: Violations,
): void {
  if (shape.min !== undefined && length < shape.min) {
    recordViolation(violations, path, printedValue(), `Member must have length greater than or equal to ${shape.min}`)
  } else if (shape.max !== undefined && length > shape.max) {
    recordViolation(violations, path, printedValue(), `Member must have length less than or equal to ${shape.max}`)
  }
}

/**
 * Turns a model pattern (Java regex syntax) into a JavaScript RegExp with Java's
 * `Matcher.matches()` semantics: the whole value must match (an STS probe shows
 * `[\w+=,.@-]*` rejecting 'bad/name', which a find() would accept).
 *
 * The only construct in the KMS model that means something else in JavaScript is `\s`:
 * Java's is ASCII whitespace, JavaScript's includes Unicode spaces. The `u` flag is not
 * used because Java accepts `[0-9-_.]` (a literal dash after a range), which `u` rejects.
 */
function compilePattern(javaPattern: string): RegExp {
  let translated = ''
  let insideClass = false
  for (let index = 0; index < javaPattern.length; index++) {
    const char = javaPattern.charAt(index)
    if (char === '\\') {
      const escaped = javaPattern.charAt(index + 1)
      index++
      if (escaped === 's') {
        translated += insideClass ? ' \\t\\n\\x0B\\f\\r' : '[ \\t\\n\\x0B\\f\\r]'
      } else {
        translated += `\\${escaped}`
      }
      continue
    }
    if (char === '[') insideClass = true
    else if (char === ']') insideClass = false
    translated += char
  }
  return new RegExp(`^(?:${translated})$`)
}

const BASE64_ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Decodes a blob member. AWS answers a bad blob while reading the body, so it is a
 * SerializationException. Wording: the length message is the one every AWS JSON service
 * recorded by emulators uses (architect/dynalite; floci-io/floci
 * `DynamoDbAttributeValueValidator`: "AWS checks the length before the alphabet, and names
 * only the length"); for a bad character floci records `Unexpected value type in payload`.
 * dynalite's older form prefixed the value (`'<value>' can not be converted to a Blob: ...`);
 * the newer, value-free form is used, which also keeps Plaintext out of error messages.
 * Unverified for KMS itself; nsmithuk/local-kms (a KMS emulator) also answers
 * SerializationException for a blob it cannot decode.
 *
 * The bytes are decoded straight into a fresh, unpooled Uint8Array so that plaintext never
 * lands in Node's shared Buffer pool, where zeroising the result would not reach it.
 */
function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) {
    throw serializationError(`Base64 encoded length is expected a multiple of 4 bytes but found: ${text.length}`)
  }
  if (!BASE64_ALPHABET.test(text)) {
    throw serializationError('Unexpected value type in payload')
  }
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
  const bytes = new Uint8Array((text.length / 4) * 3 - padding)
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).write(text, 'base64')
  return bytes
}

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

/** Compiles every shape reachable from the model's inputs, once. */
class ShapeCompiler {
  private readonly compiled = new Map<string, CompiledShape>()

  constructor(private readonly shapes: Readonly<Record<string, ModelShape>>) {}

  /** Compiles every shape in the model now, so a bad pattern fails at load, not on a request. */
  compileAll(): void {
    for (const name of Object.keys(this.shapes)) this.shape(name)
  }

  /**
   * A reference to a shape that is resolved on first use and then kept, so container
   * shapes can refer to shapes compiled after them (or to themselves) without a lookup on
   * every request.
   */
  private reference(name: string): () => CompiledShape {
    let resolved: CompiledShape | undefined
    return () => (resolved ??= this.shape(name))
  }

  shape(name: string): CompiledShape {
    const existing = this.compiled.get(name)
    if (existing !== undefined) return existing
    const model = this.shapes[name]
    if (model === undefined) throw new Error(`kms-model.json: unknown shape ${name}`)
    // A forwarding entry first, so a recursive shape compiles to a reference to itself.
    let target: CompiledShape | undefined
    const forward: CompiledShape = {
      read: (raw, path, violations) => (target as CompiledShape).read(raw, path, violations),
      format: (value) => (target as CompiledShape).format(value),
      concealed: false,
    }
    this.compiled.set(name, forward)
    target = this.compileShape(name, model)
    this.compiled.set(name, target)
    return target
  }

  private compileShape(name: string, shape: ModelShape): CompiledShape {
    switch (shape.type) {
      case 'string':
        return this.compileString(name, shape)
      case 'blob':
        return this.compileBlob(shape)
      case 'integer':
        return this.compileInteger(shape)
      case 'boolean':
        return this.compileBoolean(shape)
      case 'timestamp':
        return this.compileTimestamp(shape)
      case 'list':
        return this.compileList(name, shape)
      case 'map':
        return this.compileMap(name, shape)
      case 'structure':
        return this.compileStructure(name, shape)
    }
  }

  private compileString(name: string, shape: ModelShape): CompiledShape {
    const concealed = shape.sensitive === true
    // Sensitive values are never printed: recorded `Value at 'plaintext' failed ...`.
    const format: ValueFormatter = concealed ? () => undefined : (value) => String(value)
    const enumValues = shape.enum
    if (enumValues !== undefined) {
      const allowed = new Set(enumValues)
      const constraint = `Member must satisfy enum value set: [${enumMessageOrder(name, enumValues).join(', ')}]`
      return {
        concealed,
        format,
        read: (raw, path, violations) => {
          if (typeof raw !== 'string') throw scalarMismatch(raw, 'String')
          if (!allowed.has(raw)) recordViolation(violations, path, format(raw), constraint)
          return raw
        },
      }
    }
    const pattern = shape.pattern === undefined ? undefined : compilePattern(shape.pattern)
    const patternConstraint = `Member must satisfy regular expression pattern: ${shape.pattern ?? ''}`
    const hasLengthLimit = shape.min !== undefined || shape.max !== undefined
    const minLength = shape.min ?? 0
    const maxLength = shape.max ?? Number.POSITIVE_INFINITY
    return {
      concealed,
      format,
      read: (raw, path, violations) => {
        if (typeof raw !== 'string') throw scalarMismatch(raw, 'String')
        // Pattern before length: the order of every multi-constraint recording found
        // (STS roleArn probes; DynamoDB and Kinesis names in architect/dynalite and kinesalite).
        if (pattern !== undefined && !pattern.test(raw)) {
          recordViolation(violations, path, format(raw), patternConstraint)
        }
        if (hasLengthLimit) {
          // A code point is one or two UTF-16 units, so the exact count is only needed
          // near a limit; a Policy of 100 KB is not scanned on every request.
          const needsExactCount = raw.length > maxLength || raw.length < 2 * minLength
          const length = needsExactCount ? codePointLength(raw) : raw.length
          checkLength(shape, length, path, () => format(raw), violations)
        }
        return raw
      },
    }
  }

  private compileBlob(shape: ModelShape): CompiledShape {
    // Blob values are never printed, sensitive or not. Recorded: `Value at 'plaintext'`
    // (sensitive, LocalStack snapshot) and `Value at 'ciphertextBlob'` (not sensitive in the
    // model; real AWS CLI output quoted in LunaTW/aws-kms-demo README).
    const format: ValueFormatter = () => undefined
    return {
      concealed: true,
      format,
      read: (raw, path, violations) => {
        if (typeof raw !== 'string') throw scalarMismatch(raw, 'Blob')
        const bytes = decodeBase64(raw)
        // Constraints apply to the decoded bytes (Plaintext's 4096 is a byte count).
        checkLength(shape, bytes.length, path, () => undefined, violations)
        return bytes
      },
    }
  }

  private compileInteger(shape: ModelShape): CompiledShape {
    const format: ValueFormatter = (value) => String(value)
    return {
      concealed: shape.sensitive === true,
      format,
      read: (raw, path, violations) => {
        if (typeof raw !== 'number' || !Number.isFinite(raw)) throw scalarMismatch(raw, 'Integer')
        // A fractional number is truncated, not refused (Athena probe; dynalite).
        const integer = Math.trunc(raw) + 0 // `+ 0` turns -0 into 0, as Java would print it
        if (integer < INT32_MIN || integer > INT32_MAX) {
          // Unverified: no recording of an out-of-range JSON integer was found (STS answers
          // its query-protocol equivalent with a message-less MalformedInput). The wording
          // follows the recorded `<TOKEN> can not be converted to an Integer` family.
          throw serializationError('NUMBER_VALUE can not be converted to an Integer')
        }
        if (shape.min !== undefined && integer < shape.min) {
          recordViolation(
            violations,
            path,
            format(integer),
            `Member must have value greater than or equal to ${shape.min}`,
          )
        } else if (shape.max !== undefined && integer > shape.max) {
          recordViolation(violations, path, format(integer), `Member must have value less than or equal to ${shape.max}`)
        }
        return integer
      },
    }
  }

  private compileBoolean(shape: ModelShape): CompiledShape {
    return {
      concealed: shape.sensitive === true,
      format: (value) => String(value),
      read: (raw) => {
        if (typeof raw === 'boolean') return raw
        if (typeof raw === 'string') {
          const lowered = raw.toLowerCase()
          if (STRINGS_MEANING_TRUE.has(lowered)) return true
          if (STRINGS_MEANING_FALSE.has(lowered)) return false
        }
        throw scalarMismatch(raw, 'Boolean')
      },
    }
  }

  private compileTimestamp(shape: ModelShape): CompiledShape {
    return {
      concealed: shape.sensitive === true,
      format: (value) => String(value),
      read: (raw) => {
        // awsJson sends timestamps as epoch seconds (reference §1.3); they stay numbers.
        if (typeof raw !== 'number' || !Number.isFinite(raw)) throw scalarMismatch(raw, 'Timestamp')
        return raw
      },
    }
  }

  private compileList(name: string, shape: ModelShape): CompiledShape {
    const memberReference = requireReference(name, 'member', shape.member)
    const member = this.reference(memberReference.shape)
    const hasLengthLimit = shape.min !== undefined || shape.max !== undefined
    const concealed = memoizeConcealment(() => member().concealed)
    // Printed as Java prints a List: `[a, b]`. Unverified beyond that form (dynalite).
    const format: ValueFormatter = (value) => {
      if (concealed() || !Array.isArray(value)) return undefined
      const elements: string[] = []
      for (const element of value) {
        elements.push(element === null || element === undefined ? 'null' : member().format(element) ?? 'null')
      }
      return `[${elements.join(', ')}]`
    }
    return {
      get concealed() {
        return concealed()
      },
      format,
      read: (raw, path, violations) => {
        if (!Array.isArray(raw)) {
          throw serializationError(isRecord(raw) ? START_OF_STRUCTURE : EXPECTED_LIST)
        }
        const elementReader = member()
        const converted: unknown[] = []
        // The list as a whole is checked before its elements (outer before inner). Unverified:
        // no recording has both kinds of problem at once.
        if (hasLengthLimit) checkLength(shape, raw.length, path, () => format(raw), violations)
        for (let index = 0; index < raw.length; index++) {
          const element: unknown = raw[index]
          // A null element is accepted and skipped (Athena probe); paths keep the
          // original 1-based position so they point at what the client sent.
          if (element === null || element === undefined) continue
          converted.push(elementReader.read(element, `${path}.${index + 1}.member`, violations))
        }
        return converted
      },
    }
  }

  private compileMap(name: string, shape: ModelShape): CompiledShape {
    const keyReference = requireReference(name, 'key', shape.key)
    const valueReference = requireReference(name, 'value', shape.value)
    const keyShape = this.shapes[keyReference.shape]
    if (
      keyShape === undefined ||
      keyShape.type !== 'string' ||
      keyShape.min !== undefined ||
      keyShape.max !== undefined ||
      keyShape.pattern !== undefined ||
      keyShape.enum !== undefined
    ) {
      // No KMS map constrains its keys (JSON object keys are always strings), so AWS's
      // wording for a bad key was never needed. Refusing such a model makes a future model
      // change visible here instead of silently reporting it in a made-up form.
      throw new Error(`kms-model.json: map ${name} has constrained keys, which this validator does not handle`)
    }
    const value = this.reference(valueReference.shape)
    const hasLengthLimit = shape.min !== undefined || shape.max !== undefined
    const concealed = memoizeConcealment(() => keyShape.sensitive === true || value().concealed)
    // Printed as Java prints a Map: `{k=v, k2=v2}`. Unverified (dynalite's form).
    const format: ValueFormatter = (map) => {
      if (concealed() || !isRecord(map)) return undefined
      const entries = Object.keys(map).map((entryKey) => `${entryKey}=${value().format(map[entryKey]) ?? 'null'}`)
      return `{${entries.join(', ')}}`
    }
    return {
      get concealed() {
        return concealed()
      },
      format,
      read: (raw, path, violations) => {
        if (!isRecord(raw)) {
          throw serializationError(Array.isArray(raw) ? START_OF_LIST : EXPECTED_MAP)
        }
        const valueReader = value()
        const converted: Record<string, unknown> = {}
        const entryKeys = Object.keys(raw)
        if (hasLengthLimit) checkLength(shape, entryKeys.length, path, () => format(raw), violations)
        for (const entryKey of entryKeys) {
          const entryValue: unknown = raw[entryKey]
          // A null value is dropped, as a null list element is.
          if (entryValue === null || entryValue === undefined) continue
          // Defined, not assigned: a key such as `__proto__` must become data, never a prototype.
          Object.defineProperty(converted, entryKey, {
            value: valueReader.read(entryValue, `${path}.${entryKey}.member`, violations),
            enumerable: true,
            writable: true,
            configurable: true,
          })
        }
        return converted
      },
    }
  }

  private compileStructure(name: string, shape: ModelShape): CompiledShape {
    if (shape.members === undefined) throw new Error(`kms-model.json: structure ${name} has no members`)
    const required = new Set(shape.required ?? [])
    const members = Object.entries(shape.members).map(([memberName, reference]) => ({
      memberName,
      segment: pathSegment(memberName),
      required: required.has(memberName),
      compiled: this.reference(reference.shape),
    }))
    // Printed like a map of its members. Unverified: no list- or map-level constraint on a
    // list of structures exists in the KMS model, so AWS's form was never needed.
    const format: ValueFormatter = (value) => {
      if (!isRecord(value)) return undefined
      const parts: string[] = []
      for (const member of members) {
        if (!Object.hasOwn(value, member.memberName)) continue
        const printed = member.compiled().format(value[member.memberName])
        if (printed === undefined) return undefined
        parts.push(`${member.memberName}=${printed}`)
      }
      return `{${parts.join(', ')}}`
    }
    const concealed = memoizeConcealment(() => members.some((member) => member.compiled().concealed))
    return {
      get concealed() {
        return concealed()
      },
      format,
      read: (raw, path, violations) => readStructure(raw, path, violations, members),
    }
  }
}

interface CompiledMember {
  readonly memberName: string
  readonly segment: string
  readonly required: boolean
  readonly compiled: () => CompiledShape
}

function readStructure(
  raw: unknown,
  path: string,
  violations: Violations,
  members: readonly CompiledMember[],
): Record<string, unknown> {
  if (!isRecord(raw)) {
    throw serializationError(Array.isArray(raw) ? START_OF_LIST : EXPECTED_STRUCTURE)
  }
  // Unknown members are ignored, as AWS does, simply by never being read.
  const converted: Record<string, unknown> = {}
  for (const member of members) {
    const memberPath = childPath(path, member.segment)
    // Own properties only, so nothing inherited can pose as a member.
    const value: unknown = Object.hasOwn(raw, member.memberName) ? raw[member.memberName] : undefined
    // A JSON null is the same as an absent member (Athena probe; dynalite).
    if (value === null || value === undefined) {
      if (member.required) recordMissing(violations, memberPath)
      continue
    }
    converted[member.memberName] = member.compiled().read(value, memberPath, violations)
  }
  return converted
}

/**
 * Whether a container could reveal a sensitive value is only known once its member shapes
 * are compiled, so it is computed on first use and kept. A shape that (indirectly) contains
 * itself reads as not concealing while the answer is being worked out.
 */
function memoizeConcealment(compute: () => boolean): () => boolean {
  let state: boolean | 'computing' | undefined
  return () => {
    if (state === 'computing') return false
    if (state === undefined) {
      state = 'computing'
      state = compute()
    }
    return state
  }
}

function requireReference(shapeName: string, field: string, reference: ShapeReference | undefined): ShapeReference {
  if (reference === undefined || typeof reference.shape !== 'string') {
    throw new Error(`kms-model.json: ${shapeName} has no ${field} shape`)
  }
  return reference
}

// ---------------------------------------------------------------------------------------
// Per-operation validators, compiled at load

type OperationReader = (input: unknown) => Record<string, unknown>

function compileOperations(model: KmsModel): ReadonlyMap<string, OperationReader> {
  const compiler = new ShapeCompiler(model.shapes)
  compiler.compileAll()
  const readers = new Map<string, OperationReader>()
  for (const [operationName, operation] of Object.entries(model.operations)) {
    const inputShape = operation.input
    if (inputShape === undefined) {
      readers.set(operationName, (input) => {
        if (!isRecord(input)) throw topLevelMismatch(input)
        return {}
      })
      continue
    }
    const compiled = compiler.shape(inputShape)
    if (model.shapes[inputShape]?.type !== 'structure') {
      throw new Error(`kms-model.json: input of ${operationName} is not a structure`)
    }
    readers.set(operationName, (input) => {
      if (!isRecord(input)) throw topLevelMismatch(input)
      const violations: Violations = []
      const converted = compiled.read(input, '', violations)
      if (violations.length > 0) {
        const count = violations.length
        throw validation(`${count} validation error${count === 1 ? '' : 's'} detected: ${violations.join('; ')}`)
      }
      return converted as Record<string, unknown>
    })
  }
  return readers
}

/**
 * A body that is not a JSON object. Athena probe: a top-level array gets the list message;
 * a scalar, `null` or a missing body gets a SerializationException with no message at all
 * (dynalite records the same message-less answer for a missing body).
 */
function topLevelMismatch(input: unknown): KmsError {
  return serializationError(Array.isArray(input) ? START_OF_LIST : undefined)
}

const OPERATION_READERS = compileOperations(KMS_MODEL)

// ---------------------------------------------------------------------------------------
// Public API

/** Throws KmsError (SerializationException or ValidationException) if `input` does not satisfy the operation's input shape. Returns the input with blob members base64-decoded to Uint8Array (everything else unchanged), as a fresh null-prototype-free plain object.
 *
 * "Unchanged" is AWS's reading of the value: members the model does not know, null members,
 * null list elements and null map values are left out; a fractional number sent for an
 * integer member comes back truncated; a string such as "true" sent for a boolean member
 * comes back as the boolean. Throws UnknownOperationException (no message) for an operation
 * that is not in the model.
 */
export function parseOperationInput(operation: string, input: unknown): Record<string, unknown> {
  const reader = OPERATION_READERS.get(operation)
  if (reader === undefined) {
    // Callers are expected to check isKnownOperation first; AWS's front end answers an
    // unknown target this way, with no message.
    throw new KmsError('UnknownOperationException')
  }
  return reader(input)
}

/**
 * The input of a `TrentAdmin.*` operation, which has no AWS model: a JSON object, refused
 * as AWS refuses any other top-level value; the operation checks its own members.
 */
export function parseAdminInput(input: unknown): Record<string, unknown> {
  if (!isRecord(input)) throw topLevelMismatch(input)
  return input
}

/** True if `operation` is in the KMS model at all (whether or not Trent implements it). */
export function isKnownOperation(operation: string): boolean {
  return OPERATION_READERS.has(operation)
}
