/**
 * The SQLite store's counterpart of PostgreSQL's `NOTIFY`, for the nodes of a region that
 * share one database file on one host (docs/spec/storage.md): after each commit, the
 * committing node writes the new change-log position into a small file beside the
 * database (`<database>-head`), and every node watches that file (inotify, through
 * `fs.watch`) and reads the position when it changes.
 *
 * A hint, not a record: it is not fsynced, and it is read only to learn of a commit
 * sooner. A node that misses a hint (the watch could not be set up, events coalesced)
 * still reads the change log every 200 ms (kms.ts).
 *
 * @module
 */
import { closeSync, constants, openSync, readSync, watch, writeSync, type FSWatcher } from 'node:fs'
import type { ChangePosition } from './storage.js'

/** A position as fixed-width decimal, so that each write overwrites the whole of the last. */
const WIDTH = 20

export class SqliteHeadFile {
  readonly #path: string
  readonly #listeners = new Set<(position?: ChangePosition) => void>()
  #fd: number | undefined
  #watcher: FSWatcher | undefined
  readonly #buffer = Buffer.alloc(WIDTH)

  /** `databasePath`: the database file's real path; the head file is `${databasePath}-head`. */
  constructor(databasePath: string) {
    this.#path = `${databasePath}-head`
  }

  /** Tells the file's watchers that the change at `position` was committed. */
  announce(position: ChangePosition): void {
    const fd = this.#open()
    if (fd === undefined) return
    try {
      writeSync(fd, String(position).padStart(WIDTH, ' '), 0, 'latin1')
    } catch {
      // A hint: the followers' reads of the log remain.
    }
  }

  /** Calls `listener` with the position a commit announced (undefined if unreadable). */
  watch(listener: (position?: ChangePosition) => void): () => void {
    this.#listeners.add(listener)
    if (this.#watcher === undefined && this.#open() !== undefined) {
      try {
        // Not persistent: a node's event loop does not stay alive for its hints alone.
        this.#watcher = watch(this.#path, { persistent: false }, () => this.#changed())
        this.#watcher.on('error', () => this.#stopWatching())
      } catch {
        // No inotify watch to be had (the system's limit): the followers' timers remain.
      }
    }
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size === 0) this.#stopWatching()
    }
  }

  close(): void {
    this.#listeners.clear()
    this.#stopWatching()
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
  }

  #open(): number | undefined {
    try {
      this.#fd ??= openSync(this.#path, constants.O_RDWR | constants.O_CREAT, 0o600)
    } catch {
      return undefined
    }
    return this.#fd
  }

  #changed(): void {
    let position: ChangePosition | undefined
    try {
      const read = this.#fd === undefined ? 0 : readSync(this.#fd, this.#buffer, 0, WIDTH, 0)
      const parsed = Number(this.#buffer.toString('latin1', 0, read).trim())
      position = read === WIDTH && Number.isSafeInteger(parsed) && parsed > 0 ? parsed : undefined
    } catch {
      position = undefined
    }
    for (const listener of this.#listeners) listener(position)
  }

  #stopWatching(): void {
    this.#watcher?.close()
    this.#watcher = undefined
  }
}
