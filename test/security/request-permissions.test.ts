/**
 * Requests to subjects the user may not publish to (issue 17 §1): the broker's ERR `permission` for the PUB
 * settles the request at once, instead of a `timeout` seconds later; the right request, and only that one.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import type { Permissions } from '../../server/index.ts'
import { Requests } from '../../client/requests.ts'
import { SubwireError } from '../../shared/errors.ts'
import { cleanupAfterEach, startBroker, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

/** A user with `permissions` and an unrestricted responder answering `svc.*` and storing `orders.>`. */
async function setup(permissions: Permissions): Promise<{ user: Client; svc: Client }> {
  const b = track(await startBroker({
    topics: [{ name: 'orders', subjects: ['orders.>'] }, { name: 'secret', subjects: ['secret.>'] }],
    auth: { tokens: [{ token: 'restricted-user', user: 'u', permissions }, { token: 'service-token', user: 'svc' }] },
  }))
  const svc = track(await connect(b.url, { token: 'service-token' }))
  svc.subscribe('svc.*', { callback: (_e, m) => m?.respond(`answer from ${m.subject}`) })
  await svc.flush()
  const user = track(await connect(b.url, { token: 'restricted-user' }))
  return { user, svc }
}

/** The code a request rejects with (well before its 3 s timeout), or its answer's data. */
async function settle(p: Promise<unknown>, what: string): Promise<unknown> {
  try {
    return await within(1000, p, what)
  } catch (err) {
    if (err instanceof SubwireError) return err.code
    throw err
  }
}

const USER: Permissions = { publish: { allow: ['svc.open', 'orders.>'] }, subscribe: { allow: ['nothing'] } }

test('rejects a request to a subject the user may not publish to at once with permission', async () => {
  const { user } = await setup(USER)
  // The default timeout is 3 s; `settle` gives it 1 s.
  assert.is(await settle(user.request('svc.closed', 1), 'the refused request'), 'permission')
  assert.is(await settle(user.request('svc.open', 1).then((m) => m.data), 'the allowed request'), 'answer from svc.open')
})

test('rejects a publishAck to a subject the user may not publish to at once with permission', async () => {
  const { user } = await setup(USER)
  assert.is(await settle(user.publishAck('secret.x', 1), 'the refused confirm'), 'permission')
  const ok = await settle(user.publishAck('orders.x', 1), 'the allowed confirm') as { topic: string; seq: number }
  assert.is(ok.topic, 'orders')
})

test('settles each refused request, and only the refused ones, when many are in flight', async () => {
  const { user } = await setup(USER)
  const calls = [
    user.request('svc.open', 'a'),
    user.request('svc.closed', 'b'),
    user.publishAck('secret.y', 'c'),
    user.request('svc.open', 'd'),
    user.request('svc.closed', 'e'),
    user.request('svc.other', 'f'),
  ]
  const got = await within(1500, Promise.all(calls.map((p) => (p as Promise<unknown>).then((m) => (m as { data?: unknown }).data ?? m, (e: unknown) => (e as SubwireError).code))), 'every request')
  assert.equal(got, ['answer from svc.open', 'permission', 'permission', 'answer from svc.open', 'permission', 'permission'])
})

test('refuses a plain publish to a denied subject as a status error without failing a request elsewhere', async () => {
  const { user } = await setup(USER)
  const errors: SubwireError[] = []
  void (async () => { for await (const s of user.status()) if (s.type === 'error') errors.push(s.error) })()
  const pending = user.request('svc.open', 'slow path').then((m) => m.data)
  user.publish('svc.closed', 'plain')
  assert.is(await settle(pending, 'the allowed request'), 'answer from svc.open')
  await within(1000, user.flush(), 'the flush')
  assert.equal(errors.map((e) => e.code), ['permission'])
})

test('rejects at once a request that a narrowing re-authentication no longer allows', async () => {
  const b = track(await startBroker({
    auth: { tokens: [
      { token: 'broad-token-1', user: 'u', permissions: { publish: { allow: ['svc.*'] } } },
      { token: 'narrow-token-1', user: 'u', permissions: { publish: { allow: ['svc.open'] } } },
      { token: 'service-token', user: 'svc' },
    ] },
  }))
  const svc = track(await connect(b.url, { token: 'service-token' }))
  svc.subscribe('svc.*', { callback: (_e, m) => m?.respond('yes') })
  await svc.flush()
  let token = 'broad-token-1'
  const c = track(await connect(b.url, { token: () => token }))
  assert.is(await settle(c.request('svc.other', 1).then((m) => m.data), 'before'), 'yes')
  token = 'narrow-token-1'
  await within(3000, c.reauthenticate(), 're-authentication')
  assert.is(await settle(c.request('svc.other', 1), 'after'), 'permission')
  assert.is(await settle(c.request('svc.open', 1).then((m) => m.data), 'still allowed'), 'yes')
})

test('fails only the oldest request in flight on the refused subject', async () => {
  const requests = new Requests({ subscribe: () => { throw new Error('not used') }, publish: () => undefined })
  const outcomes: string[] = []
  const follow = (subject: string, label: string): void => {
    requests.create(subject, 5000).answer.then(() => outcomes.push(`${label} answered`), (e: SubwireError) => outcomes.push(`${label} ${e.code}`))
  }
  follow('a', 'a1')
  follow('b', 'b1')
  follow('a', 'a2')
  const denied = new SubwireError('permission', 'refused')
  assert.ok(requests.refuse('a', denied))
  assert.ok(requests.refuse('b', denied))
  assert.not.ok(requests.refuse('c', denied), 'nothing in flight on c: the ERR is for a plain publish')
  await within(1000, (async () => { while (outcomes.length < 2) await new Promise((r) => setTimeout(r, 1)) })(), 'two settled')
  assert.equal(outcomes, ['a1 permission', 'b1 permission'])
  assert.is(requests.size, 1, 'a2 still waits for its answer')
  requests.rejectAll(new SubwireError('connection_closed', 'done'))
})

test.run()
