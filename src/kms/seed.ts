/**
 * Seeding (`--seed FILE`, docs/spec/seed-file.md): at start, each region creates the keys
 * of the seed file that are its own and are not there yet, with the file's ids, material
 * versions, aliases, policy and tags. A key already present is left as it is, whatever
 * the file says now.
 *
 * Material enters the HSM the way imported material does (docs/spec/key-token.md §6):
 * the HSM makes an RSA wrapping key pair for the key, this module wraps each version
 * under its public half (RSA-OAEP SHA-256 of a fresh AES key, then AES key wrap with
 * padding), and the HSM unwraps it, checks it against the key spec and seals it as a key
 * token. There is no HSM entry point that takes plaintext material, and what is stored is
 * key tokens only. As for imports, each version's KeyMaterialId is computed from the key
 * id and the material, so two partitions seeded from one file show the same ids.
 *
 * A multi-Region key is created in its primary region, then replicated to each replica
 * region with ReplicateKey, through the replication protocol like any other (the material
 * travels wrapped between the two HSMs), once the replica region is pinned in the trust
 * store. Its aliases are made in each region as the key appears there.
 *
 * @module
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto'
import { KmsError } from '../wire/errors.js'
import type { SeedKey } from '../wire/seed-file.js'
import type { KeyRecord, MaterialRecord } from '../storage/records.js'
import { checkAliasName } from './alias-name.js'
import { hsmErrorCode } from './crypto-keys.js'
import type { Kms } from './kms.js'
import type { Caller, RequestContext } from './operation.js'
import { createAlias } from './operations/create-alias.js'
import { replicateKey } from './operations/replicate-key.js'
import { checkNewKeyPolicy, defaultKeyPolicy } from './policy.js'
import { MAX_TAGS_PER_KEY, checkNewTags } from './tags.js'

const DEFAULT_ROTATION_PERIOD_DAYS = 365
/** How long the wrapping key of one seeding lives: it is used at once. */
const WRAPPING_KEY_LIFETIME_MS = 10 * 60_000
/** How often background seeding looks again for a replica region or a replica to appear. */
const RETRY_INTERVAL_MS = 250

/** A seed file's key that cannot be created; the region stops (the file must be fixed). */
export class SeedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SeedError'
  }
}

export interface SeedLog {
  info(message: string, fields: Record<string, string | number | boolean>): void
  warn(message: string, fields: Record<string, string | number | boolean>): void
}

export interface Seeding {
  /** Settles once every multi-Region key of the file is replicated, and its aliases made, in this region's part. */
  readonly settled: Promise<void>
  stop(): void
}

/**
 * Creates this region's missing keys of the seed file (rejecting with {@link SeedError} on
 * the first that cannot be), then goes on in the background with what needs other
 * regions: replicating its multi-Region keys, and the aliases of replicas made here.
 */
export async function seedKeys(kms: Kms, keys: readonly SeedKey[], root: Caller, log: SeedLog): Promise<Seeding> {
  const context: RequestContext = { requestId: 'seed', caller: root }
  let stopped = false
  const background: Array<Promise<void>> = []

  for (const seed of keys) {
    if (seed.region === kms.region) {
      const created = !kms.keys.has(seed.keyId) && (await createSeededKey(kms, seed, root))
      if (!created) {
        logPresent(kms, seed, log)
        continue
      }
      log.info('seed: key created', {
        keyId: seed.keyId,
        keySpec: seed.keySpec,
        materialVersions: seed.material.length,
        multiRegion: seed.multiRegion,
      })
      await addAliases(kms, seed, context, log)
      for (const replicaRegion of seed.replicaRegions) {
        background.push(replicateWhenPossible(kms, seed, replicaRegion, context, log, () => stopped))
      }
    } else if (seed.replicaRegions.includes(kms.region)) {
      if (kms.keys.has(seed.keyId)) {
        log.info('seed: replica already present, left as it is', { keyId: seed.keyId })
        continue
      }
      background.push(aliasesOnceReplicated(kms, seed, context, log, () => stopped))
    }
  }
  return {
    settled: Promise.all(background).then(() => undefined),
    stop: () => {
      stopped = true
    },
  }
}

/** Says that the key is left alone, and what of it the file would have made otherwise. */
function logPresent(kms: Kms, seed: SeedKey, log: SeedLog): void {
  const key = kms.keys.get(seed.keyId)
  const differs = key === undefined ? [] : differences(kms, key, seed)
  const fields = { keyId: seed.keyId, ...(differs.length > 0 ? { differsFromSeedFile: differs.join(',') } : {}) }
  log.info('seed: key already present, left as it is (the seed file is not applied to existing keys)', fields)
}

/** The members of the seed file's key that the key present here does not match (names only, never values). */
function differences(kms: Kms, key: KeyRecord, seed: SeedKey): string[] {
  const differs: string[] = []
  if (key.keySpec !== seed.keySpec) differs.push('keySpec')
  if (key.keyUsage !== seed.keyUsage) differs.push('keyUsage')
  if (key.description !== seed.description) differs.push('description')
  if (key.multiRegion !== seed.multiRegion) differs.push('multiRegion')
  const held = kms.materials.get(key.keyId) ?? []
  const expectedIds = seed.material.map((material) => seededMaterialId(seed.keyId, material))
  if (held.length !== expectedIds.length || held.some((m) => expectedIds[m.version - 1] !== m.materialId)) differs.push('material')
  if (seed.policy !== undefined && canonicalJson(seed.policy) !== canonicalJson(key.policy)) differs.push('policy')
  const tagText = (tags: ReadonlyArray<{ TagKey: string; TagValue: string }>): string =>
    tags
      .map((t) => `${t.TagKey}=${t.TagValue}`)
      .sort()
      .join('\n')
  if (tagText(key.tags) !== tagText(seed.tags)) differs.push('tags')
  const replicas = [...(key.mrk?.replicaRegions ?? [])].sort().join(',')
  if (key.mrk?.role !== 'REPLICA' && replicas !== [...seed.replicaRegions].sort().join(',')) differs.push('replicaRegions')
  const aliases = [...kms.aliases.values()].filter((a) => a.keyId === key.keyId).map((a) => a.aliasName)
  if (seed.aliases.some((alias) => !aliases.includes(alias))) differs.push('aliases')
  return differs
}

/**
 * The KeyMaterialId the HSM gives material that enters through the import path
 * (docs/spec/key-token.md §5), to tell whether a key present holds the file's material
 * without asking the HSM.
 */
function seededMaterialId(keyId: string, material: Uint8Array): string {
  const id = Buffer.from(keyId, 'utf8')
  const idLength = Buffer.alloc(2)
  idLength.writeUInt16BE(id.length)
  const materialLength = Buffer.alloc(4)
  materialLength.writeUInt32BE(material.length)
  return createHash('sha256')
    .update('trent/imported-key-material-id/v1\0')
    .update(idLength)
    .update(id)
    .update(materialLength)
    .update(material)
    .digest('hex')
}

function canonicalJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text))
  } catch {
    return text
  }
}

function seedError(seed: SeedKey, problem: string): SeedError {
  return new SeedError(`seed file: key ${seed.keyId}: ${problem}`)
}

/** Seals the key's material versions in the HSM and commits the key; false if it appeared meanwhile (another node seeded it). */
async function createSeededKey(kms: Kms, seed: SeedKey, root: Caller): Promise<boolean> {
  const arn = kms.arnOf(seed.keyId)
  if (seed.policy !== undefined) {
    try {
      checkNewKeyPolicy(kms, seed.policy, root, false, arn)
    } catch (err) {
      throw seedError(seed, `bad policy: ${err instanceof Error ? err.message : 'invalid'}`)
    }
  }
  try {
    checkNewTags(seed.tags)
  } catch (err) {
    throw seedError(seed, `bad tags: ${err instanceof Error ? err.message : 'invalid'}`)
  }
  if (seed.tags.length > MAX_TAGS_PER_KEY) throw seedError(seed, `more than ${MAX_TAGS_PER_KEY} tags`)
  for (const alias of seed.aliases) {
    try {
      checkAliasName(alias)
    } catch (err) {
      throw seedError(seed, `bad alias name ${alias}: ${err instanceof Error ? err.message : 'invalid'}`)
    }
  }

  const materials = await sealMaterials(kms, seed)
  const now = kms.clock.now()
  return kms.mutate(() => {
    // Nodes of one region share its store: whichever seeds first wins, the others leave it.
    if (kms.keys.has(seed.keyId)) return { writes: [], result: false }
    const key: KeyRecord = {
      keyId: seed.keyId,
      sequence: kms.nextSequence(),
      createdAt: now,
      description: seed.description,
      keyUsage: seed.keyUsage,
      keySpec: seed.keySpec,
      origin: 'AWS_KMS',
      state: 'Enabled',
      policy: seed.policy ?? defaultKeyPolicy(kms.partition, kms.accountId),
      tags: seed.tags.map(({ TagKey, TagValue }) => ({ TagKey, TagValue })),
      rotation: { enabled: false, periodInDays: DEFAULT_ROTATION_PERIOD_DAYS, onDemandCount: 0 },
      currentMaterialVersion: materials.length,
      multiRegion: seed.multiRegion,
      ...(seed.multiRegion
        ? { mrk: { role: 'PRIMARY' as const, primaryRegion: kms.region, replicaRegions: [], syncVersion: 1, replicas: {} } }
        : {}),
    }
    return {
      writes: [...materials.map((material) => ({ kind: 'putMaterial' as const, material })), { kind: 'putKey' as const, key }],
      result: true,
    }
  })
}

/**
 * Each version into the HSM through its import path: one wrapping key pair for the key
 * (an import token is bound to the key and its spec, not to a version), each version
 * wrapped under it and sealed by the HSM for (key id, version, spec).
 */
async function sealMaterials(kms: Kms, seed: SeedKey): Promise<MaterialRecord[]> {
  const now = kms.clock.now()
  const { publicKey, importToken } = await kms.hsm.keyOperation('createImportParameters', {
    keyId: seed.keyId,
    keySpec: seed.keySpec,
    wrappingKeySpec: 'RSA_2048',
    wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256',
    expiresAt: now + WRAPPING_KEY_LIFETIME_MS,
  })
  const wrappingKey = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' })
  const records: MaterialRecord[] = []
  for (const [index, material] of seed.material.entries()) {
    const version = index + 1
    // RSA_AES_KEY_WRAP_SHA_256 (docs/spec/key-token.md §6): RSA-OAEP of a fresh AES key, then the material under AES-KWP.
    const aesKey = randomBytes(32)
    const wrappedKey = publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, aesKey)
    const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('a65959a6', 'hex'))
    const encryptedKeyMaterial = Buffer.concat([wrappedKey, cipher.update(material), cipher.final()])
    aesKey.fill(0)
    let sealed: { token: Uint8Array; materialId: string }
    try {
      sealed = await kms.hsm.keyOperation('importKeyMaterial', {
        keyId: seed.keyId,
        keySpec: seed.keySpec,
        materialVersion: version,
        importToken,
        encryptedKeyMaterial,
        now: kms.clock.now(),
      })
    } catch (err) {
      if (hsmErrorCode(err) === 'INCORRECT_MATERIAL')
        throw seedError(seed, `material[${index}] is not valid key material for ${seed.keySpec}`)
      throw err
    }
    records.push({
      keyId: seed.keyId,
      version,
      materialId: sealed.materialId,
      createdAt: now,
      // Later versions are the key's rotation history: shown by ListKeyRotations as rotations.
      ...(version > 1 ? { rotationType: 'AUTOMATIC' as const } : {}),
      token: sealed.token,
    })
  }
  return records
}

/** Makes the key's aliases; never throws: one that cannot be made is logged. */
async function addAliases(kms: Kms, seed: SeedKey, context: RequestContext, log: SeedLog): Promise<void> {
  for (const alias of seed.aliases) {
    try {
      await createAlias.handle(kms, { AliasName: alias, TargetKeyId: seed.keyId }, context)
    } catch (err) {
      if (!(err instanceof KmsError) || err.name !== 'AlreadyExistsException') {
        // The key exists by now and is never seeded again: say so rather than stop the region.
        log.warn('seed: alias not made', { alias, keyId: seed.keyId, error: err instanceof Error ? err.message : 'unknown' })
        continue
      }
      // Never moved: an alias already there may be in use, and stays on whatever key it names.
      const current = kms.aliases.get(alias)?.keyId
      if (current !== seed.keyId)
        log.warn('seed: alias already exists for another key, left as it is', { alias, keyId: seed.keyId, aliasKeyId: current ?? '' })
    }
  }
}

async function replicateWhenPossible(
  kms: Kms,
  seed: SeedKey,
  replicaRegion: string,
  context: RequestContext,
  log: SeedLog,
  stopped: () => boolean,
): Promise<void> {
  // The launcher pins each region's signing keys once that region serves.
  while (!kms.peers.regions().includes(replicaRegion)) {
    if (stopped()) return
    await sleep(RETRY_INTERVAL_MS)
  }
  if (stopped()) return
  try {
    await replicateKey.handle(
      kms,
      {
        KeyId: seed.keyId,
        ReplicaRegion: replicaRegion,
        Description: seed.description,
        ...(seed.policy !== undefined ? { Policy: seed.policy } : {}),
        ...(seed.tags.length > 0 ? { Tags: seed.tags } : {}),
      },
      context,
    )
    log.info('seed: replication started', { keyId: seed.keyId, replicaRegion })
  } catch (err) {
    // Another node of the region replicated it first.
    if (err instanceof KmsError && err.name === 'AlreadyExistsException') return
    log.warn('seed: replication not started', { keyId: seed.keyId, replicaRegion, error: err instanceof Error ? err.message : 'unknown' })
  }
}

async function aliasesOnceReplicated(
  kms: Kms,
  seed: SeedKey,
  context: RequestContext,
  log: SeedLog,
  stopped: () => boolean,
): Promise<void> {
  if (seed.aliases.length === 0) return
  while (!kms.keys.has(seed.keyId)) {
    if (stopped()) return
    await sleep(RETRY_INTERVAL_MS)
  }
  await addAliases(kms, seed, context, log)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
