/**
 * Tag rules beyond the model's lengths, with AWS's recorded messages (reference §4.1).
 *
 * @module
 */
import { KmsError } from '../wire/errors.js'
import type { Tag } from '../storage/records.js'

export const MAX_TAGS_PER_KEY = 50

export function checkNewTags(tags: readonly Tag[]): void {
  const keys = new Set<string>()
  for (const tag of tags) {
    if (keys.has(tag.TagKey)) throw new KmsError('TagException', 'Duplicate tag keys')
    keys.add(tag.TagKey)
    if (tag.TagKey.startsWith('aws:')) throw new KmsError('TagException', 'Tags beginning with aws: are reserved')
  }
}

/** Adds or overwrites `added` on `existing`; throws if the key would hold too many. */
export function mergeTags(existing: readonly Tag[], added: readonly Tag[]): Tag[] {
  checkNewTags(added)
  const merged = new Map(existing.map((t) => [t.TagKey, t.TagValue]))
  for (const tag of added) merged.set(tag.TagKey, tag.TagValue)
  if (merged.size > MAX_TAGS_PER_KEY) throw new KmsError('TagException', 'Too many tags')
  return [...merged].map(([TagKey, TagValue]) => ({ TagKey, TagValue }))
}
