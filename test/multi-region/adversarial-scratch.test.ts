
import { it } from 'node:test'
import { CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand, ReplicateKeyCommand, ScheduleKeyDeletionCommand, UpdatePrimaryRegionCommand } from '@aws-sdk/client-kms'
import { startInMemoryPartition } from '../helpers/in-memory-partition.js'
import { receiveEnvelope } from '../../src/kms/multi-region/inbound.js'
import { describeReplication } from '../../src/kms/admin/describe-replication.js'

const A = 'us-east-1', B = 'eu-west-1', C = 'ap-southeast-2'

it('probe', async () => {
  const p = await startInMemoryPartition([A, B, C])
  const k = (r: string) => p.region(r).client()
  const mk = async (rs: string[]) => {
    const id = (await k(A).send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!.KeyId!
    for (const r of rs) await k(A).send(new ReplicateKeyCommand({ KeyId: id, ReplicaRegion: r }))
    await p.settle(); return id
  }
  const desc = async (r: string, id: string) => (await k(r).send(new DescribeKeyCommand({ KeyId: id }, { requestId: 'x' }))).KeyMetadata
  // (a) split brain
  {
    const id = await mk([B, C])
    await k(B).send(new DisableKeyCommand({ KeyId: id }))
    await k(A).send(new UpdatePrimaryRegionCommand({ KeyId: id, PrimaryRegion: B }))
    const held: any[] = []
    p.intercept = (e) => { if (e.type === 'HandoffRefused') { held.push(e); return [] } return [{ to: e.to, bytes: e.bytes }] }
    await p.settle()
    console.log('A after refusal hold', (await desc(A, id))?.KeyState)
    await k(B).send(new EnableKeyCommand({ KeyId: id }))
    // hold B's SharedState to A
    const held2: any[] = []
    p.intercept = (e) => { if (e.from === B && e.to === A) { held2.push(e); return [] } return [{ to: e.to, bytes: e.bytes }] }
    await p.reconcileAll()
    console.log('B role', (await desc(B, id))?.MultiRegionConfiguration?.MultiRegionKeyType, 'held2', held2.map(e=>e.type))
    for (const e of held) console.log('deliver refused', await receiveEnvelope(p.region(A).kms, e.bytes))
    p.intercept = undefined
    for (const e of held2) console.log('deliver B->A', await receiveEnvelope(p.region(A).kms, e.bytes))
    await p.settle(); await p.reconcileAll(); await p.reconcileAll()
    for (const r of [A, B, C]) { const d = await desc(r, id); console.log(r, d?.KeyState, d?.MultiRegionConfiguration?.MultiRegionKeyType, d?.MultiRegionConfiguration?.PrimaryKey?.Region) }
  }
  // (b) ReplicaDeleted replay after re-replication
  {
    const id = await mk([B])
    await k(B).send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }))
    const start = p.deliveries.length
    await p.advance(B, 8 * 86400)
    const rd = p.deliveries.slice(start).find((d) => d.type === 'ReplicaDeleted')!
    await k(A).send(new ReplicateKeyCommand({ KeyId: id, ReplicaRegion: B }))
    await p.settle()
    console.log('replay RD', await receiveEnvelope(p.region(A).kms, rd.bytes))
    await p.settle(); await p.reconcileAll()
    console.log('A replicas', (await desc(A, id))?.MultiRegionConfiguration?.ReplicaKeys, 'B', (await desc(B, id))?.KeyState)
  }
  // (c) old TransferComplete replay counts a Creating replica
  {
    const id = await mk([B])
    const tcs = p.deliveries.filter((d) => (d.type === 'TransferComplete' || d.type === 'SyncAck') && d.from === B && d.bytes.toString().length > 0)
    const mine = tcs.filter(d => { const b = JSON.parse(Buffer.from(JSON.parse(Buffer.from(d.bytes).toString()).body, 'base64').toString()); return b.keyId === id })
    await k(B).send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }))
    await p.advance(B, 8 * 86400)
    p.intercept = (e) => (e.type === 'MaterialTransfer' ? [] : [{ to: e.to, bytes: e.bytes }])
    await k(A).send(new ReplicateKeyCommand({ KeyId: id, ReplicaRegion: B }))
    await p.settle()
    for (const d of mine) console.log('replay', d.type, await receiveEnvelope(p.region(A).kms, d.bytes))
    await p.settle()
    console.log(JSON.stringify(await describeReplication.handle(p.region(A).kms, { KeyId: id }, { requestId: 'x' })))
    console.log('B state', (await desc(B, id))?.KeyState)
    await p.reconcileAll()
    console.log(JSON.stringify(await describeReplication.handle(p.region(A).kms, { KeyId: id }, { requestId: 'x' })))
    p.intercept = undefined
  }
  // (e) ghost ReplicaCreate
  {
    const id = await mk([B])
    const rc = p.deliveries.find((d) => d.type === 'ReplicaCreate' && d.deliveredTo === B && JSON.parse(Buffer.from(JSON.parse(Buffer.from(d.bytes).toString()).body, 'base64').toString()).keyId === id)!
    await k(B).send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }))
    await p.advance(B, 8 * 86400)
    console.log('replay RC', await receiveEnvelope(p.region(B).kms, rc.bytes))
    await p.settle(); await p.reconcileAll()
    console.log('B', (await desc(B, id).catch(e=>e.name)))
  }
  await p.close()
})
