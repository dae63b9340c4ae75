/**
 * What kill -9 costs the audit trail (docs/spec/audit-trail.md §4): a region process is
 * killed right after, and while, it answers requests; then its trail is read with the
 * `trent audit` CLI (a process of its own). The record of every acknowledged change must
 * be there, and so must every acknowledged Encrypt's: an answer leaves only once its
 * record is written to the file (fdatasync'd later), which a kill of the process does not
 * undo. The chain still verifies, and the restarted region continues it.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'
import { CreateAliasCommand, CreateKeyCommand, EncryptCommand, TagResourceCommand } from '@aws-sdk/client-kms'
import type { AuditRecord } from '../../src/audit/record.js'
import { startRegionProcess, type RegionProcess } from '../helpers/region-process.js'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'trent-audit-crash-'))
let region: RegionProcess | undefined
after(async () => {
  await region?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

function runCli(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout })
    })
  })
}

/** The request ids in the trail; `--data-dir` may name the region's own folder. */
async function recordedRequestIds(): Promise<Set<string>> {
  const result = await runCli(['audit', 'events', '--data-dir', dataDir, '--region', 'us-east-1'])
  assert.equal(result.code, 0)
  return new Set(
    result.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as AuditRecord).requestID),
  )
}

test('kill -9 loses no record of an acknowledged request, change or Encrypt', async (t) => {
  region = await startRegionProcess({ dataDir })
  const client = region.client()
  const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? ''
  const changes: string[] = []
  const encrypts: string[] = []
  // A change answered just before the kill.
  const tagged = await client.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'k', TagValue: 'v' }] }))
  changes.push(tagged.$metadata.requestId ?? '')
  // Eight clients encrypting, and one making aliases, when the kill comes.
  let stop = false
  const encryptLoops = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const answer = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(32) })).catch(() => undefined)
      if (answer === undefined) return
      encrypts.push(answer.$metadata.requestId ?? '')
    }
  })
  const aliasLoop = (async () => {
    for (let n = 0; !stop; n++) {
      const answer = await client.send(new CreateAliasCommand({ AliasName: `alias/crash-${n}`, TargetKeyId: keyId })).catch(() => undefined)
      if (answer === undefined) return
      changes.push(answer.$metadata.requestId ?? '')
    }
  })()
  await new Promise((resolve) => setTimeout(resolve, 1500))
  await region.kill9()
  stop = true
  await Promise.all([...encryptLoops, aliasLoop])
  region = undefined

  const recorded = await recordedRequestIds()
  const lostChanges = changes.filter((id) => !recorded.has(id))
  const lostEncrypts = encrypts.filter((id) => !recorded.has(id))
  t.diagnostic(
    `acknowledged: ${changes.length} changes, ${encrypts.length} Encrypts; missing from the trail after kill -9: ${lostChanges.length} changes, ${lostEncrypts.length} Encrypts`,
  )
  assert.ok(changes.length > 1 && encrypts.length > 8, 'the region answered requests of both kinds before the kill')
  assert.deepEqual(lostChanges, [], 'every acknowledged change is recorded')
  // Every answer waits for its record's write() (not its fdatasync): a kill of the process loses none.
  assert.deepEqual(lostEncrypts, [], 'every acknowledged Encrypt is recorded')
  const verified = await runCli(['audit', 'verify', '--data-dir', dataDir, '--region', 'us-east-1'])
  assert.equal(verified.code, 0, verified.stdout)

  // The restarted region continues the chain.
  region = await startRegionProcess({ dataDir })
  const again = await region.client().send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(8) }))
  await region.stop()
  region = undefined
  assert.ok((await recordedRequestIds()).has(again.$metadata.requestId ?? ''))
  const reverified = await runCli(['audit', 'verify', '--data-dir', dataDir, '--region', 'us-east-1'])
  assert.equal(reverified.code, 0, reverified.stdout)
})

test('a change committed by a node that died before writing its record is recorded when the node starts again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trent-audit-gap-'))
  try {
    let crashing: RegionProcess | undefined = await startRegionProcess({
      dataDir: dir,
      extraArgs: ['--allow-test-hooks'],
      env: { TRENT_FAILPOINTS: 'audit:before-change-record' },
    })
    // The failpoint kills the region after CreateKey's commit, before its record is written.
    const failed = await crashing
      .client()
      .send(new CreateKeyCommand({ Description: 'committed, then killed' }))
      .catch((err: Error) => err)
    assert.ok(failed instanceof Error, 'the client got no answer')
    await crashing.kill9()
    crashing = undefined
    const eventsBefore = await runCli(['audit', 'events', '--data-dir', dir, '--region', 'us-east-1'])
    assert.equal(eventsBefore.stdout.includes('"CreateKey"'), false, 'no record of the CreateKey before the restart')

    const restarted = await startRegionProcess({ dataDir: dir })
    try {
      const { ListKeysCommand } = await import('@aws-sdk/client-kms')
      const keys = (await restarted.client().send(new ListKeysCommand({}))).Keys ?? []
      assert.equal(keys.length, 1, 'the change was committed')
      const keyId = keys[0]?.KeyId ?? ''
      const result = await runCli(['audit', 'events', '--data-dir', dir, '--region', 'us-east-1', '--event-name', 'CreateKey'])
      const records = result.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as AuditRecord)
      assert.equal(records.length, 1, 'the CreateKey is recorded once')
      const record = records[0]!
      assert.match(record.additionalEventData?.recoveredFromChangeLog ?? '', /committed/)
      assert.deepEqual(record.requestParameters, { description: 'committed, then killed' })
      assert.deepEqual(
        record.resources.map((r) => r.ARN),
        [`arn:aws:kms:us-east-1:111122223333:key/${keyId}`],
      )
      assert.equal(record.readOnly, false)
    } finally {
      await restarted.stop()
    }
    // A second start recovers nothing more.
    const again = await startRegionProcess({ dataDir: dir })
    await again.stop()
    const result = await runCli(['audit', 'events', '--data-dir', dir, '--region', 'us-east-1', '--event-name', 'CreateKey'])
    assert.equal(result.stdout.split('\n').filter((l) => l !== '').length, 1)
    assert.equal((await runCli(['audit', 'verify', '--data-dir', dir, '--region', 'us-east-1'])).code, 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a replication message applied by a region that died before recording it is recorded when the region starts again', async () => {
  const { startReplicationCluster } = await import('../helpers/replication-cluster.js')
  const { DescribeKeyCommand, ReplicateKeyCommand } = await import('@aws-sdk/client-kms')
  const A = 'us-east-1'
  const B = 'eu-west-1'
  // B dies once, right after committing the ReplicaCreate, before its record and its answer.
  const cluster = await startReplicationCluster({ regions: [A, B], failpoints: { [B]: ['inbound:after-commit'] } })
  try {
    const keyId =
      (
        await cluster
          .region(A)
          .client()
          .send(new CreateKeyCommand({ MultiRegion: true }))
      ).KeyMetadata?.KeyId ?? ''
    await cluster
      .region(A)
      .client()
      .send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
    await cluster.region(B).waitForExit(60_000)
    assert.ok(cluster.region(B).failpointFired('inbound:after-commit'))
    await cluster.region(B).start()
    // The proxy delivers the ReplicaCreate again: a duplicate now, recorded as such.
    for (const deadline = Date.now() + 60_000; ;) {
      const state = await cluster
        .region(B)
        .client()
        .send(new DescribeKeyCommand({ KeyId: keyId }))
        .then(
          (d) => d.KeyMetadata?.KeyState,
          () => undefined,
        )
      if (state === 'Enabled') break
      assert.ok(Date.now() < deadline, 'the replica to be enabled')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const result = await runCli(['audit', 'events', '--data-dir', cluster.region(B).dataDir, '--region', B, '--event-name', 'ReplicateKey'])
    const records = result.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AuditRecord)
    const recovered = records.filter((r) => r.additionalEventData?.recoveredFromChangeLog !== undefined)
    assert.equal(recovered.length, 1, `one recovered ReplicateKey record, of ${records.length}`)
    assert.equal(recovered[0]?.eventType, 'AwsServiceEvent')
    assert.equal(recovered[0]?.additionalEventData?.sourceRegion, A)
    assert.deepEqual(
      recovered[0]?.resources.map((r) => r.ARN),
      [`arn:aws:kms:${B}:111122223333:key/${keyId}`],
    )
    assert.equal((await runCli(['audit', 'verify', '--data-dir', cluster.region(B).dataDir, '--region', B])).code, 0)
  } finally {
    await cluster.close()
  }
})
