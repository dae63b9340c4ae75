/**
 * Makes the key pool of pool.ts in the partition under test, and every fixture value the
 * generators name: ciphertexts, signatures, MACs, public keys, import parameters, grant
 * tokens, replicas, and keys put in the Disabled, PendingDeletion and PendingImport states.
 *
 * The same names get new values in every partition; recipes hold names, so a finding
 * replays against whatever partition its fixtures are made in again.
 *
 * @module
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { valueAt, type KmsClient } from './kms-client.js'
import {
  ENCRYPTION_CONTEXT,
  KEY_SLOTS,
  MESSAGE,
  PEER_CURVES,
  PLAINTEXT,
  POOL_GRANT_OPERATIONS,
  fixture,
  macAlgorithmOf,
  materialLengthOf,
  signingAlgorithmsOf,
  type KeySlot,
} from './pool.js'
import { wrapForImport } from '../test/helpers/import-wrap.js'

export interface Fixtures {
  /** Every fixture value, by name (pool.ts `fixture`). */
  readonly values: Map<string, string>
  readonly primaryRegion: string
  readonly secondaryRegion: string | undefined
  /** Milliseconds it took. */
  readonly ms: number
}

/** How many pool requests run at once; key generation (RSA 4096) runs on the server's thread pool. */
const SETUP_CONCURRENCY = 4
const REPLICA_READY_TIMEOUT_MS = 30_000

async function inBatches<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T
        await work(item)
      }
    }),
  )
}

function required(json: Record<string, unknown>, path: string, operation: string): string {
  const value = valueAt(json, path)
  if (value === undefined) throw new Error(`${operation}: no ${path} in ${JSON.stringify(json).slice(0, 200)}`)
  return value
}

export async function buildFixtures(
  client: KmsClient,
  regions: readonly string[],
  runTag: string,
  log: (line: string) => void,
): Promise<Fixtures> {
  const started = Date.now()
  const primary = regions[0]
  if (primary === undefined) throw new Error('no region to make the key pool in')
  const secondary = regions[1]
  const values = new Map<string, string>()
  const set = (name: string, value: string): void => void values.set(name, value)
  set(fixture.primaryRegion, primary)
  if (secondary !== undefined) set(fixture.secondaryRegion, secondary)
  set(fixture.plaintext, PLAINTEXT.toString('base64'))
  set(fixture.message, MESSAGE.toString('base64'))
  const call = (operation: string, input: unknown, region = primary): Promise<Record<string, unknown>> =>
    client.call(region, operation, input)

  for (const curve of PEER_CURVES) {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: curve })
    set(fixture.peerPublicKey(curve), publicKey.export({ format: 'der', type: 'spki' }).toString('base64'))
  }

  // 1. Keys (multi-Region keys without a replica where there is no second region).
  const slots = KEY_SLOTS.filter((slot) => secondary !== undefined || slot.replicated !== true)
  await inBatches(slots, SETUP_CONCURRENCY, async (slot) => {
    const created = await call('CreateKey', {
      KeySpec: slot.keySpec,
      KeyUsage: slot.keyUsage,
      Description: `fuzz pool ${runTag}: ${slot.name}`,
      ...(slot.origin !== undefined ? { Origin: slot.origin } : {}),
      ...(slot.multiRegion === true ? { MultiRegion: true } : {}),
    })
    set(fixture.keyId(slot.name), required(created, 'KeyMetadata.KeyId', 'CreateKey'))
    set(fixture.keyArn(slot.name), required(created, 'KeyMetadata.Arn', 'CreateKey'))
  })
  const firstArn = values.get(fixture.keyArn('sym')) ?? ''
  const arnParts = firstArn.split(':')
  set(fixture.account, arnParts[4] ?? '111122223333')
  set(fixture.rootArn, `arn:${arnParts[1] ?? 'aws'}:iam::${arnParts[4] ?? '111122223333'}:root`)
  const keyId = (slot: KeySlot): string => values.get(fixture.keyId(slot.name)) ?? ''

  // 2. Aliases, imports, grants.
  await inBatches(slots, SETUP_CONCURRENCY, async (slot) => {
    if (slot.alias === true) {
      const aliasName = `alias/fuzz-${runTag}-${slot.name}`
      await call('CreateAlias', { AliasName: aliasName, TargetKeyId: keyId(slot) })
      set(fixture.aliasName(slot.name), aliasName)
      set(fixture.aliasArn(slot.name), `arn:${arnParts[1] ?? 'aws'}:kms:${primary}:${arnParts[4] ?? ''}:${aliasName}`)
    }
    if (slot.origin === 'EXTERNAL') {
      const material = randomBytes(materialLengthOf(slot.keySpec))
      set(fixture.material(slot.name), material.toString('base64'))
      const parametersFor = async (): Promise<{ token: string; publicKey: string }> => {
        const parameters = await call('GetParametersForImport', {
          KeyId: keyId(slot),
          WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          WrappingKeySpec: 'RSA_2048',
        })
        return {
          token: required(parameters, 'ImportToken', 'GetParametersForImport'),
          publicKey: required(parameters, 'PublicKey', 'GetParametersForImport'),
        }
      }
      let parameters = await parametersFor()
      if (slot.state !== 'PendingImport') {
        await call('ImportKeyMaterial', {
          KeyId: keyId(slot),
          ImportToken: parameters.token,
          EncryptedKeyMaterial: wrapForImport(Buffer.from(parameters.publicKey, 'base64'), 'RSAES_OAEP_SHA_256', material).toString(
            'base64',
          ),
          ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        })
        // Fresh parameters, for re-imports of the same material.
        parameters = await parametersFor()
      }
      set(fixture.importToken(slot.name), parameters.token)
      set(fixture.importPublicKey(slot.name), parameters.publicKey)
    }
    if (slot.name === 'sym' || slot.name === 'scratch-sym-1') {
      const grant = await call('CreateGrant', {
        KeyId: keyId(slot),
        GranteePrincipal: values.get(fixture.rootArn),
        Operations: POOL_GRANT_OPERATIONS,
      })
      set(fixture.grantToken(slot.name), required(grant, 'GrantToken', 'CreateGrant'))
      set(fixture.grantId(slot.name), required(grant, 'GrantId', 'CreateGrant'))
    }
  })

  // 3. Ciphertexts, signatures, MACs, public keys: made while every key with material is Enabled.
  const hasMaterial = (slot: KeySlot): boolean => slot.state !== 'PendingImport'
  await inBatches(slots.filter(hasMaterial), SETUP_CONCURRENCY, async (slot) => {
    const id = keyId(slot)
    if (slot.keyUsage === 'ENCRYPT_DECRYPT' && slot.keySpec === 'SYMMETRIC_DEFAULT') {
      const encrypted = await call('Encrypt', { KeyId: id, Plaintext: PLAINTEXT.toString('base64'), EncryptionContext: ENCRYPTION_CONTEXT })
      set(fixture.ciphertext(slot.name), required(encrypted, 'CiphertextBlob', 'Encrypt'))
      const bare = await call('Encrypt', { KeyId: id, Plaintext: PLAINTEXT.toString('base64') })
      set(fixture.ciphertextNoContext(slot.name), required(bare, 'CiphertextBlob', 'Encrypt'))
      const dataKey = await call('GenerateDataKeyWithoutPlaintext', {
        KeyId: id,
        KeySpec: 'AES_256',
        EncryptionContext: ENCRYPTION_CONTEXT,
      })
      set(fixture.dataKey(slot.name), required(dataKey, 'CiphertextBlob', 'GenerateDataKeyWithoutPlaintext'))
    } else if (slot.keyUsage === 'ENCRYPT_DECRYPT') {
      const encrypted = await call('Encrypt', {
        KeyId: id,
        Plaintext: PLAINTEXT.toString('base64'),
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      })
      set(fixture.ciphertext(slot.name), required(encrypted, 'CiphertextBlob', 'Encrypt'))
    } else if (slot.keyUsage === 'SIGN_VERIFY') {
      const signed = await call('Sign', {
        KeyId: id,
        Message: MESSAGE.toString('base64'),
        SigningAlgorithm: signingAlgorithmsOf(slot.keySpec)[0],
      })
      set(fixture.signature(slot.name), required(signed, 'Signature', 'Sign'))
    } else if (slot.keyUsage === 'GENERATE_VERIFY_MAC') {
      const mac = await call('GenerateMac', { KeyId: id, Message: MESSAGE.toString('base64'), MacAlgorithm: macAlgorithmOf(slot.keySpec) })
      set(fixture.mac(slot.name), required(mac, 'Mac', 'GenerateMac'))
    }
    if (slot.keySpec !== 'SYMMETRIC_DEFAULT' && !slot.keySpec.startsWith('HMAC_')) {
      const publicKey = await call('GetPublicKey', { KeyId: id })
      set(fixture.publicKey(slot.name), required(publicKey, 'PublicKey', 'GetPublicKey'))
    }
  })

  // 4. Replicas, then the states the pool wants.
  if (secondary !== undefined) {
    await inBatches(
      slots.filter((slot) => slot.replicated === true),
      SETUP_CONCURRENCY,
      async (slot) => {
        const replicated = await call('ReplicateKey', { KeyId: keyId(slot), ReplicaRegion: secondary })
        set(fixture.replicaArn(slot.name), required(replicated, 'ReplicaKeyMetadata.Arn', 'ReplicateKey'))
        const deadline = Date.now() + REPLICA_READY_TIMEOUT_MS
        for (;;) {
          const described = await client.send(secondary, 'DescribeKey', { KeyId: keyId(slot) })
          if (described.status === 200 && valueAt(described.json, 'KeyMetadata.KeyState') === 'Enabled') break
          if (Date.now() > deadline)
            throw new Error(`the replica of ${slot.name} in ${secondary} is not Enabled after ${REPLICA_READY_TIMEOUT_MS} ms`)
          await new Promise((done) => setTimeout(done, 100))
        }
      },
    )
  }
  for (const slot of slots) {
    if (slot.state === 'Disabled') await call('DisableKey', { KeyId: keyId(slot) })
    if (slot.state === 'PendingDeletion') await call('ScheduleKeyDeletion', { KeyId: keyId(slot), PendingWindowInDays: 30 })
  }
  const ms = Date.now() - started
  log(`key pool: ${slots.length} keys and ${values.size} fixtures in ${(ms / 1000).toFixed(1)} s`)
  return { values, primaryRegion: primary, secondaryRegion: secondary, ms }
}
