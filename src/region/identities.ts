/**
 * The region's principals: its root credentials, plus the users of the identities file,
 * read at start and again whenever the file changes (docs/authorization.md §1). A file
 * that stops parsing keeps the last good set and is logged, so an edit in progress never
 * locks everyone out; a file that fails at start stops the region.
 *
 * @module
 */
import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs'
import type { Logger } from '../log/logger.js'
import { StaticPrincipalDirectory, parseIdentities, rootIdentity, type Identity } from '../kms/principals.js'

export interface IdentitiesOptions {
  partition: string
  accountId: string
  credentials: { accessKeyId: string; secretAccessKey: string }
  file?: string
  logger: Logger
  /** How often the file's modification time is polled. */
  pollIntervalMs?: number
}

export function loadPrincipals(options: IdentitiesOptions): { directory: StaticPrincipalDirectory; close(): void } {
  const root = rootIdentity(options.partition, options.accountId, options.credentials)
  const read = (file: string): Identity[] => {
    const users = parseIdentities(readFileSync(file, 'utf8'), options.partition, options.accountId)
    if (users.some((user) => user.accessKeyId === root.accessKeyId)) throw new Error('identities file: a user has the root access key id')
    return [root, ...users]
  }
  const file = options.file
  if (file === undefined) return { directory: new StaticPrincipalDirectory([root]), close: () => undefined }
  const readAt = statSync(file)
  const directory = new StaticPrincipalDirectory(read(file))
  options.logger.info('identities loaded', { file })
  const reload = (): void => {
    try {
      directory.replace(read(file))
      options.logger.info('identities reloaded', { file })
    } catch (err) {
      options.logger.error('identities file not reloaded; the previous identities stay in force', {
        file,
        problem: err instanceof Error ? err.message : 'unreadable',
      })
    }
  }
  watchFile(file, { interval: options.pollIntervalMs ?? 500, persistent: false }, (current, previous) => {
    if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size) reload()
  })
  // An edit between the first read and the watcher's first look would go unseen until the next one.
  const watchedFrom = statSync(file)
  if (watchedFrom.mtimeMs !== readAt.mtimeMs || watchedFrom.size !== readAt.size) reload()
  return { directory, close: () => unwatchFile(file) }
}
