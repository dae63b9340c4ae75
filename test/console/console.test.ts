/**
 * The web console (src/console/, docs/console.md) in a real Chromium (Debian's
 * `chromium`, driven by playwright-core) against a real partition started as a user
 * starts it: sign-in with good and bad credentials, each region's keys, an IAM user who
 * sees only the keys its policy lets it describe, creating a key, the key actions, a
 * ReplicateKey followed live on the topology view until the replica is in sync, refusal
 * of cross-origin and token-less requests, and no secret in a URL, the browser's storage,
 * the launcher's logs or the data dir.
 *
 * Nothing is skipped: without /usr/bin/chromium (CI installs it: .ci/run) the suite fails.
 * `TRENT_CONSOLE_SCREENSHOT=docs/console-topology.png` also saves the topology view.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  KMSServiceException,
  ListKeysCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import {
  createTempDir,
  freePort,
  kmsClient,
  removeTempDir,
  startPartition,
  stopAllPartitions,
  waitFor,
  type RunningPartition,
} from '../helpers/partition.js'

const CHROMIUM = '/usr/bin/chromium'
const ACCOUNT = '111122223333'
const REGIONS = ['us-east-1', 'eu-west-1', 'us-west-2'] as const
const ADMIN = { accessKeyId: 'AKIACONSOLEADMIN0001', secretAccessKey: 'console-admin-secret-0123456789abcdefghij' }
/** An IAM user allowed to list keys, but to describe only one of them. */
const CAROL = { accessKeyId: 'AKIACONSOLECAROL0001', secretAccessKey: 'console-carol-secret-9876543210zyxwvutsrq' }
const UI_TIMEOUT_MS = 30_000

interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

function identities(carolKeyArns: string[]): string {
  const statements: unknown[] = [{ Effect: 'Allow', Action: ['kms:ListKeys', 'kms:ListAliases'], Resource: '*' }]
  if (carolKeyArns.length > 0) {
    statements.push({
      Effect: 'Allow',
      Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListGrants', 'kms:ListResourceTags', 'kms:ListKeyRotations'],
      Resource: carolKeyArns,
    })
  }
  return JSON.stringify({ users: [{ name: 'carol', ...CAROL, policies: [{ Version: '2012-10-17', Statement: statements }] }] })
}

function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text)
  renameSync(`${path}.tmp`, path)
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

/** The process ids of `pid`'s children (Linux). */
function childPids(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
  return text === '' ? [] : text.split(/\s+/).map(Number)
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'ok'
  } catch (err) {
    if (err instanceof KMSServiceException) return err.name
    throw err
  }
}

describe('the web console in Chromium', () => {
  let dir: string
  let identitiesFile: string
  let partition: RunningPartition
  let browser: Browser
  let consoleUrl: string
  /** Every URL any page of the suite requested or navigated to. */
  const urlsSeen: string[] = []
  const contexts: BrowserContext[] = []
  const kms = (region: string): KMSClient => kmsClient(partition, region, { maxAttempts: 1 })
  /** us-east-1: a key carol may describe (with an alias) and one she may not. */
  let carolsKey: { keyId: string; arn: string }
  let othersKey: { keyId: string }

  before(async () => {
    // Not skipped when missing: CI installs it (.ci/run), and a console untested is a failure.
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`)
    dir = createTempDir('trent-console-')
    identitiesFile = join(dir, 'identities.json')
    writeAtomically(identitiesFile, identities([]))
    ;[partition, browser] = await Promise.all([
      startPartition({
        regions: REGIONS,
        extraArgs: ['--identities', identitiesFile],
        // Credentials from the environment: the banner then prints no secret, and every
        // log line the partition writes (debug included) is searched for one below.
        env: { TRENT_ACCESS_KEY_ID: ADMIN.accessKeyId, TRENT_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, TRENT_LOG_LEVEL: 'debug' },
      }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ])
    consoleUrl = `${partition.gatewayUrl}/console/`
    const a = await kms('us-east-1').send(new CreateKeyCommand({ Description: 'carol may see this one' }))
    const b = await kms('us-east-1').send(new CreateKeyCommand({ Description: 'carol may not see this one' }))
    carolsKey = { keyId: a.KeyMetadata?.KeyId ?? '', arn: a.KeyMetadata?.Arn ?? '' }
    othersKey = { keyId: b.KeyMetadata?.KeyId ?? '' }
    await kms('us-east-1').send(new CreateAliasCommand({ AliasName: 'alias/console-carol', TargetKeyId: carolsKey.keyId }))
    writeAtomically(identitiesFile, identities([carolsKey.arn]))
    const carol = kmsClient(partition, 'us-east-1', { credentials: { ...CAROL }, maxAttempts: 1 })
    await waitFor(
      "carol's policy to reach us-east-1",
      async () => ((await outcome(carol.send(new DescribeKeyCommand({ KeyId: carolsKey.keyId })))) === 'ok' ? true : undefined),
      { intervalMs: 200 },
    )
  })

  after(async () => {
    await Promise.all(contexts.map((context) => context.close().catch(() => undefined)))
    await browser?.close()
    await stopAllPartitions()
    if (dir !== undefined) removeTempDir(dir)
  })

  async function newPage(): Promise<Page> {
    const context = await browser.newContext()
    contexts.push(context)
    const page = await context.newPage()
    page.setDefaultTimeout(UI_TIMEOUT_MS)
    page.on('request', (req) => urlsSeen.push(req.url()))
    page.on('framenavigated', (frame) => urlsSeen.push(frame.url()))
    return page
  }

  async function signIn(credentials: Credentials): Promise<Page> {
    const page = await newPage()
    await page.goto(consoleUrl)
    await page.fill('input[name="accessKeyId"]', credentials.accessKeyId)
    await page.fill('input[name="secretAccessKey"]', credentials.secretAccessKey)
    const signedIn = page.waitForResponse((response) => response.url().endsWith('/console/api/sign-in'))
    await page.click('#sign-in-form button[type="submit"]')
    const answer = (await (await signedIn).json()) as { csrfToken?: string }
    csrfTokens.set(page, answer.csrfToken ?? assert.fail('sign-in gave no CSRF token'))
    await page.waitForSelector('#keys-view:not([hidden])')
    return page
  }
  /** The CSRF token of each signed-in page's session (the page's script holds it in memory). */
  const csrfTokens = new WeakMap<Page, string>()

  const regionSection = (page: Page, region: string) => page.locator(`section.region[data-region="${region}"]`)

  it('serves the page with a strict Content-Security-Policy and no inline script or style', async () => {
    const page = await newPage()
    const response = await page.goto(consoleUrl)
    const csp = response?.headers()['content-security-policy'] ?? ''
    assert.match(csp, /script-src 'self'/)
    assert.match(csp, /style-src 'self'/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.equal(await page.locator('script:not([src])').count(), 0)
    assert.equal(await page.locator('[style]').count(), 0)
    const cookies = await page.context().cookies()
    const cookie = cookies.find((c) => c.name === 'trent_console')
    assert.ok(cookie, 'a session cookie')
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Strict')
    assert.equal(cookie.path, '/console/')
  })

  it('refuses to sign in with a wrong secret key or an unknown access key id', async () => {
    const page = await newPage()
    await page.goto(consoleUrl)
    for (const credentials of [
      { accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'not-the-secret-access-key-of-the-admin' },
      { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: ADMIN.secretAccessKey },
    ]) {
      await page.fill('input[name="accessKeyId"]', credentials.accessKeyId)
      await page.fill('input[name="secretAccessKey"]', credentials.secretAccessKey)
      await page.click('#sign-in-form button[type="submit"]')
      await page.waitForSelector('#message:not([hidden])')
      assert.match(await page.locator('#message').innerText(), /access key ID or secret access key is not valid/)
      assert.equal(await page.locator('#sign-in-view').isVisible(), true)
      assert.equal(await page.locator('#keys-view').isVisible(), false)
      await page.locator('#message').evaluate((message) => message.setAttribute('hidden', ''))
    }
    // Still not signed in: the console's KMS API refuses this session.
    const token = (await page.locator('meta[name="trent-csrf"]').getAttribute('content')) ?? ''
    const status = await page.evaluate(async (csrfToken) => {
      const response = await fetch('/console/api/kms', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Trent-Csrf': csrfToken },
        body: JSON.stringify({ region: 'us-east-1', target: 'TrentService.ListKeys', input: {} }),
      })
      return response.status
    }, token)
    assert.equal(status, 401)
  })

  it("signs in with good credentials and lists each region's keys with their aliases, spec, usage and state", async () => {
    const page = await signIn(ADMIN)
    assert.match(await page.locator('#who').innerText(), new RegExp(ADMIN.accessKeyId))
    for (const region of REGIONS) await regionSection(page, region).waitFor()
    const row = regionSection(page, 'us-east-1').locator(`tr[data-key-id="${carolsKey.keyId}"]`)
    await row.waitFor()
    const cells = await row.locator('td').allInnerTexts()
    assert.deepEqual(cells, [carolsKey.keyId, 'alias/console-carol', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'Enabled', '—'])
    await regionSection(page, 'us-east-1').locator(`tr[data-key-id="${othersKey.keyId}"]`).waitFor()
    // Every key ListKeys gives is listed.
    const listed = await kms('us-east-1').send(new ListKeysCommand({}))
    assert.equal(await regionSection(page, 'us-east-1').locator('tbody tr').count(), listed.Keys?.length)
    // The key page: policy, grants, tags, rotations.
    await row.locator('a').click()
    await page.waitForSelector('#key-policy')
    const policy = JSON.parse(await page.locator('#key-policy').innerText()) as { Statement: Array<{ Principal: { AWS: string } }> }
    assert.equal(policy.Statement[0]?.Principal.AWS, `arn:aws:iam::${ACCOUNT}:root`)
    for (const title of ['Grants', 'Tags', 'Rotations']) await page.locator('section.panel h2', { hasText: title }).waitFor()
    assert.equal(new URL(page.url()).hash, `#/key/us-east-1/${carolsKey.keyId}`)
  })

  it('shows a user whose IAM policy allows only some keys only those, and refuses what the policy does not allow', async () => {
    const page = await signIn(CAROL)
    const usEast = regionSection(page, 'us-east-1')
    await usEast.locator(`tr[data-key-id="${carolsKey.keyId}"]`).waitFor()
    assert.equal(await usEast.locator(`tr[data-key-id="${othersKey.keyId}"]`).count(), 0)
    assert.equal(await usEast.locator('tbody tr').count(), 1)
    assert.match(await usEast.locator('.hidden-keys').innerText(), /more key\(s\) that your policies do not let you describe/)
    await regionSection(page, 'eu-west-1').waitFor()
    assert.equal(await regionSection(page, 'eu-west-1').locator('tbody tr').count(), 0)
    // CreateKey is not in carol's policy: the region refuses it, and the page says so.
    await page.click('#create-key-open')
    await page.selectOption('#create-key-form select[name="region"]', 'us-east-1')
    await page.click('#create-key-form button[type="submit"]')
    await page.waitForSelector('#message.error:not([hidden])')
    assert.match(
      await page.locator('#message').innerText(),
      /CreateKey failed: AccessDeniedException: User: arn:aws:iam::111122223333:user\/carol is not authorized to perform: kms:CreateKey/,
    )
    // Nor can carol open the other key's page.
    await page.goto(`${consoleUrl}#/key/us-east-1/${othersKey.keyId}`)
    await page.waitForSelector('#key-view p.error')
    assert.match(await page.locator('#key-view p.error').innerText(), /AccessDeniedException/)
  })

  it('creates a key', async () => {
    const page = await signIn(ADMIN)
    await page.click('#create-key-open')
    await page.selectOption('#create-key-form select[name="region"]', 'eu-west-1')
    await page.selectOption('#create-key-form select[name="keySpec"]', 'ECC_NIST_P256')
    await page.selectOption('#create-key-form select[name="keyUsage"]', 'SIGN_VERIFY')
    // Markup in a description stays text on every page.
    const description = 'made in the console <b>as text</b> <img src=x>'
    await page.fill('#create-key-form input[name="description"]', description)
    await page.click('#create-key-form button[type="submit"]')
    await page.waitForSelector('#message.info:not([hidden])')
    const keyId =
      /Created (\S+) in eu-west-1/.exec(await page.locator('#message').innerText())?.[1] ?? assert.fail('no key id in the message')
    const row = regionSection(page, 'eu-west-1').locator(`tr[data-key-id="${keyId}"]`)
    await row.waitFor()
    assert.deepEqual((await row.locator('td').allInnerTexts()).slice(2, 5), ['ECC_NIST_P256', 'SIGN_VERIFY', 'Enabled'])
    const described = await kms('eu-west-1').send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(described.KeyMetadata?.KeySpec, 'ECC_NIST_P256')
    assert.equal(described.KeyMetadata?.Description, description)
    await row.locator('a').click()
    await page.locator('#key-view dd', { hasText: 'made in the console' }).waitFor()
    assert.equal(await page.locator('#key-view dd', { hasText: 'made in the console' }).innerText(), description)
    assert.equal(await page.locator('#key-view b, #key-view img').count(), 0)
  })

  it('follows a ReplicateKey live on the topology view until the replica is in sync', async () => {
    const created = await kms('us-east-1').send(new CreateKeyCommand({ MultiRegion: true, Description: 'topology' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    const page = await signIn(ADMIN)
    await page.goto(`${consoleUrl}#/key/us-east-1/${keyId}`)
    await page.waitForSelector('#topology g.member[data-region="us-east-1"][data-role="PRIMARY"]')
    assert.equal(await page.locator('#topology g.member[data-role="REPLICA"]').count(), 0)
    // The page must follow the replication by itself: no reload, no navigation from here on.
    await page.evaluate(() => Object.assign(globalThis, { consoleTestMarker: true }))

    // The replication proxy held still: the replica cannot be created yet, and the view
    // must show it as being created.
    const regionPids = new Set(partition.allRegionPids)
    const proxyPid =
      childPids(partition.pid).find((pid) => !regionPids.has(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('proxy')) ??
      assert.fail('no proxy process')
    process.kill(proxyPid, 'SIGSTOP')
    try {
      await page.selectOption('#replicate-region', 'eu-west-1')
      await page.click('#replicate-button')
      await page.waitForSelector('#topology g.member[data-region="eu-west-1"][data-sync-state="CREATING"]')
      await page.waitForSelector('#topology line.link-CREATING[data-region="eu-west-1"]', { state: 'attached' })
    } finally {
      process.kill(proxyPid, 'SIGCONT')
    }
    await page.waitForSelector('#topology g.member[data-region="eu-west-1"][data-sync-state="IN_SYNC"][data-key-state="Enabled"]')
    assert.equal(await page.evaluate(() => (globalThis as { consoleTestMarker?: boolean }).consoleTestMarker), true)
    const replica = page.locator('#topology g.member[data-region="eu-west-1"]')
    assert.match(await replica.innerHTML(), /material versions: 1/)
    assert.match(await replica.innerHTML(), /last sync: \d+ s ago/)
    const replicaMetadata = await kms('eu-west-1').send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(replicaMetadata.KeyMetadata?.KeyState, 'Enabled')
    assert.equal(replicaMetadata.KeyMetadata?.MultiRegionConfiguration?.MultiRegionKeyType, 'REPLICA')

    // A second replica, for the picture: the primary and two replicas in sync.
    await page.selectOption('#replicate-region', 'us-west-2')
    await page.click('#replicate-button')
    await page.waitForSelector('#topology g.member[data-region="us-west-2"][data-sync-state="IN_SYNC"]')
    await page.waitForSelector('#topology g.member[data-region="eu-west-1"][data-sync-state="IN_SYNC"]')
    const screenshot = process.env.TRENT_CONSOLE_SCREENSHOT
    if (screenshot !== undefined && screenshot !== '') {
      await page.setViewportSize({ width: 1100, height: 900 })
      await page.locator('section.panel', { hasText: 'Multi-Region topology' }).screenshot({ path: screenshot })
    }
  })

  it('disables, enables, schedules and cancels deletion, and moves the primary region', async () => {
    const created = await kms('us-east-1').send(new CreateKeyCommand({ MultiRegion: true, Description: 'actions' }))
    const keyId = created.KeyMetadata?.KeyId ?? assert.fail('no key id')
    const page = await signIn(ADMIN)
    await page.goto(`${consoleUrl}#/key/us-east-1/${keyId}`)
    const stateIn = async (region: string): Promise<string | undefined> =>
      (await kms(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState
    await page.click('#disable-button')
    await page.waitForSelector('#key-summary[data-key-state="Disabled"]', { state: 'attached' })
    assert.equal(await stateIn('us-east-1'), 'Disabled')
    await page.click('#enable-button')
    await page.waitForSelector('#key-summary[data-key-state="Enabled"]', { state: 'attached' })
    assert.equal(await stateIn('us-east-1'), 'Enabled')
    await page.fill('#deletion-days', '7')
    await page.click('#schedule-deletion-button')
    await page.waitForSelector('#key-summary[data-key-state="PendingDeletion"]', { state: 'attached' })
    const pending = await kms('us-east-1').send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(pending.KeyMetadata?.KeyState, 'PendingDeletion')
    const days = ((pending.KeyMetadata?.DeletionDate?.getTime() ?? 0) - Date.now()) / 86_400_000
    assert.ok(days > 6.9 && days <= 7, `deletion in ${days} days`)
    await page.click('#cancel-deletion-button')
    // AWS leaves a key whose deletion was cancelled disabled.
    await page.waitForSelector('#key-summary[data-key-state="Disabled"]', { state: 'attached' })
    assert.equal(await stateIn('us-east-1'), 'Disabled')
    await page.click('#enable-button')
    await page.waitForSelector('#key-summary[data-key-state="Enabled"]', { state: 'attached' })

    await page.selectOption('#replicate-region', 'us-west-2')
    await page.click('#replicate-button')
    await page.waitForSelector('#topology g.member[data-region="us-west-2"][data-sync-state="IN_SYNC"]')
    await page.waitForSelector('#update-primary-button')
    await page.selectOption('#primary-region', 'us-west-2')
    await page.click('#update-primary-button')
    await page.waitForSelector('#topology g.member[data-region="us-west-2"][data-role="PRIMARY"]')
    await page.waitForSelector('#topology g.member[data-region="us-east-1"][data-role="REPLICA"][data-sync-state="IN_SYNC"]')
    const moved = await kms('us-west-2').send(new DescribeKeyCommand({ KeyId: keyId }))
    assert.equal(moved.KeyMetadata?.MultiRegionConfiguration?.MultiRegionKeyType, 'PRIMARY')
  })

  it("refuses cross-origin requests and requests without the session's CSRF token", async () => {
    const page = await signIn(ADMIN)
    const refusals = (reason: string): number =>
      partition
        .output()
        .stdout.split('\n')
        .filter((line) => line.includes('"msg":"console request refused"') && line.includes(`"reason":"${reason}"`)).length
    const countKeys = async (): Promise<number> => (await kms('us-east-1').send(new ListKeysCommand({}))).Keys?.length ?? 0
    const keysBefore = await countKeys()
    // Another origin on the same host: same-site, so the SameSite=Strict cookie goes along,
    // which is exactly what the CSRF token and the Origin check are there for.
    const createKey = JSON.stringify({ region: 'us-east-1', target: 'TrentService.CreateKey', input: {} })
    const attacker: Server = createServer((req, res) => {
      const page =
        req.url === '/form'
          ? `<form method="post" enctype="text/plain" action="${partition.gatewayUrl}/console/api/kms"><input name='${createKey.slice(0, -1)},"x":"' value='"}'></form><script>document.forms[0].submit()</script>`
          : `<script>fetch(${JSON.stringify(`${partition.gatewayUrl}/console/api/kms`)}, {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: ${JSON.stringify(createKey)}}).then(() => { document.title = 'sent' }, () => { document.title = 'failed' })</script>`
      res.writeHead(200, { 'Content-Type': 'text/html' })
      res.end(page)
    })
    const attackerPort = await freePort()
    await new Promise<void>((listening) => attacker.listen(attackerPort, '127.0.0.1', listening))
    const attackerOrigin = `http://127.0.0.1:${attackerPort}`
    try {
      const attackerPage = await page.context().newPage()
      attackerPage.on('request', (req) => urlsSeen.push(req.url()))
      const refused = attackerPage.waitForResponse((r) => r.url().endsWith('/console/api/kms'))
      await attackerPage.goto(`${attackerOrigin}/form`)
      const formAnswer = await refused
      assert.equal(formAnswer.status(), 403)
      assert.equal(((await formAnswer.json()) as { __type: string }).__type, 'CrossOriginRequestRefused')
      // A no-cors fetch: the browser sends it with the cookie (and without a token); the
      // answer is refused, and the browser does not even hand it to the attacker's page.
      const refusalsBefore = refusals('CrossOriginRequestRefused')
      await attackerPage.goto(`${attackerOrigin}/fetch`)
      await waitFor('the fetch to be refused', () => (refusals('CrossOriginRequestRefused') > refusalsBefore ? true : undefined))

      // Same origin, signed in, but without the token, or with another one: refused too.
      // With it, the same call goes through (the control), and only to the operations the console makes.
      const token = csrfTokens.get(page) ?? assert.fail('no CSRF token')
      const statuses = await page.evaluate(async (sessionToken) => {
        const send = async (headers: Record<string, string>, target = 'TrentService.ListKeys') => {
          const body = JSON.stringify({ region: 'us-east-1', target, input: {} })
          const response = await fetch('/console/api/kms', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', ...headers },
            body,
          })
          return `${response.status} ${((await response.json()) as { __type?: string }).__type ?? 'ok'}`
        }
        return [
          await send({}),
          await send({ 'X-Trent-Csrf': 'not-the-token' }),
          await send({ 'X-Trent-Csrf': sessionToken }),
          await send({ 'X-Trent-Csrf': sessionToken }, 'TrentService.Decrypt'),
          await send({ 'X-Trent-Csrf': sessionToken, 'Content-Type': 'text/plain' }),
        ]
      }, token)
      assert.deepEqual(statuses, [
        '403 InvalidCsrfToken',
        '403 InvalidCsrfToken',
        '200 ok',
        '400 ValidationException',
        '415 UnsupportedMediaType',
      ])

      // Signing in needs the token too (against login CSRF): a fresh page's anonymous session, without it.
      const fresh = await newPage()
      await fresh.goto(consoleUrl)
      const signInWithoutToken = await fresh.evaluate(async (credentials) => {
        const response = await fetch('/console/api/sign-in', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(credentials),
        })
        return `${response.status} ${((await response.json()) as { __type?: string }).__type ?? 'ok'}`
      }, CAROL)
      assert.equal(signInWithoutToken, '403 InvalidCsrfToken')

      // The session's own cookie and token, sent from another origin: refused by the Origin check alone.
      const cookie = (await page.context().cookies()).find((c) => c.name === 'trent_console') ?? assert.fail('no session cookie')
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          `${partition.gatewayUrl}/console/api/kms`,
          {
            method: 'POST',
            agent: false,
            headers: {
              Origin: attackerOrigin,
              Cookie: `trent_console=${cookie.value}`,
              'Content-Type': 'application/json',
              'X-Trent-Csrf': token,
            },
          },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.on('error', reject)
        req.end(createKey)
      })
      assert.equal(status, 403)
      assert.equal(await countKeys(), keysBefore, 'no refused request created a key')
      assert.ok(refusals('InvalidCsrfToken') >= 2, 'the token-less requests were refused for their token')
    } finally {
      await new Promise((closed) => attacker.close(closed))
    }
  })

  it("puts no secret in a page URL, the browser's storage, the launcher's logs or the data dir", async () => {
    const page = await signIn(CAROL)
    // The page's script-visible cookies and storage (the session cookie is HttpOnly).
    const stored = await page.evaluate<string>(
      'JSON.stringify({ cookies: document.cookie, local: { ...localStorage }, session: { ...sessionStorage } })',
    )
    const secrets = [ADMIN.secretAccessKey, CAROL.secretAccessKey]
    for (const secret of secrets) {
      assert.ok(urlsSeen.length > 10, 'the suite browsed')
      for (const url of urlsSeen) {
        assert.ok(!url.includes(secret) && !decodeURIComponent(url).includes(secret), `a URL carries a secret: ${url}`)
      }
      assert.ok(!stored.includes(secret), "the browser's storage holds a secret")
      const { stdout, stderr } = partition.output()
      assert.ok(stdout.includes('"msg":"console sign-in"'), 'sign-ins are logged')
      assert.ok(!stdout.includes(secret) && !stderr.includes(secret), "the launcher's output carries a secret")
      for (const file of filesUnder(partition.dataDir)) {
        assert.ok(!readFileSync(file).includes(Buffer.from(secret)), `${file} holds a secret`)
      }
    }
    // The sign-in form is empty again.
    await page.click('#sign-out')
    await page.waitForSelector('#sign-in-view:not([hidden])')
    assert.equal(await page.inputValue('input[name="secretAccessKey"]'), '')
  })
})
