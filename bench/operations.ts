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
  plaintexts: Record<SizeName, Buffer[]>
  /** Base64 ciphertext blobs of `plaintexts`, index for index, made by the same target. */
  ciphertexts: Record<SizeName, string[]>
}

export interface BenchOperation {
  label: string
  operation: 'Encrypt' | 'Decrypt' | 'GenerateDataKey'
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

export const BENCH_OPERATIONS: readonly BenchOperation[] = [
  encryptOperation('32 B'),
  encryptOperation('1 KiB'),
  decryptOperation('32 B'),
  decryptOperation('1 KiB'),
  generateDataKeyOperation,
]

export interface FixtureOptions {
  endpoint: string
  region: string
  credentials: Credentials
  poolSize: number
  /** Use this key instead of creating one (the ceiling has a single fixed key). */
  existingKeyId?: string
}

/** Creates a key (unless given one) and ciphertexts through the AWS SDK, as a user would. */
export async function makeFixtures(options: FixtureOptions): Promise<Fixtures> {
  const client = new KMSClient({ endpoint: options.endpoint, region: options.region, credentials: options.credentials, maxAttempts: 1 })
  try {
    let keyId = options.existingKeyId
    if (keyId === undefined) {
      const created = await client.send(new CreateKeyCommand({ Description: 'trent bench' }))
      keyId = created.KeyMetadata?.KeyId
      if (keyId === undefined) throw new Error('CreateKey answered without a KeyId')
    }
    const plaintexts = {} as Record<SizeName, Buffer[]>
    const ciphertexts = {} as Record<SizeName, string[]>
    for (const [name, bytes] of Object.entries(PLAINTEXT_SIZES) as [SizeName, number][]) {
      plaintexts[name] = Array.from({ length: options.poolSize }, () => randomBytes(bytes))
      ciphertexts[name] = []
      // In small batches: quick, without flooding a slow target.
      const batch = 16
      for (let start = 0; start < options.poolSize; start += batch) {
        const outputs = await Promise.all(
          plaintexts[name].slice(start, start + batch).map((plaintext) => client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))),
        )
        for (const output of outputs) {
          if (output.CiphertextBlob === undefined) throw new Error('Encrypt answered without a CiphertextBlob')
          ciphertexts[name].push(Buffer.from(output.CiphertextBlob).toString('base64'))
        }
      }
    }
    return { keyId, plaintexts, ciphertexts }
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
