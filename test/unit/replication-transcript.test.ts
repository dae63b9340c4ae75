/**
 * A complete, committed protocol transcript (test/vectors/replication/transcript-v1.json):
 * the envelopes of one material transfer as they cross the proxy. Trent must accept
 * exactly these bytes, derive the same shared secret and RWK from the recorded ephemeral
 * keys, recover the recorded material, and refuse any byte changed.
 */
import assert from 'node:assert/strict'
import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parseEnvelope } from '../../src/replication/envelope.js'
import { parseMessage, type Message } from '../../src/replication/messages.js'
import { deriveRwk, ecdhSharedSecret, pointOfPublicKey, unwrapMaterials } from '../../src/hsm/soft/replication-crypto.js'
import { MemoryTrustStore } from '../helpers/in-memory-partition.js'

interface Transcript {
  partition: string
  trust: Record<string, Array<{ id: string; publicKey: string }>>
  ephemeral: { rakaPrivateJwk: JsonWebKey; rakbPrivateJwk: JsonWebKey }
  expected: { sharedSecret: string; rwk: string; materials: string[] }
  envelopes: string[]
}

const transcript = JSON.parse(
  readFileSync(new URL('../../../test/vectors/replication/transcript-v1.json', import.meta.url), 'utf8'),
) as Transcript

function trustStore(): MemoryTrustStore {
  const trust = new MemoryTrustStore(transcript.partition)
  for (const [region, keys] of Object.entries(transcript.trust)) {
    for (const key of keys) trust.pinned.push({ region, id: key.id, spki: Buffer.from(key.publicKey, 'base64') })
  }
  return trust
}

function open(envelopeText: string, trust = trustStore()): Message {
  const { envelope, body, signature } = parseEnvelope(Buffer.from(envelopeText))
  assert.ok(trust.verify(envelope.from, envelope.signature.keyId, body, signature), 'signature verifies under the pinned key')
  const message = parseMessage(body)
  assert.equal(message.from, envelope.from)
  assert.equal(message.to, envelope.to)
  assert.equal(message.messageId, envelope.messageId)
  return message
}

test('every envelope of the transcript verifies and parses', () => {
  const types = transcript.envelopes.map((e) => open(e).type)
  assert.deepEqual(types, ['AgreementOffer', 'MaterialTransfer', 'TransferComplete'])
})

test('both sides derive the recorded shared secret and RWK, and the material unwraps', () => {
  const [offerText, transferText] = transcript.envelopes
  const offer = open(offerText ?? '')
  const transfer = open(transferText ?? '')
  assert.ok(offer.type === 'AgreementOffer' && transfer.type === 'MaterialTransfer')
  const raka = createPrivateKey({ key: transcript.ephemeral.rakaPrivateJwk, format: 'jwk' })
  const rakb = createPrivateKey({ key: transcript.ephemeral.rakbPrivateJwk, format: 'jwk' })
  assert.equal(transfer.rakbPublicKey, offer.rakbPublicKey, 'the answer echoes the offered RAKB')
  assert.equal(pointOfPublicKey(createPublicKey(rakb)).toString('base64'), offer.rakbPublicKey)
  const zSource = ecdhSharedSecret(raka, Buffer.from(offer.rakbPublicKey, 'base64'))
  const zDestination = ecdhSharedSecret(rakb, Buffer.from(transfer.rakaPublicKey, 'base64'))
  assert.equal(zSource.toString('hex'), transcript.expected.sharedSecret)
  assert.equal(zDestination.toString('hex'), transcript.expected.sharedSecret)
  const binding = {
    sessionId: transfer.sessionId,
    partition: transfer.partition,
    sourceRegion: transfer.from,
    destinationRegion: transfer.to,
    keyId: transfer.keyId,
  }
  const versions = transfer.materials.map((m) => m.version)
  const rwk = deriveRwk(
    zDestination,
    binding,
    versions,
    Buffer.from(transfer.rakaPublicKey, 'base64'),
    Buffer.from(transfer.rakbPublicKey, 'base64'),
  )
  assert.equal(rwk.toString('hex'), transcript.expected.rwk)
  const materials = unwrapMaterials(
    rwk,
    binding,
    transfer.materials.map((m) => ({ materialVersion: m.version, materialId: m.materialId, wrapped: Buffer.from(m.wrapped, 'base64') })),
  )
  assert.deepEqual(
    materials.map((m) => m.toString('hex')),
    transcript.expected.materials,
  )
  // The same RWK bound to another destination does not open it.
  const elsewhere = deriveRwk(
    zDestination,
    { ...binding, destinationRegion: 'ap-south-1' },
    versions,
    Buffer.from(transfer.rakaPublicKey, 'base64'),
    Buffer.from(transfer.rakbPublicKey, 'base64'),
  )
  assert.throws(() =>
    unwrapMaterials(
      elsewhere,
      binding,
      transfer.materials.map((m) => ({ materialVersion: m.version, materialId: m.materialId, wrapped: Buffer.from(m.wrapped, 'base64') })),
    ),
  )
})

test('any changed byte of a signed body fails verification', () => {
  const trust = trustStore()
  for (const text of transcript.envelopes) {
    const { envelope, body, signature } = parseEnvelope(Buffer.from(text))
    for (let i = 0; i < body.length; i += 7) {
      const changed = Buffer.from(body)
      changed[i] = (changed[i] ?? 0) ^ 0x01
      assert.equal(trust.verify(envelope.from, envelope.signature.keyId, changed, signature), false)
    }
    // Signed by the other region's key: not accepted as this sender's.
    const other = envelope.from === 'us-east-1' ? 'eu-west-1' : 'us-east-1'
    assert.equal(trust.verify(other, envelope.signature.keyId, body, signature), false)
  }
})
