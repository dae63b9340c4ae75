/**
 * Messages between a region and its HSM worker. They travel in batches, as JSON with their
 * typed arrays' bytes in buffers moved alongside (internal/batch-codec.ts);
 * nothing here is a secret except the results of generateDataKey's plaintext and
 * decrypt, which the API returns to its caller anyway.
 *
 * @module
 */
import type { HsmCallName, HsmCalls } from './hsm.js'

export interface HsmWorkerConfig {
  region: string
  /** Environment variable that may hold the base64 master key (read by the worker). */
  masterKeyEnv: string
  masterKeyFile: string
  createMasterKey: boolean
  sealedDomainKeyFile: string
  /**
   * The HSM's key folder (the region's data dir): holds the sealed Replication Signing
   * Keys, `rsk-<id>.sealed` (docs/spec/replication.md §2).
   */
  keyDir: string
}

/**
 * Region → worker: one call of the port's table (hsm.ts HsmCalls), by name, with its
 * arguments as the table gives them. Requests travel in batches (an array per message).
 */
export type HsmRequest = { [C in HsmCallName]: { id: number; op: C; args: HsmCalls[C]['args'] } }[HsmCallName]

/** Worker → region: the call's result, or the HSM error it failed with. */
export type HsmResponse =
  | { id: number; ok: true; result: HsmCalls[HsmCallName]['result'] | undefined }
  | { id: number; ok: false; error: { code: string; message: string } }
