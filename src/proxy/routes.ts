/**
 * Where each destination region is reached: its route base URL, from `--route
 * region=URL` flags and an optional routes file (`{ "us-east-1": "http://..." }`). A
 * region's port can change when it restarts, so the file is re-read when it changes or
 * on SIGHUP; a route in the file wins over a flag for the same region.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { isRegionName } from './envelope.js'

export type Routes = ReadonlyMap<string, URL>

export class RouteError extends Error {
  override readonly name = 'RouteError'
}

export function parseRouteUrl(region: string, value: string): URL {
  if (!isRegionName(region)) throw new RouteError(`'${region}' is not a region name`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new RouteError(`route for ${region}: '${value}' is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RouteError(`route for ${region}: only http and https URLs`)
  if (url.search !== '' || url.hash !== '') throw new RouteError(`route for ${region}: a base URL has no query or fragment`)
  return url
}

/** `region=URL`, as the `--route` flag takes it. */
export function parseRouteFlag(flag: string): [string, URL] {
  const separator = flag.indexOf('=')
  if (separator <= 0) throw new RouteError(`--route ${flag}: expected region=URL`)
  const region = flag.slice(0, separator)
  return [region, parseRouteUrl(region, flag.slice(separator + 1))]
}

export function parseRoutesJson(text: string): Map<string, URL> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new RouteError('routes file is not JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RouteError('routes file must be a JSON object of region to URL')
  }
  const routes = new Map<string, URL>()
  for (const [region, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new RouteError(`routes file: the route for ${region} must be a string`)
    routes.set(region, parseRouteUrl(region, value))
  }
  return routes
}

export function readRoutesFile(path: string): Map<string, URL> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new RouteError(`cannot read routes file ${path}: ${err instanceof Error ? err.message : 'unreadable'}`)
  }
  return parseRoutesJson(text)
}

/** Regions whose route appeared or changed from `before` to `after`. */
export function changedRoutes(before: Routes, after: Routes): string[] {
  return [...after].filter(([region, url]) => before.get(region)?.href !== url.href).map(([region]) => region)
}

export function routesAsJson(routes: Routes): Record<string, string> {
  return Object.fromEntries([...routes].sort(([a], [b]) => a.localeCompare(b)).map(([region, url]) => [region, url.href]))
}
