/**
 * The launcher's own metrics: what it knows of each node it supervises, read from its
 * routing table when scraped.
 *
 * @module
 */
import { Counter, Gauge, Registry } from 'prom-client'

/** One node as the launcher's routing table (gateway/region-nodes.ts) reports it. */
export interface SupervisedNode {
  region: string
  node: number
  ready: boolean
  /** Client connections the front door handed to it so far. */
  connections: number
  restarts: number
}

export function createLauncherRegistry(nodes: () => readonly SupervisedNode[]): Registry {
  const registry = new Registry()
  const registers = [registry]
  const perNode = (name: string, help: string, read: (node: SupervisedNode) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['region', 'node'],
      registers,
      collect() {
        this.reset()
        for (const node of nodes()) this.set({ region: node.region, node: String(node.node) }, read(node))
      },
    })
  }
  // Counts the routing table keeps anyway: read whole at each scrape, never incremented here.
  const perNodeCount = (name: string, help: string, read: (node: SupervisedNode) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['region', 'node'],
      registers,
      collect() {
        this.reset()
        for (const node of nodes()) this.inc({ region: node.region, node: String(node.node) }, read(node))
      },
    })
  }
  perNode('trent_node_up', 'Whether the node serves (1) or is starting, restarting or stopping (0), as the launcher sees it.', (n) =>
    n.ready ? 1 : 0,
  )
  perNodeCount(
    'trent_gateway_connections_handed_off_total',
    'Client connections the gateway handed to the node since the partition started.',
    (n) => n.connections,
  )
  perNodeCount('trent_node_restarts_total', "Times the node's process ended and was started again.", (n) => n.restarts)
  return registry
}
