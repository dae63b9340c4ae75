/**
 * The consistency of a region of several nodes over one shared store (issue 11, §3),
 * through the AWS SDK, for any store: a node reads its own writes at once; every other
 * node sees a change within a second; concurrent changes on different nodes lose nothing
 * and end in a state some serial order of them would give, which every node then shows.
 *
 * The serial-order check is exact, not modelled: the same operations are replayed one at
 * a time, in every order, on a fresh single-node region, and the concurrent outcome (the
 * final state and each operation's own answer) must be one of those.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  ListAliasesCommand,
  ListResourceTagsCommand,
  RevokeGrantCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateKeyDescriptionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import fc from 'fast-check'
import { rootIdentity, type Identity } from '../../src/kms/principals.js'
import { startInProcessRegion, TEST_CREDENTIALS } from './in-process-region.js'
import { waitFor } from './partition.js'
import { startRegionNodes, type RegionNodes, type SharedStoreFactory } from './region-nodes.js'

/** "Within one second" is the claim; the deadline is generous so a loaded machine does not flake. */
const PROPAGATION_DEADLINE_MS = 5_000

type Step =
  | { op: 'tag'; key: string; value: string }
  | { op: 'untag'; key: string }
  | { op: 'describe'; text: string }
  | { op: 'enable' }
  | { op: 'disable' }
  | { op: 'alias'; name: string }
  | { op: 'unalias'; name: string }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('tag' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.constantFrom('1', '2') }),
  fc.record({ op: fc.constant('untag' as const), key: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ op: fc.constant('describe' as const), text: fc.constantFrom('x', 'y', 'z') }),
  fc.constant({ op: 'enable' as const }),
  fc.constant({ op: 'disable' as const }),
  fc.record({ op: fc.constant('alias' as const), name: fc.constantFrom('one', 'two') }),
  fc.record({ op: fc.constant('unalias' as const), name: fc.constantFrom('one', 'two') }),
)

/** Runs one step against a key; its answer is the error name, or 'ok'. */
async function run(client: KMSClient, keyId: string, aliasPrefix: string, s: Step): Promise<string> {
  try {
    switch (s.op) {
      case 'tag':
        await client.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: s.key, TagValue: s.value }] }))
        break
      case 'untag':
        await client.send(new UntagResourceCommand({ KeyId: keyId, TagKeys: [s.key] }))
        break
      case 'describe':
        await client.send(new UpdateKeyDescriptionCommand({ KeyId: keyId, Description: s.text }))
        break
      case 'enable':
        await client.send(new EnableKeyCommand({ KeyId: keyId }))
        break
      case 'disable':
        await client.send(new DisableKeyCommand({ KeyId: keyId }))
        break
      case 'alias':
        await client.send(new CreateAliasCommand({ AliasName: `alias/${aliasPrefix}-${s.name}`, TargetKeyId: keyId }))
        break
      case 'unalias':
        await client.send(new DeleteAliasCommand({ AliasName: `alias/${aliasPrefix}-${s.name}` }))
        break
    }
    return 'ok'
  } catch (err) {
    return err instanceof Error ? err.name : 'error'
  }
}

/** What a node shows of a key: its state, description, tags and aliases. */
async function observe(client: KMSClient, keyId: string, aliasPrefix: string): Promise<string> {
  const { KeyMetadata } = await client.send(new DescribeKeyCommand({ KeyId: keyId }))
  const { Tags } = await client.send(new ListResourceTagsCommand({ KeyId: keyId }))
  const { Aliases } = await client.send(new ListAliasesCommand({ KeyId: keyId }))
  return JSON.stringify({
    state: KeyMetadata?.KeyState,
    description: KeyMetadata?.Description,
    tags: (Tags ?? []).map((t) => `${t.TagKey}=${t.TagValue}`).sort(),
    aliases: (Aliases ?? []).map((a) => a.AliasName?.replace(`alias/${aliasPrefix}-`, '')).sort(),
  })
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]))
}

/** Every (final state, answers in the original order) a serial execution of `steps` can give. */
async function serialOutcomes(steps: readonly Step[]): Promise<Set<string>> {
  const outcomes = new Set<string>()
  const region = await startInProcessRegion()
  try {
    const client = region.client()
    for (const order of permutations(steps.map((s, index) => ({ s, index })))) {
      const { KeyMetadata } = await client.send(new CreateKeyCommand({ Description: 'start' }))
      const keyId = KeyMetadata?.KeyId ?? assert.fail('no key')
      const prefix = keyId.slice(0, 8)
      const answers: string[] = new Array<string>(steps.length)
      for (const { s, index } of order) answers[index] = await run(client, keyId, prefix, s)
      outcomes.add(`${await observe(client, keyId, prefix)} ${answers.join(',')}`)
    }
  } finally {
    await region.close()
  }
  return outcomes
}

/** The identities a node knows now (root and whatever a test added), so one can be added. */
function knownIdentities(node: RegionNodes['nodes'][number]): Identity[] {
  return [rootIdentity(node.kms.partition, node.kms.accountId, TEST_CREDENTIALS)]
}

export function runNodeConsistencySuite(label: string, store: SharedStoreFactory): void {
  describe(`a region of two nodes on one ${label} store`, () => {
    let region: RegionNodes
    let a: KMSClient
    let b: KMSClient

    before(async () => {
      region = await startRegionNodes(await store(2))
      a = region.nodes[0]?.client() ?? assert.fail('no node')
      b = region.nodes[1]?.client() ?? assert.fail('no node')
    })
    after(async () => {
      await region.close()
    })

    const newKey = async (client: KMSClient = a): Promise<string> =>
      (await client.send(new CreateKeyCommand({ Description: 'start' }))).KeyMetadata?.KeyId ?? assert.fail('no key')
    const seenBy = (_node: KMSClient, what: string, probe: () => Promise<boolean>): Promise<true> =>
      waitFor(what, async () => ((await probe().catch(() => false)) ? true : undefined), {
        timeoutMs: PROPAGATION_DEADLINE_MS,
        intervalMs: 20,
      })

    it('a node reads its own writes at once, and the other node sees them within a second', async () => {
      const keyId = await newKey(a)
      assert.equal((await a.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Enabled')
      await a.send(new DisableKeyCommand({ KeyId: keyId }))
      assert.equal((await a.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Disabled')
      await seenBy(
        b,
        'node B to see the key disabled',
        async () => (await b.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState === 'Disabled',
      )
    })

    it('two nodes tagging one key with different tags at once keep both tags', async () => {
      const keyId = await newKey(a)
      await seenBy(
        b,
        'node B to know the key',
        async () => (await b.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata !== undefined,
      )
      for (let round = 0; round < 10; round++) {
        await Promise.all([
          a.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: `from-a-${round}`, TagValue: 'a' }] })),
          b.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: `from-b-${round}`, TagValue: 'b' }] })),
        ])
      }
      for (const client of [a, b]) {
        await seenBy(
          client,
          'every tag on every node',
          async () => ((await client.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags ?? []).length === 20,
        )
      }
    })

    it('two nodes creating the same alias at once: one success, one AlreadyExistsException', async () => {
      const keyId = await newKey(a)
      await seenBy(
        b,
        'node B to know the key',
        async () => (await b.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata !== undefined,
      )
      for (let round = 0; round < 5; round++) {
        const prefix = `race-${keyId.slice(0, 8)}-${round}`
        const answers = await Promise.all([a, b].map((client) => run(client, keyId, prefix, { op: 'alias', name: 'same' })))
        assert.deepEqual(answers.sort(), ['AlreadyExistsException', 'ok'], `round ${round}`)
      }
    })

    it('a grant revoked on one node stops working on the other', async () => {
      const keyId = await newKey(a)
      // A user whose only permission on the key is the grant.
      const user = { accessKeyId: 'AKIAGRANTEE000000001', secretAccessKey: 'grantee-secret-0000000000000000000000000' }
      const caller = { principalArn: 'arn:aws:iam::111122223333:user/grantee', identityPolicies: [] }
      for (const node of region.nodes) node.principals.replace([...knownIdentities(node), { ...user, caller }])
      const asUserOnB = region.nodes[1]?.clientAs(user) ?? assert.fail('no node')
      const userEncrypts = async (): Promise<boolean> => {
        try {
          await asUserOnB.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))
          return true
        } catch (err) {
          if (err instanceof Error && err.name === 'AccessDeniedException') return false
          throw err
        }
      }
      await seenBy(
        b,
        'node B to know the key',
        async () => (await b.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata !== undefined,
      )
      assert.equal(await userEncrypts(), false, 'no grant yet: denied')
      const { GrantId } = await a.send(
        new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: caller.principalArn, Operations: ['Encrypt'] }),
      )
      await seenBy(b, 'the grant to work on node B', userEncrypts)
      await a.send(new RevokeGrantCommand({ KeyId: keyId, GrantId }))
      await seenBy(b, 'the revocation to take effect on node B', async () => !(await userEncrypts()))
    })

    it('concurrent changes on different nodes end in a state some serial order gives, shown by every node', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(step, fc.boolean()), { minLength: 2, maxLength: 4 }), async (schedule) => {
          const keyId = await newKey(a)
          const prefix = keyId.slice(0, 8)
          await seenBy(
            b,
            'node B to know the key',
            async () => (await b.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata !== undefined,
          )
          const answers = await Promise.all(schedule.map(([s, onA]) => run(onA ? a : b, keyId, prefix, s)))
          let shownByA = ''
          await seenBy(b, 'both nodes to show the same state', async () => {
            shownByA = await observe(a, keyId, prefix)
            return shownByA === (await observe(b, keyId, prefix))
          })
          const outcome = `${shownByA} ${answers.join(',')}`
          const possible = await serialOutcomes(schedule.map(([s]) => s))
          assert.ok(possible.has(outcome), `${outcome}\nis not one of the serial outcomes:\n${[...possible].join('\n')}`)
        }),
        { numRuns: 25 },
      )
    })
  })
}
