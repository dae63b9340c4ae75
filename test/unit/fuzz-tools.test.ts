/**
 * The fuzzer's own parts, without a server: a seed always makes the same cases; the
 * structured generator reaches every operation of the model and Trent's admin ones;
 * templates render what JSON values cannot hold; the response parser reads what servers
 * send; the oracle calls a 5xx, a hang, an accepted attack, a stack trace and an echoed
 * secret what they are.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { generateCase } from '../../fuzz/engine.js'
import type { ExchangeResult } from '../../fuzz/http-client.js'
import { ADMIN_OPERATIONS, MODEL_OPERATIONS } from '../../fuzz/model.js'
import { judge } from '../../fuzz/oracle.js'
import { CATEGORIES, renderTemplate, withMember, type Step, type Template } from '../../fuzz/recipe.js'
import { ResponseParser, type ParsedResponse } from '../../fuzz/response-parser.js'

const REGIONS = { primary: 'us-east-1', secondary: 'eu-west-1' }

describe('case generation', () => {
  test('a seed and an index always make the same case, whatever was generated before', () => {
    const first = Array.from({ length: 300 }, (_, index) => JSON.stringify(generateCase(7, index, CATEGORIES, REGIONS)))
    const again = Array.from({ length: 300 }, (_, index) => JSON.stringify(generateCase(7, 299 - index, CATEGORIES, REGIONS))).reverse()
    assert.deepEqual(again, first)
    const otherSeed = Array.from({ length: 300 }, (_, index) => JSON.stringify(generateCase(8, index, CATEGORIES, REGIONS)))
    assert.notDeepEqual(otherSeed, first)
  })

  test('structured cases reach every operation of the model and every admin operation', () => {
    const seen = new Set<string>()
    for (let index = 0; index < 6000; index++) {
      for (const step of generateCase(1, index, ['structured'], REGIONS).steps) seen.add(step.operation)
    }
    const missing = [...MODEL_OPERATIONS, ...ADMIN_OPERATIONS.map((name) => `TrentAdmin.${name}`)].filter(
      (operation) => !seen.has(operation),
    )
    assert.deepEqual(missing, [])
  })

  test('each category generates only its own cases', () => {
    for (const category of CATEGORIES) {
      for (let index = 0; index < 50; index++) assert.equal(generateCase(3, index, [category], REGIONS).category, category)
    }
  })
})

describe('templates', () => {
  const context = {
    values: new Map([
      ['key:sym:id', 'abc'],
      ['ct:sym', Buffer.from([1, 2, 3]).toString('base64')],
    ]),
    nowMs: 1_700_000_000_000,
  }

  test('placeholders render as fixtures, raw JSON, nesting, long strings and dates', () => {
    const template: Record<string, Template> = {
      KeyId: { $fuzz: 'ref', name: 'key:sym:id' },
      Blob: { $fuzz: 'bytes', name: 'ct:sym', mutate: { op: 'flip-bit', byte: 0, bit: 0 } },
      Big: { $fuzz: 'raw', json: '1e400' },
      Deep: { $fuzz: 'nest', depth: 3, kind: 'array' },
      Long: { $fuzz: 'fill', length: 5, text: 'ab' },
      When: { $fuzz: 'epoch', offsetSeconds: 10 },
      Arn: { $fuzz: 'format', text: 'arn:key/{{key:sym:id}}' },
    }
    withMember(template, '__proto__', 'data, not a prototype')
    assert.equal(
      renderTemplate(template, context),
      `{"KeyId":"abc","Blob":"${Buffer.from([0, 2, 3]).toString('base64')}","Big":1e400,"Deep":[[[]]],"Long":"ababa","When":1700000010,"Arn":"arn:key/abc","__proto__":"data, not a prototype"}`,
    )
  })
})

describe('response parser', () => {
  function parse(...chunks: string[]): { responses: ParsedResponse[]; last: ParsedResponse | undefined } {
    const parser = new ResponseParser()
    const responses = chunks.flatMap((chunk) => parser.push(Buffer.from(chunk, 'latin1')))
    return { responses, last: parser.end() }
  }

  test('reads Content-Length, chunked and close-delimited bodies, skipping 100 Continue, across chunk boundaries', () => {
    const { responses, last } = parse(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel',
      'loHTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nuntil the end',
    )
    assert.deepEqual(
      responses.map((response) => [response.status, response.body.toString()]),
      [
        [200, 'hello'],
        [400, 'abc'],
      ],
    )
    assert.equal(last?.status, 500)
    assert.equal(last?.body.toString(), 'until the end')
  })

  test('refuses what is not HTTP', () => {
    assert.throws(() => parse('SSH-2.0-OpenSSH\r\n\r\n'), /bad status line/)
  })
})

describe('oracle', () => {
  const step: Step = { request: { kind: 'signed', region: 'us-east-1', body: { text: '{}' } }, operation: 'Encrypt' }
  const answer = (status: number, body: string): ExchangeResult => ({
    responses: [{ status, reason: '', headers: [], body: Buffer.from(body) }],
    end: 'answered',
    ms: 1,
  })
  const kinds = (input: Parameters<typeof judge>[0]): string[] => judge(input).problems.map((problem) => problem.kind)
  const sent = {
    sentBody: Buffer.from('{"Plaintext":"c2VjcmV0IHNlY3JldCBzZWNyZXQ="}'),
    sentBytes: Buffer.from('POST / HTTP/1.1\r\n\r\n'),
    secrets: ['the-secret-key'],
  }

  test('a 2xx is fine, unless the request must fail', () => {
    assert.deepEqual(kinds({ step, ...sent, result: answer(200, '{}') }), [])
    assert.deepEqual(kinds({ step: { ...step, expect: { mustFail: true } }, ...sent, result: answer(200, '{}') }), ['accepted'])
  })

  test('5xx, hangs, stack traces, source paths, key material and echoed secrets are findings', () => {
    assert.deepEqual(kinds({ step, ...sent, result: answer(503, '{}') }), ['5xx'])
    assert.deepEqual(kinds({ step, ...sent, result: { responses: [], end: 'hang', ms: 30_000 } }), ['hang'])
    assert.deepEqual(kinds({ step, ...sent, result: answer(400, 'TypeError: x\n    at f (/app/dist/src/kms/kms.js:1:2)') }), [
      'stack-trace',
    ])
    assert.deepEqual(kinds({ step, ...sent, result: answer(400, '-----BEGIN PRIVATE KEY-----') }), ['leak', 'leak'])
    assert.deepEqual(kinds({ step, ...sent, result: answer(400, '{"message":"bad c2VjcmV0IHNlY3JldCBzZWNyZXQ="}') }), ['leak'])
    assert.deepEqual(kinds({ step, ...sent, result: answer(400, 'the-secret-key') }), ['leak'])
  })

  test('a decryption failure must carry the expected error name', () => {
    const decrypt: Step = { ...step, expect: { mustFail: true, errorTypes: ['InvalidCiphertextException'] } }
    assert.deepEqual(kinds({ step: decrypt, ...sent, result: answer(400, '{"__type":"InvalidCiphertextException"}') }), [])
    assert.deepEqual(kinds({ step: decrypt, ...sent, result: answer(400, '{"__type":"NotFoundException"}') }), ['wrong-error'])
  })
})
