/**
 * Seeding (`--seed FILE`, docs/spec/seed-file.md), on real partitions driven by the AWS
 * SDK: two partitions started from one seed file hold the same keys and use each other's
 * ciphertexts, MACs and public keys; a ciphertext made (here, from the spec) under an old
 * material version decrypts; a seeded multi-Region key is replicated by the partition
 * with the same material; aliases, policies and tags are there; a restart with the same
 * file changes nothing and one with a key added creates it; bad files stop the start with
 * a message naming the key; no seed material ever reaches the logs or the data dir.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createCipheriv, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetKeyPolicyCommand,
  GetPublicKeyCommand,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  RotateKeyOnDemandCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms'
import {
  PARTITION_MAIN,
  createTempDir,
  getHealth,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'

const US = 'us-east-1'
const EU = 'eu-west-1'
const REGIONS = [US, EU] as const
const ACCOUNT = '111122223333'
const SYNC = { timeoutMs: 120_000, intervalMs: 200 }
const EXTRA_ARGS = ['--reconcile-interval-ms', '500']
/**
 * Two partitions start at once on a shared 2-core machine (on PostgreSQL, with its cluster):
 * generous. Info-level logs: the tests read the seeding's own lines (npm test runs at warn).
 */
const START = { timeoutMs: 180_000, env: { TRENT_LOG_LEVEL: 'info' } }

// ---------------------------------------------------------------------------------------
// The seed file
// ---------------------------------------------------------------------------------------

const symmetricId = randomUUID()
const symmetricVersions = [randomBytes(32), randomBytes(32), randomBytes(32)]
const rsaId = randomUUID()
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const eccId = randomUUID()
const ecc = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const hmacId = randomUUID()
const hmacMaterial = randomBytes(32)
const mrkId = `mrk-${randomBytes(16).toString('hex')}`
const mrkVersions = [randomBytes(32), randomBytes(32)]
const laterId = randomUUID()
const laterMaterial = randomBytes(32)

const mrkPolicy = {
  Version: '2012-10-17',
  Id: 'seeded',
  Statement: [{ Sid: 'Root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }],
}

const rsaPem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
// SEC1 ("EC PRIVATE KEY"), the form `openssl ecparam -genkey` writes: accepted as well as PKCS#8.
const eccPem = ecc.privateKey.export({ format: 'pem', type: 'sec1' }).toString()

const seedKeys = [
  {
    keyId: symmetricId,
    region: US,
    description: 'seeded symmetric key',
    material: symmetricVersions.map((m) => m.toString('base64')),
    aliases: ['alias/seeded-symmetric'],
    tags: { team: 'payments' },
  },
  { keyId: rsaId, region: US, keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY', material: [rsaPem] },
  { keyId: eccId, region: EU, keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY', material: [eccPem] },
  { keyId: hmacId, region: US, keySpec: 'HMAC_256', material: [hmacMaterial.toString('base64')] },
  {
    keyId: mrkId,
    region: US,
    description: 'seeded multi-Region key',
    multiRegion: true,
    replicaRegions: [EU],
    material: mrkVersions.map((m) => m.toString('base64')),
    aliases: ['alias/seeded-mrk'],
    policy: mrkPolicy,
    tags: { team: 'payments', env: 'test' },
  },
]
const laterKey = { keyId: laterId, region: EU, material: [laterMaterial.toString('base64')], aliases: ['alias/added-later'] }

/** Every form the material has in the file, and its raw bytes: none may appear in a log or the data dir. */
const secretForms: string[] = [
  ...[...symmetricVersions, hmacMaterial, ...mrkVersions, laterMaterial].flatMap((m) => [m.toString('base64'), m.toString('hex')]),
  // A PEM's body lines, and the private scalars' base64.
  ...[rsaPem, eccPem].flatMap((pem) => pem.split('\n').filter((line) => line.length > 40)),
]
const rawMaterials: Buffer[] = [...symmetricVersions, hmacMaterial, ...mrkVersions, laterMaterial]

function writeSeed(dir: string, keys: unknown[]): string {
  const path = join(dir, 'seed.json')
  writeFileSync(path, JSON.stringify({ keys }, null, 2))
  return path
}

// ---------------------------------------------------------------------------------------
// A ciphertext made from the spec (docs/spec/ciphertext-blob.md), not by Trent
// ---------------------------------------------------------------------------------------

/** AES-256-GCM under the KBKDF key of `material` for `version` of the UUID key `keyId`, with an empty context. */
function specCiphertext(keyId: string, version: number, material: Buffer, plaintext: Buffer): Buffer {
  const header = Buffer.alloc(50)
  header[0] = 0x01
  header[1] = 0x01
  Buffer.from(keyId.replaceAll('-', ''), 'hex').copy(header, 2)
  header.writeUInt32BE(version, 18)
  randomBytes(16).copy(header, 22)
  randomBytes(12).copy(header, 38)
  const counter = Buffer.from([0, 0, 0, 1])
  const length = Buffer.from([0, 0, 1, 0])
  const key = createHmac('sha256', material)
    .update(Buffer.concat([counter, Buffer.from('trent/ciphertext/v1'), Buffer.from([0]), header.subarray(0, 38), length]))
    .digest()
  const cipher = createCipheriv('aes-256-gcm', key, header.subarray(38, 50))
  cipher.setAAD(Buffer.concat([header, Buffer.from([0, 0])]))
  return Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

function assertNoMaterialIn(what: string, text: string): void {
  for (const form of secretForms) assert.equal(text.includes(form), false, `seed material appears in ${what}`)
}

// ---------------------------------------------------------------------------------------

describe('seeding two partitions from one file', { timeout: 600_000 }, () => {
  let seedDir: string
  let seedPath: string
  let a: RunningPartition
  let b: RunningPartition
  let aDataDir: string

  before(async () => {
    seedDir = createTempDir('trent-seed-')
    seedPath = writeSeed(seedDir, seedKeys)
    aDataDir = createTempDir('trent-seed-a-')
    const args = [...EXTRA_ARGS, '--seed', seedPath]
    ;[a, b] = await Promise.all([
      startPartition({ regions: REGIONS, dataDir: aDataDir, extraArgs: args, ...START }),
      startPartition({ regions: REGIONS, extraArgs: args, ...START }),
    ])
  })

  after(async () => {
    await stopAllPartitions()
    removeTempDir(seedDir)
    removeTempDir(aDataDir)
  })

  it('a symmetric key with three versions: ciphertexts cross partitions, and one made under version 1 decrypts in both', async () => {
    const aUs = kmsClient(a, US)
    const bUs = kmsClient(b, US)
    const plaintext = Buffer.from('seeded in both partitions')
    const made = await aUs.send(new EncryptCommand({ KeyId: symmetricId, Plaintext: plaintext }))
    const opened = await bUs.send(new DecryptCommand({ CiphertextBlob: made.CiphertextBlob }))
    assert.deepEqual(Buffer.from(opened.Plaintext ?? []), plaintext)
    assert.equal(opened.KeyId, `arn:aws:kms:${US}:${ACCOUNT}:key/${symmetricId}`)

    // Made outside Trent from the spec, under the oldest version: Trent's versions are the file's.
    for (const [index, material] of symmetricVersions.entries()) {
      const old = specCiphertext(symmetricId, index + 1, material, plaintext)
      for (const client of [aUs, bUs]) {
        const result = await client.send(new DecryptCommand({ CiphertextBlob: old }))
        assert.deepEqual(Buffer.from(result.Plaintext ?? []), plaintext, `version ${index + 1}`)
      }
    }

    const [describedA, describedB] = await Promise.all(
      [aUs, bUs].map((c) => c.send(new DescribeKeyCommand({ KeyId: 'alias/seeded-symmetric' }))),
    )
    assert.equal(describedA?.KeyMetadata?.KeyId, symmetricId)
    assert.equal(describedA?.KeyMetadata?.Description, 'seeded symmetric key')
    assert.equal(describedA?.KeyMetadata?.Origin, 'AWS_KMS')
    assert.equal(describedA?.KeyMetadata?.KeyState, 'Enabled')
    assert.equal(describedA?.KeyMetadata?.CurrentKeyMaterialId, describedB?.KeyMetadata?.CurrentKeyMaterialId)
    const rotations = await aUs.send(new ListKeyRotationsCommand({ KeyId: symmetricId }))
    assert.equal(rotations.Rotations?.length, 2, 'versions 2 and 3 are rotations')
    const tags = await aUs.send(new ListResourceTagsCommand({ KeyId: symmetricId }))
    assert.deepEqual(tags.Tags, [{ TagKey: 'team', TagValue: 'payments' }])
  })

  it('RSA and ECC keys from PEM: the same public keys in both partitions, and signatures cross', async () => {
    const expectations = [
      { keyId: rsaId, region: US, publicKey: rsa.publicKey, algorithm: 'RSASSA_PSS_SHA_256' as const },
      { keyId: eccId, region: EU, publicKey: ecc.publicKey, algorithm: 'ECDSA_SHA_256' as const },
    ]
    for (const { keyId, region, publicKey, algorithm } of expectations) {
      const expected = publicKey.export({ format: 'der', type: 'spki' })
      const clients = [kmsClient(a, region), kmsClient(b, region)]
      for (const client of clients) {
        const got = await client.send(new GetPublicKeyCommand({ KeyId: keyId }))
        assert.deepEqual(Buffer.from(got.PublicKey ?? []), expected, keyId)
      }
      const message = Buffer.from('signed in one partition')
      const signed = await clients[0]?.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: algorithm }))
      const verified = await clients[1]?.send(
        new VerifyCommand({ KeyId: keyId, Message: message, Signature: signed?.Signature, SigningAlgorithm: algorithm }),
      )
      assert.equal(verified?.SignatureValid, true)
    }
    // Derived by node:crypto from the PEM the file gives, for good measure.
    assert.deepEqual(
      createPublicKey(createPrivateKey(eccPem)).export({ format: 'der', type: 'spki' }),
      ecc.publicKey.export({ format: 'der', type: 'spki' }),
    )
  })

  it('an HMAC key: the same MAC in both partitions as computed locally', async () => {
    const message = Buffer.from('mac me')
    const expected = createHmac('sha256', hmacMaterial).update(message).digest()
    for (const partition of [a, b]) {
      const mac = await kmsClient(partition, US).send(
        new GenerateMacCommand({ KeyId: hmacId, Message: message, MacAlgorithm: 'HMAC_SHA_256' }),
      )
      assert.deepEqual(Buffer.from(mac.Mac ?? []), expected)
    }
  })

  it('a multi-Region key: replicated in each partition with the same material, aliases, policy and tags in both regions', async () => {
    for (const partition of [a, b]) {
      const eu = kmsClient(partition, EU)
      const replica = await waitFor(
        `the seeded replica in ${EU}`,
        async () => {
          const described = await eu.send(new DescribeKeyCommand({ KeyId: mrkId })).catch(() => undefined)
          return described?.KeyMetadata?.KeyState === 'Enabled' ? described.KeyMetadata : undefined
        },
        SYNC,
      )
      assert.equal(replica.MultiRegion, true)
      assert.equal(replica.MultiRegionConfiguration?.MultiRegionKeyType, 'REPLICA')
      assert.equal(replica.MultiRegionConfiguration?.PrimaryKey?.Region, US)
      assert.equal(replica.Description, 'seeded multi-Region key')
      const primary = (await kmsClient(partition, US).send(new DescribeKeyCommand({ KeyId: mrkId }))).KeyMetadata
      assert.equal(primary?.MultiRegionConfiguration?.MultiRegionKeyType, 'PRIMARY')
      assert.deepEqual(
        primary?.MultiRegionConfiguration?.ReplicaKeys?.map((r) => r.Region),
        [EU],
      )
      assert.equal(replica.CurrentKeyMaterialId, primary?.CurrentKeyMaterialId)

      for (const region of REGIONS) {
        const client = kmsClient(partition, region)
        const policy = await client.send(new GetKeyPolicyCommand({ KeyId: mrkId, PolicyName: 'default' }))
        assert.deepEqual(JSON.parse(policy.Policy ?? '{}'), mrkPolicy, region)
        const tags = await client.send(new ListResourceTagsCommand({ KeyId: mrkId }))
        assert.deepEqual(new Set(tags.Tags?.map((t) => `${t.TagKey}=${t.TagValue}`)), new Set(['team=payments', 'env=test']), region)
        const alias = await waitFor(
          `alias/seeded-mrk in ${region}`,
          async () =>
            (await client.send(new ListAliasesCommand({ KeyId: mrkId }))).Aliases?.find((x) => x.AliasName === 'alias/seeded-mrk'),
          SYNC,
        )
        assert.equal(alias.TargetKeyId, mrkId)
      }
    }
    // Across partitions and regions: A's primary encrypts, B's replica decrypts, by alias.
    const plaintext = Buffer.from('multi-Region, multi-partition')
    const made = await kmsClient(a, US).send(new EncryptCommand({ KeyId: 'alias/seeded-mrk', Plaintext: plaintext }))
    const opened = await kmsClient(b, EU).send(new DecryptCommand({ CiphertextBlob: made.CiphertextBlob }))
    assert.deepEqual(Buffer.from(opened.Plaintext ?? []), plaintext)
    // The older version travelled too: the replicas hold both.
    const rotations = await kmsClient(b, EU).send(new ListKeyRotationsCommand({ KeyId: mrkId }))
    assert.equal(rotations.Rotations?.length, 1)

    // Later sync works as for any other multi-Region key: a rotation of B's primary reaches its replica.
    const bUs = kmsClient(b, US)
    const bEu = kmsClient(b, EU)
    const seededCurrent = (await bUs.send(new DescribeKeyCommand({ KeyId: mrkId }))).KeyMetadata?.CurrentKeyMaterialId
    await bUs.send(new RotateKeyOnDemandCommand({ KeyId: mrkId }))
    const rotated = await waitFor(
      'the rotation of the seeded multi-Region key in both regions',
      async () => {
        const [primary, replica] = await Promise.all([bUs, bEu].map((c) => c.send(new DescribeKeyCommand({ KeyId: mrkId }))))
        const current = primary?.KeyMetadata?.CurrentKeyMaterialId
        return current !== seededCurrent && current === replica?.KeyMetadata?.CurrentKeyMaterialId ? current : undefined
      },
      SYNC,
    )
    assert.ok(rotated)
    const afterRotation = await bUs.send(new EncryptCommand({ KeyId: mrkId, Plaintext: plaintext }))
    const openedInEu = await bEu.send(new DecryptCommand({ CiphertextBlob: afterRotation.CiphertextBlob }))
    assert.deepEqual(Buffer.from(openedInEu.Plaintext ?? []), plaintext)
  })

  it('a restart with the same file changes nothing; one with a key added creates it, and only it', async () => {
    const us = kmsClient(a, US)
    const before = await us.send(new DescribeKeyCommand({ KeyId: symmetricId }))
    const keysBefore = new Set((await us.send(new ListKeysCommand({}))).Keys?.map((k) => k.KeyId))
    await a.stop()

    a = await startPartition({ regions: REGIONS, dataDir: aDataDir, extraArgs: [...EXTRA_ARGS, '--seed', seedPath], ...START })
    const again = await kmsClient(a, US).send(new DescribeKeyCommand({ KeyId: symmetricId }))
    assert.deepEqual(again.KeyMetadata?.CreationDate, before.KeyMetadata?.CreationDate)
    assert.deepEqual(new Set((await kmsClient(a, US).send(new ListKeysCommand({}))).Keys?.map((k) => k.KeyId)), keysBefore)
    const presentLines = a
      .output()
      .stdout.split('\n')
      .filter((line) => line.includes('seed: key already present, left as it is'))
    // Every seeded key is reported present, by each node of its region (two on the PostgreSQL pass).
    const reported = new Set(seedKeys.filter((key) => presentLines.some((line) => line.includes(key.keyId))).map((key) => key.keyId))
    assert.deepEqual(reported, new Set(seedKeys.map((key) => key.keyId)))
    assert.equal(presentLines.length % seedKeys.length, 0, presentLines.join('\n'))
    assert.equal(
      presentLines.some((line) => line.includes('differsFromSeedFile')),
      false,
      presentLines.join('\n'),
    )
    await a.stop()

    // The file now says something else about an existing key: it stays as it was, and the log says what differs.
    const changed = { ...seedKeys[0], description: 'changed in the file', material: [randomBytes(32).toString('base64')] }
    writeSeed(seedDir, [changed, ...seedKeys.slice(1), laterKey])
    a = await startPartition({ regions: REGIONS, dataDir: aDataDir, extraArgs: [...EXTRA_ARGS, '--seed', seedPath], ...START })
    const eu = kmsClient(a, EU)
    const added = await eu.send(new DescribeKeyCommand({ KeyId: 'alias/added-later' }))
    assert.equal(added.KeyMetadata?.KeyId, laterId)
    const plaintext = Buffer.from('added later')
    const opened = await eu.send(new DecryptCommand({ CiphertextBlob: specCiphertext(laterId, 1, laterMaterial, plaintext) }))
    assert.deepEqual(Buffer.from(opened.Plaintext ?? []), plaintext)
    const usAfter = await kmsClient(a, US).send(new DescribeKeyCommand({ KeyId: symmetricId }))
    assert.deepEqual(usAfter.KeyMetadata?.CreationDate, before.KeyMetadata?.CreationDate)
    assert.equal(usAfter.KeyMetadata?.Description, 'seeded symmetric key')
    assert.equal(usAfter.KeyMetadata?.CurrentKeyMaterialId, before.KeyMetadata?.CurrentKeyMaterialId)
    const changedLine = a
      .output()
      .stdout.split('\n')
      .find((line) => line.includes(symmetricId) && line.includes('differsFromSeedFile'))
    assert.match(changedLine ?? '', /"differsFromSeedFile":"description,material"/)
    secretForms.push(...changed.material)
  })

  it("the mode of other people's tests is off unless asked for", async () => {
    assert.equal((await getHealth(b)).body.acceptAnyCredentials, undefined)
    assert.doesNotMatch(b.output().stderr, /accept-any-credentials/)
  })

  it('no seed material in the logs, nor in the data dir (stored only as key tokens)', () => {
    for (const [name, partition] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const { stdout, stderr } = partition.output()
      assertNoMaterialIn(`partition ${name}'s stdout`, stdout)
      assertNoMaterialIn(`partition ${name}'s stderr`, stderr)
    }
    for (const file of filesUnder(aDataDir)) {
      const bytes = readFileSync(file)
      for (const material of rawMaterials) assert.equal(bytes.includes(material), false, `seed material in ${file}`)
      assertNoMaterialIn(file, bytes.toString('latin1'))
    }
  })
})

describe('bad seed files stop the start with a message naming the key and the problem', { timeout: 180_000 }, () => {
  const good = { keyId: randomUUID(), region: US, material: [randomBytes(32).toString('base64')] }
  const cases: Array<{ what: string; keys: unknown[]; message: RegExp }> = [
    {
      what: 'bad base64',
      keys: [{ ...good, material: ['not*base64!'] }],
      message: /keys\[0\] \([0-9a-f-]+\): material\[0\]: is not base64/,
    },
    {
      what: 'wrong length',
      keys: [{ ...good, material: [randomBytes(16).toString('base64')] }],
      message: /material\[0\]: wrong length: SYMMETRIC_DEFAULT material is 32 bytes, this is 16/,
    },
    {
      what: 'a PEM that does not match keySpec',
      keys: [{ ...good, keySpec: 'ECC_NIST_P384', keyUsage: 'SIGN_VERIFY', material: [eccPem] }],
      message: /the PEM is a ec prime256v1 key, which does not match keySpec ECC_NIST_P384/,
    },
    { what: 'an unknown region', keys: [{ ...good, region: 'ap-south-2' }], message: /unknown region ap-south-2/ },
    { what: 'a duplicate id', keys: [good, good], message: /keys\[1\] \([0-9a-f-]+\): duplicate keyId, already keys\[0\]/ },
    { what: 'a bad alias name', keys: [{ ...good, aliases: ['alias/aws/mine'] }], message: /bad alias name alias\/aws\/mine/ },
    {
      what: 'an alias given twice in a region',
      keys: [
        { ...good, aliases: ['alias/x'] },
        { keyId: randomUUID(), region: US, material: good.material, aliases: ['alias/x'] },
      ],
      message: /alias alias\/x is already given to/,
    },
    {
      what: 'a multi-Region key without mrk-',
      keys: [{ ...good, multiRegion: true }],
      message: /"mrk-" followed by 32 lower-case hex digits/,
    },
    { what: 'an mrk- id without multiRegion', keys: [{ ...good, keyId: mrkId }], message: /set "multiRegion": true/ },
    { what: 'a missing material', keys: [{ keyId: randomUUID(), region: US }], message: /"material" is required/ },
    { what: 'not JSON', keys: [], message: /seed file: not valid JSON/ },
  ]
  let dir: string
  before(() => {
    dir = createTempDir('trent-seed-bad-')
  })
  after(() => removeTempDir(dir))

  for (const { what, keys, message } of cases) {
    it(what, () => {
      const path = join(dir, 'seed.json')
      writeFileSync(path, what === 'not JSON' ? '{"keys": [' : JSON.stringify({ keys }))
      const run = spawnSync(
        process.execPath,
        [PARTITION_MAIN, '--port', '0', '--regions', REGIONS.join(','), '--data-dir', join(dir, 'data'), '--seed', path],
        {
          encoding: 'utf8',
          timeout: 30_000,
          env: { ...process.env, TRENT_ACCESS_KEY_ID: undefined, TRENT_SECRET_ACCESS_KEY: undefined },
        },
      )
      assert.notEqual(run.status, 0)
      assert.match(run.stderr, message)
      assert.doesNotMatch(run.stderr, /Trent local partition/, 'fails before anything starts')
      for (const k of keys as Array<{ material?: string[] }>)
        for (const m of k.material ?? []) if (m.length > 40) assert.equal(run.stderr.includes(m), false)
    })
  }

  it('a policy the region refuses stops the partition (no restart loop), naming the key', async () => {
    const path = join(dir, 'seed-policy.json')
    const lockout = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/nobody' }, Action: 'kms:Encrypt', Resource: '*' }],
    }
    writeFileSync(path, JSON.stringify({ keys: [{ ...good, policy: lockout }] }))
    const partition = await startPartition({ regions: [US], extraArgs: ['--seed', path], waitForReady: false })
    const status = await partition.exited
    assert.equal(status.code, 1)
    assert.match(partition.output().stderr, new RegExp(`seed file: key ${good.keyId}: bad policy`))
    assert.match(partition.output().stderr, /cannot create the keys of the seed file/)
  })
})
