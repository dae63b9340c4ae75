/**
 * Drains the outbox: signs each queued body with the region's RSK (inside the HSM),
 * wraps it in an envelope and hands it to the proxy, then forgets it. A message is
 * removed only once the proxy has taken it, so a crash re-sends (at least once).
 *
 * @module
 */
import { encodeEnvelope } from '../../replication/envelope.js'
import type { Transport } from '../../replication/transport.js'
import type { Logger } from '../../log/logger.js'
import type { Kms } from '../kms.js'
import { failpoint } from '../failpoints.js'
import { wallClock } from './outbound.js'
import type { Lease } from '../lease.js'

export interface OutboxSender {
  /** Sends what is queued now; resolves when the outbox was drained or a send failed. */
  flush(): Promise<void>
  stop(): Promise<void>
}

const MAX_BACKOFF_MS = 5_000

/**
 * Sends while this node holds the region's lease (lease.ts): the outbox is the region's,
 * shared by its nodes, and one of them drains it.
 */
export function startOutboxSender(kms: Kms, transport: Transport, logger: Logger, lease: Lease): OutboxSender {
  let running: Promise<void> | undefined
  let again = false
  let stopped = false
  let backoffMs = 0
  let retryTimer: NodeJS.Timeout | undefined

  async function drain(): Promise<void> {
    for (const message of [...kms.outbox.values()]) {
      if (stopped) return
      if (message.expiresAt <= wallClock()) {
        await kms.mutate(() => ({ writes: [{ kind: 'deleteOutbox', id: message.id }], result: undefined }))
        continue
      }
      const { keyId, signature } = await kms.hsm.signReplication(message.body)
      const envelope = encodeEnvelope({
        v: 1,
        messageId: message.id,
        from: kms.region,
        to: message.to,
        body: Buffer.from(message.body).toString('base64'),
        signature: { keyId, value: Buffer.from(signature).toString('base64') },
      })
      await transport.send(envelope)
      failpoint('outbox:after-send')
      await kms.mutate(() => ({
        writes: kms.outbox.get(message.id) === message ? [{ kind: 'deleteOutbox', id: message.id }] : [],
        result: undefined,
      }))
    }
  }

  function kick(): Promise<void> {
    if (stopped || !lease.held) return Promise.resolve()
    if (running !== undefined) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        try {
          await drain()
          backoffMs = 0
        } catch (err) {
          backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(50, backoffMs * 2))
          logger.warn('replication send failed; will retry', {
            error: err instanceof Error ? err.message : 'unknown',
            retryInMs: backoffMs,
          })
          clearTimeout(retryTimer)
          retryTimer = setTimeout(() => void kick(), backoffMs)
          retryTimer.unref()
          return
        }
      } while (again && !stopped)
    })().finally(() => {
      running = undefined
    })
    return running
  }

  kms.onOutbox = () => void kick()
  lease.onTaken(() => void kick())
  void kick()
  return {
    flush: kick,
    async stop() {
      stopped = true
      clearTimeout(retryTimer)
      await running
    },
  }
}
