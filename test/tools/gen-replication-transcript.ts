/**
 * Generates test/vectors/replication/transcript-v1.json: a complete material transfer
 * (AgreementOffer → MaterialTransfer → TransferComplete) between two regions, as the
 * envelopes that cross the proxy, from fixed keys and fixed ephemeral keys, so a test
 * can check every byte Trent derives from it. Run: `node dist/test/tools/gen-replication-transcript.js`.
 * The signatures are ECDSA (random nonces), fixed once generated; the test verifies them.
 */
import { createECDH, createPrivateKey, createPublicKey, createHash, sign, type KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { encodeEnvelope } from '../../src/replication/envelope.js'
import { PROTOCOL, encodeMessage, type Message, type SharedState } from '../../src/replication/messages.js'
import { signingInput } from '../../src/replication/trust-store.js'
import { deriveRwk, ecdhSharedSecret, pointOfPublicKey, rskIdOf, wrapMaterials } from '../../src/hsm/soft/replication-crypto.js'

/** A P-384 private key from a label, reproducibly (test vectors only). */
function fixedKey(label: string): KeyObject {
  const d = createHash('sha384').update(`trent transcript vector: ${label}`).digest()
  const ecdh = createECDH('secp384r1')
  ecdh.setPrivateKey(d)
  const pub = ecdh.getPublicKey()
  const b64 = (b: Buffer): string => b.toString('base64url')
  return createPrivateKey({
    key: { kty: 'EC', crv: 'P-384', d: b64(d), x: b64(pub.subarray(1, 49)), y: b64(pub.subarray(49)) },
    format: 'jwk',
  })
}

const partition = 'trent-transcript-v1'
const source = 'us-east-1'
const destination = 'eu-west-1'
const keyId = 'mrk-0123456789abcdef0123456789abcdef'
const sessionId = '00112233445566778899aabbccddeeff'
const issuedAt = 1_800_000_000_000
const expiresAt = issuedAt + 600_000
const material = Buffer.from(createHash('sha256').update('transcript material v1').digest())
const material2 = Buffer.from(createHash('sha256').update('transcript material v2').digest())
const materialIds = [createHash('sha256').update('id1').digest('hex'), createHash('sha256').update('id2').digest('hex')]

const rskA = fixedKey('rsk us-east-1')
const rskB = fixedKey('rsk eu-west-1')
const raka = fixedKey('raka')
const rakb = fixedKey('rakb')
const spki = (k: KeyObject): Buffer => createPublicKey(k).export({ format: 'der', type: 'spki' })

function envelope(message: Message, rsk: KeyObject): string {
  const body = encodeMessage(message)
  const signature = sign('sha384', signingInput(body), { key: rsk, dsaEncoding: 'ieee-p1363' })
  return Buffer.from(
    encodeEnvelope({
      v: 1,
      messageId: message.messageId,
      from: message.from,
      to: message.to,
      body: Buffer.from(body).toString('base64'),
      signature: { keyId: rskIdOf(spki(rsk)), value: signature.toString('base64') },
    }),
  ).toString('utf8')
}

const common = (from: string, to: string, n: number) => ({
  protocol: PROTOCOL as typeof PROTOCOL,
  messageId: `00000000-0000-4000-8000-00000000000${n}`,
  partition,
  from,
  to,
  keyId,
  issuedAt,
  expiresAt,
})

const rakbPoint = pointOfPublicKey(createPublicKey(rakb))
const rakaPoint = pointOfPublicKey(createPublicKey(raka))
const binding = { sessionId, partition, sourceRegion: source, destinationRegion: destination, keyId }
const z = ecdhSharedSecret(raka, rakbPoint)
const rwk = deriveRwk(z, binding, [1, 2], rakaPoint, rakbPoint)
const wrapped = wrapMaterials(rwk, binding, [
  { materialVersion: 1, materialId: materialIds[0] ?? '', material },
  { materialVersion: 2, materialId: materialIds[1] ?? '', material: material2 },
])
const shared: SharedState = {
  syncVersion: 3,
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
  origin: 'AWS_KMS',
  primaryRegion: source,
  replicaRegions: [destination],
  rotation: { enabled: false, periodInDays: 365 },
  materials: [
    { version: 1, materialId: materialIds[0] ?? '', createdAt: issuedAt - 2000 },
    { version: 2, materialId: materialIds[1] ?? '', createdAt: issuedAt - 1000, rotationType: 'ON_DEMAND' },
  ],
  currentVersion: 2,
}

const offer = envelope(
  { ...common(destination, source, 1), type: 'AgreementOffer', sessionId, rakbPublicKey: rakbPoint.toString('base64'), versions: [1, 2] },
  rskB,
)
const transfer = envelope(
  {
    ...common(source, destination, 2),
    type: 'MaterialTransfer',
    sessionId,
    rakaPublicKey: rakaPoint.toString('base64'),
    rakbPublicKey: rakbPoint.toString('base64'),
    materials: wrapped.map((w, i) => ({
      ...(shared.materials[i] ?? { version: 0, materialId: '', createdAt: 0 }),
      wrapped: Buffer.from(w.wrapped).toString('base64'),
    })),
    shared,
  },
  rskA,
)
const complete = envelope(
  {
    ...common(destination, source, 3),
    type: 'TransferComplete',
    sessionId,
    replicationId: '00000000-0000-4000-8000-0000000000aa',
    held: shared.materials.map((m) => ({ version: m.version, materialId: m.materialId })),
  },
  rskB,
)

const vector = {
  source:
    'test/tools/gen-replication-transcript.ts: fixed keys derived from labels with SHA-384; ECDSA signatures made once with node:crypto and verified by test/unit/replication-transcript.test.ts',
  spec: 'docs/spec/replication.md §4, §5, §6.2',
  partition,
  trust: {
    [source]: [{ id: rskIdOf(spki(rskA)), publicKey: spki(rskA).toString('base64'), status: 'active' }],
    [destination]: [{ id: rskIdOf(spki(rskB)), publicKey: spki(rskB).toString('base64'), status: 'active' }],
  },
  ephemeral: {
    rakaPrivateJwk: raka.export({ format: 'jwk' }),
    rakbPrivateJwk: rakb.export({ format: 'jwk' }),
  },
  expected: {
    sharedSecret: z.toString('hex'),
    rwk: rwk.toString('hex'),
    materials: [material.toString('hex'), material2.toString('hex')],
  },
  envelopes: [offer, transfer, complete],
}
writeFileSync(new URL('../../../test/vectors/replication/transcript-v1.json', import.meta.url), `${JSON.stringify(vector, null, 2)}\n`)
console.log('wrote test/vectors/replication/transcript-v1.json')
