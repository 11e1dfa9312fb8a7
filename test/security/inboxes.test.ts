/**
 * Reply inboxes (issue 17 §1): readable only by their owner whatever allow/deny say (unless a permission names
 * `_INBOX`), owned by the user so that a reconnect keeps them and nobody else can claim them in the gap, and
 * never shown to other users (/stats, `$SYS`).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Msg } from '../../client/index.ts'
import { SysStats, SYS_SUBJECT } from '../../server/monitoring/sys-stats.ts'
import { InboxRegistry, MAX_RESERVED_PER_USER, maskInbox } from '../../server/security/inbox-registry.ts'
import { cleanupAfterEach, RawClient, startBroker, take, until, within } from '../helpers.ts'
import { brokerFor, clientAs, errsFor, msgsOn, rawAs, rawFlush, rawSub, stopCanary } from './users.ts'

const track = cleanupAfterEach(test)

const USERS = {
  alice: { publish: { allow: ['svc.>'] }, subscribe: { allow: ['svc.>'] } },
  mallory: { subscribe: { deny: ['secret.>'] }, publish: { deny: ['secret.>'] } },
  auditor: { subscribe: { allow: ['_INBOX.>'] } },
}

test('keeps a deny-only user out of every inbox, and lets a permission naming _INBOX read them', async () => {
  const { broker, canary } = await brokerFor(USERS)
  track(broker)
  const mallory = track(await rawAs(broker, 'mallory'))
  rawSub(mallory, 1, '_INBOX.>')
  rawSub(mallory, 2, '_INBOX.*.*')
  await rawFlush(mallory)
  assert.equal([...errsFor(mallory, 1), ...errsFor(mallory, 2)].map((e) => e.code), ['permission', 'permission'])
  const auditor = track(await clientAs(broker, 'auditor'))
  const seen: Msg[] = []
  auditor.subscribe('_INBOX.>', { callback: (_e, m) => { if (m !== null) seen.push(m) } })
  await within(3000, auditor.flush(), 'flush')
  const admin = track(await clientAs(broker, 'admin'))
  admin.subscribe('svc.time', { callback: (_e, m) => m?.respond('noon') })
  await within(3000, admin.request('svc.time', null, { timeout: 2000 }), 'the reply')
  await within(3000, auditor.flush(), 'flush')
  assert.equal(seen.map((m) => m.data), ['noon'], 'the explicit grant sees the reply')
  assert.equal(msgsOn(mallory, 1), [])
  await stopCanary(canary, 'after the inbox reads')
})

test('keeps an inbox for its user when the socket drops: another user cannot claim it, the owner gets it back', async () => {
  const { broker, canary } = await brokerFor(USERS)
  track(broker)
  const inbox = '_INBOX.aliceInboxId0123456'
  const alice = await rawAs(broker, 'alice')
  rawSub(alice, 1, `${inbox}.>`)
  await rawFlush(alice)
  assert.equal(errsFor(alice, 1), [])
  // A second connection of the same user (the reconnect racing the old socket's close) may subscribe too.
  const aliceAgain = track(await rawAs(broker, 'alice'))
  rawSub(aliceAgain, 1, `${inbox}.>`)
  await rawFlush(aliceAgain)
  assert.equal(errsFor(aliceAgain, 1), [])
  alice.close()
  aliceAgain.close()
  await until(3000, () => broker.stats().connections === 1, 'alice gone (the canary stays)')
  // Within milliseconds, another user tries: refused, whatever its rights.
  for (const user of ['mallory', 'admin']) {
    const thief = track(await rawAs(broker, user))
    rawSub(thief, 1, `${inbox}.>`)
    rawSub(thief, 2, `${inbox}.7`)
    await rawFlush(thief)
    assert.equal([...errsFor(thief, 1), ...errsFor(thief, 2)].map((e) => e.code), ['permission', 'permission'], user)
  }
  // Alice reconnects and gets her replies.
  const back = track(await rawAs(broker, 'alice'))
  rawSub(back, 1, `${inbox}.>`)
  await rawFlush(back)
  assert.equal(errsFor(back, 1), [])
  const admin = track(await clientAs(broker, 'admin'))
  admin.publish(`${inbox}.1`, 'your answer')
  await within(3000, admin.flush(), 'flush')
  await until(3000, () => msgsOn(back, 1).length === 1, 'the reply')
  await stopCanary(canary, 'after the hijack attempts')
})

test('keeps an SDK client\'s requests working across a reconnect of its own', async () => {
  const { broker, canary } = await brokerFor(USERS)
  track(broker)
  const admin = track(await clientAs(broker, 'admin'))
  admin.subscribe('svc.echo', { callback: (_e, m) => m?.respond(m.data) })
  await within(3000, admin.flush(), 'flush')
  const alice = track(await clientAs(broker, 'alice', { name: 'alice-sdk', reconnect: { initialDelayMs: 10, maxDelayMs: 20 } }))
  assert.is((await within(3000, alice.request('svc.echo', 1, { timeout: 2000 }), 'before')).data, 1)
  const reconnected = (async () => { for await (const s of alice.status()) if (s.type === 'reconnect') return })()
  const id = broker.connections().find((c) => c.name === 'alice-sdk')?.id
  assert.ok(id !== undefined && broker.disconnect(id))
  await within(3000, reconnected, 'the reconnect')
  assert.is((await within(3000, alice.request('svc.echo', 2, { timeout: 2000 }), 'after')).data, 2)
  await stopCanary(canary, 'after the reconnect')
})

test('shows no inbox id in /stats or $SYS', async () => {
  const { broker, canary } = await brokerFor(USERS)
  track(broker)
  const sys = track(new SysStats(broker, { intervalMs: 30 }))
  const alice = track(await clientAs(broker, 'alice'))
  const admin = track(await clientAs(broker, 'admin'))
  let reply = ''
  admin.subscribe('svc.echo', { callback: (_e, m) => { reply = m?.reply ?? ''; m?.respond(m.data) } })
  await within(3000, admin.flush(), 'flush')
  await within(3000, alice.request('svc.echo', 1, { timeout: 2000 }), 'a request')
  const id = reply.split('.')[1] as string
  assert.ok(id.length > 5)
  // A page of connections (`GET /stats`); the cast keeps this test independent of how a page is asked for.
  const report = (sys.report as (page: unknown) => ReturnType<SysStats['report']>)({ offset: 0, limit: 100 })
  const list = JSON.stringify(report.connectionList)
  assert.ok(list.includes('_INBOX.*.>'), 'the inbox subscription is listed, masked')
  assert.not.ok(JSON.stringify(report).includes(id), '/stats holds no inbox id')
  const [published] = await take(admin.subscribe(SYS_SUBJECT.stats), 1)
  assert.not.ok(JSON.stringify(published.data).includes(id), '$SYS.stats holds no inbox id')
  await stopCanary(canary, 'after the stats')
})

test('masks the id of inbox subjects and leaves every other subject as it is', () => {
  const rows: Array<[string, string]> = [
    ['_INBOX.abc123.>', '_INBOX.*.>'],
    ['_INBOX.abc123.7', '_INBOX.*.7'],
    ['_INBOX.abc123', '_INBOX.*'],
    ['_INBOX.>', '_INBOX.>'],
    ['_INBOX.*.x', '_INBOX.*.x'],
    ['orders.>', 'orders.>'],
    ['_INBOXES.x', '_INBOXES.x'],
  ]
  for (const [subject, masked] of rows) assert.is(maskInbox(subject), masked, subject)
})

test('reserves a released inbox for its user for the reservation period, then frees it', () => {
  let now = 1_000_000
  const r = new InboxRegistry({ reserveMs: 1000, now: () => now })
  assert.ok(r.claim('a', 'alice'))
  assert.ok(r.claim('a', 'alice'), 'the same user again (a second connection)')
  assert.not.ok(r.claim('a', 'mallory'))
  r.release('a', 'alice')
  assert.not.ok(r.claim('a', 'mallory'), 'still held by one subscription')
  r.release('a', 'alice')
  assert.is(r.ownerOf('a'), 'alice', 'reserved')
  now += 999
  assert.not.ok(r.claim('a', 'mallory'), 'within the reservation')
  assert.ok(r.claim('a', 'alice'), 'the owner takes it back')
  r.release('a', 'alice')
  now += 2000
  assert.is(r.ownerOf('a'), null, 'expired')
  assert.ok(r.claim('a', 'mallory'), 'free after the reservation period')
  // A reservation lasts at least the period whatever the phase of the generations.
  for (let step = 0; step < 10; step++) {
    const id = `p${step}`
    assert.ok(r.claim(id, 'bob'))
    r.release(id, 'bob')
    now += 999
    assert.is(r.ownerOf(id), 'bob', `reserved at step ${step}`)
    now += 137
  }
})

test('reserves at most MAX_RESERVED_PER_USER inboxes of one user, so one user cannot fill the table', () => {
  const r = new InboxRegistry({ reserveMs: 60_000, now: () => 0 })
  for (let i = 0; i < MAX_RESERVED_PER_USER + 50; i++) {
    assert.ok(r.claim(`x${i}`, 'flooder'))
    r.release(`x${i}`, 'flooder')
  }
  assert.is(r.reserved, MAX_RESERVED_PER_USER)
  assert.is(r.ownerOf(`x${MAX_RESERVED_PER_USER + 10}`), null, 'past the cap a released inbox is free at once')
  assert.is(r.ownerOf('x0'), 'flooder')
})

test('leaves inboxes unguarded with authentication off (development mode)', async () => {
  const broker = track(await startBroker())
  const a = track(new RawClient(broker.url))
  const b = track(new RawClient(broker.url))
  await within(3000, Promise.all([a.opened, b.opened]), 'open')
  a.connect()
  b.connect()
  rawSub(a, 1, '_INBOX.shared.>')
  rawSub(b, 1, '_INBOX.shared.>')
  await rawFlush(a)
  await rawFlush(b)
  assert.equal([...errsFor(a, 1), ...errsFor(b, 1)], [])
})

test.run()
