import { startInProcessRegion } from '../helpers/in-process-region.js'
import { runOperationSuite } from '../helpers/operations-suite.js'
import { sweepDeletions, rotateDueKeys } from '../../src/kms/background.js'
import { createLogger } from '../../src/log/logger.js'

runOperationSuite('operations on an in-process region', async () => {
  const region = await startInProcessRegion()
  const logger = createLogger({}, 'error')
  return {
    region: region.region,
    accountId: '111122223333',
    client: () => region.client(),
    async advanceClock(seconds) {
      region.clock.advance(seconds * 1000)
      await sweepDeletions(region.kms, logger)
      await rotateDueKeys(region.kms, logger)
    },
    close: () => region.close(),
  }
})
