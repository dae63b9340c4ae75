/**
 * The gateway's routing table (src/gateway/region-nodes.ts): which nodes take
 * connections, in what order, and what /health says as nodes come and go.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RegionNodes, type NodeEndpoint } from '../../src/gateway/region-nodes.js'

const at = (port: number): NodeEndpoint => ({ host: '127.0.0.1', port })

function picks(table: RegionNodes, region: string, count: number): Array<number | undefined> {
  return Array.from({ length: count }, () => table.pick(region)?.node)
}

describe('RegionNodes', () => {
  it('picks ready nodes round-robin, and only ready ones', () => {
    const table = new RegionNodes(['us-east-1', 'eu-west-1'], 3)
    assert.equal(table.pick('us-east-1'), undefined, 'nothing is ready yet')
    table.ready('us-east-1', 0, 100, at(4000))
    table.ready('us-east-1', 2, 102, at(4002))
    assert.deepEqual(picks(table, 'us-east-1', 4), [0, 2, 0, 2])
    table.ready('us-east-1', 1, 101, at(4001))
    assert.deepEqual(new Set(picks(table, 'us-east-1', 3)), new Set([0, 1, 2]))
    table.restarting('us-east-1', 0)
    assert.deepEqual(new Set(picks(table, 'us-east-1', 4)), new Set([1, 2]), 'a node that went down is never picked')
    assert.equal(table.pick('eu-west-1'), undefined, 'regions are independent')
    assert.equal(table.pick('ap-south-1'), undefined)
    assert.equal(table.has('ap-south-1'), false)
  })

  it('says unavailable until every region has a ready node, then degraded until every node is ready, then ok', () => {
    const table = new RegionNodes(['us-east-1', 'eu-west-1'], 2)
    assert.equal(table.health().status, 'unavailable')
    table.starting('us-east-1', 0, 100)
    table.ready('us-east-1', 0, 100, at(4000))
    assert.equal(table.health().status, 'unavailable', 'eu-west-1 has no ready node')
    table.ready('eu-west-1', 1, 201, at(4003))
    const degraded = table.health()
    assert.equal(degraded.status, 'degraded')
    assert.deepEqual(degraded.regions['eu-west-1'], {
      status: 'ready',
      port: 4003,
      nodes: [
        { node: 0, pid: null, port: null, status: 'starting', connections: 0, restarts: 0 },
        { node: 1, pid: 201, port: 4003, status: 'ready', connections: 0, restarts: 0 },
      ],
    })
    table.ready('us-east-1', 1, 101, at(4001))
    table.ready('eu-west-1', 0, 200, at(4002))
    assert.equal(table.health().status, 'ok')
    assert.ok(table.everyNodeReady())

    table.countConnection('us-east-1', 1)
    table.restarting('us-east-1', 1)
    table.starting('us-east-1', 1, 111)
    const restarting = table.health().regions['us-east-1']?.nodes[1]
    assert.deepEqual(
      restarting,
      { node: 1, pid: 111, port: null, status: 'restarting', connections: 1, restarts: 1 },
      'restarting until it serves again',
    )
    table.ready('us-east-1', 1, 111, at(4011))
    assert.equal(table.health().regions['us-east-1']?.nodes[1]?.status, 'ready')
  })

  it('tells listeners when a node no longer serves where it did, so its pooled connections can go', () => {
    const table = new RegionNodes(['us-east-1'], 2)
    const changes: Array<[number, number | undefined, number | undefined]> = []
    table.onEndpointChange((_region, node, previous, current) => changes.push([node, previous?.port, current?.port]))
    table.ready('us-east-1', 0, 100, at(4000))
    table.ready('us-east-1', 0, 100, at(4000))
    table.restarting('us-east-1', 0)
    table.ready('us-east-1', 0, 101, at(4010))
    assert.deepEqual(changes, [
      [0, undefined, 4000],
      [0, 4000, undefined],
      [0, undefined, 4010],
    ])
  })

  it('keeps the first ready node as the stable choice for routes', () => {
    const table = new RegionNodes(['us-east-1'], 3)
    table.ready('us-east-1', 2, 102, at(4002))
    assert.equal(table.firstReady('us-east-1')?.node, 2)
    table.ready('us-east-1', 1, 101, at(4001))
    assert.equal(table.firstReady('us-east-1')?.node, 1)
    table.pick('us-east-1')
    assert.equal(table.firstReady('us-east-1')?.node, 1, 'picking does not move it')
  })
})
