/**
 * Forwarding a request to another region of the partition, for connections the
 * partition handed to this region (gateway/handoff.ts) that carry a request scoped to
 * another region. The request goes as received (the signature covers it); the answer
 * comes back as the other region gave it.
 *
 * @module
 */
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http'

export interface RegionRoute {
  host: string
  port: number
}

const agents = new Map<string, Agent>()

function agentFor(key: string): Agent {
  let agent = agents.get(key)
  if (agent === undefined) {
    agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 4_000 })
    agents.set(key, agent)
  }
  return agent
}

export function forwardRequest(req: IncomingMessage, body: Buffer, res: ServerResponse, route: RegionRoute, onError: () => void): void {
  const upstream = request({
    agent: agentFor(`${route.host}:${route.port}`),
    host: route.host,
    port: route.port,
    method: req.method,
    path: req.url,
    headers: req.rawHeaders,
    setHost: false,
  })
  upstream.on('response', (answer) => {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && name !== 'connection' && name !== 'keep-alive') headers[name] = value
    }
    res.writeHead(answer.statusCode ?? 502, headers)
    answer.pipe(res)
  })
  upstream.on('error', () => {
    if (!res.headersSent) onError()
    else res.destroy()
  })
  upstream.end(body)
}
