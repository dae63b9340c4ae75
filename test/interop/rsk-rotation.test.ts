/**
 * Rotating a region's Replication Signing Key (docs/spec/replication.md §3.2): the new
 * key signs from then on, the local partition pins it in every region, replication goes
 * on, and a message signed with a key that was retired is refused.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { CreateKeyCommand, DescribeKeyCommand, ReplicateKeyCommand } from '@aws-sdk/client-kms'
import { kmsClient, startPartition, stopAllPartitions, waitFor, type RunningPartition } from '../helpers/partition.js'

const run = promisify(execFile)
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname

describe('replication signing key rotation', () => {
  let partition: RunningPartition
  before(async () => {
    partition = await startPartition({ regions: ['us-east-1', 'eu-west-1'], extraArgs: ['--reconcile-interval-ms', '500'] })
  })
  after(async () => {
    await stopAllPartitions()
  })

  it('rotates, pins the new key everywhere, and replication still works', async () => {
    const rskFile = join(partition.dataDir, 'regions', 'us-east-1', 'rsk-public.json')
    const before = (JSON.parse(readFileSync(rskFile, 'utf8')) as { keys: Array<{ id: string }> }).keys.map((k) => k.id)
    const { stdout } = await run(process.execPath, [
      CLI,
      'rsk',
      'rotate',
      '--endpoint',
      partition.gatewayUrl,
      '--region',
      'us-east-1',
      '--credentials-file',
      join(partition.dataDir, 'credentials'),
    ])
    const answer = JSON.parse(stdout) as { KeyId: string; SigningKeys: string[] }
    assert.ok(!before.includes(answer.KeyId), 'a new signing key')
    assert.deepEqual(answer.SigningKeys, [...before, answer.KeyId])
    // The launcher pins it in every region's trust store.
    const trustFile = join(partition.dataDir, 'regions', 'eu-west-1', 'trust-store.json')
    await waitFor(
      'the new key pinned in eu-west-1',
      () => {
        const trust = JSON.parse(readFileSync(trustFile, 'utf8')) as { regions: Record<string, Array<{ id: string }>> }
        return trust.regions['us-east-1']?.some((k) => k.id === answer.KeyId) === true ? true : undefined
      },
      { timeoutMs: 30_000 },
    )
    // Messages now signed with the new key are accepted.
    const a = kmsClient(partition, 'us-east-1')
    const b = kmsClient(partition, 'eu-west-1')
    const keyId = (await a.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata?.KeyId ?? ''
    await a.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: 'eu-west-1' }))
    await waitFor(
      'the replica Enabled',
      async () =>
        (await b.send(new DescribeKeyCommand({ KeyId: keyId })).catch(() => undefined))?.KeyMetadata?.KeyState === 'Enabled'
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    )
  })
})
