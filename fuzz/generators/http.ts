/**
 * Malformed HTTP, as raw bytes on a socket of their own: bare-LF line endings, HTTP/0.9
 * request lines, a TLS ClientHello, garbage, oversized header blocks and header counts,
 * Content-Length and Transfer-Encoding games, truncated bodies, pipelining, odd methods,
 * paths and targets, Expect: 100-continue, connections cut mid-body, and garbage sent
 * to the replication endpoint.
 *
 * The oracle for every one: a well-formed answer below 500, or a clean close, within the
 * deadline; never a hang, never a 5xx. A request that is complete from the client's side
 * (a bare-LF request, an HTTP/0.9 line) keeps the connection open and waits, as a real
 * client would: a server that waits too never answers, and that is the hang.
 *
 * Each case is a builder name and its parameters; the builder makes the bytes at send
 * time, so a signed request inside is signed again when a finding is replayed.
 *
 * @module
 */
import type { RawExchange } from '../http-client.js'
import type { Prng } from '../prng.js'
import type { FuzzCase, JsonObject, RenderContext, SignedRequestRecipe } from '../recipe.js'
import { serializeRequest, type RequestSigner, type WireRequest } from '../signer.js'
import { fixture, PLAINTEXT } from '../pool.js'
import { base64Of, type Regions } from './pool-values.js'
import { oneStepCase } from './steps.js'

export interface RawBuildContext {
  /** The Host header value of the endpoint ("127.0.0.1:4566"). */
  host: string
  signer: RequestSigner
  render: RenderContext
}

type Builder = (params: JsonObject, context: RawBuildContext) => Promise<RawExchange>

const CRLF = '\r\n'
const REPLICATION_PATH = '/replication/v1/envelopes'

function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback
}

function number(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback
}

async function renderSigned(params: JsonObject, context: RawBuildContext): Promise<WireRequest> {
  return context.signer.render(params.signed as unknown as SignedRequestRecipe, context.render)
}

/** The head of a request, with the line ending and the headers given (no framing header added). */
function head(wire: WireRequest, lineEnding = CRLF): string {
  return `${wire.method} ${wire.path} HTTP/1.1${lineEnding}${wire.headers.map(([name, value]) => `${name}: ${value}${lineEnding}`).join('')}`
}

function once(bytes: Buffer | string, finish: RawExchange['finish'] = 'keep-open', expectedResponses = 1): RawExchange {
  return { writes: [{ bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes }], finish, expectedResponses }
}

/** A ClientHello as a TLS 1.2/1.3 client sends it first thing, SNI and all. */
function clientHello(randomBytes: Buffer, serverName: string): Buffer {
  const sni = Buffer.from(serverName, 'ascii')
  const sniEntry = Buffer.concat([Buffer.from([0x00]), u16(sni.length), sni])
  const sniExtension = Buffer.concat([u16(0x0000), u16(sniEntry.length + 2), u16(sniEntry.length), sniEntry])
  const versions = Buffer.concat([u16(0x002b), u16(5), Buffer.from([4, 0x03, 0x04, 0x03, 0x03])])
  const extensions = Buffer.concat([sniExtension, versions])
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    randomBytes.subarray(0, 32),
    Buffer.from([0x00]),
    u16(4),
    Buffer.from([0x13, 0x01, 0xc0, 0x2f]),
    Buffer.from([0x01, 0x00]),
    u16(extensions.length),
    extensions,
  ])
  const handshake = Buffer.concat([Buffer.from([0x01]), u24(body.length), body])
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(handshake.length), handshake])
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2)
  out.writeUInt16BE(value)
  return out
}

function u24(value: number): Buffer {
  return Buffer.from([(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff])
}

const BUILDERS: Readonly<Record<string, Builder>> = {
  async 'bare-lf'(params, context) {
    if (params.signed !== undefined) {
      const wire = await renderSigned(params, context)
      return once(Buffer.concat([Buffer.from(`${head(wire, '\n')}content-length: ${wire.body.length}\n\n`, 'utf8'), wire.body]))
    }
    return once(`${text(params.line)}\nHost: ${context.host}\n${text(params.headers)}\n`)
  },
  async 'http-0.9'(params) {
    return once(`${text(params.line, 'GET /')}${CRLF}`)
  },
  async 'tls-client-hello'(params, context) {
    return once(clientHello(Buffer.from(text(params.random), 'base64'), context.host.split(':')[0] ?? 'localhost'))
  },
  async garbage(params) {
    return once(Buffer.from(text(params.bytes), 'base64'), params.close === true ? 'half-close' : 'keep-open')
  },
  async 'oversized-headers'(params, context) {
    const wire = await renderSigned(params, context)
    const count = number(params.count, 1)
    const size = number(params.size, 100)
    const extra = Array.from({ length: count }, (_, index) => `x-fuzz-${index}: ${'v'.repeat(size)}${CRLF}`).join('')
    return once(Buffer.concat([Buffer.from(`${head(wire)}${extra}content-length: ${wire.body.length}${CRLF}${CRLF}`, 'utf8'), wire.body]))
  },
  async 'content-length'(params, context) {
    const wire = await renderSigned(params, context)
    const lengths = Array.isArray(params.lengths) ? params.lengths.map((value) => String(value)) : []
    const declared = lengths
      .map(
        (value) =>
          `content-length: ${value
            .replace('{n}', String(wire.body.length))
            .replace('{n-1}', String(wire.body.length - 1))
            .replace('{n+1}', String(wire.body.length + 1))}${CRLF}`,
      )
      .join('')
    return once(Buffer.concat([Buffer.from(`${head(wire)}${declared}${CRLF}`, 'utf8'), wire.body]), 'half-close')
  },
  async 'transfer-encoding'(params, context) {
    const wire = await renderSigned(params, context)
    const encoding = text(params.encoding, 'chunked')
    const withLength = params.withLength === true ? `content-length: ${wire.body.length}${CRLF}` : ''
    const chunks = text(params.chunks, 'valid')
    let body: Buffer
    switch (chunks) {
      case 'valid':
        body = Buffer.concat([Buffer.from(`${wire.body.length.toString(16)}${CRLF}`), wire.body, Buffer.from(`${CRLF}0${CRLF}${CRLF}`)])
        break
      case 'split': {
        const half = Math.floor(wire.body.length / 2)
        body = Buffer.concat([
          Buffer.from(`${half.toString(16)};ext=1${CRLF}`),
          wire.body.subarray(0, half),
          Buffer.from(`${CRLF}${(wire.body.length - half).toString(16)}${CRLF}`),
          wire.body.subarray(half),
          Buffer.from(`${CRLF}0${CRLF}x-trailer: 1${CRLF}${CRLF}`),
        ])
        break
      }
      default:
        // A bad size line: 'zz', '-1', a size far past the body, a size with spaces.
        body = Buffer.concat([Buffer.from(`${chunks}${CRLF}`), wire.body, Buffer.from(`${CRLF}0${CRLF}${CRLF}`)])
    }
    const headers = wire.headers.filter(([name]) => name.toLowerCase() !== 'content-length')
    return once(
      Buffer.concat([Buffer.from(`${head({ ...wire, headers })}transfer-encoding: ${encoding}${CRLF}${withLength}${CRLF}`, 'utf8'), body]),
      'half-close',
    )
  },
  async truncated(params, context) {
    const wire = await renderSigned(params, context)
    const bytes = serializeRequest(wire)
    const keep = Math.max(1, Math.floor(bytes.length * number(params.fraction, 0.5)))
    return { writes: [{ bytes: bytes.subarray(0, keep) }], finish: params.abort === true ? 'destroy' : 'half-close', expectedResponses: 1 }
  },
  async pipelined(params, context) {
    const recipes = Array.isArray(params.requests) ? (params.requests as unknown as SignedRequestRecipe[]) : []
    const parts: Buffer[] = []
    for (const recipe of recipes) parts.push(serializeRequest(await context.signer.render(recipe, context.render)))
    if (typeof params.trailingGarbage === 'string') parts.push(Buffer.from(params.trailingGarbage, 'base64'))
    return once(Buffer.concat(parts), 'keep-open', recipes.length + (typeof params.trailingGarbage === 'string' ? 1 : 0))
  },
  async 'method-and-path'(params, context) {
    const method = text(params.method, 'GET')
    const body = text(params.body)
    const authorization =
      params.routed === true
        ? `Authorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20240101/${text(params.region, 'us-east-1')}/kms/aws4_request, SignedHeaders=host, Signature=00${CRLF}`
        : ''
    const request = `${method} ${text(params.path, '/')} HTTP/1.1${CRLF}Host: ${context.host}${CRLF}${authorization}content-type: application/json${CRLF}content-length: ${Buffer.byteLength(body)}${CRLF}${CRLF}${body}`
    return { ...once(Buffer.from(request, 'utf8')), ...(method === 'HEAD' ? { headRequests: [0] } : {}) }
  },
  async 'absolute-form'(params, context) {
    const wire = await renderSigned(params, context)
    const target = text(params.prefix, `http://${context.host}`) + wire.path
    return once(
      Buffer.concat([
        Buffer.from(head({ ...wire, path: target }).concat(`content-length: ${wire.body.length}${CRLF}${CRLF}`), 'utf8'),
        wire.body,
      ]),
    )
  },
  async 'expect-continue'(params, context) {
    const wire = await renderSigned(params, context)
    const headBytes = Buffer.from(`${head(wire)}expect: 100-continue${CRLF}content-length: ${wire.body.length}${CRLF}${CRLF}`, 'utf8')
    return {
      writes: [{ bytes: headBytes }, { bytes: wire.body, delayMs: number(params.delayMs, 200) }],
      finish: 'keep-open',
      expectedResponses: 1,
    }
  },
  async 'http-version'(params, context) {
    return once(
      `${text(params.line, 'GET /health HTTP/1.0')}${CRLF}Host: ${context.host}${CRLF}${CRLF}`,
      params.close === true ? 'half-close' : 'keep-open',
    )
  },
  async 'header-syntax'(params, context) {
    const wire = await renderSigned(params, context)
    return once(
      Buffer.concat([
        Buffer.from(`${head(wire)}${text(params.header)}${CRLF}content-length: ${wire.body.length}${CRLF}${CRLF}`, 'latin1'),
        wire.body,
      ]),
    )
  },
  async 'binary-body'(params, context) {
    return once(serializeRequest(await renderSigned(params, context)))
  },
  async 'slow-head'(params, context) {
    const bytes = serializeRequest(await renderSigned(params, context))
    const parts = Math.max(2, number(params.parts, 3))
    const step = Math.ceil(bytes.length / parts)
    const writes = Array.from({ length: parts }, (_, index) => ({
      bytes: bytes.subarray(index * step, (index + 1) * step),
      delayMs: index === 0 ? 0 : number(params.delayMs, 100),
    }))
    return { writes, finish: 'keep-open', expectedResponses: 1 }
  },
  async smuggling(params, context) {
    const wire = await renderSigned(params, context)
    const hidden = `GET /health HTTP/1.1${CRLF}Host: ${context.host}${CRLF}${CRLF}`
    const body = Buffer.concat([Buffer.from(`0${CRLF}${CRLF}`), Buffer.from(hidden)])
    const headers = wire.headers.filter(([name]) => name.toLowerCase() !== 'content-length')
    const framing =
      text(params.framing, 'cl-te') === 'cl-te'
        ? `content-length: ${body.length}${CRLF}transfer-encoding: chunked${CRLF}`
        : `transfer-encoding: chunked${CRLF}content-length: 3${CRLF}`
    return once(Buffer.concat([Buffer.from(`${head({ ...wire, headers })}${framing}${CRLF}`, 'utf8'), body]), 'keep-open', 2)
  },
}

export async function buildRawExchange(builder: string, params: JsonObject, context: RawBuildContext): Promise<RawExchange> {
  const build = BUILDERS[builder]
  if (build === undefined) throw new Error(`no raw HTTP builder named ${builder}`)
  return build(params, context)
}

// ---------------------------------------------------------------------------------------
// Generation

/** A small honest request to wrap in malformed framing. */
function signedRecipe(rng: Prng, regions: Regions): SignedRequestRecipe {
  return rng.pick<SignedRequestRecipe>([
    {
      kind: 'signed',
      region: regions.primary,
      target: 'TrentService.DescribeKey',
      body: { json: { KeyId: { $fuzz: 'ref', name: fixture.keyId('sym') } } },
    },
    {
      kind: 'signed',
      region: regions.primary,
      target: 'TrentService.Encrypt',
      body: { json: { KeyId: { $fuzz: 'ref', name: fixture.keyId('sym') }, Plaintext: base64Of(PLAINTEXT) } },
    },
    { kind: 'signed', region: regions.primary, target: 'TrentService.GenerateRandom', body: { json: { NumberOfBytes: 8 } } },
    { kind: 'signed', region: regions.primary, target: 'TrentService.ListKeys', body: { json: {} } },
  ])
}

function envelopeGarbage(rng: Prng, regions: Regions): string {
  const peer = regions.secondary ?? 'eu-west-1'
  return rng.pick([
    '',
    '{}',
    'null',
    '[]',
    '{"v":1}',
    JSON.stringify({ v: 1, messageId: 'm', from: peer, to: regions.primary, body: 'e30=', signature: { keyId: 'k', value: 'AAAA' } }),
    JSON.stringify({
      v: 1,
      messageId: 'm',
      from: '__proto__',
      to: regions.primary,
      body: 'e30=',
      signature: { keyId: 'constructor', value: '' },
    }),
    JSON.stringify({
      v: 1,
      messageId: 'm',
      from: 'constructor',
      to: regions.primary,
      body: base64Of(rng.bytes(64)),
      signature: { keyId: '__proto__', value: base64Of(rng.bytes(96)) },
    }),
    JSON.stringify({
      v: 1,
      messageId: 'x'.repeat(10_000),
      from: peer,
      to: regions.primary,
      body: '!!!',
      signature: { keyId: 'k', value: '!!!' },
    }),
    JSON.stringify({ v: 2, messageId: 'm', from: peer, to: regions.primary, body: 'e30=', signature: null }),
    '{"v":1,"messageId":"m","from":"' +
      peer +
      '","to":"' +
      regions.primary +
      '","body":"e30=","signature":{"keyId":"k","value":"AAAA"},"signature":"x"}',
  ])
}

const GENERATORS: readonly [number, string, (rng: Prng, regions: Regions) => { params: JsonObject; label: string }][] = [
  [
    2,
    'bare-lf',
    (rng, regions) =>
      rng.chance(0.5)
        ? { params: { signed: signedRecipe(rng, regions) as unknown as JsonObject }, label: 'a signed request with bare LF line endings' }
        : {
            params: {
              line: rng.pick(['GET /health HTTP/1.1', 'POST / HTTP/1.1', 'GET / HTTP/1.0']),
              headers: rng.pick(['', 'Content-Length: 0\n', 'X-A: b\n']),
            },
            label: 'an unsigned request with bare LF line endings',
          },
  ],
  [1, 'http-0.9', (rng) => ({ params: { line: rng.pick(['GET /', 'GET /health', 'GET', 'POST /']) }, label: 'an HTTP/0.9 request line' })],
  [1, 'tls-client-hello', (rng) => ({ params: { random: base64Of(rng.bytes(32)) }, label: 'a TLS ClientHello' })],
  [
    2,
    'garbage',
    (rng) => {
      const close = rng.chance(0.5)
      const length = rng.pick([1, 3, 16, 512, 4096, 40_000])
      return { params: { bytes: base64Of(rng.bytes(length)), close }, label: `${length} random bytes${close ? ', then FIN' : ''}` }
    },
  ],
  [
    2,
    'oversized-headers',
    (rng, regions) => {
      const shape = rng.pick([
        { count: 1, size: 20_000 },
        { count: 1, size: 70_000 },
        { count: 200, size: 100 },
        { count: 2500, size: 4 },
        { count: 30, size: 1000 },
      ])
      return {
        params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, ...shape },
        label: `${shape.count} extra header(s) of ${shape.size} bytes`,
      }
    },
  ],
  [
    3,
    'content-length',
    (rng, regions) => {
      const lengths = rng.pick([
        ['abc'],
        ['-1'],
        ['1.5'],
        ['0x10'],
        [' {n}'],
        ['+{n}'],
        ['99999999999999999999'],
        ['{n}', '{n}'],
        ['{n}', '{n+1}'],
        ['{n-1}'],
        ['{n+1}'],
        ['0'],
        ['{n}, {n}'],
        [''],
      ])
      return {
        params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, lengths },
        label: `Content-Length ${lengths.map((value) => JSON.stringify(value)).join(' and ')}, then FIN`,
      }
    },
  ],
  [
    3,
    'transfer-encoding',
    (rng, regions) => {
      const encoding = rng.pick([
        'chunked',
        'chunked',
        'Chunked',
        ' chunked',
        'chunked, identity',
        'identity, chunked',
        'gzip, chunked',
        'xchunked',
        'chunked\u000b',
      ])
      const chunks = rng.pick(['valid', 'split', 'zz', '-1', 'ffffffffffffffffff', '1 0', '0x10'])
      const withLength = rng.chance(0.3)
      return {
        params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, encoding, chunks, withLength },
        label: `Transfer-Encoding ${JSON.stringify(encoding)} with ${chunks} chunks${withLength ? ' and a Content-Length' : ''}, then FIN`,
      }
    },
  ],
  [
    3,
    'truncated',
    (rng, regions) => {
      const fraction = rng.pick([0.1, 0.5, 0.9, 0.99])
      const abort = rng.chance(0.4)
      return {
        params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, fraction, abort },
        label: `a request cut at ${Math.round(fraction * 100)}%, then ${abort ? 'the connection cut' : 'FIN'}`,
      }
    },
  ],
  [
    3,
    'pipelined',
    (rng, regions) => {
      const count = rng.int(2, 6)
      const garbage = rng.chance(0.3)
        ? base64Of(Buffer.from(rng.pick(['GARBAGE\r\n\r\n', 'GET / HTTP/1.1\n\n', '\u0016\u0003\u0001']), 'latin1'))
        : undefined
      return {
        params: {
          requests: Array.from({ length: count }, () => signedRecipe(rng, regions)) as unknown as JsonObject[],
          ...(garbage !== undefined ? { trailingGarbage: garbage } : {}),
        },
        label: `${count} pipelined requests${garbage !== undefined ? ' and garbage after them' : ''}`,
      }
    },
  ],
  [
    4,
    'method-and-path',
    (rng, regions) => {
      const choice = rng.pick<{ method: string; path: string; body?: string; routed?: boolean; note: string }>([
        { method: 'GET', path: '/', note: 'GET /' },
        { method: 'PUT', path: '/', body: '{}', note: 'PUT /' },
        { method: 'DELETE', path: '/health', note: 'DELETE /health' },
        { method: 'HEAD', path: '/health', note: 'HEAD /health' },
        { method: 'OPTIONS', path: '*', note: 'OPTIONS *' },
        { method: 'TRACE', path: '/', note: 'TRACE /' },
        { method: 'CONNECT', path: 'example.com:443', note: 'CONNECT' },
        { method: 'POST', path: '/health', body: '{}', note: 'POST /health' },
        { method: 'GET', path: '/health?x=1', note: 'GET /health?x=1' },
        { method: 'GET', path: '//health', note: 'GET //health' },
        { method: 'GET', path: `/${'a'.repeat(10_000)}`, note: 'a 10 KB path' },
        { method: 'GET', path: '/%00', note: 'a NUL in the path' },
        { method: 'GET', path: '/\u00e9\u00ff', note: 'non-ASCII bytes in the path' },
        { method: 'FUZZ', path: '/', note: 'an unknown method' },
        { method: 'get', path: '/health', note: 'a lower-case method' },
        { method: 'GET', path: REPLICATION_PATH, routed: true, note: 'GET the replication endpoint' },
        {
          method: 'POST',
          path: REPLICATION_PATH,
          body: envelopeGarbage(rng, regions),
          routed: true,
          note: 'a garbage envelope to the replication endpoint',
        },
        {
          method: 'POST',
          path: REPLICATION_PATH,
          body: envelopeGarbage(rng, regions),
          routed: true,
          note: 'a garbage envelope to the replication endpoint',
        },
        {
          method: 'POST',
          path: REPLICATION_PATH,
          body: envelopeGarbage(rng, regions),
          routed: false,
          note: 'an envelope to the replication endpoint through the gateway',
        },
      ])
      return {
        params: {
          method: choice.method,
          path: choice.path,
          body: choice.body ?? '',
          routed: choice.routed === true,
          region: regions.primary,
        },
        label: choice.note,
      }
    },
  ],
  [
    2,
    'absolute-form',
    (rng, regions) => {
      const prefix = rng.pick([undefined, 'http://evil.example.com', 'https://127.0.0.1', 'http://[::1]:1'])
      return {
        params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, ...(prefix !== undefined ? { prefix } : {}) },
        label: `an absolute-form target${prefix !== undefined ? ` (${prefix})` : ''}`,
      }
    },
  ],
  [
    2,
    'expect-continue',
    (rng, regions) => ({
      params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, delayMs: rng.pick([0, 100, 500]) },
      label: 'Expect: 100-continue',
    }),
  ],
  [
    2,
    'http-version',
    (rng) => {
      const line = rng.pick([
        'GET /health HTTP/1.0',
        'GET /health HTTP/2.0',
        'GET /health HTTP/1.2',
        'GET /health HTTP/9.9',
        'GET /health HTTP/1',
        'GET /health http/1.1',
        'PRI * HTTP/2.0\r\n\r\nSM',
        'GET /health HTTP/1.1 extra',
      ])
      return { params: { line, close: rng.chance(0.3) }, label: `request line ${JSON.stringify(line)}` }
    },
  ],
  [
    2,
    'header-syntax',
    (rng, regions) => {
      const header = rng.pick([
        'no-colon-here',
        'X Space: 1',
        ' folded: continuation',
        'x-nul: a\u0000b',
        'x-high: \u00ff\u00fe',
        ': empty-name',
        `${'n'.repeat(5000)}: 1`,
        'x-a:\u0007bell',
        'Host: second.example.com',
        'content-length: 0',
      ])
      return {
        params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, header },
        label: `a header line ${JSON.stringify(header.slice(0, 30))}`,
      }
    },
  ],
  [
    2,
    'binary-body',
    (rng, regions) => {
      const body = rng.pick([
        { bytes: Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x80]), note: 'bytes that are not UTF-8' },
        { bytes: Buffer.from('{"KeyId":"\xc0\xaf\xed\xa0\x80"}', 'latin1'), note: 'JSON with overlong and surrogate UTF-8 sequences' },
        { bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]), note: 'a UTF-8 byte order mark before {}' },
        { bytes: Buffer.from('{"KeyId":"x"}', 'utf16le'), note: 'UTF-16 JSON' },
        { bytes: rng.bytes(rng.pick([16, 1024, 70_000])), note: 'random bytes' },
      ])
      const signed: SignedRequestRecipe = { ...signedRecipe(rng, regions), body: { base64: base64Of(body.bytes) } }
      return { params: { signed: signed as unknown as JsonObject }, label: `a signed request whose body is ${body.note}` }
    },
  ],
  [
    1,
    'slow-head',
    (rng, regions) => ({
      params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, parts: rng.int(2, 5), delayMs: rng.pick([50, 200]) },
      label: 'a request written in slow parts',
    }),
  ],
  [
    1,
    'smuggling',
    (rng, regions) => ({
      params: { signed: signedRecipe(rng, regions) as unknown as JsonObject, framing: rng.pick(['cl-te', 'te-cl']) },
      label: 'a smuggled request behind conflicting framing',
    }),
  ],
]

export function httpCase(index: number, rng: Prng, regions: Regions): FuzzCase {
  const [, builder, generate] = rng.weighted(GENERATORS.map((entry) => [entry[0], entry] as const))
  const { params, label } = generate(rng, regions)
  return oneStepCase(index, 'http', label, { request: { kind: 'raw', builder, params }, operation: `http:${builder}` })
}
