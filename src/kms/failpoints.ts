/**
 * Failpoints: named places where a test can make the region process die at once, as a
 * `kill -9` would, to prove that no crash at that point loses or corrupts anything.
 * Off unless the region was started with test hooks and `TRENT_FAILPOINTS` names them;
 * each one fires once per data folder (a marker file remembers it), so the restarted
 * region goes on.
 *
 * @module
 */
import { closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'

export type FailpointName =
  | 'replicate-key:after-commit'
  | 'rotation:after-commit'
  | 'update-primary:after-commit'
  | 'outbox:after-send'
  | 'inbound:before-apply'
  | 'inbound:after-commit'
  | 'transfer:after-wrap'
  | 'transfer:after-unwrap'
  | 'audit:before-change-record'

let armed: ReadonlySet<string> = new Set()
let markerDir = ''

export function configureFailpoints(names: readonly string[], dir: string): void {
  armed = new Set(names)
  markerDir = dir
}

export function failpoint(name: FailpointName): void {
  if (!armed.has(name)) return
  const marker = join(markerDir, `failpoint-${name.replaceAll(':', '_')}.fired`)
  if (existsSync(marker)) return
  closeSync(openSync(marker, 'w'))
  process.stderr.write(`failpoint ${name}: killing this process\n`)
  process.kill(process.pid, 'SIGKILL')
}
