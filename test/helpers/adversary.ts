/**
 * Attack builders for the untrusted replication proxy (docs/spec/replication.md §10):
 * open an envelope, alter its JSON body or its envelope fields, and seal it again, with
 * the original signature, with none, or re-signed by a key the attacker holds (a fresh
 * P-384 key that is pinned nowhere) or by some region's HSM (a key pinned for *that*
 * region). Plus the field walker the "every field" tests use, the snapshots they compare,
 * and the attacker's side of a man-in-the-middle on the key agreement.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand, ReplicateKeyCommand } from '@aws-sdk/client-kms'
import type { Hsm } from '../../src/hsm/hsm.js'
import { deriveRwk, ecdhSharedSecret, pointOfPublicKey, rskIdOf, unwrapMaterials } from '../../src/hsm/soft/replication-crypto.js'
import { describeReplication } from '../../src/kms/admin/describe-replication.js'
import type { Kms } from '../../src/kms/kms.js'
import { receiveEnvelope, type InboundResult } from '../../src/kms/multi-region/inbound.js'
import type { Output } from '../../src/kms/operation.js'
import { encodeEnvelope, parseEnvelope, type Envelope } from '../../src/replication/envelope.js'
import { signingInput } from '../../src/replication/trust-store.js'
import type { InFlight, InMemoryPartition } from './in-memory-partition.js'
import { rootCaller } from '../../src/kms/access.js'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }
export type Path = ReadonlyArray<string | number>

// ---------------------------------------------------------------------------------------
// Envelopes

export interface Opened {
  envelope: Envelope
  /** The exact signed bytes. */
  bodyBytes: Buffer
  body: JsonObject
}

export function openEnvelope(bytes: Uint8Array): Opened {
  const { envelope, body } = parseEnvelope(bytes)
  return { envelope, bodyBytes: Buffer.from(body), body: JSON.parse(Buffer.from(body).toString('utf8')) as JsonObject }
}

export function bodyOf(bytes: Uint8Array): JsonObject {
  return openEnvelope(bytes).body
}

/** Raw JSON of the envelope, so tests can also break what `parseEnvelope` would refuse. */
export function rawEnvelope(bytes: Uint8Array): JsonObject {
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as JsonObject
}

export function sealRaw(raw: Json): Uint8Array {
  return Buffer.from(JSON.stringify(raw), 'utf8')
}

export function sealEnvelope(envelope: Envelope): Uint8Array {
  return encodeEnvelope(envelope)
}

export function encodeBody(body: JsonObject): Buffer {
  return Buffer.from(JSON.stringify(body), 'utf8')
}

/** Replaces the body's bytes and keeps everything else, the original signature included. */
export function withBodyKeepingSignature(bytes: Uint8Array, body: JsonObject | Uint8Array): Uint8Array {
  const { envelope } = parseEnvelope(bytes)
  const bodyBytes = body instanceof Uint8Array ? Buffer.from(body) : encodeBody(body)
  return sealEnvelope({ ...envelope, body: bodyBytes.toString('base64') })
}

/** Alters the body (a deep copy) and keeps the original signature. */
export function tamperBody(bytes: Uint8Array, mutate: (body: JsonObject) => void): Uint8Array {
  const body = structuredClone(bodyOf(bytes))
  mutate(body)
  return withBodyKeepingSignature(bytes, body)
}

/** Alters envelope fields only; the body and its signature stay as they were. */
export function tamperEnvelope(bytes: Uint8Array, mutate: (envelope: Envelope) => void): Uint8Array {
  const { envelope } = parseEnvelope(bytes)
  const copy: Envelope = { ...envelope, signature: { ...envelope.signature } }
  mutate(copy)
  return sealEnvelope(copy)
}

// ---------------------------------------------------------------------------------------
// Signers

export interface Signer {
  /** The key id the envelope will name. */
  keyId: string
  sign(body: Uint8Array): Promise<Buffer>
}

/** What the attacker can make: a P-384 key of its own, pinned for no region. */
export interface AttackerKey extends Signer {
  privateKey: KeyObject
  spki: Buffer
  /** The same key, but naming another key id (e.g. the victim's pinned RSK id). */
  claiming(keyId: string): Signer
}

function p1363(privateKey: KeyObject, body: Uint8Array): Buffer {
  return sign('sha384', signingInput(body), { key: privateKey, dsaEncoding: 'ieee-p1363' })
}

export function attackerSigningKey(): AttackerKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  const keyId = rskIdOf(spki)
  return {
    keyId,
    privateKey,
    spki,
    sign: (body) => Promise.resolve(p1363(privateKey, body)),
    claiming: (claimed) => ({ keyId: claimed, sign: (body) => Promise.resolve(p1363(privateKey, body)) }),
  }
}

/** Signs with a region's HSM: that region's newest RSK, which is pinned for that region only. */
export function hsmSigner(hsm: Hsm, keyId: string): Signer {
  return {
    keyId,
    async sign(body) {
      return Buffer.from((await hsm.signReplication(body)).signature)
    },
  }
}

export async function regionSigner(kms: Kms): Promise<Signer> {
  const keys = await kms.hsm.replicationSigningKeys()
  const newest = keys[keys.length - 1]
  if (newest === undefined) throw new Error('region has no RSK')
  return hsmSigner(kms.hsm, newest.id)
}

/**
 * Re-signs an envelope after altering its body and/or its envelope fields. The envelope's
 * `from`, `to` and `messageId` follow the (altered) body unless `envelope` overrides them.
 */
export async function resign(
  bytes: Uint8Array,
  signer: Signer,
  options: { body?: (body: JsonObject) => void; envelope?: (envelope: Envelope) => void } = {},
): Promise<Uint8Array> {
  const { envelope, body } = openEnvelope(bytes)
  const altered = structuredClone(body)
  options.body?.(altered)
  const bodyBytes = encodeBody(altered)
  const next: Envelope = {
    ...envelope,
    from: typeof altered.from === 'string' ? altered.from : envelope.from,
    to: typeof altered.to === 'string' ? altered.to : envelope.to,
    messageId: typeof altered.messageId === 'string' ? altered.messageId : envelope.messageId,
    body: bodyBytes.toString('base64'),
    signature: { keyId: signer.keyId, value: (await signer.sign(bodyBytes)).toString('base64') },
  }
  options.envelope?.(next)
  return sealEnvelope(next)
}

// ---------------------------------------------------------------------------------------
// Walking and altering every field

export function leaves(value: Json, path: Path = []): Array<{ path: Path; value: Json }> {
  if (Array.isArray(value)) {
    if (value.length === 0) return [{ path, value }]
    return value.flatMap((v, i) => leaves(v, [...path, i]))
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
    if (entries.length === 0) return [{ path, value }]
    return entries.flatMap(([k, v]) => leaves(v, [...path, k]))
  }
  return [{ path, value }]
}

/** Every object and array on the way to the leaves, for structural alterations. */
export function containers(value: Json, path: Path = []): Array<{ path: Path; value: Json[] | JsonObject }> {
  if (Array.isArray(value)) return [{ path, value }, ...value.flatMap((v, i) => containers(v, [...path, i]))]
  if (value !== null && typeof value === 'object')
    return [{ path, value }, ...Object.entries(value).flatMap(([k, v]) => containers(v, [...path, k]))]
  return []
}

export function getAt(root: Json, path: Path): Json {
  let at: Json = root
  for (const step of path) at = (at as Record<string | number, Json>)[step] as Json
  return at
}

export function setAt(root: Json, path: Path, value: Json | undefined): void {
  if (path.length === 0) throw new Error('cannot replace the root')
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, Json>
  const last = path[path.length - 1] as string | number
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete parent[last]
  } else parent[last] = value
}

export function pathText(path: Path): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.')
}

const HEX = '0123456789abcdef'
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** One character changed for another of the same alphabet, so the value still looks valid. */
export function flipChar(value: string, at = Math.floor(value.length / 2)): string {
  if (value.length === 0) return 'x'
  const i = Math.min(Math.max(at, 0), value.length - 1)
  const c = value[i] as string
  const alphabet = HEX.includes(c) && /^[0-9a-f-]+$/.test(value) ? HEX : B64.includes(c) ? B64 : undefined
  const next = alphabet === undefined ? (c === 'x' ? 'y' : 'x') : (alphabet[(alphabet.indexOf(c) + 1) % alphabet.length] as string)
  return value.slice(0, i) + next + value.slice(i + 1)
}

/** Flips one bit of the bytes a base64 string carries; the result is still valid base64. */
export function flipBase64Bit(value: string, byte = -1, bit = 0): string {
  const bytes = Buffer.from(value, 'base64')
  if (bytes.length === 0) return Buffer.from([1]).toString('base64')
  const i = byte < 0 ? bytes.length + byte : Math.min(byte, bytes.length - 1)
  bytes[i] = (bytes[i] ?? 0) ^ (1 << bit)
  return bytes.toString('base64')
}

export interface FieldContext {
  /** Regions the partition knows, for "another valid region" swaps. */
  regions: string[]
  /** Another multi-Region key id, for key swaps. */
  otherKeyId: string
  /** An attacker's P-384 point (base64), for public key swaps. */
  attackerPoint: string
}

const REGION = /^([a-z]+-){2,3}\d+$/
const MRK = /^mrk-[0-9a-f]{32}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const HEXS = /^[0-9a-f]+$/
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Altered values for one leaf: each both "flipped" and "swapped for another valid-looking value". */
export function alternatives(path: Path, value: Json, ctx: FieldContext): Array<{ label: string; value: Json | undefined }> {
  const out: Array<{ label: string; value: Json | undefined }> = []
  const name = String(path[path.length - 1] ?? '')
  if (typeof value === 'number') {
    out.push({ label: '+1', value: value + 1 })
    out.push({ label: value > 0 ? '-1' : 'large', value: value > 0 ? value - 1 : 2 ** 31 })
  } else if (typeof value === 'boolean') {
    out.push({ label: 'negated', value: !value })
  } else if (typeof value === 'string') {
    if (REGION.test(value)) {
      out.push({ label: 'flipped char', value: flipChar(value, value.length - 1) })
      const other = ctx.regions.find((r) => r !== value)
      if (other !== undefined) out.push({ label: `swapped for region ${other}`, value: other })
    } else if (MRK.test(value)) {
      out.push({ label: 'flipped char', value: flipChar(value) })
      out.push({
        label: 'swapped for another key',
        value: ctx.otherKeyId === value ? `mrk-${randomBytes(16).toString('hex')}` : ctx.otherKeyId,
      })
    } else if (UUID.test(value)) {
      out.push({ label: 'flipped char', value: flipChar(value, 0) })
      out.push({ label: 'swapped for a fresh uuid', value: randomUUID() })
    } else if (HEXS.test(value) && value.length % 2 === 0) {
      out.push({ label: 'flipped char', value: flipChar(value, 0) })
      out.push({ label: 'swapped for fresh hex', value: randomBytes(value.length / 2).toString('hex') })
    } else if (BASE64.test(value) && value.length >= 8) {
      out.push({ label: 'flipped bit', value: flipBase64Bit(value) })
      const bytes = Buffer.from(value, 'base64')
      if (bytes.length === 97 && bytes[0] === 0x04) out.push({ label: "swapped for the attacker's public key", value: ctx.attackerPoint })
      else out.push({ label: 'swapped for random bytes', value: randomBytes(bytes.length).toString('base64') })
    } else {
      out.push({ label: 'flipped char', value: flipChar(value) })
      out.push({ label: 'swapped', value: name === 'type' ? (value === 'SharedState' ? 'SyncAck' : 'SharedState') : `${value}x` })
    }
  } else if (Array.isArray(value)) {
    // An empty array: give it an element.
    out.push({ label: 'given an element', value: [1] })
  } else if (value !== null && typeof value === 'object') {
    out.push({ label: 'given a member', value: { x: 1 } })
  }
  out.push({ label: 'removed', value: undefined })
  return out
}

export interface Alteration {
  label: string
  apply(root: JsonObject): void
}

/** Every alteration of every field of a body: each leaf altered, each container reshaped. */
export function everyAlteration(body: JsonObject, ctx: FieldContext): Alteration[] {
  const out: Alteration[] = []
  for (const { path, value } of leaves(body)) {
    for (const alt of alternatives(path, value, ctx)) {
      out.push({
        label: `${pathText(path)} ${alt.label}`,
        apply: (root) => setAt(root, path, alt.value === undefined ? undefined : structuredClone(alt.value)),
      })
    }
  }
  for (const { path, value } of containers(body)) {
    if (Array.isArray(value) && value.length > 0) {
      out.push({ label: `${pathText(path)} last element dropped`, apply: (root) => (getAt(root, path) as Json[]).pop() })
      out.push({
        label: `${pathText(path)} first element duplicated`,
        apply: (root) => (getAt(root, path) as Json[]).push(structuredClone((getAt(root, path) as Json[])[0] as Json)),
      })
      if (value.length > 1) out.push({ label: `${pathText(path)} reversed`, apply: (root) => (getAt(root, path) as Json[]).reverse() })
    } else if (!Array.isArray(value) && path.length > 0) {
      out.push({ label: `${pathText(path)} given an extra member`, apply: (root) => ((getAt(root, path) as JsonObject).extra = true) })
    }
  }
  out.push({ label: 'body given an extra member', apply: (root) => (root.injected = 'x') })
  return out
}

/** Every alteration of the envelope's own fields, body and signature kept as bytes. */
export function envelopeAlterations(
  envelope: Envelope,
  ctx: FieldContext & { otherSignatureKeyId: string },
): Array<{ label: string; raw: (raw: JsonObject) => void }> {
  const other =
    ctx.regions.find((r) => r !== envelope.from && r !== envelope.to) ?? ctx.regions.find((r) => r !== envelope.from) ?? 'sa-east-1'
  const otherTo = ctx.regions.find((r) => r !== envelope.to && r !== envelope.from) ?? 'sa-east-1'
  const sig = (raw: JsonObject): JsonObject => raw.signature as JsonObject
  return [
    { label: 'v set to 2', raw: (raw) => (raw.v = 2) },
    { label: 'v as a string', raw: (raw) => (raw.v = '1') },
    { label: 'v removed', raw: (raw) => delete raw.v },
    { label: 'messageId flipped', raw: (raw) => (raw.messageId = flipChar(envelope.messageId, 0)) },
    { label: 'messageId swapped for a fresh uuid', raw: (raw) => (raw.messageId = randomUUID()) },
    { label: 'messageId removed', raw: (raw) => delete raw.messageId },
    { label: 'from flipped', raw: (raw) => (raw.from = flipChar(envelope.from, envelope.from.length - 1)) },
    { label: `from swapped for ${other}`, raw: (raw) => (raw.from = other) },
    { label: 'from swapped for to', raw: (raw) => (raw.from = envelope.to) },
    { label: 'from removed', raw: (raw) => delete raw.from },
    { label: 'to flipped', raw: (raw) => (raw.to = flipChar(envelope.to, envelope.to.length - 1)) },
    { label: `to swapped for ${otherTo}`, raw: (raw) => (raw.to = otherTo) },
    { label: 'to removed', raw: (raw) => delete raw.to },
    { label: 'body: one bit flipped', raw: (raw) => (raw.body = flipBase64Bit(envelope.body, 10)) },
    { label: 'body: last bit flipped', raw: (raw) => (raw.body = flipBase64Bit(envelope.body, -1, 7)) },
    {
      label: 'body: truncated by one byte',
      raw: (raw) => (raw.body = Buffer.from(envelope.body, 'base64').subarray(0, -1).toString('base64')),
    },
    {
      label: 'body: one byte appended',
      raw: (raw) => (raw.body = Buffer.concat([Buffer.from(envelope.body, 'base64'), Buffer.from(' ')]).toString('base64')),
    },
    { label: 'body: empty', raw: (raw) => (raw.body = '') },
    { label: 'body removed', raw: (raw) => delete raw.body },
    { label: 'signature.keyId flipped', raw: (raw) => (sig(raw).keyId = flipChar(envelope.signature.keyId, 0)) },
    { label: "signature.keyId swapped for another region's RSK id", raw: (raw) => (sig(raw).keyId = ctx.otherSignatureKeyId) },
    { label: 'signature.keyId removed', raw: (raw) => delete sig(raw).keyId },
    { label: 'signature.value: first bit flipped', raw: (raw) => (sig(raw).value = flipBase64Bit(envelope.signature.value, 0)) },
    { label: 'signature.value: last bit flipped', raw: (raw) => (sig(raw).value = flipBase64Bit(envelope.signature.value, -1, 7)) },
    {
      label: 'signature.value: r and s swapped',
      raw: (raw) => {
        const v = Buffer.from(envelope.signature.value, 'base64')
        sig(raw).value = Buffer.concat([v.subarray(48), v.subarray(0, 48)]).toString('base64')
      },
    },
    {
      label: 'signature.value truncated',
      raw: (raw) => (sig(raw).value = Buffer.from(envelope.signature.value, 'base64').subarray(0, 95).toString('base64')),
    },
    { label: 'signature.value as DER length', raw: (raw) => (sig(raw).value = randomBytes(104).toString('base64')) },
    { label: 'signature.value zeroed', raw: (raw) => (sig(raw).value = Buffer.alloc(96).toString('base64')) },
    { label: 'signature removed', raw: (raw) => delete raw.signature },
    { label: 'signature as a string', raw: (raw) => (raw.signature = envelope.signature.value) },
  ]
}

/** P-384 group order. */
const P384_N = BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973')

/** The malleated ECDSA signature (r, n − s): also valid for the same message, a different byte string. */
export function negateS(signatureB64: string): string {
  const v = Buffer.from(signatureB64, 'base64')
  const s = BigInt(`0x${v.subarray(48).toString('hex')}`)
  const ns = (P384_N - s).toString(16).padStart(96, '0')
  return Buffer.concat([v.subarray(0, 48), Buffer.from(ns, 'hex')]).toString('base64')
}

// ---------------------------------------------------------------------------------------
// The attacker's own key agreement (the man in the middle)

export interface AttackerEcdh {
  privateKey: KeyObject
  /** Uncompressed SEC1 point, base64, as a message carries it. */
  point: string
}

export function attackerEcdhKey(): AttackerEcdh {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  return { privateKey, point: pointOfPublicKey(publicKey).toString('base64') }
}

/**
 * What the attacker can do with a MaterialTransfer it saw: ECDH with its own private key
 * against the message's RAKA, derive the RWK as the spec does (with its own point, or the
 * echoed RAKB, as the other half), unwrap. Returns the plaintext materials if that works.
 */
export function attackerUnwrap(transfer: JsonObject, attacker: AttackerEcdh): Buffer[] | undefined {
  const raka = Buffer.from(String(transfer.rakaPublicKey), 'base64')
  const materials = transfer.materials as JsonObject[]
  const binding = {
    sessionId: String(transfer.sessionId),
    partition: String(transfer.partition),
    sourceRegion: String(transfer.from),
    destinationRegion: String(transfer.to),
    keyId: String(transfer.keyId),
  }
  const wrapped = materials.map((m) => ({
    materialVersion: Number(m.version),
    materialId: String(m.materialId),
    wrapped: Buffer.from(String(m.wrapped), 'base64'),
  }))
  const versions = wrapped.map((w) => w.materialVersion)
  for (const rakb of [Buffer.from(attacker.point, 'base64'), Buffer.from(String(transfer.rakbPublicKey), 'base64')]) {
    try {
      const z = ecdhSharedSecret(attacker.privateKey, raka)
      const rwk = deriveRwk(z, binding, versions, raka, rakb)
      return unwrapMaterials(rwk, binding, wrapped)
    } catch {
      // does not authenticate: try the other half
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------
// State snapshots

export interface RegionSnapshot {
  keys: unknown
  materials: unknown
  sessions?: unknown
  answered?: unknown
  outbox?: unknown
}

/**
 * A region's keys and materials (deep copies), optionally of one key only; `full` adds
 * its open sessions, answered sessions and outbox (a refused message must queue nothing).
 */
export function snapshot(kms: Kms, options: { keyId?: string; full?: boolean } = {}): RegionSnapshot {
  const mine = ([id]: [string, unknown]): boolean => options.keyId === undefined || id === options.keyId
  const out: RegionSnapshot = { keys: [...kms.keys.entries()].filter(mine), materials: [...kms.materials.entries()].filter(mine) }
  if (options.full === true) {
    out.sessions = [...kms.sessions.entries()]
    out.answered = [...kms.answered.entries()]
    out.outbox = [...kms.outbox.keys()]
  }
  return structuredClone(out)
}

export function sameSnapshot(a: RegionSnapshot, b: RegionSnapshot): boolean {
  return isDeepStrictEqual(a, b)
}

// ---------------------------------------------------------------------------------------
// Schedules

/** A deterministic shuffle driven by a list of numbers (from fast-check), so runs shrink. */
export function shuffleBy<T>(items: readonly T[], choices: readonly number[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const c = choices.length === 0 ? 0 : (choices[i % choices.length] as number)
    const j = c % (i + 1)
    const tmp = out[i] as T
    out[i] = out[j] as T
    out[j] = tmp
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Driving a partition as the proxy

export const A = 'us-east-1'
export const B = 'eu-west-1'
export const C = 'ap-southeast-2'
export const ACCOUNT = '111122223333'
export const arnIn = (region: string, keyId: string): string => `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`

export async function createMrk(p: InMemoryPartition, region = A): Promise<string> {
  const keyId = (
    await p
      .region(region)
      .client()
      .send(new CreateKeyCommand({ MultiRegion: true }))
  ).KeyMetadata?.KeyId
  if (keyId === undefined) throw new Error('CreateKey returned no key id')
  return keyId
}

export async function replicatedKey(p: InMemoryPartition, replicas: string[], primary = A): Promise<string> {
  const keyId = await createMrk(p, primary)
  for (const region of replicas)
    await p
      .region(primary)
      .client()
      .send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region }))
  await p.settle()
  return keyId
}

/** The key id a captured envelope's body names. */
export function keyIdOf(bytes: Uint8Array): string {
  return String(bodyOf(bytes).keyId)
}

/** Delivers bytes straight to a region, as the proxy would, and records the delivery. */
export async function deliver(p: InMemoryPartition, to: string, bytes: Uint8Array, from = '?'): Promise<InboundResult> {
  const result = await receiveEnvelope(p.region(to).kms, bytes)
  let type = 'unparseable'
  try {
    type = String(bodyOf(bytes).type)
  } catch {
    // left as unparseable
  }
  p.deliveries.push({ from, to, bytes, type, deliveredTo: to, result })
  return result
}

/**
 * Puts the proxy in capture mode: every envelope the regions send is kept, none
 * delivered. `next()` flushes the senders and returns what was captured so far.
 */
export function capture(p: InMemoryPartition): { captured: InFlight[]; next(): Promise<InFlight[]>; stop(): void } {
  const captured: InFlight[] = []
  p.intercept = (e) => {
    captured.push(e)
    return []
  }
  return {
    captured,
    async next() {
      await p.settle()
      return captured.splice(0)
    },
    stop() {
      p.intercept = undefined
    },
  }
}

/**
 * Steps the protocol one genuine message at a time: `trigger` runs with the proxy in
 * capture mode; before each captured message is delivered, `attack` may do what it likes
 * with it (the receiver's state is then as the genuine message would find it); then the
 * genuine message is delivered and its answers are captured, until nothing moves.
 */
export async function stepThrough(
  p: InMemoryPartition,
  trigger: () => Promise<unknown>,
  attack: (e: InFlight) => Promise<void>,
  seen: InFlight[] = [],
): Promise<InFlight[]> {
  const proxy = capture(p)
  try {
    await trigger()
    for (;;) {
      // Quiesce first: every sender flushed (into the capture), so nothing moves while the attack runs.
      await p.settle()
      const e = proxy.captured.shift()
      if (e === undefined) break
      await attack(e)
      seen.push(e)
      const result = await deliver(p, e.to, e.bytes, e.from)
      if (result.outcome === 'refused') throw new Error(`the genuine ${e.type} ${e.from}→${e.to} was refused: ${result.reason ?? ''}`)
    }
  } finally {
    proxy.stop()
  }
  return seen
}

export function describeReplicationIn(p: InMemoryPartition, region: string, keyId: string): Promise<Output> {
  return describeReplication.handle(
    p.region(region).kms,
    { KeyId: keyId },
    { requestId: 'adversarial-test', caller: rootCaller(p.region(region).kms) },
  )
}

export interface ReplicaView {
  Region: string
  State: 'IN_SYNC' | 'PENDING' | 'CREATING'
  MaterialVersions: number[]
  AcknowledgedSyncVersion: number
  Pending: string[]
  Note?: string
}

export async function replicaViews(p: InMemoryPartition, primary: string, keyId: string): Promise<ReplicaView[]> {
  return ((await describeReplicationIn(p, primary, keyId)).Replicas ?? []) as ReplicaView[]
}

/** Regions whose copy of the key says it is the primary. */
export function primariesOf(p: InMemoryPartition, keyId: string): string[] {
  return [...p.regions.values()].filter((r) => r.kms.keys.get(keyId)?.mrk?.role === 'PRIMARY').map((r) => r.region)
}

function materialIds(kms: Kms, keyId: string): Array<[number, string]> {
  return (kms.materials.get(keyId) ?? []).map((m) => [m.version, m.materialId])
}

/**
 * Safety, at any moment, attack or not: at most one primary; no two regions hold
 * different material ids for one version; every region holding the key in a usable state
 * holds the primary's current version and its own current version; the primary never
 * reports a replica IN_SYNC that does not hold every version the primary holds, with the
 * same ids, at the primary's sync version.
 */
export async function assertSafe(p: InMemoryPartition, keyId: string): Promise<void> {
  const primaries = primariesOf(p, keyId)
  assert.ok(primaries.length <= 1, `more than one primary: ${primaries.join(', ')}`)
  const byVersion = new Map<number, { id: string; region: string }>()
  for (const r of p.regions.values()) {
    for (const [version, id] of materialIds(r.kms, keyId)) {
      const known = byVersion.get(version)
      if (known === undefined) byVersion.set(version, { id, region: r.region })
      else assert.equal(id, known.id, `version ${version}: ${r.region} holds material id ${id}, ${known.region} holds ${known.id}`)
    }
  }
  const primary = primaries[0]
  if (primary === undefined) return
  const primaryKey = p.region(primary).kms.keys.get(keyId)
  if (primaryKey?.mrk === undefined) return
  const primaryVersions = materialIds(p.region(primary).kms, keyId)
  for (const r of p.regions.values()) {
    const key = r.kms.keys.get(keyId)
    if (key === undefined || key.state === 'Creating') continue
    const held = new Set(materialIds(r.kms, keyId).map(([v]) => v))
    assert.ok(
      held.has(key.currentMaterialVersion),
      `${r.region} encrypts with version ${key.currentMaterialVersion}, which it does not hold`,
    )
    assert.ok(
      held.has(primaryKey.currentMaterialVersion),
      `the primary's current version ${primaryKey.currentMaterialVersion} is not held by ${r.region}`,
    )
  }
  for (const view of await replicaViews(p, primary, keyId)) {
    if (view.State !== 'IN_SYNC') continue
    const replica = p.regions.get(view.Region)?.kms
    const key = replica?.keys.get(keyId)
    assert.ok(replica !== undefined && key !== undefined, `the primary counts ${view.Region} IN_SYNC, but it holds no such key`)
    assert.notEqual(key.state, 'Creating', `the primary counts ${view.Region} IN_SYNC, but it is Creating`)
    assert.deepEqual(materialIds(replica, keyId), primaryVersions, `the primary counts ${view.Region} IN_SYNC, but its material differs`)
    assert.equal(
      key.mrk?.syncVersion,
      primaryKey.mrk.syncVersion,
      `the primary counts ${view.Region} IN_SYNC, but it is at another sync version`,
    )
  }
}

export interface Ciphertext {
  madeIn: string
  plaintext: string
  blob: Uint8Array
}

const CONTEXT = { purpose: 'adversarial-replication' }

/** Encrypts in `region` and returns what to decrypt later. */
export async function encryptIn(p: InMemoryPartition, region: string, keyId: string, plaintext: string): Promise<Ciphertext> {
  const out = await p
    .region(region)
    .client()
    .send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext), EncryptionContext: CONTEXT }))
  assert.ok(out.CiphertextBlob !== undefined)
  return { madeIn: region, plaintext, blob: out.CiphertextBlob }
}

export async function decryptIn(p: InMemoryPartition, region: string, c: Ciphertext): Promise<void> {
  const out = await p
    .region(region)
    .client()
    .send(new DecryptCommand({ CiphertextBlob: c.blob, EncryptionContext: CONTEXT }))
  assert.equal(Buffer.from(out.Plaintext ?? []).toString(), c.plaintext, `${region} decrypts what ${c.madeIn} made`)
}

/** Regions whose copy of the key can encrypt and decrypt. */
export function usableHolders(p: InMemoryPartition, keyId: string): string[] {
  return [...p.regions.values()].filter((r) => ['Enabled', 'Updating'].includes(r.kms.keys.get(keyId)?.state ?? '')).map((r) => r.region)
}

/**
 * Material equality: every region holding the key holds the same versions with the same
 * material ids and shows the same CurrentKeyMaterialId; a ciphertext made in any of them
 * (now, or `earlier`) decrypts in every other. Returns the ciphertexts it made.
 */
export async function assertSameMaterialEverywhere(
  p: InMemoryPartition,
  keyId: string,
  options: { earlier?: Ciphertext[]; regions?: string[]; expectRegions?: string[] } = {},
): Promise<Ciphertext[]> {
  await assertSafe(p, keyId)
  const holders = options.regions ?? [...p.regions.values()].filter((r) => r.kms.keys.has(keyId)).map((r) => r.region)
  if (options.expectRegions !== undefined)
    assert.deepEqual([...holders].sort(), [...options.expectRegions].sort(), 'the regions holding the key')
  assert.ok(holders.length > 0)
  const first = holders[0] as string
  const reference = materialIds(p.region(first).kms, keyId)
  const currentIds = new Set<string | undefined>()
  for (const region of holders) {
    const key = p.region(region).kms.keys.get(keyId)
    assert.ok(key !== undefined, `${region} holds the key`)
    assert.equal(key.state, 'Enabled', `${region}'s key is Enabled`)
    assert.deepEqual(materialIds(p.region(region).kms, keyId), reference, `${region} holds the same material versions and ids as ${first}`)
    currentIds.add(
      (
        await p
          .region(region)
          .client()
          .send(new DescribeKeyCommand({ KeyId: keyId }))
      ).KeyMetadata?.CurrentKeyMaterialId,
    )
  }
  assert.equal(currentIds.size, 1, `one CurrentKeyMaterialId everywhere, got ${[...currentIds].join(', ')}`)
  const primary = primariesOf(p, keyId)[0]
  if (primary !== undefined && holders.includes(primary)) {
    for (const view of await replicaViews(p, primary, keyId)) {
      if (holders.includes(view.Region))
        assert.equal(view.State, 'IN_SYNC', `the primary sees ${view.Region} IN_SYNC once all is settled: ${JSON.stringify(view)}`)
    }
  }
  const made: Ciphertext[] = []
  for (const region of holders) made.push(await encryptIn(p, region, keyId, `made in ${region} #${randomUUID()}`))
  for (const c of [...(options.earlier ?? []), ...made]) for (const region of holders) await decryptIn(p, region, c)
  return made
}

/** A small seeded PRNG (mulberry32), for reproducible "random" replay orders. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = out[i] as T
    out[i] = out[j] as T
    out[j] = tmp
  }
  return out
}

/** Counts the HSM's key-agreement calls of every region: each wrap makes a RAKA, each open a RAKB. */
export function countAgreements(p: InMemoryPartition): { wraps: Map<string, number>; opens: Map<string, number>; restore(): void } {
  const wraps = new Map<string, number>()
  const opens = new Map<string, number>()
  const restores: Array<() => void> = []
  for (const r of p.regions.values()) {
    const hsm = r.kms.hsm as Hsm
    const originalWrap = hsm.wrapForTransfer
    const originalOpen = hsm.openAgreement
    const wrap = hsm.wrapForTransfer.bind(hsm)
    const open = hsm.openAgreement.bind(hsm)
    hsm.wrapForTransfer = (...args: Parameters<Hsm['wrapForTransfer']>) => {
      wraps.set(r.region, (wraps.get(r.region) ?? 0) + 1)
      return wrap(...args)
    }
    hsm.openAgreement = (...args: Parameters<Hsm['openAgreement']>) => {
      opens.set(r.region, (opens.get(r.region) ?? 0) + 1)
      return open(...args)
    }
    restores.push(() => {
      hsm.wrapForTransfer = originalWrap
      hsm.openAgreement = originalOpen
    })
  }
  return { wraps, opens, restore: () => restores.forEach((f) => f()) }
}

/** Every RAKA seen per session, across every MaterialTransfer the proxy ever carried. */
export function rakasPerSession(p: InMemoryPartition): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const d of p.deliveries) {
    if (d.type !== 'MaterialTransfer') continue
    try {
      const body = bodyOf(d.bytes)
      const set = out.get(String(body.sessionId)) ?? new Set<string>()
      set.add(String(body.rakaPublicKey))
      out.set(String(body.sessionId), set)
    } catch {
      // an altered envelope
    }
  }
  return out
}

/**
 * What must not change when old messages are replayed: each region's key (minus the
 * primary's bookkeeping of when it last heard from or wrote to a replica), its materials,
 * and its open sessions for the key.
 */
export function stableState(p: InMemoryPartition, keyId: string, options: { ignoreReportedHeld?: boolean } = {}): unknown {
  return [...p.regions.values()].map((r) => {
    const key = r.kms.keys.get(keyId)
    let normalised: unknown = key
    if (key?.mrk?.replicas !== undefined) {
      const replicas = Object.fromEntries(
        Object.entries(key.mrk.replicas).map(([region, status]) => {
          const { lastSyncedAt: _a, lastSentAt: _b, ...rest } = status
          if (options.ignoreReportedHeld === true) {
            const { held: _h, note: _n, ...kept } = rest
            return [region, kept]
          }
          return [region, rest]
        }),
      )
      normalised = { ...key, mrk: { ...key.mrk, replicas } }
    }
    return structuredClone({
      region: r.region,
      key: normalised,
      materials: r.kms.materials.get(keyId) ?? [],
      sessions: [...r.kms.sessions.values()].filter((s) => s.keyId === keyId),
    })
  })
}
