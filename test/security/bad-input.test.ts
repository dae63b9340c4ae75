/**
 * Bad input, for every operation a region serves: malformed JSON, bodies of the wrong
 * kind, missing required members, oversized members, members of the wrong JSON type,
 * unknown targets, wrong content types and bad signatures. Each gets AWS's error as a
 * 4xx JSON error body: never a 5xx, a stack trace or a dead region.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { OPERATIONS } from '../../src/kms/operations/index.js'
import { startInProcessRegion, TEST_CREDENTIALS, type InProcessRegion } from '../helpers/in-process-region.js'
import { sendRaw, type RawResponse } from '../helpers/signed-http.js'

interface Shape {
  type: string
  required?: string[]
  members?: Record<string, { shape: string }>
  min?: number
  max?: number
  enum?: string[]
  member?: { shape: string }
}
const model = JSON.parse(readFileSync(new URL('../../../src/api/model/kms-model.json', import.meta.url), 'utf8')) as {
  operations: Record<string, { input?: string }>
  shapes: Record<string, Shape>
}

function inputShape(operation: string): Shape {
  const name = model.operations[operation]?.input
  const shape = name === undefined ? undefined : model.shapes[name]
  return shape ?? { type: 'structure', members: {} }
}

/** A value of the member's type that satisfies its constraints, where that is easy. */
function validValue(shape: Shape): unknown {
  switch (shape.type) {
    case 'string':
      return shape.enum?.[0] ?? 'x'.repeat(Math.max(1, shape.min ?? 1))
    case 'blob':
      return Buffer.alloc(Math.max(1, shape.min ?? 1), 7).toString('base64')
    case 'integer':
    case 'long':
      return Math.max(1, shape.min ?? 1)
    case 'boolean':
      return false
    case 'list':
      return []
    case 'map':
    case 'structure':
      return {}
    default:
      return 1
  }
}

/** A JSON value of the wrong type for the member. */
function wrongType(shape: Shape): unknown {
  switch (shape.type) {
    case 'string':
    case 'blob':
      return 12345
    case 'integer':
    case 'long':
    case 'boolean':
    case 'timestamp':
      return 'not-a-number'
    case 'list':
      return 'not-a-list'
    case 'map':
    case 'structure':
      return ['not', 'an', 'object']
    default:
      return {}
  }
}

function oversized(shape: Shape): unknown {
  const max = shape.max ?? 0
  if (shape.type === 'string') return 'a'.repeat(max + 1)
  if (shape.type === 'blob') return Buffer.alloc(max + 1, 1).toString('base64')
  return undefined
}

function assertAwsError(res: RawResponse, names: string[]): void {
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${res.body}`)
  assert.equal(res.headers['content-type'], 'application/x-amz-json-1.1')
  assert.ok(res.json !== undefined, `JSON error body: ${res.body}`)
  assert.ok(names.includes(String(res.json.__type)), `expected one of ${names.join('|')}, got ${res.body}`)
  assert.doesNotMatch(res.body, /\bat .+\.(js|ts):\d+|node:internal|Error: /, 'no stack trace')
}

describe('bad input for every operation', () => {
  let region: InProcessRegion
  before(async () => {
    region = await startInProcessRegion()
  })
  after(async () => {
    await region.close()
  })
  const send = (target: string, body: string | Uint8Array, extra: Partial<Parameters<typeof sendRaw>[0]> = {}): Promise<RawResponse> =>
    sendRaw({ endpoint: region.endpoint, target, body, ...extra })

  for (const operation of OPERATIONS.keys()) {
    const target = `TrentService.${operation}`
    const shape = inputShape(operation)
    const members = Object.entries(shape.members ?? {})

    it(`${operation}: malformed JSON and bodies that are not objects`, async () => {
      for (const body of ['{', '{"KeyId": }', 'null', '[]', '"text"', '42', '\u0000\u0001']) {
        assertAwsError(await send(target, body), ['SerializationException'])
      }
    })

    it(`${operation}: each required member missing`, async () => {
      for (const missing of shape.required ?? []) {
        const body: Record<string, unknown> = {}
        for (const [name, ref] of members) {
          if (name !== missing && (shape.required ?? []).includes(name))
            body[name] = validValue(model.shapes[ref.shape] ?? { type: 'string' })
        }
        const res = await send(target, JSON.stringify(body))
        assertAwsError(res, ['ValidationException'])
        assert.match(String(res.json?.message), /Member must not be null|is required/)
      }
    })

    it(`${operation}: each member of the wrong JSON type`, async () => {
      for (const [name, ref] of members) {
        const res = await send(target, JSON.stringify({ [name]: wrongType(model.shapes[ref.shape] ?? { type: 'string' }) }))
        assertAwsError(res, ['SerializationException', 'ValidationException'])
      }
    })

    it(`${operation}: each length-limited member one past its limit`, async () => {
      for (const [name, ref] of members) {
        const memberShape = model.shapes[ref.shape]
        if (memberShape?.max === undefined || (memberShape.type !== 'string' && memberShape.type !== 'blob')) continue
        const res = await send(target, JSON.stringify({ [name]: oversized(memberShape) }))
        assertAwsError(res, ['ValidationException'])
        assert.match(String(res.json?.message), /Member must have length less than or equal to/)
      }
    })

    it(`${operation}: bad signatures and credentials`, async () => {
      const body = '{}'
      assertAwsError(await send(target, body, { sign: false }), ['MissingAuthenticationTokenException'])
      assertAwsError(await send(target, body, { credentials: { accessKeyId: 'AKIDUNKNOWN000000000', secretAccessKey: 'x' } }), [
        'UnrecognizedClientException',
      ])
      assertAwsError(
        await send(target, body, { credentials: { accessKeyId: TEST_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong-secret' } }),
        ['InvalidSignatureException'],
      )
      assertAwsError(await send(target, body, { signingDate: new Date(Date.now() - 3_600_000) }), ['InvalidSignatureException'])
      assertAwsError(await send(target, body, { service: 's3' }), ['InvalidSignatureException'])
      assertAwsError(
        await send(target, body, {
          tamper: (h) => {
            h.authorization = String(h.authorization ?? '').replace(/Signature=\w+/, 'Signature=' + '0'.repeat(64))
          },
        }),
        ['InvalidSignatureException'],
      )
      assertAwsError(
        await send(target, body, {
          tamper: (h) => {
            h.authorization = 'AWS4-HMAC-SHA256 Credential=broken'
          },
        }),
        ['IncompleteSignatureException'],
      )
    })
  }

  it('unknown targets and wrong content types get UnknownOperationException', async () => {
    for (const target of ['TrentService.NoSuchOperation', 'DynamoDB_20120810.ListTables', 'TrentService.']) {
      const res = await send(target, '{}')
      assertAwsError(res, ['UnknownOperationException'])
    }
    assertAwsError(await send('TrentService.ListKeys', '{}', { contentType: 'application/json' }), ['UnknownOperationException'])
    assertAwsError(await send('TrentService.ListKeys', '{}', { contentType: 'text/plain' }), ['UnknownOperationException'])
  })

  it('an oversized body is refused and the region keeps serving', async () => {
    const res = await send('TrentService.Encrypt', JSON.stringify({ KeyId: 'x', Plaintext: 'A'.repeat(2 * 1024 * 1024) }))
    assert.ok(res.status >= 400 && res.status < 500)
    const ok = await send('TrentService.ListKeys', '{}')
    assert.equal(ok.status, 200)
  })
})
