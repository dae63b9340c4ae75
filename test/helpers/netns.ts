/**
 * Separate "hosts" on one machine: a network namespace per region and one for the
 * replication proxy, joined by veth pairs so that the only way from one region to another
 * is through the proxy (the seed: "HSMs in different regions cannot communicate
 * directly"). Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2's `ip`.
 *
 *   root namespace (this process: the KMS client, and the operator)
 *     ├── client link i ────► region i's namespace   (its KMS API)
 *     └── operator link ────► the proxy's namespace   (the proxy's /v1/status)
 *   the proxy's namespace
 *     └── proxy link i ─────► region i's namespace   (replication, both ways)
 *
 * Every link is a /30 of its own. The proxy has one address (a /32 on its loopback, like
 * the one name `proxy.internal` would give it), which each region, and the root
 * namespace, reach through their own link to the proxy. That /32 is the only route beyond
 * a namespace's own links: no namespace has a default route, and the namespaces made here
 * do not forward, so a region reaches nothing but its client and the proxy.
 *
 *   const hosts = await createHosts({ regions: ['us-east-1', 'eu-west-1'] })
 *   try { ... hosts.commandPrefix(hosts.region('us-east-1').namespace) ... }
 *   finally { await hosts.destroy() }
 *
 * Names carry this process's pid (`trent-<pid>-…` namespaces, `trent<pid>…` devices in the
 * root namespace), so that concurrent runs cannot collide and {@link removeStaleHosts}
 * can remove what a run that died left behind.
 *
 * @module
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isProcessAlive, removeTempDir } from './partition.js'

const NAMESPACE_PREFIX = 'trent-'
const STALE_NAMESPACE = /^trent-(\d+)-/
/** Root-namespace ends: `trent<pid>c<i>` (client link i), `trent<pid>o` (operator link). Linux caps names at 15 bytes. */
const STALE_DEVICE = /^trent(\d+)(?:c\d+|o)$/
/** Data dirs of a run: `trent-netns-<pid>-XXXXXX` under the temp dir. */
const RUN_DIR_PREFIX = 'trent-netns-'
const STALE_RUN_DIR = /^trent-netns-(\d+)-/
/** Where each run's /24 is taken from: 10.200.0.0/24 … 10.255.255.0/24. */
const FIRST_SECOND_OCTET = 200
const SUBNETS = (256 - FIRST_SECOND_OCTET) * 256
/** Client links use .0/30 … .60/30, proxy links .64/30 … .124/30: up to 16 regions. */
const MAX_REGIONS = 16

/** The device names inside the namespaces (each namespace has its own device names). */
const REGION_CLIENT_DEVICE = 'client'
const REGION_PROXY_DEVICE = 'proxy'
const PROXY_OPERATOR_DEVICE = 'operator'
const proxyDeviceFor = (index: number): string => `region${index}`

export interface RegionHost {
  readonly region: string
  readonly namespace: string
  /** The region's end of its link to the client (the root namespace): where its KMS API listens. */
  readonly clientFacingAddress: string
  /** The region's end of its link to the proxy: where the proxy delivers replication messages. */
  readonly proxyFacingAddress: string
}

export interface ProxyHost {
  readonly namespace: string
  /** The proxy's one address, reached from every region and from the root namespace. */
  readonly address: string
}

/** How a TCP connection attempt ended. */
export type TcpProbe = { connected: true } | { connected: false; code: string }

export interface IPv4Route {
  dst: string
  gateway?: string
  dev?: string
}

export interface Hosts {
  /** `trent-<pid>`: what every name made here starts with. */
  readonly id: string
  /** The /24 this run's links are numbered from. */
  readonly subnet: string
  readonly proxy: ProxyHost
  readonly regions: readonly RegionHost[]
  region(name: string): RegionHost
  /** Runs a program on `namespace`'s "host": prefix it to the command line. */
  commandPrefix(namespace: string): string[]
  /**
   * Cuts a region off from the proxy (`down`) or reconnects it (`up`) by the state of the
   * proxy's end of their link, as when the cable is pulled at the proxy: the region's end
   * loses its carrier. Taking the proxy's end down (not the region's) keeps the region's
   * route to the proxy in place, so `up` restores exactly what was there.
   */
  setProxyLink(region: string, state: 'up' | 'down'): Promise<void>
  /** A TCP connection attempt from inside `namespace` (a node process run there), or from this process when `namespace` is undefined. */
  probeTcp(namespace: string | undefined, host: string, port: number, timeoutMs?: number): Promise<TcpProbe>
  /** The namespace's main IPv4 routing table. */
  routes(namespace: string): Promise<IPv4Route[]>
  /** `net.ipv4.ip_forward` inside the namespace: '0' or '1'. */
  ipForwarding(namespace: string): Promise<string>
  /** Kills whatever still runs in the namespaces, removes the devices and the namespaces. Idempotent. */
  destroy(): Promise<void>
}

// ---------------------------------------------------------------------------------------

interface CommandResult {
  stdout: string
  stderr: string
}

function run(command: string, args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve({ stdout, stderr })
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        reject(new Error(`${command} is not installed (iproute2: apt-get install -y iproute2)`))
      else reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`))
    })
  })
}

const ip = (...args: string[]): Promise<CommandResult> => run('ip', args)

/**
 * Fails with a plain explanation unless this process can make network namespaces: the
 * netns tests need root (CI runs as root), and are not skipped without it.
 */
export function assertCanCreateHosts(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'this test puts each region and the proxy in a network namespace of its own (ip netns, veth pairs) and must run as root, as CI does; ' +
        'run it as root (e.g. sudo node tools/run-tests.mjs netns)',
    )
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    throw new Error('the `ip` command (iproute2) is missing: apt-get install -y iproute2 (.ci/run does)')
  }
}

async function namespaceNames(): Promise<string[]> {
  // Lines are "name" or "name (id: 3)".
  const { stdout } = await ip('netns', 'list')
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '')
}

async function namespacePids(namespace: string): Promise<number[]> {
  const { stdout } = await ip('netns', 'pids', namespace)
  return stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0)
}

/** SIGKILLs what still runs in the namespace (a namespace outlives `ip netns del` while a process is in it), then deletes it. */
async function deleteNamespace(namespace: string): Promise<void> {
  for (const pid of await namespacePids(namespace).catch(() => [])) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  await ip('netns', 'del', namespace)
}

async function rootDeviceNames(): Promise<string[]> {
  const { stdout } = await ip('-j', 'link', 'show')
  return (JSON.parse(stdout) as Array<{ ifname?: string }>).map((link) => link.ifname ?? '')
}

/** A temp dir for this run's data dirs, named after this process so that {@link removeStaleHosts} can remove it if the run is killed. */
export function createRunDir(): string {
  return mkdtempSync(join(tmpdir(), `${RUN_DIR_PREFIX}${process.pid}-`))
}

/**
 * Removes the namespaces, root-namespace devices and run dirs of earlier runs whose
 * process is gone (a run killed before its `after()` could clean up). Returns what it
 * removed.
 */
export async function removeStaleHosts(): Promise<string[]> {
  const removed: string[] = []
  const staleRun = (name: string, pattern: RegExp): boolean => {
    const pid = Number(pattern.exec(name)?.[1] ?? NaN)
    return Number.isSafeInteger(pid) && pid !== process.pid && !isProcessAlive(pid)
  }
  for (const namespace of await namespaceNames()) {
    if (!staleRun(namespace, STALE_NAMESPACE)) continue
    await deleteNamespace(namespace)
    removed.push(`netns ${namespace}`)
  }
  // A veth pair goes with its namespace end; these are ends whose peer somehow survived.
  for (const device of await rootDeviceNames()) {
    if (!staleRun(device, STALE_DEVICE)) continue
    await ip('link', 'del', device).catch(() => undefined)
    removed.push(`link ${device}`)
  }
  for (const name of readdirSync(tmpdir())) {
    if (!staleRun(name, STALE_RUN_DIR)) continue
    removeTempDir(join(tmpdir(), name))
    removed.push(`dir ${name}`)
  }
  return removed
}

// ---------------------------------------------------------------------------------------
// Address plan

function parseIPv4(text: string): number {
  const parts = text.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${text}`)
  return parts.reduce((value, part) => value * 256 + part, 0)
}

function overlaps(a: { network: number; prefix: number }, b: { network: number; prefix: number }): boolean {
  const prefix = Math.min(a.prefix, b.prefix)
  const size = 2 ** (32 - prefix)
  return Math.floor(a.network / size) === Math.floor(b.network / size)
}

/** Every IPv4 prefix the root namespace already routes or holds, but its default route. */
async function usedRootPrefixes(): Promise<Array<{ network: number; prefix: number }>> {
  const used: Array<{ network: number; prefix: number }> = []
  const routes = JSON.parse((await ip('-j', '-4', 'route', 'show', 'table', 'all')).stdout) as Array<{ dst?: string }>
  for (const { dst } of routes) {
    if (dst === undefined || dst === 'default') continue
    const [address = '', prefix = '32'] = dst.split('/')
    try {
      used.push({ network: parseIPv4(address), prefix: Number(prefix) })
    } catch {
      // Not an address (a multicast or unreachable entry's keyword): nothing to avoid.
    }
  }
  const links = JSON.parse((await ip('-j', '-4', 'addr', 'show')).stdout) as Array<{
    addr_info?: Array<{ local?: string; prefixlen?: number }>
  }>
  for (const link of links) {
    for (const { local, prefixlen } of link.addr_info ?? []) {
      if (local !== undefined) used.push({ network: parseIPv4(local), prefix: prefixlen ?? 32 })
    }
  }
  return used
}

/** A 10.x.y.0/24 nobody uses in the root namespace, picked from this pid so that concurrent runs start apart. */
async function pickSubnet(): Promise<string> {
  const used = await usedRootPrefixes()
  const start = (process.pid * 2_654_435_761) % SUBNETS
  for (let step = 0; step < SUBNETS; step++) {
    const index = (start + step) % SUBNETS
    const subnet = `10.${FIRST_SECOND_OCTET + Math.floor(index / 256)}.${index % 256}`
    const candidate = { network: parseIPv4(`${subnet}.0`), prefix: 24 }
    if (!used.some((prefix) => overlaps(prefix, candidate))) return subnet
  }
  throw new Error('found no free 10.x.y.0/24 for the namespaces')
}

// ---------------------------------------------------------------------------------------

/** What a TCP probe runs inside a namespace: prints how one connection attempt ended, as JSON. */
const TCP_PROBE_SCRIPT = `
const [host, port, timeoutMs] = process.argv.slice(1)
const socket = require('node:net').connect({ host, port: Number(port) })
const done = (result) => { process.stdout.write(JSON.stringify(result)); socket.destroy(); process.exit(0) }
socket.setTimeout(Number(timeoutMs), () => done({ connected: false, code: 'TIMEOUT' }))
socket.once('connect', () => done({ connected: true }))
socket.once('error', (err) => done({ connected: false, code: err.code ?? String(err) }))
`

function probeFromHere(host: string, port: number, timeoutMs: number): Promise<TcpProbe> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (result: TcpProbe): void => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done({ connected: false, code: 'TIMEOUT' }))
    socket.once('connect', () => done({ connected: true }))
    socket.once('error', (err: NodeJS.ErrnoException) => done({ connected: false, code: err.code ?? String(err) }))
  })
}

/** Hosts made by this process and not yet destroyed: removed synchronously if it exits first. */
const undestroyed = new Set<{ namespaces: string[]; devices: string[] }>()
process.on('exit', () => {
  for (const made of undestroyed) {
    for (const device of made.devices) {
      try {
        execFileSync('ip', ['link', 'del', device], { stdio: 'ignore' })
      } catch {
        // Gone with its namespace already.
      }
    }
    for (const namespace of made.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' })
      } catch {
        // Removed already; a later run's removeStaleHosts() gets anything left.
      }
    }
  }
})

export interface CreateHostsOptions {
  regions: readonly string[]
}

export async function createHosts(options: CreateHostsOptions): Promise<Hosts> {
  if (options.regions.length === 0 || options.regions.length > MAX_REGIONS) throw new Error(`between 1 and ${MAX_REGIONS} regions`)
  const id = `${NAMESPACE_PREFIX}${process.pid}`
  const subnet = await pickSubnet()
  const address = (host: number): string => `${subnet}.${host}`
  const made = { namespaces: [] as string[], devices: [] as string[] }
  undestroyed.add(made)

  const proxy: ProxyHost = { namespace: `${id}-proxy`, address: address(254) }
  const regions: RegionHost[] = options.regions.map((region, index) => ({
    region,
    namespace: `${id}-${region}`,
    clientFacingAddress: address(4 * index + 2),
    proxyFacingAddress: address(64 + 4 * index + 2),
  }))

  let destroyed: Promise<void> | undefined
  const hosts: Hosts = {
    id,
    subnet: `${subnet}.0/24`,
    proxy,
    regions,
    region(name) {
      const host = regions.find((r) => r.region === name)
      if (host === undefined) throw new Error(`no host for region ${name}`)
      return host
    },
    commandPrefix: (namespace) => ['ip', 'netns', 'exec', namespace],
    async setProxyLink(region, state) {
      const index = regions.findIndex((r) => r.region === region)
      if (index < 0) throw new Error(`no host for region ${region}`)
      await ip('-n', proxy.namespace, 'link', 'set', proxyDeviceFor(index), state)
    },
    async probeTcp(namespace, host, port, timeoutMs = 5_000) {
      if (namespace === undefined) return probeFromHere(host, port, timeoutMs)
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', namespace, process.execPath, '-e', TCP_PROBE_SCRIPT, host, String(port), String(timeoutMs)],
        timeoutMs + 30_000,
      )
      return JSON.parse(stdout) as TcpProbe
    },
    async routes(namespace) {
      return JSON.parse((await ip('-n', namespace, '-j', '-4', 'route', 'show')).stdout) as IPv4Route[]
    },
    async ipForwarding(namespace) {
      return (await run('ip', ['netns', 'exec', namespace, 'cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()
    },
    destroy() {
      destroyed ??= (async () => {
        const failures: string[] = []
        // Deleting one end of a veth pair deletes both; the namespaces take the rest.
        for (const device of made.devices) {
          await ip('link', 'del', device).catch((err: unknown) => {
            if (!String(err).includes('Cannot find device')) failures.push(String(err))
          })
        }
        for (const namespace of made.namespaces) {
          await deleteNamespace(namespace).catch((err: unknown) => failures.push(String(err)))
        }
        undestroyed.delete(made)
        if (failures.length > 0) throw new Error(`could not remove every namespace and device:\n${failures.join('\n')}`)
      })()
      return destroyed
    },
  }

  async function addNamespace(namespace: string): Promise<void> {
    await ip('netns', 'add', namespace)
    made.namespaces.push(namespace)
    await ip('-n', namespace, 'link', 'set', 'lo', 'up')
    // New namespaces do not forward by default; say so rather than rely on it, since the
    // proxy's namespace is the one place where links to several regions meet.
    await run('ip', ['netns', 'exec', namespace, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward'])
  }

  /** A veth pair from `left` (undefined: the root namespace) to `right`, a /30 numbered `.base+1` (left) and `.base+2` (right). */
  async function addLink(
    left: { namespace?: string; device: string },
    right: { namespace: string; device: string },
    base: number,
  ): Promise<void> {
    const inLeft = left.namespace === undefined ? [] : ['-n', left.namespace]
    await ip(...inLeft, 'link', 'add', left.device, 'type', 'veth', 'peer', 'name', right.device, 'netns', right.namespace)
    if (left.namespace === undefined) made.devices.push(left.device)
    await ip(...inLeft, 'addr', 'add', `${address(base + 1)}/30`, 'dev', left.device)
    await ip('-n', right.namespace, 'addr', 'add', `${address(base + 2)}/30`, 'dev', right.device)
    await ip(...inLeft, 'link', 'set', left.device, 'up')
    await ip('-n', right.namespace, 'link', 'set', right.device, 'up')
  }

  try {
    await addNamespace(proxy.namespace)
    await ip('-n', proxy.namespace, 'addr', 'add', `${proxy.address}/32`, 'dev', 'lo')
    for (const [index, host] of regions.entries()) {
      await addNamespace(host.namespace)
      await addLink({ device: `${id.replace('-', '')}c${index}` }, { namespace: host.namespace, device: REGION_CLIENT_DEVICE }, 4 * index)
      await addLink(
        { namespace: proxy.namespace, device: proxyDeviceFor(index) },
        { namespace: host.namespace, device: REGION_PROXY_DEVICE },
        64 + 4 * index,
      )
      // The region's one route beyond its links: to the proxy, through the proxy's end of their link.
      await ip('-n', host.namespace, 'route', 'add', `${proxy.address}/32`, 'via', address(64 + 4 * index + 1), 'dev', REGION_PROXY_DEVICE)
    }
    const operatorDevice = `${id.replace('-', '')}o`
    await addLink({ device: operatorDevice }, { namespace: proxy.namespace, device: PROXY_OPERATOR_DEVICE }, 128)
    await ip('route', 'add', `${proxy.address}/32`, 'via', address(130), 'dev', operatorDevice)
  } catch (err) {
    await hosts.destroy().catch(() => undefined)
    throw err
  }
  return hosts
}
