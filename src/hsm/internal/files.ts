/**
 * Writing the HSM's sealed files.
 *
 * @module
 */
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Writes a file so that it is either wholly there or not at all, and survives a crash:
 * a temporary file, fsynced, renamed into place, and the directory fsynced so the rename
 * itself is durable.
 */
export function writeFileDurably(path: string, data: Uint8Array | string, mode: number): void {
  const temporary = writeTemporary(path, data, mode)
  renameSync(temporary, path)
  syncDirectory(path)
}

/**
 * Like {@link writeFileDurably}, but only if `path` does not exist yet: false if it did
 * (its content is left as it was). Atomic among processes creating the same file at once,
 * such as regions sharing one master key file: exactly one of them creates it.
 */
export function createFileDurably(path: string, data: Uint8Array | string, mode: number): boolean {
  const temporary = writeTemporary(path, data, mode)
  try {
    linkSync(temporary, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    rmSync(temporary, { force: true })
  }
  syncDirectory(path)
  return true
}

function writeTemporary(path: string, data: Uint8Array | string, mode: number): string {
  const temporary = `${path}.tmp-${process.pid}`
  const fd = openSync(temporary, 'w', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return temporary
}

function syncDirectory(path: string): void {
  const dir = openSync(dirname(path), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
