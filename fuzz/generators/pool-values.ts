/**
 * Pool-aware values: references to real keys in every form a KeyId takes (key id, ARN,
 * alias, alias ARN, a replica's ARN), fixtures, and the small helpers the generators
 * share to build templates.
 *
 * @module
 */
import { PICKABLE_SLOTS, fixture, type KeySlot } from '../pool.js'
import type { Prng } from '../prng.js'
import type { BlobMutation, Placeholder, Template } from '../recipe.js'

export interface Regions {
  readonly primary: string
  readonly secondary: string | undefined
}

export function ref(name: string): Placeholder {
  return { $fuzz: 'ref', name }
}

export function fixtureBytes(name: string, mutate?: BlobMutation): Placeholder {
  return mutate === undefined ? { $fuzz: 'bytes', name } : { $fuzz: 'bytes', name, mutate }
}

export function format(text: string): Placeholder {
  return { $fuzz: 'format', text }
}

export function base64Of(bytes: Buffer): string {
  return bytes.toString('base64')
}

export function pickSlot(rng: Prng, predicate: (slot: KeySlot) => boolean, regions: Regions): KeySlot {
  const candidates = PICKABLE_SLOTS.filter((slot) => predicate(slot) && (regions.secondary !== undefined || slot.replicated !== true))
  return rng.pick(candidates.length > 0 ? candidates : PICKABLE_SLOTS)
}

/** A reference to a slot's key, in one of the forms a KeyId member accepts. */
export function keyReference(rng: Prng, slot: KeySlot, options: { allowAlias?: boolean; secondaryRegion?: boolean } = {}): Template {
  if (options.secondaryRegion === true && slot.replicated === true) {
    return rng.chance(0.5) ? ref(fixture.replicaArn(slot.name)) : ref(fixture.keyId(slot.name))
  }
  const forms: [number, () => Template][] = [
    [6, () => ref(fixture.keyId(slot.name))],
    [3, () => ref(fixture.keyArn(slot.name))],
  ]
  if (slot.alias === true && options.allowAlias !== false) {
    forms.push([1, () => ref(fixture.aliasName(slot.name))], [1, () => ref(fixture.aliasArn(slot.name))])
  }
  return rng.weighted(forms)()
}

/** KeyIds that name nothing, or something else than they seem. */
export function strayKeyReference(rng: Prng): { value: Template; note: string } {
  const uuid = `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-a${rng.hex(3)}-${rng.hex(12)}`
  return rng.pick([
    { value: uuid, note: 'an unknown key id' },
    { value: `mrk-${rng.hex(32)}`, note: 'an unknown multi-Region key id' },
    { value: format(`arn:aws:kms:{{${fixture.primaryRegion}}}:{{${fixture.account}}}:key/${uuid}`), note: 'an unknown key ARN' },
    {
      value: format(`arn:aws:kms:ap-south-1:{{${fixture.account}}}:key/{{${fixture.keyId('sym')}}}`),
      note: "a key's ARN in another region",
    },
    {
      value: format(`arn:aws:kms:{{${fixture.primaryRegion}}}:999999999999:key/{{${fixture.keyId('sym')}}}`),
      note: "a key's ARN in another account",
    },
    {
      value: format(`arn:aws-cn:kms:{{${fixture.primaryRegion}}}:{{${fixture.account}}}:key/{{${fixture.keyId('sym')}}}`),
      note: "a key's ARN in another partition",
    },
    { value: format(`arn:aws:kms:{{${fixture.primaryRegion}}}:{{${fixture.account}}}:alias/nope`), note: 'an unknown alias ARN' },
    { value: 'alias/fuzz-does-not-exist', note: 'an unknown alias' },
    { value: 'alias/aws/kms', note: 'an AWS managed alias' },
    { value: 'alias/', note: 'an empty alias' },
    { value: uuid.toUpperCase(), note: 'a key id in upper case' },
    { value: `${uuid} `, note: 'a key id with a trailing space' },
    { value: format(`{{${fixture.keyId('sym')}}}/../{{${fixture.keyId('sym-b')}}}`), note: 'two key ids joined by a path' },
    { value: format(`arn:aws:kms:{{${fixture.primaryRegion}}}:{{${fixture.account}}}:key/`), note: 'an ARN without a key id' },
    { value: 'arn:aws:kms:::key/', note: 'an ARN with empty fields' },
    { value: 'key/', note: 'a resource without a key' },
  ])
}

/** The pool's encryption context, or another. */
export function encryptionContext(rng: Prng): Template {
  return rng.weighted<() => Template>([
    [3, () => ({ purpose: 'fuzz', tenant: 't-1' })],
    [1, () => ({})],
    [1, () => ({ [rng.string(rng.int(1, 10), 'abcdefgh')]: rng.string(rng.int(0, 20), 'xyz0123') })],
    [1, () => ({ 'aws:kms:internal': 'x', '\u00e9': '\u0065\u0301' })],
  ])()
}

export function grantTokens(rng: Prng): Template {
  return rng.weighted<() => Template>([
    [3, () => []],
    [2, () => [ref(fixture.grantToken('sym'))]],
    [1, () => [ref(fixture.grantToken('scratch-sym-1')), ref(fixture.grantToken('sym'))]],
  ])()
}

/** A key policy: the default one (the account's root may do everything), or one of its neighbours. */
export function keyPolicy(rng: Prng): { value: Template; note: string } {
  const root = `{{${fixture.rootArn}}}`
  const allowRoot = `{"Sid":"root","Effect":"Allow","Principal":{"AWS":"${root}"},"Action":"kms:*","Resource":"*"}`
  return rng.weighted<() => { value: Template; note: string }>([
    [4, () => ({ value: format(`{"Version":"2012-10-17","Statement":[${allowRoot}]}`), note: 'the default policy' })],
    [
      2,
      () => ({
        value: format(
          `{"Version":"2012-10-17","Statement":[${allowRoot},{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:purpose":"blocked"}}}]}`,
        ),
        note: 'a policy with a conditional Deny',
      }),
    ],
    [
      1,
      () => ({
        value: format(
          `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"${root}"},"Action":"kms:Encrypt","Resource":"*"}]}`,
        ),
        note: 'a policy that locks the caller out',
      }),
    ],
    [1, () => ({ value: '{"Version":"2012-10-17","Statement":[', note: 'truncated JSON' })],
    [1, () => ({ value: '{}', note: 'an empty document' })],
    [1, () => ({ value: format(`{"Version":"1999-01-01","Statement":[${allowRoot}]}`), note: 'an unknown policy version' })],
    [
      1,
      () => ({ value: format(`{"Version":"2012-10-17","Statement":[${allowRoot}],"Statement":[]}`), note: 'a duplicate Statement member' }),
    ],
    [
      1,
      () => ({
        value: format(
          `{"Version":"2012-10-17","Statement":[${allowRoot},{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"nope"}}}]}`,
        ),
        note: 'a malformed condition value',
      }),
    ],
    [
      1,
      () => ({
        value: format(
          `{"Version":"2012-10-17","Statement":[${allowRoot},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${'1'.repeat(12)}:user/${'u'.repeat(300)}"},"Action":["kms:Encrypt","kms:Bogus*"],"Resource":["*"]}]}`,
        ),
        note: 'an odd principal and action',
      }),
    ],
    [1, () => ({ value: { $fuzz: 'nest', depth: 5000, kind: 'array' }, note: 'nested arrays instead of a string' })],
  ])()
}
