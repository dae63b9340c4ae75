/**
 * Messages between a region and its HSM worker. Typed arrays travel by structured
 * clone (a copy); nothing here is a secret except the results of generateDataKey's
 * plaintext and decrypt, which the API returns to its caller anyway.
 *
 * @module
 */
import type { KeySpec } from '../wire/key-specs.js'
import type { KeyOperationName, KeyOperations, KeyToken, MaterialForTransfer, MaterialRef, RskPublicKey, SealedAgreement, TransferBinding, WrappedMaterial } from './hsm.js'

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

export type HsmRequest = { id: number } & (
  | { op: 'createKeyMaterial'; keyId: string; materialVersion: number; keySpec: KeySpec }
  | { op: 'keyOperation'; name: KeyOperationName; request: KeyOperations[KeyOperationName]['request'] }
  | { op: 'encrypt'; key: MaterialRef; plaintext: Uint8Array; context: Uint8Array }
  | { op: 'decrypt'; key: MaterialRef; blob: Uint8Array; context: Uint8Array }
  | { op: 'generateDataKey'; key: MaterialRef; numberOfBytes: number; context: Uint8Array; includePlaintext: boolean }
  | {
      op: 'reEncrypt'
      source: MaterialRef
      blob: Uint8Array
      sourceContext: Uint8Array
      destination: MaterialRef
      destinationContext: Uint8Array
    }
  | { op: 'generateRandom'; numberOfBytes: number }
  | { op: 'replicationSigningKeys' }
  | { op: 'signReplication'; body: Uint8Array }
  | { op: 'rotateReplicationSigningKey' }
  | { op: 'openAgreement'; sessionId: string; expiresAt: number }
  | { op: 'wrapForTransfer'; binding: TransferBinding; rakbPublicKey: Uint8Array; materials: MaterialForTransfer[] }
  | {
      op: 'unwrapTransfer'
      binding: TransferBinding
      rakaPublicKey: Uint8Array
      wrapped: WrappedMaterial[]
      alreadyHeld: MaterialRef[]
      keySpec: KeySpec
      agreement: SealedAgreement
    }
)

export type HsmRequestBody = HsmRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never

export type HsmResponse =
  | {
      id: number
      ok: true
      result:
        | KeyToken
        | Uint8Array
        | { ciphertextBlob: Uint8Array; plaintext?: Uint8Array }
        | RskPublicKey
        | RskPublicKey[]
        | { keyId: string; signature: Uint8Array }
        | { rakaPublicKey: Uint8Array; wrapped: WrappedMaterial[] }
        | SealedAgreement
        | KeyToken[]
        | KeyOperations[KeyOperationName]['result']
        | undefined
    }
  | { id: number; ok: false; error: { code: string; message: string } }
