/** Asserting on the errors the AWS SDK v3 raises. */
import assert from 'node:assert/strict'
import { KMSServiceException } from '@aws-sdk/client-kms'

/** Runs `promise`, which must fail with the AWS error `name` (and `message`, when given). */
export async function rejectsWith(promise: Promise<unknown>, name: string, message?: string): Promise<KMSServiceException> {
  let caught: unknown
  await promise.then(
    () => assert.fail(`expected ${name}, but the call succeeded`),
    (err: unknown) => (caught = err),
  )
  assert.ok(caught instanceof KMSServiceException, `expected an AWS error, got ${String(caught)}`)
  assert.equal(caught.name, name, `error: ${caught.name}: ${caught.message}`)
  if (message !== undefined) assert.equal(caught.message, message)
  return caught
}
