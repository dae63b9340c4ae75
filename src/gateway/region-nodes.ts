/**
 * The partition's routing table: every node of every region, what state each is in, and
 * which of them take client connections. A region may run several nodes (processes
 * sharing the region's store, the launcher's `--nodes`); the front door (handoff.ts) and
 * the HTTP gateway (gateway.ts) both pick a node here, and `GET /health` reports it.
 *
 * The launcher is the only writer: it knows when a node's process starts, reports ready
 * and exits. Readers are on the hot path (one pick per handed-off connection, one per
 * request the HTTP gateway proxies), so the set of ready nodes of a region is rebuilt on
 * every change of state, never on a pick: a pick is a map lookup and an array index.
 *
 * Nodes are picked round-robin among the ready ones. Least-connections would need each
 * node to report when a handed-off connection closes (the launcher hands the socket over
 * and never sees it again), an IPC message per connection for a count that is stale by
 * the time it arrives; round-robin needs no feedback, and over a client's pool of
 * keep-alive connections spreads them evenly.
 *
 * @module
 */

/**
 * `starting`: forked for the first time, not serving yet (or waiting for node 0 of its
 * region to create the region's files on a first start); `ready`: serving;
 * `restarting`: its process ended and a new one is on its way (`pid` is null until it is
 * forked); `stopping`: the partition is shutting down.
 */
export type NodeStatus = 'starting' | 'ready' | 'restarting' | 'stopping'

export interface NodeEndpoint {
  host: string
  port: number
}

/** One node as `GET /health` reports it. */
export interface NodeHealth {
  node: number
  /** The node's current process, null while none runs (waiting to be restarted). */
  pid: number | null
  /** Its KMS port while it serves, else null. */
  port: number | null
  status: NodeStatus
  /** Client connections handed to this node so far (all its processes together). */
  connections: number
  /** How many times its process ended and was started again. */
  restarts: number
}

export interface RegionHealth {
  /** `ready` while at least one node serves. */
  status: 'ready' | 'unavailable'
  /** The first ready node's port, kept for clients of the one-node report. */
  port?: number
  nodes: NodeHealth[]
}

export interface PartitionHealth {
  /** `ok`: every node serves; `degraded`: every region serves, not every node; `unavailable`: some region has no node serving. */
  status: 'ok' | 'degraded' | 'unavailable'
  regions: Record<string, RegionHealth>
}

/** A node that takes connections: which one, and where. */
export interface PickedNode {
  readonly node: number
  readonly endpoint: NodeEndpoint
}

interface NodeState {
  readonly node: number
  status: NodeStatus
  pid: number | null
  endpoint: NodeEndpoint | undefined
  connections: number
  restarts: number
}

interface RegionState {
  readonly nodes: NodeState[]
  /** The ready nodes, in node order, each with its endpoint: rebuilt on every change. */
  ready: PickedNode[]
  /** Round-robin position among `ready`. */
  cursor: number
}

/** Called when a node's endpoint changes (it went down, or serves elsewhere now). */
export type EndpointListener = (region: string, node: number, previous: NodeEndpoint | undefined, current: NodeEndpoint | undefined) => void

export class RegionNodes {
  readonly #regions = new Map<string, RegionState>()
  readonly #listeners: EndpointListener[] = []

  constructor(regions: readonly string[], nodesPerRegion: number) {
    if (!Number.isInteger(nodesPerRegion) || nodesPerRegion < 1) throw new RangeError('a region has at least one node')
    for (const region of regions) {
      const nodes = Array.from({ length: nodesPerRegion }, (_, node): NodeState => ({
        node,
        status: 'starting',
        pid: null,
        endpoint: undefined,
        connections: 0,
        restarts: 0,
      }))
      this.#regions.set(region, { nodes, ready: [], cursor: 0 })
    }
  }

  /** Whether `region` is part of the partition (serving or not). */
  has(region: string): boolean {
    return this.#regions.has(region)
  }

  regions(): Iterable<string> {
    return this.#regions.keys()
  }

  get nodesPerRegion(): number {
    return this.#regions.values().next().value?.nodes.length ?? 0
  }

  /** The next ready node of `region`, round-robin; undefined if none is ready. */
  pick(region: string): PickedNode | undefined {
    const state = this.#regions.get(region)
    if (state === undefined) return undefined
    const { ready } = state
    if (ready.length === 0) return undefined
    if (state.cursor >= ready.length) state.cursor = 0
    const picked = ready[state.cursor]
    state.cursor += 1
    return picked
  }

  /** How many nodes of `region` are ready: how many picks it takes to try each once. */
  readyCount(region: string): number {
    return this.#regions.get(region)?.ready.length ?? 0
  }

  /** The lowest-numbered ready node of `region`: a stable choice, for routes that should not move needlessly. */
  firstReady(region: string): PickedNode | undefined {
    return this.#regions.get(region)?.ready[0]
  }

  /** Whether `node` of `region` is ready now. */
  isReady(region: string, node: number): boolean {
    return this.#regions.get(region)?.nodes[node]?.status === 'ready'
  }

  /** Counts a client connection handed to `node` (for /health). */
  countConnection(region: string, node: number): void {
    const state = this.#regions.get(region)?.nodes[node]
    if (state !== undefined) state.connections += 1
  }

  /** A node's process was forked (`pid`); it is not serving yet. */
  starting(region: string, node: number, pid: number | null): void {
    this.#update(region, node, (state) => {
      state.pid = pid
      // A node that ended before keeps saying so until it serves again.
      if (state.status !== 'restarting') state.status = 'starting'
      state.endpoint = undefined
    })
  }

  /** A node serves at `endpoint`. */
  ready(region: string, node: number, pid: number, endpoint: NodeEndpoint): void {
    this.#update(region, node, (state) => {
      state.status = 'ready'
      state.pid = pid
      state.endpoint = endpoint
    })
  }

  /** A node's process ended and will be started again. */
  restarting(region: string, node: number): void {
    this.#update(region, node, (state) => {
      state.status = 'restarting'
      state.pid = null
      state.endpoint = undefined
      state.restarts += 1
    })
  }

  /** The partition is stopping: no node takes new connections. */
  stopping(region: string, node: number): void {
    this.#update(region, node, (state) => {
      state.status = 'stopping'
      state.endpoint = undefined
    })
  }

  /** Calls `listener` whenever a node's endpoint changes (so pooled connections to it can go). */
  onEndpointChange(listener: EndpointListener): void {
    this.#listeners.push(listener)
  }

  /** Whether every region has a ready node: whether the partition serves every region. */
  everyRegionServing(): boolean {
    for (const state of this.#regions.values()) if (state.ready.length === 0) return false
    return true
  }

  /** Whether every node of every region is ready. */
  everyNodeReady(): boolean {
    for (const state of this.#regions.values()) if (state.ready.length !== state.nodes.length) return false
    return true
  }

  health(): PartitionHealth {
    const regions: Record<string, RegionHealth> = {}
    for (const [region, state] of this.#regions) {
      const first = state.ready[0]
      const nodes = state.nodes.map((node): NodeHealth => ({
        node: node.node,
        pid: node.pid,
        port: node.endpoint?.port ?? null,
        status: node.status,
        connections: node.connections,
        restarts: node.restarts,
      }))
      regions[region] = first === undefined ? { status: 'unavailable', nodes } : { status: 'ready', port: first.endpoint.port, nodes }
    }
    const status = this.everyNodeReady() ? 'ok' : this.everyRegionServing() ? 'degraded' : 'unavailable'
    return { status, regions }
  }

  #update(region: string, node: number, change: (state: NodeState) => void): void {
    const regionState = this.#regions.get(region)
    const state = regionState?.nodes[node]
    if (regionState === undefined || state === undefined) throw new RangeError(`no node ${node} in region ${region}`)
    const previous = state.endpoint
    change(state)
    regionState.ready = regionState.nodes.flatMap((n) =>
      n.status === 'ready' && n.endpoint !== undefined ? [{ node: n.node, endpoint: n.endpoint }] : [],
    )
    const current = state.endpoint
    if (previous !== current && (previous?.host !== current?.host || previous?.port !== current?.port)) {
      for (const listener of this.#listeners) listener(region, node, previous, current)
    }
  }
}
