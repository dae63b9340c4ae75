/**
 * Writing the HSM's sealed files.
 *
 * @module
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Writes a file so that it is either wholly there or not at all, and survives a crash:
 * a temporary file, fsynced, renamed into place, and the directory fsynced so the rename
 * itself is durable.
 */
export function writeFileDurably(path: string, data: Uint8Array | string, mode: number): void {
  const temporary = `${path}.tmp-${process.pid}`
  const fd = openSync(temporary, 'w', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporary, path)
  const dir = openSync(dirname(path), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
