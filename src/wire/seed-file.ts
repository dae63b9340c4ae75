/**
 * The seed file (`--seed FILE`, docs/spec/seed-file.md): keys a partition creates at start
 * with the ids, material and history it gives, so that two partitions started from one
 * file hold the same keys and decrypt each other's ciphertexts.
 *
 * This module reads and checks the file; it does not create anything (src/kms/seed.ts
 * does, in each region). The launcher parses the file before it starts any process, so a
 * bad file fails the start at once; each region parses it again for its own keys.
 *
 * Error messages name the file's key (its index and id) and the problem, never the
 * material: the file is trusted, but what a message says may end up in a log.
 *
 * @module
 */
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { isHmac, isKeySpec, keyUsagesFor, type KeySpec, type KeyUsage } from './key-specs.js'

/** One key of the seed file, checked and decoded. */
export interface SeedKey {
  keyId: string
  /** The region the key is created in: a multi-Region key's primary region. */
  region: string
  keySpec: KeySpec
  keyUsage: KeyUsage
  description: string
  /**
   * Each material version, oldest first (version 1 first): raw bytes for symmetric and
   * HMAC keys, the private key as DER PKCS#8 for asymmetric ones. The last is current.
   */
  material: Uint8Array[]
  aliases: string[]
  multiRegion: boolean
  replicaRegions: string[]
  /** The key policy as a JSON document; undefined: CreateKey's default policy. */
  policy?: string
  tags: Array<{ TagKey: string; TagValue: string }>
}

/**
 * The exit code of a region whose seed file is bad or whose seed key cannot be created
 * (EX_CONFIG): the launcher then stops the partition rather than restart the region.
 */
export const SEED_FAILED_EXIT_CODE = 78

export class SeedFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SeedFileError'
  }
}

export interface SeedParseOptions {
  /** The partition's regions; when given, every region the file names must be one of them. */
  regions?: readonly string[]
}

const UUID_KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
// AWS: "mrk-" followed by 32 hexadecimal digits (the multi-Region key id format).
const MRK_KEY_ID = /^mrk-[0-9a-f]{32}$/
const REGION = /^([a-z]+-){2,3}\d+$/
// CreateAlias's AliasName pattern in the AWS model, plus the reserved prefix.
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/
const MAX_ALIAS_LENGTH = 256
const MAX_ALIASES_PER_KEY = 50
const MAX_DESCRIPTION_LENGTH = 8192
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const SYMMETRIC_KEY_BYTES = 32
/** Bytes of HMAC key material each spec takes (the bounds AWS sets for imported HMAC keys). */
const HMAC_BYTES: Record<string, { min: number; max: number }> = {
  HMAC_224: { min: 28, max: 64 },
  HMAC_256: { min: 32, max: 64 },
  HMAC_384: { min: 48, max: 128 },
  HMAC_512: { min: 64, max: 128 },
}
/** What node:crypto reports for each key spec it can parse. */
const NODE_KEY_SHAPE: Partial<Record<KeySpec, { type: string; modulusLength?: number; namedCurve?: string }>> = {
  RSA_2048: { type: 'rsa', modulusLength: 2048 },
  RSA_3072: { type: 'rsa', modulusLength: 3072 },
  RSA_4096: { type: 'rsa', modulusLength: 4096 },
  ECC_NIST_P256: { type: 'ec', namedCurve: 'prime256v1' },
  ECC_NIST_P384: { type: 'ec', namedCurve: 'secp384r1' },
  ECC_NIST_P521: { type: 'ec', namedCurve: 'secp521r1' },
  ECC_SECG_P256K1: { type: 'ec', namedCurve: 'secp256k1' },
  ECC_NIST_EDWARDS25519: { type: 'ed25519' },
}
/**
 * The DER of the algorithm OID a PKCS#8 key of each post-quantum spec names (NIST's
 * 2.16.840.1.101.3.4.3.17–19 for ML-DSA, 2.16.840.1.101.3.4.4.1–3 for ML-KEM). Node 20
 * cannot parse these keys: the file's check is that the PEM names the spec's algorithm;
 * the HSM checks the key itself when it takes it.
 */
const LATTICE_OID: Partial<Record<KeySpec, string>> = {
  ML_DSA_44: '0609608648016503040311',
  ML_DSA_65: '0609608648016503040312',
  ML_DSA_87: '0609608648016503040313',
  ML_KEM_512: '0609608648016503040401',
  ML_KEM_768: '0609608648016503040402',
  ML_KEM_1024: '0609608648016503040403',
}
const KNOWN_MEMBERS = new Set([
  'keyId',
  'region',
  'keySpec',
  'keyUsage',
  'description',
  'material',
  'aliases',
  'multiRegion',
  'replicaRegions',
  'policy',
  'tags',
])

/** Parses and checks a seed file's text. Throws {@link SeedFileError} naming the key and the problem. */
export function parseSeedFile(text: string, options: SeedParseOptions = {}): SeedKey[] {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw new SeedFileError('seed file: not valid JSON')
  }
  if (!isObject(document) || !Array.isArray(document.keys)) throw new SeedFileError('seed file: "keys" must be an array')
  const keys = document.keys.map((raw: unknown, index) => parseKey(raw, index, options))

  const seenIds = new Map<string, number>()
  // An alias names one key in its region: a multi-Region key's aliases are made in each of its regions.
  const aliasOwners = new Map<string, string>()
  keys.forEach((key, index) => {
    const earlier = seenIds.get(key.keyId)
    if (earlier !== undefined)
      throw new SeedFileError(`seed file: keys[${index}] (${key.keyId}): duplicate keyId, already keys[${earlier}]`)
    seenIds.set(key.keyId, index)
    for (const region of [key.region, ...key.replicaRegions]) {
      for (const alias of key.aliases) {
        const owner = aliasOwners.get(`${region} ${alias}`)
        if (owner !== undefined) {
          throw new SeedFileError(`seed file: keys[${index}] (${key.keyId}): alias ${alias} is already given to ${owner} in ${region}`)
        }
        aliasOwners.set(`${region} ${alias}`, key.keyId)
      }
    }
  })
  return keys
}

function parseKey(raw: unknown, index: number, options: SeedParseOptions): SeedKey {
  if (!isObject(raw)) throw new SeedFileError(`seed file: keys[${index}] must be an object`)
  const idText = typeof raw.keyId === 'string' ? raw.keyId : undefined
  const where = `seed file: keys[${index}]${idText !== undefined ? ` (${idText})` : ''}`
  const problem = (text: string): SeedFileError => new SeedFileError(`${where}: ${text}`)

  for (const member of Object.keys(raw)) {
    if (!KNOWN_MEMBERS.has(member)) throw problem(`unknown member "${member}"`)
  }
  if (idText === undefined) throw problem('"keyId" is required: a key id (a UUID, or mrk- and 32 hex digits for a multi-Region key)')
  const multiRegion = optionalBoolean(raw.multiRegion, 'multiRegion', problem) ?? false
  if (multiRegion && !MRK_KEY_ID.test(idText)) {
    throw problem('a multi-Region key id must be "mrk-" followed by 32 lower-case hex digits, as AWS requires')
  }
  if (!multiRegion && !UUID_KEY_ID.test(idText)) {
    throw problem(
      MRK_KEY_ID.test(idText)
        ? 'a key id that starts with "mrk-" is a multi-Region key id: set "multiRegion": true'
        : 'keyId must be a lower-case UUID (or, with "multiRegion": true, mrk- and 32 hex digits)',
    )
  }

  const region = raw.region
  if (typeof region !== 'string') throw problem('"region" is required')
  checkRegion(region, 'region', options, problem)
  const replicaRegions = optionalStringArray(raw.replicaRegions, 'replicaRegions', problem) ?? []
  if (replicaRegions.length > 0 && !multiRegion) throw problem('"replicaRegions" needs "multiRegion": true')
  for (const replica of replicaRegions) {
    checkRegion(replica, 'replicaRegions', options, problem)
    if (replica === region) throw problem(`replicaRegions names the key's own region ${region}`)
  }
  if (new Set(replicaRegions).size !== replicaRegions.length) throw problem('replicaRegions names a region twice')

  const specText = raw.keySpec ?? 'SYMMETRIC_DEFAULT'
  if (typeof specText !== 'string' || !isKeySpec(specText))
    throw problem(`keySpec ${JSON.stringify(specText)} is not a key spec Trent supports`)
  const keySpec: KeySpec = specText
  const usages = keyUsagesFor(keySpec)
  const usageText = raw.keyUsage ?? (usages.length === 1 ? usages[0] : undefined)
  if (usageText === undefined) throw problem(`keyUsage is required for ${keySpec}: one of ${usages.join(', ')}`)
  if (typeof usageText !== 'string' || !(usages as string[]).includes(usageText)) {
    throw problem(`keyUsage ${JSON.stringify(usageText)} is not compatible with ${keySpec}: one of ${usages.join(', ')}`)
  }

  const description = raw.description ?? ''
  if (typeof description !== 'string' || description.length > MAX_DESCRIPTION_LENGTH) {
    throw problem(`description must be a string of at most ${MAX_DESCRIPTION_LENGTH} characters`)
  }

  const materialTexts = raw.material
  if (!Array.isArray(materialTexts) || materialTexts.length === 0) {
    throw problem('"material" is required: a list of at least one material version, oldest first')
  }
  if (keySpec !== 'SYMMETRIC_DEFAULT' && materialTexts.length > 1) {
    throw problem(`${keySpec} keys have one material (only symmetric encryption keys rotate): give one entry in "material"`)
  }
  const material = materialTexts.map((text: unknown, i) =>
    decodeMaterial(text, keySpec, (message) => problem(`material[${i}]: ${message}`)),
  )

  const aliases = optionalStringArray(raw.aliases, 'aliases', problem) ?? []
  for (const alias of aliases) {
    if (alias.length > MAX_ALIAS_LENGTH || !ALIAS_NAME.test(alias)) {
      throw problem(
        `bad alias name ${JSON.stringify(alias)}: "alias/" then letters, digits, /, _ or - (at most ${MAX_ALIAS_LENGTH} characters)`,
      )
    }
    if (alias.startsWith('alias/aws/')) throw problem(`bad alias name ${alias}: alias/aws/ is reserved for AWS managed keys`)
  }
  if (new Set(aliases).size !== aliases.length) throw problem('aliases names an alias twice')
  if (aliases.length > MAX_ALIASES_PER_KEY) throw problem(`at most ${MAX_ALIASES_PER_KEY} aliases per key (AWS's quota)`)

  let policy: string | undefined
  if (raw.policy !== undefined) {
    if (typeof raw.policy === 'string') policy = raw.policy
    else if (isObject(raw.policy)) policy = JSON.stringify(raw.policy)
    else throw problem('policy must be a key policy document (an object, or its JSON text)')
  }

  const tags: SeedKey['tags'] = []
  if (raw.tags !== undefined) {
    if (!isObject(raw.tags)) throw problem('tags must be an object of tag keys to tag values')
    for (const [TagKey, TagValue] of Object.entries(raw.tags)) {
      if (typeof TagValue !== 'string') throw problem(`tag ${JSON.stringify(TagKey)} must have a string value`)
      tags.push({ TagKey, TagValue })
    }
  }

  return {
    keyId: idText,
    region,
    keySpec,
    keyUsage: usageText as KeyUsage,
    description,
    material,
    aliases,
    multiRegion,
    replicaRegions,
    ...(policy !== undefined ? { policy } : {}),
    tags,
  }
}

function decodeMaterial(text: unknown, keySpec: KeySpec, problem: (message: string) => SeedFileError): Uint8Array {
  if (typeof text !== 'string') throw problem('must be a string')
  if (keySpec === 'SYMMETRIC_DEFAULT' || isHmac(keySpec)) {
    const compact = text.replace(/\s+/g, '')
    if (compact === '' || !BASE64.test(compact)) throw problem('is not base64')
    const bytes = Buffer.from(compact, 'base64')
    const { min, max } =
      keySpec === 'SYMMETRIC_DEFAULT' ? { min: SYMMETRIC_KEY_BYTES, max: SYMMETRIC_KEY_BYTES } : (HMAC_BYTES[keySpec] ?? { min: 0, max: 0 })
    if (bytes.length < min || bytes.length > max) {
      const wanted = min === max ? `${min}` : `${min} to ${max}`
      bytes.fill(0)
      throw problem(`wrong length: ${keySpec} material is ${wanted} bytes, this is ${bytes.length}`)
    }
    return bytes
  }
  return privateKeyDer(text, keySpec, problem)
}

const PEM = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----\s*$/

/** The PEM private key of an asymmetric spec, as DER PKCS#8, after checking that it is a key of that spec. */
function privateKeyDer(text: string, keySpec: KeySpec, problem: (message: string) => SeedFileError): Uint8Array {
  const pem = PEM.exec(text.trim())
  if (pem === null) throw problem(`${keySpec} material must be a PEM private key ("-----BEGIN PRIVATE KEY-----" ...)`)
  const label = pem[1] ?? ''
  if (!['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY'].includes(label)) {
    throw problem(`a PEM "${label}" is not a private key: use PRIVATE KEY (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY`)
  }
  const lattice = LATTICE_OID[keySpec]
  if (lattice !== undefined) {
    const body = (pem[2] ?? '').replace(/\s+/g, '')
    if (label !== 'PRIVATE KEY' || !BASE64.test(body)) throw problem(`${keySpec} material must be a PKCS#8 PEM ("PRIVATE KEY")`)
    const der = Buffer.from(body, 'base64')
    // The OID sits in the AlgorithmIdentifier, within the first bytes of the structure.
    if (!der.subarray(0, 32).toString('hex').includes(lattice)) {
      der.fill(0)
      throw problem(`the PEM is not a ${keySpec} private key`)
    }
    return der
  }
  let key: KeyObject
  try {
    key = createPrivateKey({ key: text.trim(), format: 'pem' })
  } catch {
    throw problem('the PEM does not hold a private key node:crypto can read')
  }
  const want = NODE_KEY_SHAPE[keySpec]
  const details = key.asymmetricKeyDetails ?? {}
  const matches =
    want !== undefined &&
    key.asymmetricKeyType === want.type &&
    (want.modulusLength === undefined || details.modulusLength === want.modulusLength) &&
    (want.namedCurve === undefined || details.namedCurve === want.namedCurve)
  if (!matches) {
    const found = [key.asymmetricKeyType, details.modulusLength, details.namedCurve].filter((part) => part !== undefined).join(' ')
    throw problem(`the PEM is a ${found} key, which does not match keySpec ${keySpec}`)
  }
  return key.export({ format: 'der', type: 'pkcs8' })
}

function checkRegion(region: string, member: string, options: SeedParseOptions, problem: (message: string) => SeedFileError): void {
  if (!REGION.test(region)) throw problem(`${member}: '${region}' is not a region name (like us-east-1)`)
  if (options.regions !== undefined && !options.regions.includes(region)) {
    throw problem(`${member}: unknown region ${region}: the partition's regions are ${options.regions.join(', ')}`)
  }
}

function optionalBoolean(value: unknown, member: string, problem: (message: string) => SeedFileError): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') throw problem(`${member} must be true or false`)
  return value
}

function optionalStringArray(value: unknown, member: string, problem: (message: string) => SeedFileError): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw problem(`${member} must be a list of strings`)
  return value as string[]
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
