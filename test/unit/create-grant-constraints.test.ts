/**
 * CreateGrant never ignores a member of GrantConstraints it does not implement: each member
 * either takes effect (it is kept on the grant and shown by ListGrants) or makes CreateGrant
 * fail, with no grant made. Dropping one silently would create a grant wider than asked for
 * (a grant sent with Constraints.SourceArn became an unconstrained grant). Checked against
 * every member of GrantConstraints in the validation model and in the newest AWS model (the
 * installed @aws-sdk/client-kms), and against a member no model has yet.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import * as sdk from '@aws-sdk/client-kms'
import { CreateKeyCommand, ListGrantsCommand } from '@aws-sdk/client-kms'
import { parseOperationInput } from '../../src/api/validation.js'
import { rootCaller } from '../../src/kms/access.js'
import { IMPLEMENTED_GRANT_CONSTRAINTS, createGrant } from '../../src/kms/operations/create-grant.js'
import type { InputOf, RequestContext } from '../../src/kms/operation.js'
import { KmsError } from '../../src/wire/errors.js'
import { startInProcessRegion, type InProcessRegion } from '../helpers/in-process-region.js'

const GRANTEE = 'arn:aws:iam::111122223333:user/alice'
const SOURCE_ARN = 'arn:aws:sqs:us-east-1:111122223333:queue'

/** The members of GrantConstraints in src/api/model/kms-model.json. */
function modelMembers(): string[] {
  const model = JSON.parse(readFileSync(new URL('../../../src/api/model/kms-model.json', import.meta.url), 'utf8')) as {
    shapes: Record<string, { members?: Record<string, unknown> }>
  }
  return Object.keys(model.shapes.GrantConstraints?.members ?? assert.fail('no GrantConstraints in the model'))
}

/** The members of GrantConstraints in the newest AWS model: the SDK's schema `[3, namespace, name, traits, members, types]`. */
function newestModelMembers(): string[] {
  const schema = (sdk as unknown as Record<string, unknown>)['GrantConstraints$']
  assert.ok(Array.isArray(schema) && Array.isArray(schema[4]), 'the installed SDK has no GrantConstraints$ schema')
  return schema[4] as string[]
}

/** A value of the right type for a member, so that only its being known is in question. */
function sampleValue(member: string): unknown {
  return member.startsWith('EncryptionContext') ? { purpose: 'test' } : SOURCE_ARN
}

describe("CreateGrant's handler and GrantConstraints", () => {
  let region: InProcessRegion
  let keyId: string
  let context: RequestContext

  before(async () => {
    region = await startInProcessRegion()
    keyId = (await region.client().send(new CreateKeyCommand({}))).KeyMetadata?.KeyId ?? assert.fail('no key')
    context = { requestId: 'unit', caller: rootCaller(region.kms) }
  })
  after(() => region.close())

  const grantCount = (): number => region.kms.grantsOf(keyId).length

  /** Calls the handler directly, as the API layer would after validation. */
  async function create(constraints: Record<string, unknown>): Promise<{ grantId?: string; error?: KmsError }> {
    // Any member, known to the model's types or not: what a newer model could let through.
    const input: InputOf<'CreateGrant'> = {
      KeyId: keyId,
      GranteePrincipal: GRANTEE,
      Operations: ['Encrypt', 'Decrypt'],
      Constraints: constraints as NonNullable<InputOf<'CreateGrant'>['Constraints']>,
    }
    try {
      const out = await createGrant.handle(region.kms, input, context)
      return out.GrantId === undefined ? {} : { grantId: out.GrantId }
    } catch (err) {
      assert.ok(err instanceof KmsError, `not a KmsError: ${String(err)}`)
      return { error: err }
    }
  }

  it('the installed AWS model is the newest one this project knows: it has SourceArn', () => {
    assert.ok(newestModelMembers().includes('SourceArn'))
  })

  for (const [source, members] of [
    ['src/api/model/kms-model.json', modelMembers()],
    ['@aws-sdk/client-kms', newestModelMembers()],
  ] as const) {
    it(`every member of GrantConstraints in ${source} takes effect or is refused`, async () => {
      for (const member of members) {
        const before = grantCount()
        const { grantId, error } = await create({ [member]: sampleValue(member) })
        if (error !== undefined) {
          assert.equal(grantCount(), before, `${member}: refused, yet a grant was made`)
          continue
        }
        assert.ok(IMPLEMENTED_GRANT_CONSTRAINTS.has(member), `${member} was accepted though CreateGrant does not implement it`)
        // Kept on the grant, and shown as given.
        const listed = await region.client().send(new ListGrantsCommand({ KeyId: keyId, GrantId: grantId }))
        assert.deepEqual(listed.Grants?.[0]?.Constraints, { [member]: sampleValue(member) }, `${member} was dropped`)
      }
    })
  }

  it('a member no model has yet is refused by the handler, and no grant is made', async () => {
    const before = grantCount()
    const { error } = await create({ SourceVpc: 'vpc-12345678' })
    assert.equal(error?.name, 'UnsupportedOperationException')
    assert.equal(error?.message, 'Grant constraint SourceVpc is not supported by this KMS.')
    assert.equal(grantCount(), before)
    // Beside a member it knows, too: one unknown member spoils the whole request.
    const mixed = await create({ SourceArn: SOURCE_ARN, SourceVpc: 'vpc-12345678' })
    assert.equal(mixed.error?.name, 'UnsupportedOperationException')
    assert.equal(grantCount(), before)
  })

  it('the validation layer refuses such a member before the handler, instead of dropping it as it drops unknown members elsewhere', () => {
    const request = {
      KeyId: keyId,
      GranteePrincipal: GRANTEE,
      Operations: ['Encrypt'],
      Constraints: { SourceArn: SOURCE_ARN, SourceVpc: 'vpc-1' },
    }
    assert.throws(
      () => parseOperationInput('CreateGrant', request),
      (err: unknown) =>
        err instanceof KmsError && err.name === 'ValidationException' && err.message.includes("'SourceVpc' at 'constraints'"),
    )
    // Elsewhere an unknown member is still ignored, as AWS does.
    const parsed = parseOperationInput('CreateGrant', { ...request, Constraints: { SourceArn: SOURCE_ARN }, Unknown: 1 })
    assert.equal(parsed.Unknown, undefined)
    assert.deepEqual(parsed.Constraints, { SourceArn: SOURCE_ARN })
  })
})
