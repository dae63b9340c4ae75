/**
 * Limit/Marker paging as AWS does it: a page of at most `Limit` items (default 100),
 * `Truncated`, and an opaque `NextMarker` to pass back as `Marker`.
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'

export interface Page<T> {
  items: T[]
  truncated: boolean
  nextMarker?: string
}

const DEFAULT_LIMIT = 100

/**
 * Pages `items` (already in their stable order) by index. The marker is the base64 of
 * the position, prefixed so that a marker from another listing is refused.
 */
export function paginate<T>(items: readonly T[], limit: number | undefined, marker: string | undefined, listing: string): Page<T> {
  let start = 0
  if (marker !== undefined) {
    const decoded = Buffer.from(marker, 'base64url').toString('utf8')
    const match = /^([A-Za-z]+):(\d{1,9})$/.exec(decoded)
    if (match === null || match[1] !== listing) {
      throw new KmsError(
        'InvalidMarkerException',
        'The request was rejected because the marker that specifies where pagination should next begin is not valid.',
      )
    }
    start = Number(match[2])
  }
  const size = limit ?? DEFAULT_LIMIT
  const pageItems = items.slice(start, start + size)
  const end = start + pageItems.length
  if (end < items.length) {
    return { items: pageItems, truncated: true, nextMarker: Buffer.from(`${listing}:${end}`).toString('base64url') }
  }
  return { items: pageItems, truncated: false }
}

export function pageOutput<T>(name: string, page: Page<T>): Record<string, unknown> {
  const out: Record<string, unknown> = { [name]: page.items }
  if (page.nextMarker !== undefined) out.NextMarker = page.nextMarker
  out.Truncated = page.truncated
  return out
}
