/**
 * The ceiling: the fastest a Node process on this machine could plausibly answer the
 * benchmarked KMS calls. It does the same per-request cryptography as Trent's HSM —
 * SP 800-108 KBKDF-HMAC-SHA256 of a per-ciphertext key from a key held as HMAC pads,
 * AES-256-GCM over the same blob layout and AAD, 32 random bytes per data key — with the
 * same wire format (AWS JSON 1.1, base64 members), and nothing else: no SigV4, no key
 * lookup, no validation, no worker-thread hop, no gateway. The crypto helpers are Trent's
 * own (kbkdf, blob header, context encoding), so the ratio measures everything around them.
 * Sign is ECDSA P-256 over SHA-256 with a DER signature, through OpenSSL as Trent's HSM
 * signs RAW messages; GenerateMac is HMAC-SHA-256 with a 32-byte key.
 *
 * Started by bench/run.ts as a child process (`ceiling-server.js [port] [--processes N]`,
 * default any free port); tells its parent its port over IPC.
 *
 * With `--processes N` (N > 1) it is N such servers behind one port, made with node:cluster:
 * the primary accepts each connection and hands it to the next worker in turn, as Trent's
 * gateway hands a client's connection to the next node of its region, and is off the data
 * path after that. The workers share the primary's keys (given in their environment), so a
 * ciphertext made by one opens in another. What N bare processes get out of this machine
 * over one is the fair reference for what N nodes get over one node.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto'
import cluster from 'node:cluster'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HmacSha256Key } from '../src/hsm/internal/hmac-sha256-key.js'
import { kbkdfCounterHmacSha256 } from '../src/hsm/internal/kbkdf.js'
import {
  HEADER_LENGTH,
  IV_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  encodeCiphertextHeader,
  kdfContextOf,
  parseCiphertextHeaderUnauthenticated,
} from '../src/wire/ciphertext-blob.js'
import { encodeEncryptionContext } from '../src/wire/encryption-context.js'
import { CEILING_KEY_ID } from './ceiling-key.js'
const KEY_ARN = `arn:aws:kms:us-east-1:111122223333:key/${CEILING_KEY_ID}`
const MATERIAL_VERSION = 1
/** Same label as Trent's HSM, so the HMAC input lengths match too. */
const CIPHERTEXT_KDF_LABEL = Buffer.from('trent/ciphertext/v1', 'utf8')
/** Trent encodes an absent encryption context as its empty encoding: two zero bytes. */
const EMPTY_CONTEXT = encodeEncryptionContext(undefined)

/** The environment variable in which a cluster's primary gives its workers the keys. */
const KEYS_ENV = 'TRENT_CEILING_KEYS'

interface CeilingKeys {
  symmetric: Buffer
  mac: Buffer
  signingPem: string
}

function newKeys(): CeilingKeys {
  const signing = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
  return { symmetric: randomBytes(32), mac: randomBytes(32), signingPem: signing.export({ type: 'pkcs8', format: 'pem' }).toString() }
}

function keysFromEnvironment(): CeilingKeys | undefined {
  const text = process.env[KEYS_ENV]
  if (text === undefined) return undefined
  const parsed = JSON.parse(text) as { symmetric: string; mac: string; signingPem: string }
  return { symmetric: Buffer.from(parsed.symmetric, 'base64'), mac: Buffer.from(parsed.mac, 'base64'), signingPem: parsed.signingPem }
}

const keys = keysFromEnvironment() ?? newKeys()
/** As Trent's HSM holds an opened symmetric key: its HMAC pads, for the KBKDF. */
const material = new HmacSha256Key(keys.symmetric)
const signingKey = createPrivateKey(keys.signingPem)
const macKey = createSecretKey(keys.mac)

function seal(plaintext: Uint8Array): Buffer {
  const header = encodeCiphertextHeader({
    keyId: CEILING_KEY_ID,
    materialVersion: MATERIAL_VERSION,
    salt: randomBytes(SALT_LENGTH),
    iv: randomBytes(IV_LENGTH),
  })
  const derived = kbkdfCounterHmacSha256(material, CIPHERTEXT_KDF_LABEL, kdfContextOf(header), 32)
  try {
    const cipher = createCipheriv('aes-256-gcm', derived, header.subarray(HEADER_LENGTH - IV_LENGTH))
    cipher.setAAD(Buffer.concat([header, EMPTY_CONTEXT]))
    return Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
  } finally {
    derived.fill(0)
  }
}

function open(blob: Buffer): Buffer | undefined {
  const header = parseCiphertextHeaderUnauthenticated(blob)
  if (header === undefined) return undefined
  const headerBytes = blob.subarray(0, HEADER_LENGTH)
  const derived = kbkdfCounterHmacSha256(material, CIPHERTEXT_KDF_LABEL, kdfContextOf(headerBytes), 32)
  try {
    const decipher = createDecipheriv('aes-256-gcm', derived, header.iv)
    decipher.setAAD(Buffer.concat([headerBytes, EMPTY_CONTEXT]))
    decipher.setAuthTag(blob.subarray(blob.length - TAG_LENGTH))
    return Buffer.concat([decipher.update(blob.subarray(HEADER_LENGTH, blob.length - TAG_LENGTH)), decipher.final()])
  } catch {
    return undefined
  } finally {
    derived.fill(0)
  }
}

function reply(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload)
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function base64Member(input: Record<string, unknown>, name: string): Buffer {
  const value = input[name]
  return typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0)
}

function answer(target: string | undefined, input: Record<string, unknown>, res: ServerResponse): void {
  switch (target) {
    case 'TrentService.Encrypt':
      reply(res, 200, {
        CiphertextBlob: seal(base64Member(input, 'Plaintext')).toString('base64'),
        KeyId: KEY_ARN,
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      })
      return
    case 'TrentService.Decrypt': {
      const plaintext = open(base64Member(input, 'CiphertextBlob'))
      if (plaintext === undefined) {
        reply(res, 400, { __type: 'InvalidCiphertextException' })
        return
      }
      reply(res, 200, { KeyId: KEY_ARN, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })
      return
    }
    case 'TrentService.GenerateDataKey': {
      const dataKey = randomBytes(32)
      reply(res, 200, {
        CiphertextBlob: seal(dataKey).toString('base64'),
        Plaintext: dataKey.toString('base64'),
        KeyId: KEY_ARN,
      })
      return
    }
    case 'TrentService.Sign': {
      const signature = sign('sha256', base64Member(input, 'Message'), { key: signingKey, dsaEncoding: 'der' })
      reply(res, 200, { KeyId: KEY_ARN, Signature: signature.toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' })
      return
    }
    case 'TrentService.GenerateMac': {
      const mac = createHmac('sha256', macKey).update(base64Member(input, 'Message')).digest()
      reply(res, 200, { Mac: mac.toString('base64'), MacAlgorithm: 'HMAC_SHA_256', KeyId: KEY_ARN })
      return
    }
    default:
      reply(res, 400, { __type: 'UnknownOperationException' })
  }
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    let input: Record<string, unknown>
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
    } catch {
      reply(res, 400, { __type: 'SerializationException' })
      return
    }
    const target = req.headers['x-amz-target']
    answer(typeof target === 'string' ? target : undefined, input, res)
  })
}

/** `[port] [--processes N]` (a worker's `--worker i` only names it): the port (0, any free one, by default) and how many server processes. */
function parseArguments(argv: readonly string[]): { port: number; processes: number } {
  const flag = argv.indexOf('--processes')
  const processes = flag === -1 ? 1 : Number(argv[flag + 1])
  if (!Number.isSafeInteger(processes) || processes < 1) throw new Error('ceiling-server: --processes takes a whole number ≥ 1')
  const first = argv[0]
  return { port: first === undefined || first.startsWith('--') ? 0 : Number(first), processes }
}

function serve(port: number, ready: (port: number) => void): void {
  const server = createServer({ keepAlive: true }, handle)
  server.listen(port, '127.0.0.1', () => ready((server.address() as AddressInfo).port))
}

const { port, processes } = parseArguments(process.argv.slice(2))
if (cluster.isWorker) {
  // The port the primary listens on: every worker shares its one socket.
  serve(port, () => undefined)
} else if (processes === 1) {
  serve(port, (bound) => process.send?.({ type: 'ready', port: bound }))
} else {
  // Round robin by the primary (node:cluster's default on Linux, set here for every
  // platform): as the gateway spreads connections over a region's nodes.
  cluster.schedulingPolicy = cluster.SCHED_RR
  const env = {
    [KEYS_ENV]: JSON.stringify({
      symmetric: keys.symmetric.toString('base64'),
      mac: keys.mac.toString('base64'),
      signingPem: keys.signingPem,
    }),
  }
  let listening = 0
  for (let index = 0; index < processes; index++) {
    // `--worker i` only names the process (bench/cpu-usage.ts labels it by its command line).
    cluster.setupPrimary({ args: [String(port), '--worker', String(index)] })
    const worker = cluster.fork(env)
    worker.on('listening', (address) => {
      if (++listening === processes) process.send?.({ type: 'ready', port: address.port })
    })
  }
  // A worker that dies ends the measurement: its connections fail, and the bench says so.
  cluster.on('exit', () => process.exit(1))
}
process.on('SIGTERM', () => process.exit(0))
// Never outlive the benchmark that started us, even if it was killed.
process.on('disconnect', () => process.exit(0))
