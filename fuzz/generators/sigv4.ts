/**
 * SigV4 attacks: requests signed with the real signer and then tampered with, or signed
 * in a way that must not be accepted. Each attack either must fail (a 2xx is a finding:
 * the server accepted a request its owner never signed, or signed for something else)
 * or is a game that may legitimately succeed (header case, whitespace the canonical
 * form removes, a clock skew inside the window), sent only for the 5xx and crashes.
 *
 * The victim of attacks that would change a key is a scratch key, so an accepted attack
 * shows up as a finding and leaves the stable pool alone.
 *
 * @module
 */
import { ENCRYPTION_CONTEXT, PLAINTEXT, fixture } from '../pool.js'
import type { Prng } from '../prng.js'
import type { FuzzCase, SigningRecipe, Tamper, Template } from '../recipe.js'
import { base64Of, fixtureBytes, ref, type Regions } from './pool-values.js'
import { kmsStep, oneStepCase } from './steps.js'

interface BaseRequest {
  operation: string
  input: Template
}

/** Honest requests to attack: reads, crypto, and Trent's admin operation. */
function baseRequest(rng: Prng, regions: Regions): BaseRequest {
  return rng.pick<BaseRequest>([
    { operation: 'DescribeKey', input: { KeyId: ref(fixture.keyId('sym')) } },
    { operation: 'Encrypt', input: { KeyId: ref(fixture.keyId('sym')), Plaintext: base64Of(PLAINTEXT) } },
    {
      operation: 'Decrypt',
      input: { CiphertextBlob: fixtureBytes(fixture.ciphertext('sym')), EncryptionContext: { ...ENCRYPTION_CONTEXT } },
    },
    { operation: 'GenerateRandom', input: { NumberOfBytes: 16 } },
    { operation: 'ListKeys', input: { Limit: 5 } },
    {
      operation: 'Sign',
      input: { KeyId: ref(fixture.keyId('p256-sign')), Message: ref(fixture.message), SigningAlgorithm: 'ECDSA_SHA_256' },
    },
    ...(regions.secondary !== undefined
      ? [{ operation: 'TrentAdmin.DescribeReplication', input: { KeyId: ref(fixture.keyId('mrk-sym')) } }]
      : []),
  ])
}

interface Attack {
  name: string
  label: string
  mustFail: boolean
  errorTypes?: string[]
  operation?: string
  input?: Template
  signing?: SigningRecipe
  tamper?: Tamper[]
  extraHeaders?: [string, string][]
}

const VICTIM = 'victim'

/** Attacks keyed by name, each a function of the random choices it makes. */
const ATTACKS: readonly [number, (rng: Prng, regions: Regions) => Attack][] = [
  [
    4,
    (rng) => {
      // Both succeed whether the victim is Enabled or Disabled: an accepted swap is always a 2xx.
      const swapped = rng.pick(['DisableKey', 'EnableKey'])
      return {
        name: 'unsigned-target-swapped',
        label: `a DescribeKey signed without x-amz-target, sent as ${swapped}`,
        mustFail: true,
        operation: 'DescribeKey',
        input: { KeyId: ref(fixture.keyId(VICTIM)) },
        signing: { unsigned: ['x-amz-target'] },
        tamper: [{ op: 'set-header', name: 'x-amz-target', value: `TrentService.${swapped}` }],
      }
    },
  ],
  [
    1,
    () => ({
      name: 'unsigned-target',
      label: 'x-amz-target left out of SignedHeaders (unchanged)',
      mustFail: false,
      signing: { unsigned: ['x-amz-target'] },
    }),
  ],
  [
    3,
    (rng) => ({
      name: 'unsigned-payload-swapped',
      label: 'signed with UNSIGNED-PAYLOAD, body swapped after signing',
      mustFail: true,
      operation: 'UpdateKeyDescription',
      input: { KeyId: ref(fixture.keyId(VICTIM)), Description: 'what the owner signed' },
      signing: { unsignedPayload: true },
      tamper: [{ op: 'set-body', body: { json: { KeyId: ref(fixture.keyId(VICTIM)), Description: `attacker ${rng.hex(6)}` } } }],
    }),
  ],
  [
    1,
    () => ({
      name: 'unsigned-payload',
      label: 'signed with UNSIGNED-PAYLOAD (body unchanged)',
      mustFail: false,
      signing: { unsignedPayload: true },
    }),
  ],
  [
    1,
    () => ({
      name: 'declared-payload-hash-wrong',
      label: 'x-amz-content-sha256 declares the hash of another body',
      mustFail: true,
      extraHeaders: [['x-amz-content-sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']],
    }),
  ],
  [
    3,
    (rng) => {
      const garbage = rng.pick([
        'AWS4-HMAC-SHA256 Credential=AKIAFUZZUNKNOWN00001/20200101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=' +
          '0'.repeat(64),
        'Bearer fuzz',
        'AWS4-HMAC-SHA256',
        '',
      ])
      const first = rng.chance(0.5)
      return {
        name: 'duplicate-authorization',
        label: `a second Authorization header (${garbage === '' ? 'empty' : garbage.slice(0, 20)}) ${first ? 'before' : 'after'} the valid one`,
        mustFail: true,
        tamper: [{ op: 'add-header', name: 'Authorization', value: garbage, first }],
      }
    },
  ],
  [
    2,
    (rng) =>
      rng.chance(0.5)
        ? {
            name: 'security-token-signed',
            label: 'long-term credentials with an X-Amz-Security-Token, signed',
            mustFail: true,
            errorTypes: ['UnrecognizedClientException'],
            signing: { credentials: 'session-token' },
          }
        : {
            name: 'security-token-added',
            label: 'an X-Amz-Security-Token added after signing',
            mustFail: true,
            errorTypes: ['UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignatureException'],
            tamper: [{ op: 'add-header', name: 'X-Amz-Security-Token', value: 'FwoGZXIvYXdzEFUZZ' }],
          },
  ],
  [
    1,
    () => ({
      name: 'host-unsigned',
      label: 'host left out of SignedHeaders',
      mustFail: true,
      errorTypes: ['InvalidSignatureException'],
      signing: { unsigned: ['host'] },
    }),
  ],
  [
    1,
    (rng) => ({
      name: 'host-changed',
      label: 'Host changed after signing',
      mustFail: true,
      tamper: [{ op: 'set-header', name: 'host', value: rng.pick(['evil.example.com', '127.0.0.1:1', 'localhost']) }],
    }),
  ],
  [
    1,
    () => ({
      name: 'date-unsigned',
      label: 'x-amz-date left out of SignedHeaders (unchanged)',
      mustFail: false,
      signing: { unsigned: ['x-amz-date'] },
    }),
  ],
  [
    1,
    (rng) => ({
      name: 'date-unsigned-changed',
      label: 'x-amz-date left out of SignedHeaders, then moved',
      mustFail: true,
      signing: { unsigned: ['x-amz-date'] },
      tamper: [{ op: 'shift-date', seconds: rng.pick([-60, -1, 1, 60]) }],
    }),
  ],
  [
    2,
    (rng) => {
      const seconds = rng.pick([-86_400 * 8, -86_400, -3600, -310, 310, 3600, 86_400])
      return {
        name: 'clock-skew',
        label: `signed ${Math.abs(seconds)} s in the ${seconds < 0 ? 'past' : 'future'}`,
        mustFail: true,
        errorTypes: ['InvalidSignatureException'],
        signing: { skewSeconds: seconds },
      }
    },
  ],
  [
    1,
    (rng) => ({
      name: 'clock-skew-tolerated',
      label: 'signed within the 5-minute window',
      mustFail: false,
      signing: { skewSeconds: rng.pick([-240, -30, 30, 240]) },
    }),
  ],
  [
    2,
    (rng) => {
      const service = rng.pick(['s3', 'KMS', 'sts', 'kms-fips', 'trent'])
      return {
        name: 'wrong-service',
        label: `scoped to service ${service}`,
        mustFail: true,
        errorTypes: ['InvalidSignatureException'],
        signing: { service },
      }
    },
  ],
  [
    1,
    () => ({
      name: 'unknown-region',
      label: 'scoped to a region outside the partition',
      mustFail: true,
      errorTypes: ['InvalidSignatureException'],
      signing: { scopeRegion: 'ap-south-1' },
    }),
  ],
  [
    2,
    (rng) => {
      const edit = rng.pick<{ find: string; replace: string; note: string }>([
        { find: '/aws4_request', replace: '/aws4_reques', note: 'terminator aws4_reques' },
        { find: '/aws4_request', replace: '/aws4_request/extra', note: 'a sixth scope element' },
        { find: '/kms/', replace: '/KMS/', note: 'service in upper case' },
        { find: '/kms/', replace: '//', note: 'no service' },
        { find: 'Credential=', replace: 'Credential=x', note: 'access key id changed' },
      ])
      return {
        name: 'scope-edited',
        label: `credential scope edited after signing: ${edit.note}`,
        mustFail: true,
        tamper: [{ op: 'edit-header', name: 'authorization', find: edit.find, replace: edit.replace }],
      }
    },
  ],
  [
    1,
    (rng, regions) => {
      const other = regions.secondary ?? 'eu-west-1'
      return {
        name: 'scope-region-edited',
        label: `the region in the credential scope changed to ${other} after signing`,
        mustFail: true,
        tamper: [
          {
            op: 'edit-header',
            name: 'authorization',
            find: `/${regions.primary}/`,
            replace: `/${rng.chance(0.5) ? other : 'us-gov-west-1'}/`,
          },
        ],
      }
    },
  ],
  [
    1,
    () => ({
      name: 'scope-date-edited',
      label: 'the date in the credential scope changed after signing',
      mustFail: true,
      tamper: [{ op: 'edit-header', name: 'authorization', find: '/20', replace: '/19' }],
    }),
  ],
  [
    3,
    (rng) => {
      const change = rng.pick(['uppercase', 'truncate', 'extend', 'flip', 'empty', 'non-hex', 'zero'] as const)
      return { name: 'signature-changed', label: `signature ${change}`, mustFail: true, tamper: [{ op: 'signature', change }] }
    },
  ],
  [
    1,
    () => ({
      name: 'unknown-access-key',
      label: 'signed with an access key nobody issued',
      mustFail: true,
      errorTypes: ['UnrecognizedClientException'],
      signing: { credentials: 'unknown-key' },
    }),
  ],
  [
    1,
    () => ({
      name: 'wrong-secret',
      label: 'signed with the wrong secret',
      mustFail: true,
      errorTypes: ['InvalidSignatureException'],
      signing: { credentials: 'wrong-secret' },
    }),
  ],
  [
    1,
    () => ({
      name: 'no-signature',
      label: 'no signature at all',
      mustFail: true,
      errorTypes: ['MissingAuthenticationTokenException'],
      signing: { mode: 'none' },
    }),
  ],
  [
    3,
    (rng) => {
      const body = rng.pick<{ body: { text: string } | { json: Template }; note: string }>([
        { body: { json: { KeyId: ref(fixture.keyId('sym-b')) } }, note: 'another key' },
        { body: { text: '{}' }, note: 'an empty object' },
        { body: { json: { KeyId: ref(fixture.keyId('sym')), Plaintext: base64Of(Buffer.from('swapped')) } }, note: 'another plaintext' },
      ])
      return {
        name: 'body-tampered',
        label: `body replaced after signing (${body.note})`,
        mustFail: true,
        tamper: [{ op: 'set-body', body: body.body }],
      }
    },
  ],
  [
    1,
    () => ({
      name: 'body-whitespace',
      label: 'a space appended to the body after signing',
      mustFail: true,
      tamper: [{ op: 'set-body', body: { text: '{"Limit":5} ' } }],
      operation: 'ListKeys',
      input: { Limit: 5 },
    }),
  ],
  [
    2,
    (rng) => {
      const path = rng.pick(['/?x=1', '/x', '/%2F', '/?X-Amz-Signature=0', '/..%2f'])
      return {
        name: 'path-changed',
        label: `request target changed to ${path} after signing`,
        mustFail: true,
        tamper: [{ op: 'set-path', path }],
      }
    },
  ],
  [
    1,
    (rng) => ({
      name: 'path-normalised',
      label: 'request target changed to an equivalent path',
      mustFail: false,
      tamper: [{ op: 'set-path', path: rng.pick(['//', '/./', '/a/..']) }],
    }),
  ],
  [
    1,
    () => ({
      name: 'method-changed',
      label: 'method changed to PUT after signing',
      mustFail: true,
      tamper: [{ op: 'set-method', method: 'PUT' }],
    }),
  ],
  [
    2,
    (rng) => {
      const edit = rng.pick<{ find: string; replace: string; note: string }>([
        { find: 'AWS4-HMAC-SHA256', replace: 'AWS4-HMAC-SHA512', note: 'algorithm SHA512' },
        { find: 'AWS4-HMAC-SHA256', replace: 'aws4-hmac-sha256', note: 'algorithm in lower case' },
        { find: 'AWS4-HMAC-SHA256', replace: 'AWS4-ECDSA-P256-SHA256', note: 'SigV4a algorithm' },
        { find: 'SignedHeaders=', replace: 'SignedHeaders=x-fuzz-absent;', note: 'an absent header in SignedHeaders' },
        { find: 'SignedHeaders=', replace: 'SignedHeaderz=', note: 'no SignedHeaders' },
        { find: 'Signature=', replace: 'Signature=, Signature=', note: 'two Signature parameters' },
        { find: 'Credential=', replace: 'Credential=, Credential=', note: 'two Credential parameters' },
        { find: ', ', replace: ' ', note: 'parameters separated by spaces only' },
      ])
      const mustFail = edit.note !== 'parameters separated by spaces only'
      return {
        name: 'authorization-edited',
        label: `Authorization edited: ${edit.note}`,
        mustFail,
        tamper: [{ op: 'edit-header', name: 'authorization', find: edit.find, replace: edit.replace, all: true }],
      }
    },
  ],
  [
    2,
    (rng) => {
      const game = rng.pick<{ tamper: Tamper; note: string; mustFail: boolean }>([
        { tamper: { op: 'rename-header', from: 'authorization', to: 'AUTHORIZATION' }, note: 'AUTHORIZATION', mustFail: false },
        { tamper: { op: 'rename-header', from: 'x-amz-date', to: 'X-AMZ-DATE' }, note: 'X-AMZ-DATE', mustFail: false },
        { tamper: { op: 'rename-header', from: 'host', to: 'HoSt' }, note: 'HoSt', mustFail: false },
        {
          tamper: {
            op: 'edit-header',
            name: 'authorization',
            find: 'SignedHeaders=content-type;host',
            replace: 'SignedHeaders=Content-Type;Host',
          },
          note: 'SignedHeaders in mixed case',
          mustFail: false,
        },
        {
          tamper: { op: 'edit-header', name: 'x-amz-target', find: '.', replace: '.  ' },
          note: 'spaces inside x-amz-target',
          mustFail: true,
        },
        {
          tamper: { op: 'edit-header', name: 'content-type', find: 'application', replace: 'application  ' },
          note: 'spaces inside Content-Type',
          mustFail: true,
        },
        {
          tamper: { op: 'edit-header', name: 'authorization', find: ', ', replace: ',\t' },
          note: 'a tab between parameters',
          mustFail: false,
        },
        {
          tamper: { op: 'add-header', name: 'x-amz-target', value: 'TrentService.DisableKey' },
          note: 'a second x-amz-target',
          mustFail: true,
        },
        {
          tamper: { op: 'add-header', name: 'x-amz-date', value: '20200101T000000Z', first: true },
          note: 'a second x-amz-date before the signed one',
          mustFail: true,
        },
        { tamper: { op: 'add-header', name: 'host', value: 'evil.example.com' }, note: 'a second Host', mustFail: false },
        { tamper: { op: 'date-as-http-date' }, note: 'x-amz-date replaced by a Date header', mustFail: true },
      ])
      return { name: 'header-games', label: `header games: ${game.note}`, mustFail: game.mustFail, tamper: [game.tamper] }
    },
  ],
  [2, () => ({ name: 'presigned', label: 'presigned query-string form', mustFail: false, signing: { mode: 'presigned' } })],
  [
    4,
    (rng) => {
      const variant = rng.pick<{ signing?: SigningRecipe; tamper?: Tamper[]; note: string; operation?: string; input?: Template }>([
        { signing: { mode: 'presigned', expiresIn: 1, skewSeconds: -10 }, note: 'expired (X-Amz-Expires 1, signed 10 s ago)' },
        { signing: { mode: 'presigned', skewSeconds: -400 }, note: 'signed 400 s ago' },
        { tamper: [{ op: 'set-query', name: 'X-Amz-Expires', value: '700000' }], note: 'X-Amz-Expires over a week' },
        { tamper: [{ op: 'set-query', name: 'X-Amz-Expires', value: 'soon' }], note: 'X-Amz-Expires not a number' },
        { tamper: [{ op: 'set-query', name: 'X-Amz-Signature', value: null }], note: 'no X-Amz-Signature' },
        { tamper: [{ op: 'set-query', name: 'X-Amz-Credential', value: null }], note: 'no X-Amz-Credential' },
        { tamper: [{ op: 'set-query', name: 'X-Amz-SignedHeaders', value: 'content-type' }], note: 'SignedHeaders without host' },
        {
          tamper: [
            {
              op: 'add-header',
              name: 'Authorization',
              value: 'AWS4-HMAC-SHA256 Credential=x/20200101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00',
            },
          ],
          note: 'an Authorization header as well',
        },
        { tamper: [{ op: 'signature', change: 'flip' }], note: 'signature flipped' },
        { tamper: [{ op: 'set-body', body: { text: '{"Limit":1}' } }], note: 'body replaced', operation: 'ListKeys', input: { Limit: 5 } },
        {
          signing: { mode: 'presigned', unsigned: ['x-amz-target'] },
          tamper: [{ op: 'set-header', name: 'x-amz-target', value: 'TrentService.DisableKey' }],
          note: 'x-amz-target unsigned and swapped',
          operation: 'DescribeKey',
          input: { KeyId: ref(fixture.keyId(VICTIM)) },
        },
        { signing: { mode: 'presigned', credentials: 'session-token' }, note: 'with a security token for long-term credentials' },
        { tamper: [{ op: 'shift-date', seconds: 1 }], note: 'X-Amz-Date moved' },
      ])
      return {
        name: 'presigned-tampered',
        label: `presigned: ${variant.note}`,
        mustFail: true,
        signing: { mode: 'presigned', ...variant.signing },
        ...(variant.tamper !== undefined ? { tamper: variant.tamper } : {}),
        ...(variant.operation !== undefined ? { operation: variant.operation } : {}),
        ...(variant.input !== undefined ? { input: variant.input } : {}),
      }
    },
  ],
]

export function sigv4Case(index: number, rng: Prng, regions: Regions): FuzzCase {
  const attack = rng.weighted(ATTACKS)(rng, regions)
  const base = baseRequest(rng, regions)
  const operation = attack.operation ?? base.operation
  const step = kmsStep(regions.primary, operation, attack.input ?? base.input, {
    countAs: `sigv4:${attack.name}`,
    request: {
      ...(attack.signing !== undefined ? { signing: attack.signing } : {}),
      ...(attack.tamper !== undefined ? { tamper: attack.tamper } : {}),
      ...(attack.extraHeaders !== undefined ? { extraHeaders: attack.extraHeaders } : {}),
    },
    ...(attack.mustFail
      ? { expect: { mustFail: true, ...(attack.errorTypes !== undefined ? { errorTypes: attack.errorTypes } : {}), why: attack.label } }
      : {}),
  })
  return oneStepCase(index, 'sigv4', `${attack.label} (${operation})`, step)
}
