// The Trent console's page script: plain JavaScript, no framework, nothing loaded from
// elsewhere. Every KMS call goes to the console's own API (/console/api/kms), which makes
// it as the signed-in user; this script never sees the secret access key again after the
// sign-in form. It builds the page with DOM methods and textContent only (never innerHTML),
// so a key's description, alias or tag cannot become markup. docs/console.md.

/* global document, location, window, fetch, FormData, setTimeout -- the browser's (for ESLint) */

const SVG_NS = 'http://www.w3.org/2000/svg'
/** How often a key page refreshes its topology while it is shown. */
const TOPOLOGY_POLL_MS = 1000

let csrfToken = document.querySelector('meta[name="trent-csrf"]')?.getAttribute('content') ?? ''
/** What the server said about the session: { signedIn, accessKeyId, regions }. */
let session = { signedIn: false, regions: [] }
/** Bumped on every navigation: a poll of an older view stops by itself. */
let viewGeneration = 0

const $ = (selector) => document.querySelector(selector)

/** An element with attributes and children (strings become text nodes). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  setAttributes(node, attributes)
  node.append(...children.flat().filter((child) => child !== undefined && child !== null && child !== false))
  return node
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag)
  setAttributes(node, attributes)
  node.append(...children.flat().filter((child) => child !== undefined && child !== null && child !== false))
  return node
}

function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value)
    else node.setAttribute(name, value === true ? '' : String(value))
  }
}

function showMessage(text, kind = 'error') {
  const message = $('#message')
  message.textContent = text
  message.className = kind
  message.hidden = text === ''
}

class KmsFailure extends Error {
  constructor(name, message, status) {
    super(message)
    this.name = name
    this.status = status
  }
}

/** A call to the console's API, with the session's CSRF token. */
async function api(action, body = {}) {
  const response = await fetch(`/console/api/${action}`, {
    method: 'POST',
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { 'Content-Type': 'application/json', 'X-Trent-Csrf': csrfToken },
    body: JSON.stringify(body),
  })
  let json
  try {
    json = await response.json()
  } catch {
    // Not JSON (a proxy's error page, say): treated as an answer without a body.
    json = {}
  }
  if (response.status === 401 && json.__type === 'SessionExpired' && action !== 'sign-in') {
    session = { signedIn: false, regions: session.regions }
    render()
    showMessage('Your session has ended. Sign in again.')
  }
  return { ok: response.ok, status: response.status, body: json }
}

/** A KMS operation in `region`, as the signed-in user; its output, or a thrown KmsFailure. */
async function kms(region, operation, input = {}) {
  const target = operation.includes('.') ? operation : `TrentService.${operation}`
  const answer = await api('kms', { region, target, input })
  if (!answer.ok) {
    const type = String(answer.body.__type ?? 'Error')
    throw new KmsFailure(
      type.slice(type.lastIndexOf('#') + 1),
      String(answer.body.message ?? answer.body.Message ?? 'The call failed.'),
      answer.status,
    )
  }
  return answer.body
}

/** A KMS call whose failure is shown in place rather than thrown. */
async function attempt(promise) {
  try {
    return { value: await promise }
  } catch (error) {
    return { error }
  }
}

function describeFailure(error) {
  return error instanceof KmsFailure ? `${error.name}: ${error.message}` : String(error?.message ?? error)
}

/** Runs `tasks` (functions returning promises) with at most `limit` at a time. */
async function inBatches(tasks, limit = 8) {
  const results = new Array(tasks.length)
  let next = 0
  async function worker() {
    while (next < tasks.length) {
      const index = next++
      results[index] = await tasks[index]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  return results
}

function formatDate(epochSeconds) {
  if (typeof epochSeconds !== 'number') return '—'
  return new Date(epochSeconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
}

function ago(epochSeconds) {
  if (typeof epochSeconds !== 'number') return 'never'
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - epochSeconds))
  if (seconds < 60) return `${seconds} s ago`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

// ---------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------

function showOnly(id) {
  for (const section of ['#sign-in-view', '#keys-view', '#key-view']) $(section).hidden = section !== id
}

function render() {
  viewGeneration++
  const signedIn = session.signedIn
  $('#who').hidden = !signedIn
  $('#who').textContent = signedIn ? `Signed in as ${session.accessKeyId}` : ''
  $('#sign-out').hidden = !signedIn
  if (!signedIn) {
    showOnly('#sign-in-view')
    return
  }
  const keyRoute = /^#\/key\/([a-z0-9-]+)\/([A-Za-z0-9-]+)$/.exec(location.hash)
  if (keyRoute !== null) {
    showOnly('#key-view')
    void renderKeyPage(keyRoute[1], keyRoute[2], viewGeneration)
    return
  }
  showOnly('#keys-view')
  void renderKeyList(viewGeneration)
}

// The key list: each region's keys the user may describe.

async function listAll(region, operation, field, input = {}) {
  const items = []
  let marker
  for (let page = 0; page < 50; page++) {
    const output = await kms(region, operation, marker === undefined ? { ...input, Limit: 100 } : { ...input, Limit: 100, Marker: marker })
    items.push(...(output[field] ?? []))
    if (output.Truncated !== true || typeof output.NextMarker !== 'string') break
    marker = output.NextMarker
  }
  return items
}

async function loadRegionKeys(region) {
  const keys = await listAll(region, 'ListKeys', 'Keys')
  const aliases = await attempt(listAll(region, 'ListAliases', 'Aliases'))
  const aliasesOf = new Map()
  for (const alias of aliases.value ?? []) {
    if (alias.TargetKeyId === undefined) continue
    aliasesOf.set(alias.TargetKeyId, [...(aliasesOf.get(alias.TargetKeyId) ?? []), alias.AliasName])
  }
  const described = await inBatches(keys.map((key) => () => attempt(kms(region, 'DescribeKey', { KeyId: key.KeyId }))))
  const visible = []
  let hidden = 0
  described.forEach((result) => {
    if (result.value !== undefined) visible.push(result.value.KeyMetadata)
    else hidden++
  })
  visible.sort((a, b) => (a.CreationDate ?? 0) - (b.CreationDate ?? 0))
  return { keys: visible, hidden, aliasesOf, aliasesKnown: aliases.error === undefined }
}

function keyRow(region, metadata, aliases) {
  const multiRegion = metadata.MultiRegionConfiguration?.MultiRegionKeyType ?? (metadata.MultiRegion ? 'MULTI_REGION' : '—')
  return el(
    'tr',
    { 'data-key-id': metadata.KeyId, 'data-key-state': metadata.KeyState },
    el('td', {}, el('a', { href: `#/key/${region}/${metadata.KeyId}`, class: 'mono' }, metadata.KeyId)),
    el('td', { class: 'aliases' }, aliases === undefined ? '?' : aliases.length === 0 ? '—' : aliases.join(', ')),
    el('td', {}, metadata.KeySpec ?? '—'),
    el('td', {}, metadata.KeyUsage ?? '—'),
    el('td', {}, el('span', { class: `state state-${metadata.KeyState}` }, metadata.KeyState)),
    el('td', {}, multiRegion),
  )
}

async function renderKeyList(generation) {
  const container = $('#regions')
  container.replaceChildren(el('p', { class: 'muted' }, 'Loading…'))
  const regionSelect = $('#create-key-form select[name="region"]')
  regionSelect.replaceChildren(...session.regions.map((region) => el('option', {}, region)))
  const results = await Promise.all(session.regions.map((region) => attempt(loadRegionKeys(region))))
  if (generation !== viewGeneration) return
  container.replaceChildren(
    ...session.regions.map((region, index) => {
      const result = results[index]
      const section = el('section', { class: 'region', 'data-region': region }, el('h2', {}, region))
      if (result.error !== undefined) {
        section.append(el('p', { class: 'error' }, `Cannot list the keys of ${region}: ${describeFailure(result.error)}`))
        return section
      }
      const { keys, hidden, aliasesOf, aliasesKnown } = result.value
      if (keys.length === 0) section.append(el('p', { class: 'muted' }, hidden === 0 ? 'No keys.' : 'No keys you may describe.'))
      else
        section.append(
          el(
            'table',
            { class: 'keys' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                ['Key ID', 'Aliases', 'Spec', 'Usage', 'State', 'Multi-Region'].map((h) => el('th', {}, h)),
              ),
            ),
            el(
              'tbody',
              {},
              keys.map((metadata) => keyRow(region, metadata, aliasesKnown ? (aliasesOf.get(metadata.KeyId) ?? []) : undefined)),
            ),
          ),
        )
      if (hidden > 0)
        section.append(el('p', { class: 'muted hidden-keys' }, `${hidden} more key(s) that your policies do not let you describe.`))
      return section
    }),
  )
}

async function createKey(event) {
  event.preventDefault()
  const form = event.currentTarget
  const data = new FormData(form)
  const region = String(data.get('region'))
  const input = { KeySpec: String(data.get('keySpec')), KeyUsage: String(data.get('keyUsage')) }
  const description = String(data.get('description') ?? '')
  if (description !== '') input.Description = description
  if (data.get('multiRegion') !== null) input.MultiRegion = true
  const result = await attempt(kms(region, 'CreateKey', input))
  if (result.error !== undefined) {
    showMessage(`CreateKey failed: ${describeFailure(result.error)}`)
    return
  }
  form.reset()
  form.hidden = true
  showMessage(`Created ${result.value.KeyMetadata.KeyId} in ${region}.`, 'info')
  render()
}

// The key page.

function section(title, ...content) {
  return el('section', { class: 'panel' }, el('h2', {}, title), ...content)
}

function definitionList(pairs) {
  return el(
    'dl',
    {},
    pairs.filter(([, value]) => value !== undefined).flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, String(value))]),
  )
}

function failureParagraph(error) {
  return el('p', { class: 'error' }, describeFailure(error))
}

function table(headers, rows) {
  if (rows.length === 0) return el('p', { class: 'muted' }, 'None.')
  return el(
    'table',
    {},
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h) => el('th', {}, h)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.map((cells) =>
        el(
          'tr',
          {},
          cells.map((c) => el('td', {}, c ?? '—')),
        ),
      ),
    ),
  )
}

async function act(description, region, operation, input, generation) {
  const result = await attempt(kms(region, operation, input))
  if (generation !== viewGeneration) return
  if (result.error !== undefined) showMessage(`${description} failed: ${describeFailure(result.error)}`)
  else showMessage(`${description}: done.`, 'info')
  render()
}

function actionsPanel(region, metadata, topologyInfo, generation) {
  const keyId = metadata.KeyId
  const panel = el('div', { class: 'actions' })
  const state = metadata.KeyState
  if (state === 'Disabled')
    panel.append(
      el(
        'button',
        { type: 'button', id: 'enable-button', onclick: () => act('EnableKey', region, 'EnableKey', { KeyId: keyId }, generation) },
        'Enable',
      ),
    )
  if (state === 'Enabled')
    panel.append(
      el(
        'button',
        { type: 'button', id: 'disable-button', onclick: () => act('DisableKey', region, 'DisableKey', { KeyId: keyId }, generation) },
        'Disable',
      ),
    )
  if (state === 'PendingDeletion' || state === 'PendingReplicaDeletion') {
    panel.append(
      el(
        'button',
        {
          type: 'button',
          id: 'cancel-deletion-button',
          onclick: () => act('CancelKeyDeletion', region, 'CancelKeyDeletion', { KeyId: keyId }, generation),
        },
        'Cancel deletion',
      ),
    )
  } else {
    const days = el('input', { type: 'number', min: 7, max: 30, value: 30, id: 'deletion-days', 'aria-label': 'Pending window in days' })
    panel.append(
      el(
        'span',
        { class: 'group' },
        el(
          'button',
          {
            type: 'button',
            id: 'schedule-deletion-button',
            class: 'danger',
            onclick: () =>
              act(
                'ScheduleKeyDeletion',
                region,
                'ScheduleKeyDeletion',
                { KeyId: keyId, PendingWindowInDays: Number(days.value) },
                generation,
              ),
          },
          'Schedule deletion',
        ),
        ' in ',
        days,
        ' days',
      ),
    )
  }
  const mrk = metadata.MultiRegionConfiguration
  if (mrk !== undefined && topologyInfo !== undefined) {
    const members = new Set([topologyInfo.primaryRegion, ...topologyInfo.replicaRegions])
    const candidates = session.regions.filter((r) => !members.has(r))
    // ReplicateKey goes to the primary's region, whichever member's page this is.
    if (candidates.length > 0) {
      const select = el(
        'select',
        { id: 'replicate-region', 'aria-label': 'Replica region' },
        candidates.map((r) => el('option', {}, r)),
      )
      panel.append(
        el(
          'span',
          { class: 'group' },
          el(
            'button',
            {
              type: 'button',
              id: 'replicate-button',
              onclick: () =>
                act('ReplicateKey', topologyInfo.primaryRegion, 'ReplicateKey', { KeyId: keyId, ReplicaRegion: select.value }, generation),
            },
            'Replicate to',
          ),
          ' ',
          select,
        ),
      )
    }
    if (topologyInfo.replicaRegions.length > 0) {
      const select = el(
        'select',
        { id: 'primary-region', 'aria-label': 'New primary region' },
        topologyInfo.replicaRegions.map((r) => el('option', {}, r)),
      )
      panel.append(
        el(
          'span',
          { class: 'group' },
          el(
            'button',
            {
              type: 'button',
              id: 'update-primary-button',
              onclick: () =>
                act(
                  'UpdatePrimaryRegion',
                  topologyInfo.primaryRegion,
                  'UpdatePrimaryRegion',
                  { KeyId: keyId, PrimaryRegion: select.value },
                  generation,
                ),
            },
            'Make primary',
          ),
          ' ',
          select,
        ),
      )
    }
  }
  return panel
}

async function renderKeyPage(region, keyId, generation) {
  const view = $('#key-view')
  view.replaceChildren(el('p', { class: 'muted' }, 'Loading…'))
  const described = await attempt(kms(region, 'DescribeKey', { KeyId: keyId }))
  if (generation !== viewGeneration) return
  if (described.error !== undefined) {
    view.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← Keys')), failureParagraph(described.error))
    return
  }
  const metadata = described.value.KeyMetadata
  const [policy, grants, tags, rotations, aliases, topologyInfo] = await Promise.all([
    attempt(kms(region, 'GetKeyPolicy', { KeyId: keyId, PolicyName: 'default' })),
    attempt(listAll(region, 'ListGrants', 'Grants', { KeyId: keyId })),
    attempt(listAll(region, 'ListResourceTags', 'Tags', { KeyId: keyId })),
    attempt(listAll(region, 'ListKeyRotations', 'Rotations', { KeyId: keyId })),
    attempt(listAll(region, 'ListAliases', 'Aliases', { KeyId: keyId })),
    metadata.MultiRegion ? loadTopology(region, keyId) : Promise.resolve(undefined),
  ])
  if (generation !== viewGeneration) return
  const aliasNames = (aliases.value ?? []).map((a) => a.AliasName)
  let policyText = ''
  if (policy.value !== undefined) {
    try {
      policyText = JSON.stringify(JSON.parse(policy.value.Policy), null, 2)
    } catch {
      policyText = String(policy.value.Policy)
    }
  }
  view.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← Keys')),
    el('h1', { class: 'mono' }, metadata.KeyId),
    el('p', { class: 'muted' }, `${region}${aliasNames.length > 0 ? ` · ${aliasNames.join(', ')}` : ''}`),
    section(
      'Key',
      el('div', { id: 'key-summary', 'data-key-state': metadata.KeyState }),
      definitionList([
        ['ARN', metadata.Arn],
        ['State', metadata.KeyState],
        ['Description', metadata.Description === '' ? '—' : metadata.Description],
        ['Key spec', metadata.KeySpec],
        ['Key usage', metadata.KeyUsage],
        ['Origin', metadata.Origin],
        ['Created', formatDate(metadata.CreationDate)],
        ['Deletion date', metadata.DeletionDate === undefined ? undefined : formatDate(metadata.DeletionDate)],
        ['Multi-Region', metadata.MultiRegion ? (metadata.MultiRegionConfiguration?.MultiRegionKeyType ?? 'yes') : 'no'],
      ]),
      actionsPanel(region, metadata, topologyInfo?.value, generation),
    ),
    metadata.MultiRegion
      ? section('Multi-Region topology', el('div', { id: 'topology-container' }, topologyView(topologyInfo)))
      : undefined,
    section('Key policy', policy.error !== undefined ? failureParagraph(policy.error) : el('pre', { id: 'key-policy' }, policyText)),
    section(
      'Grants',
      grants.error !== undefined
        ? failureParagraph(grants.error)
        : table(
            ['Grant ID', 'Name', 'Grantee', 'Operations', 'Created'],
            grants.value.map((g) => [g.GrantId, g.Name, g.GranteePrincipal, (g.Operations ?? []).join(', '), formatDate(g.CreationDate)]),
          ),
    ),
    section(
      'Tags',
      tags.error !== undefined
        ? failureParagraph(tags.error)
        : table(
            ['Key', 'Value'],
            tags.value.map((t) => [t.TagKey, t.TagValue]),
          ),
    ),
    section(
      'Rotations',
      rotations.error !== undefined
        ? failureParagraph(rotations.error)
        : table(
            ['Rotation date', 'Type', 'Key material ID'],
            rotations.value.map((r) => [formatDate(r.RotationDate), r.RotationType, r.KeyMaterialId]),
          ),
    ),
  )
  if (metadata.MultiRegion) void followTopology(region, keyId, generation)
}

// The topology of a multi-Region key.

/**
 * What the regions know of a multi-Region key: the primary and its replicas (DescribeKey
 * in the primary's region), each member's own key state (DescribeKey in its region), and
 * the primary's view of each replica's sync state (TrentAdmin.DescribeReplication, which
 * only the account's root user may call; others see the topology without it).
 */
async function loadTopology(region, keyId) {
  return attempt(
    (async () => {
      const here = (await kms(region, 'DescribeKey', { KeyId: keyId })).KeyMetadata
      const primaryRegion = here.MultiRegionConfiguration?.PrimaryKey?.Region ?? region
      const primary = primaryRegion === region ? here : (await kms(primaryRegion, 'DescribeKey', { KeyId: keyId })).KeyMetadata
      const replicaRegions = (primary.MultiRegionConfiguration?.ReplicaKeys ?? []).map((r) => r.Region)
      const [replication, ...states] = await Promise.all([
        attempt(kms(primaryRegion, 'TrentAdmin.DescribeReplication', { KeyId: keyId })),
        ...replicaRegions.map((r) => attempt(kms(r, 'DescribeKey', { KeyId: keyId }))),
      ])
      const memberStates = new Map([[primaryRegion, primary.KeyState]])
      replicaRegions.forEach((r, index) => {
        const result = states[index]
        memberStates.set(
          r,
          result.value?.KeyMetadata?.KeyState ?? (result.error?.name === 'NotFoundException' ? 'not created yet' : 'unknown'),
        )
      })
      return {
        keyId,
        primaryRegion,
        replicaRegions,
        memberStates,
        replication: replication.value,
        replicationError: replication.error,
        loadedAt: Date.now() / 1000,
      }
    })(),
  )
}

async function followTopology(region, keyId, generation) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, TOPOLOGY_POLL_MS))
    if (generation !== viewGeneration) return
    const info = await loadTopology(region, keyId)
    if (generation !== viewGeneration) return
    $('#topology-container')?.replaceChildren(topologyView(info))
  }
}

function topologyView(info) {
  if (info === undefined) return el('p', { class: 'muted' }, 'Not a multi-Region key.')
  if (info.error !== undefined) return failureParagraph(info.error)
  const { primaryRegion, replicaRegions, memberStates, replication, replicationError } = info.value
  const replicas = new Map((replication?.Replicas ?? []).map((r) => [r.Region, r]))
  const width = Math.max(720, replicaRegions.length * 240 + 40)
  const boxWidth = 210
  const versions = replication?.MaterialVersions
  const primaryLines = [
    versions === undefined ? 'material versions: ?' : `material versions: ${versions.join(', ')}`,
    replication === undefined ? '' : `shared state: ${replication.SyncVersion}`,
    (replication?.PendingMaterialVersions ?? []).length > 0
      ? `new, not yet current: ${replication.PendingMaterialVersions.join(', ')}`
      : '',
  ].filter((line) => line !== '')
  // A box is as tall as its lines: the region and role, the state, then one per line.
  const boxHeight = (lines) => 64 + Math.max(2, lines.length) * 20
  const primaryHeight = boxHeight(primaryLines)
  const primaryX = width / 2 - boxWidth / 2
  const primaryY = 16
  const replicaY = primaryY + primaryHeight + 80
  const replicaHeight = 104
  const replicaX = (index) => {
    const slot = width / Math.max(1, replicaRegions.length)
    return slot * index + slot / 2 - boxWidth / 2
  }
  const height = replicaRegions.length > 0 ? replicaY + replicaHeight + 16 : primaryY + primaryHeight + 16
  const drawing = svg('svg', {
    id: 'topology',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': `Topology of ${info.value.keyId}`,
  })
  drawing.append(svg('title', {}, `Topology of ${info.value.keyId}`))
  replicaRegions.forEach((replicaRegion, index) => {
    const syncState = replicas.get(replicaRegion)?.State ?? 'UNKNOWN'
    const x = replicaX(index) + boxWidth / 2
    drawing.append(
      svg('line', {
        class: `link link-${syncState}`,
        x1: width / 2,
        y1: primaryY + primaryHeight,
        x2: x,
        y2: replicaY,
        'data-region': replicaRegion,
      }),
    )
  })
  drawing.append(
    member(primaryX, primaryY, boxWidth, primaryHeight, {
      region: primaryRegion,
      role: 'PRIMARY',
      keyState: memberStates.get(primaryRegion),
      syncState: 'PRIMARY',
      lines: primaryLines,
    }),
  )
  replicaRegions.forEach((replicaRegion, index) => {
    const sync = replicas.get(replicaRegion)
    drawing.append(
      member(replicaX(index), replicaY, boxWidth, replicaHeight, {
        region: replicaRegion,
        role: 'REPLICA',
        keyState: memberStates.get(replicaRegion),
        syncState: sync?.State ?? 'UNKNOWN',
        lines:
          sync === undefined
            ? ['sync state: not visible']
            : [`material versions: ${(sync.MaterialVersions ?? []).join(', ') || 'none'}`, `last sync: ${ago(sync.LastSyncedAt)}`],
      }),
    )
  })
  const details = el('div', { class: 'topology' }, drawing)
  if (replicationError !== undefined) {
    details.append(
      el('p', { class: 'muted' }, `Sync state not shown: TrentAdmin.DescribeReplication answered ${describeFailure(replicationError)}`),
    )
  } else if (replicaRegions.length > 0) {
    details.append(
      table(
        ['Replica', 'Sync', 'Material versions', 'Acknowledged shared state', 'Last sync', 'Pending'],
        replicaRegions.map((r) => {
          const sync = replicas.get(r)
          return [
            r,
            sync?.State,
            (sync?.MaterialVersions ?? []).join(', '),
            String(sync?.AcknowledgedSyncVersion ?? '—'),
            sync?.LastSyncedAt === undefined ? 'never' : `${formatDate(sync.LastSyncedAt)} (${ago(sync.LastSyncedAt)})`,
            [...(sync?.Pending ?? []), ...(sync?.Note === undefined ? [] : [sync.Note])].join('; ') || 'nothing',
          ]
        }),
      ),
    )
  }
  return details
}

function member(x, y, width, height, { region, role, keyState, syncState, lines }) {
  return svg(
    'g',
    {
      class: `member member-${syncState}`,
      'data-region': region,
      'data-role': role,
      'data-sync-state': syncState,
      'data-key-state': keyState ?? 'unknown',
      transform: `translate(${x} ${y})`,
    },
    svg('rect', { width, height, rx: 10, ry: 10 }),
    svg('text', { x: 12, y: 24, class: 'region-name' }, region),
    svg('text', { x: width - 12, y: 24, class: 'role', 'text-anchor': 'end' }, role),
    svg(
      'text',
      { x: 12, y: 46, class: 'detail' },
      `${keyState ?? 'unknown'}${role === 'REPLICA' ? ` · ${syncState.replaceAll('_', ' ')}` : ''}`,
    ),
    lines.filter((line) => line !== '').map((line, index) => svg('text', { x: 12, y: 68 + index * 20, class: 'detail' }, line)),
  )
}

// ---------------------------------------------------------------------------------------
// Sign-in, sign-out, start
// ---------------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault()
  const form = event.currentTarget
  const accessKeyId = form.elements.accessKeyId.value.trim()
  const secretAccessKey = form.elements.secretAccessKey.value
  // The secret leaves this page only in this request's body, and is forgotten here at once.
  form.elements.secretAccessKey.value = ''
  const answer = await api('sign-in', { accessKeyId, secretAccessKey })
  if (!answer.ok) {
    showMessage(answer.body.message ?? 'Sign-in failed.')
    return
  }
  csrfToken = answer.body.csrfToken
  session = { signedIn: true, accessKeyId: answer.body.accessKeyId, regions: answer.body.regions }
  form.reset()
  showMessage('')
  render()
}

async function signOut() {
  await api('sign-out')
  location.hash = '#/'
  location.reload()
}

async function start() {
  $('#sign-in-form').addEventListener('submit', signIn)
  $('#sign-out').addEventListener('click', signOut)
  $('#create-key-open').addEventListener('click', () => {
    $('#create-key-form').hidden = false
  })
  $('#create-key-cancel').addEventListener('click', () => {
    $('#create-key-form').hidden = true
  })
  $('#create-key-form').addEventListener('submit', createKey)
  window.addEventListener('hashchange', () => {
    showMessage('')
    render()
  })
  const answer = await api('session')
  if (answer.ok) session = answer.body
  else showMessage(answer.body.message ?? 'The console could not start; reload the page.')
  render()
}

void start()
