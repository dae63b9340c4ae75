import { it } from 'node:test'
import { CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand, EnableKeyRotationCommand, ReplicateKeyCommand, RotateKeyOnDemandCommand, UpdatePrimaryRegionCommand } from '@aws-sdk/client-kms'
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
  const desc = async (r: string, id: string) => (await k(r).send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata
  const show = async (id: string) => { for (const r of [A, B, C]) { const d = await desc(r, id); console.log(r, d?.KeyState, d?.MultiRegionConfiguration?.MultiRegionKeyType, d?.MultiRegionConfiguration?.PrimaryKey?.Region) } }
  // rotate during Updating
  for (const rot of ['rotate', 'enable']) {
    const id = await mk([B, C])
    await k(A).send(new UpdatePrimaryRegionCommand({ KeyId: id, PrimaryRegion: B }))
    if (rot === 'rotate') await k(A).send(new RotateKeyOnDemandCommand({ KeyId: id }))
    else await k(A).send(new EnableKeyRotationCommand({ KeyId: id }))
    await p.settle(); await p.reconcileAll(); await p.reconcileAll()
    console.log('--- during updating', rot); await show(id)
  }
  // HandoffRefused replay
  {
    const id = await mk([B, C])
    await k(B).send(new DisableKeyCommand({ KeyId: id }))
    const start = p.deliveries.length
    await k(A).send(new UpdatePrimaryRegionCommand({ KeyId: id, PrimaryRegion: B }))
    await p.settle()
    const refusal = p.deliveries.slice(start).find((d) => d.type === 'HandoffRefused')!
    await k(B).send(new EnableKeyCommand({ KeyId: id }))
    await k(A).send(new UpdatePrimaryRegionCommand({ KeyId: id, PrimaryRegion: B }))
    console.log('replay refusal', await receiveEnvelope(p.region(A).kms, refusal.bytes))
    await p.settle(); await p.reconcileAll()
    console.log('--- refusal replay'); await show(id)
  }
  // held regression
  {
    const id = await mk([B])
    const caps = p.deliveries.filter((d) => d.from === B && (d.type === 'TransferComplete' || d.type === 'SyncAck'))
    await k(A).send(new RotateKeyOnDemandCommand({ KeyId: id }))
    await p.settle()
    console.log(JSON.stringify((await describeReplication.handle(p.region(A).kms, { KeyId: id }, { requestId: 'x' })).Replicas))
    for (const d of caps) await receiveEnvelope(p.region(A).kms, d.bytes)
    console.log(JSON.stringify((await describeReplication.handle(p.region(A).kms, { KeyId: id }, { requestId: 'x' })).Replicas))
  }
  await p.close()
})
