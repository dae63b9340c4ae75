/**
 * The console's session store (src/console/sessions.ts): sign-in replaces the session,
 * sessions end when idle, when too old or when signed out, and a flood of anonymous page
 * loads cannot sign anyone out.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sameToken, SessionStore, type SessionLimits } from '../../src/console/sessions.js'

const LIMITS: SessionLimits = { idleMs: 1_000, absoluteMs: 5_000, anonymousMs: 2_000, maxSessions: 3 }
const CREDENTIALS = { accessKeyId: 'AKIAEXAMPLE000000001', secretAccessKey: 'example-secret' }

function storeWithClock(): { store: SessionStore; advance(ms: number): void } {
  let now = 1_000_000
  return { store: new SessionStore(LIMITS, () => now), advance: (ms) => (now += ms) }
}

describe('console sessions', () => {
  it('signing in ends the anonymous session and starts one with a new id and a new CSRF token', () => {
    const { store } = storeWithClock()
    const anonymous = store.createAnonymous()
    const signedIn = store.signIn(anonymous, CREDENTIALS)
    assert.notEqual(signedIn.id, anonymous.id)
    assert.notEqual(signedIn.csrfToken, anonymous.csrfToken)
    assert.equal(store.get(anonymous.id), undefined)
    assert.deepEqual(store.get(signedIn.id)?.credentials, CREDENTIALS)
    assert.match(signedIn.id, /^[A-Za-z0-9_-]{43}$/)
  })

  it('ends a signed-in session left idle, and one too old however busy', () => {
    const { store, advance } = storeWithClock()
    const idle = store.signIn(undefined, CREDENTIALS)
    advance(1_001)
    assert.equal(store.get(idle.id), undefined)
    const busy = store.signIn(undefined, CREDENTIALS)
    // Used every 0.9 s (never idle) for 4.5 s: still there.
    for (let uses = 0; uses < 5; uses++) {
      advance(900)
      assert.ok(store.get(busy.id))
    }
    // 5.4 s after sign-in: past the absolute limit.
    advance(900)
    assert.equal(store.get(busy.id), undefined)
  })

  it('ends an anonymous session after its lifetime, used or not', () => {
    const { store, advance } = storeWithClock()
    const anonymous = store.createAnonymous()
    advance(1_500)
    assert.ok(store.get(anonymous.id))
    advance(501)
    assert.equal(store.get(anonymous.id), undefined)
  })

  it('evicts the oldest anonymous sessions first, and never a signed-in one for them', () => {
    const { store } = storeWithClock()
    const user = store.signIn(undefined, CREDENTIALS)
    const first = store.createAnonymous()
    for (let index = 0; index < 10; index++) store.createAnonymous()
    assert.equal(store.get(first.id), undefined)
    assert.ok(store.get(user.id))
  })

  it('signs out', () => {
    const { store } = storeWithClock()
    const session = store.signIn(undefined, CREDENTIALS)
    store.end(session)
    assert.equal(store.get(session.id), undefined)
    assert.equal(store.signedInCount, 0)
  })

  it('compares CSRF tokens exactly', () => {
    assert.equal(sameToken('abc', 'abc'), true)
    assert.equal(sameToken('abc', 'abd'), false)
    assert.equal(sameToken('abc', 'ab'), false)
    assert.equal(sameToken('abc', ''), false)
  })
})
