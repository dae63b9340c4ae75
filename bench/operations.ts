/**
 * The benchmarked calls, their fixtures, and the check that a target answers them
 * correctly before it is loaded (a fast error is not a result).
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import type { WireRequest } from './load-protocol.js'
import type { Credentials } from './signing.js'

export const PLAINTEXT_SIZES = { '32 B': 32, '1 KiB': 1024 } as const
export type SizeName = keyof typeof PLAINTEXT_SIZES

export interface Fixtures {
  keyId: string
  /** An ECC_NIST_P256 SIGN_VERIFY key. */
  signingKeyId: string
  /** An HMAC_256 key. */
  macKeyId: string
  plaintexts: Record<SizeName, Buffer[]>
  /** Base64 ciphertext blobs of `plaintexts`, index for index, made by the same target. */
  ciphertexts: Record<SizeName, string[]>
}

export interface BenchOperation {
  label: string
  operation: 'Encrypt' | 'Decrypt' | 'GenerateDataKey' | 'Sign' | 'GenerateMac' | 'CreateKey'
  inputs(fixtures: Fixtures): Record<string, unknown>[]
  /** Returns a reason when the answer to inputs(fixtures)[index] is wrong. */
  check(output: Record<string, unknown>, fixtures: Fixtures, index: number): string | undefined
}

function requireString(output: Record<string, unknown>, member: string): string | undefined {
  return typeof output[member] === 'string' && output[member] !== '' ? undefined : `no ${member} in the answer`
}

function encryptOperation(size: SizeName): BenchOperation {
  return {
    label: `Encrypt ${size}`,
    operation: 'Encrypt',
    inputs: (fixtures) =>
      fixtures.plaintexts[size].map((plaintext) => ({ KeyId: fixtures.keyId, Plaintext: plaintext.toString('base64') })),
    check: (output) => requireString(output, 'CiphertextBlob'),
  }
}

function decryptOperation(size: SizeName): BenchOperation {
  return {
    label: `Decrypt ${size}`,
    operation: 'Decrypt',
    // KeyId is optional for symmetric keys; sending it is what careful clients do, and it
    // makes the server check the blob against the key it was asked for.
    inputs: (fixtures) => fixtures.ciphertexts[size].map((blob) => ({ KeyId: fixtures.keyId, CiphertextBlob: blob })),
    check: (output, fixtures, index) => {
      const expected = fixtures.plaintexts[size][index]?.toString('base64')
      return output.Plaintext === expected ? undefined : 'the plaintext differs from the one encrypted'
    },
  }
}

const generateDataKeyOperation: BenchOperation = {
  label: 'GenerateDataKey AES_256',
  operation: 'GenerateDataKey',
  // SigV4 dates have one-second resolution, so identical inputs signed together give
  // identical requests; that is fine, nothing on the server remembers requests.
  inputs: (fixtures) => Array.from({ length: fixtures.plaintexts['32 B'].length }, () => ({ KeyId: fixtures.keyId, KeySpec: 'AES_256' })),
  check: (output) => {
    const plaintext = typeof output.Plaintext === 'string' ? Buffer.from(output.Plaintext, 'base64') : undefined
    if (plaintext?.length !== 32) return 'no 32-byte Plaintext in the answer'
    return requireString(output, 'CiphertextBlob')
  },
}

const signOperation: BenchOperation = {
  label: 'Sign ECDSA P-256 32 B',
  operation: 'Sign',
  inputs: (fixtures) =>
    fixtures.plaintexts['32 B'].map((message) => ({
      KeyId: fixtures.signingKeyId,
      Message: message.toString('base64'),
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    })),
  check: (output) => {
    const signature = typeof output.Signature === 'string' ? Buffer.from(output.Signature, 'base64') : undefined
    // A DER ECDSA P-256 signature: a SEQUENCE of 70 to 72 bytes in all.
    return signature !== undefined && signature[0] === 0x30 && signature.length >= 8 && signature.length <= 72
      ? undefined
      : 'no DER ECDSA signature in the answer'
  },
}

const generateMacOperation: BenchOperation = {
  label: 'GenerateMac HMAC_256 32 B',
  operation: 'GenerateMac',
  inputs: (fixtures) =>
    fixtures.plaintexts['32 B'].map((message) => ({
      KeyId: fixtures.macKeyId,
      Message: message.toString('base64'),
      MacAlgorithm: 'HMAC_SHA_256',
    })),
  check: (output) => {
    const mac = typeof output.Mac === 'string' ? Buffer.from(output.Mac, 'base64') : undefined
    return mac?.length === 32 ? undefined : 'no 32-byte Mac in the answer'
  },
}

export const BENCH_OPERATIONS: readonly BenchOperation[] = [
  encryptOperation('32 B'),
  encryptOperation('1 KiB'),
  decryptOperation('32 B'),
  decryptOperation('1 KiB'),
  generateDataKeyOperation,
  signOperation,
  generateMacOperation,
]

/** The operations a region of several nodes is measured on (issue 11): the symmetric hot path. */
export const NODES_OPERATIONS: ReadonlySet<BenchOperation['operation']> = new Set(['Encrypt', 'Decrypt', 'GenerateDataKey'])

/**
 * CreateKey, a write: every request is a durable commit of a new key and its material.
 * Replaying one signed request creates one more key each time (nothing in SigV4 or KMS
 * makes CreateKey idempotent), so the pool works as for the reads.
 */
export const CREATE_KEY_OPERATION: BenchOperation = {
  label: 'CreateKey',
  operation: 'CreateKey',
  inputs: (fixtures) => Array.from({ length: fixtures.plaintexts['32 B'].length }, () => ({ Description: 'trent bench CreateKey' })),
  check: (output) => {
    const metadata = output.KeyMetadata as Record<string, unknown> | undefined
    return typeof metadata?.KeyId === 'string' && metadata.KeyState === 'Enabled' ? undefined : 'no Enabled KeyMetadata in the answer'
  },
}

export interface FixtureOptions {
  endpoint: string
  region: string
  credentials: Credentials
  poolSize: number
  /** Use these keys instead of creating them (the ceiling has fixed keys). */
  existingKeys?: { keyId: string; signingKeyId: string; macKeyId: string }
}

async function createKey(client: KMSClient, input: ConstructorParameters<typeof CreateKeyCommand>[0]): Promise<string> {
  const created = await client.send(new CreateKeyCommand({ Description: 'trent bench', ...input }))
  const keyId = created.KeyMetadata?.KeyId
  if (keyId === undefined) throw new Error('CreateKey answered without a KeyId')
  return keyId
}

/** Creates a key (unless given one) and ciphertexts through the AWS SDK, as a user would. */
export async function makeFixtures(options: FixtureOptions): Promise<Fixtures> {
  const client = new KMSClient({ endpoint: options.endpoint, region: options.region, credentials: options.credentials, maxAttempts: 1 })
  try {
    const keys = options.existingKeys ?? {
      keyId: await createKey(client, {}),
      signingKeyId: await createKey(client, { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      macKeyId: await createKey(client, { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
    }
    const keyId = keys.keyId
    const plaintexts = {} as Record<SizeName, Buffer[]>
    const ciphertexts = {} as Record<SizeName, string[]>
    for (const [name, bytes] of Object.entries(PLAINTEXT_SIZES) as [SizeName, number][]) {
      plaintexts[name] = Array.from({ length: options.poolSize }, () => randomBytes(bytes))
      ciphertexts[name] = []
      // In small batches: quick, without flooding a slow target.
      const batch = 16
      for (let start = 0; start < options.poolSize; start += batch) {
        const outputs = await Promise.all(
          plaintexts[name]
            .slice(start, start + batch)
            .map((plaintext) => client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))),
        )
        for (const output of outputs) {
          if (output.CiphertextBlob === undefined) throw new Error('Encrypt answered without a CiphertextBlob')
          ciphertexts[name].push(Buffer.from(output.CiphertextBlob).toString('base64'))
        }
      }
    }
    return { ...keys, plaintexts, ciphertexts }
  } finally {
    client.destroy()
  }
}

export interface ProbeAnswer {
  status: number
  body: string
  /** The server said `Connection: close`: it will not serve a second request on a connection. */
  closesConnection: boolean
}

/** Sends one pre-signed request as it will be replayed. */
export function sendOnce(url: string, wire: WireRequest): Promise<ProbeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(wire.path, url), { method: wire.method, headers: wire.headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          closesConnection: res.headers.connection?.toLowerCase() === 'close',
        }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')))
    req.end(wire.body)
  })
}
