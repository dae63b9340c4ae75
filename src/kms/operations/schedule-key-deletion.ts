import { KmsError } from '../../wire/errors.js'
import { checkKeyState } from '../key-state.js'
import { DAY_MS } from '../materials.js'
import { epochSeconds, num, requiredStr, type Operation } from '../operation.js'
import { resolveKey } from '../resolve-key.js'

const DEFAULT_WINDOW_DAYS = 30
/** The documented window is 7..30 days; the model's wider 1..365 is not what AWS accepts (reference §4.5). */
const MIN_WINDOW_DAYS = 7
const MAX_WINDOW_DAYS = 30

export const scheduleKeyDeletion: Operation = {
  name: 'ScheduleKeyDeletion',
  async handle(kms, input) {
    const keyIdInput = requiredStr(input, 'KeyId')
    const windowDays = num(input, 'PendingWindowInDays') ?? DEFAULT_WINDOW_DAYS
    if (windowDays < MIN_WINDOW_DAYS || windowDays > MAX_WINDOW_DAYS) {
      const bound = windowDays < MIN_WINDOW_DAYS ? `greater than or equal to ${MIN_WINDOW_DAYS}` : `less than or equal to ${MAX_WINDOW_DAYS}`
      throw new KmsError(
        'ValidationException',
        `1 validation error detected: Value '${windowDays}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value ${bound}`,
      )
    }
    const key = await kms.mutate(() => {
      const current = resolveKey(kms, keyIdInput, { allowAlias: false })
      checkKeyState('schedule-deletion', current.state, kms.arnOf(current.keyId))
      const deletionAt = kms.clock.now() + windowDays * DAY_MS
      const next = { ...current, state: 'PendingDeletion' as const, deletionAt, pendingWindowInDays: windowDays }
      return { writes: [{ kind: 'putKey', key: next }], result: next }
    })
    return {
      KeyId: kms.arnOf(key.keyId),
      DeletionDate: epochSeconds(key.deletionAt),
      KeyState: key.state,
      PendingWindowInDays: windowDays,
    }
  },
}
