import { it } from 'node:test'
import { ReplicateKeyCommand } from '@aws-sdk/client-kms'
import { startInMemoryPartition } from '../helpers/in-memory-partition.js'
import { createMrk, replicaViews, A, B, C } from '../helpers/adversary.js'

it('probe', async () => {
  let t = Date.now()
  const p = await startInMemoryPartition([A, B, C])
  console.log('start ms', Date.now() - t)
  const keyId = await createMrk(p)
  p.intercept = (e) => (e.from === B && (e.type === 'TransferComplete' || e.type === 'SyncAck') ? [] : [{ to: e.to, bytes: e.bytes }])
  await p.region(A).client().send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: B }))
  await p.settle()
  p.intercept = undefined
  const start = p.deliveries.length
  for (let i = 0; i < 5; i++) await p.reconcileAll()
  console.log(p.deliveries.slice(start).map((d) => `${d.type} ${d.from}->${d.deliveredTo} ${d.result.outcome}`))
  console.log(JSON.stringify(await replicaViews(p, A, keyId)))
  t = Date.now()
  await p.close()
  console.log('close ms', Date.now() - t)
})
