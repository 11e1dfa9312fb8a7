/**
 * Reply-subject forgery (issue 17 §1): a publish's `reply` must be a subject the publisher may itself receive
 * (an inbox of its own, or a subject it may subscribe to). Otherwise the PUB is refused with `permission`
 * (ref: the subject) before it is routed or stored, so neither the broker (no_responders, a publisher confirm,
 * the topic API) nor an honest responder ever writes where the requester could not.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client, Msg } from '../../client/index.ts'
import type { Broker } from '../../server/index.ts'
import { PUB_FLAG } from '../../shared/protocol.ts'
import { cleanupAfterEach, sleep, until, within, type RawClient } from '../helpers.ts'
import { brokerFor, clientAs, errsFor, msgsOn, rawAs, rawFlush, rawPub, rawSub, stopCanary } from './users.ts'
import type { Canary } from '../hostile/canary.ts'

const track = cleanupAfterEach(test)

const USERS = {
  requester: { publish: { allow: ['svc.>', 'jobs.>'] }, subscribe: { allow: ['svc.replies', 'jobs.>'] } },
  mallory: { subscribe: { deny: ['secret.>'] }, publish: { deny: ['secret.>'] } },
  alice: { publish: { allow: ['svc.>'] }, subscribe: { allow: ['svc.>'] } },
}

interface Setup { broker: Broker; canary: Canary; admin: Client; forged: Msg[]; requests: Msg[] }

/** A broker with a `jobs` topic, an honest responder on `svc.echo`, and an admin watching `secret.>` and `$SYS.>`. */
async function setup(): Promise<Setup> {
  const { broker, canary } = await brokerFor(USERS, { topics: [{ name: 'jobs', subjects: ['jobs.>'] }] })
  track(broker)
  const admin = track(await clientAs(broker, 'admin'))
  const forged: Msg[] = []
  const requests: Msg[] = []
  admin.subscribe('secret.>', { callback: (_e, m) => { if (m !== null) forged.push(m) } })
  admin.subscribe('$SYS.>', { callback: (_e, m) => { if (m !== null) forged.push(m) } })
  admin.subscribe('svc.echo', { callback: (_e, m) => { if (m !== null) { requests.push(m); m.respond('answer') } } })
  await within(3000, admin.flush(), 'flush')
  return { broker, canary, admin, forged, requests }
}

/** Sends one PUB and returns the ERR codes it got (ref: its subject). */
async function refusalOf(raw: RawClient, flags: number, subject: string, reply: string): Promise<string[]> {
  const before = errsFor(raw, subject).length
  rawPub(raw, flags, subject, reply)
  await rawFlush(raw)
  return errsFor(raw, subject).slice(before).map((e) => e.code)
}

test('refuses a reply subject the publisher may not receive with permission, on every path that answers', async () => {
  const { broker, canary, admin, forged, requests } = await setup()
  const requester = track(await rawAs(broker, 'requester'))
  const rows: Array<[string, number, string, string]> = [
    ['no_responders', PUB_FLAG.request, 'svc.nobody', 'secret.cmd'],
    ['an honest responder', PUB_FLAG.request, 'svc.echo', 'secret.cmd'],
    ['a plain publish to a responder', 0, 'svc.echo', 'secret.cmd'],
    ['a no_topic publisher confirm', PUB_FLAG.ack, 'svc.untracked', 'secret.cmd'],
    ['a stored publisher confirm', PUB_FLAG.ack, 'jobs.one', 'secret.cmd'],
    ['the topic API', 0, '$SW.TOPIC.LIST', 'secret.cmd'],
    ['a $SYS reply', PUB_FLAG.request, 'svc.nobody', '$SYS.stats'],
  ]
  for (const [path, flags, subject, reply] of rows) {
    assert.equal(await refusalOf(requester, flags, subject, reply), ['permission'], path)
  }
  await within(3000, admin.flush(), 'flush')
  await sleep(20)
  assert.equal(forged.map((m) => m.subject), [], 'nothing was written where the requester may not read')
  assert.equal(requests, [], 'the responder never saw a forged request')
  assert.is(broker.topics.info('jobs').messages, 0, 'nothing was stored')
  await stopCanary(canary, 'after the forged replies')
})

test('accepts a reply subject on its own inbox or on a subject it may subscribe to', async () => {
  const { broker, canary, requests } = await setup()
  const requester = track(await rawAs(broker, 'requester'))
  rawSub(requester, 1, '_INBOX.requesterInbox01.>')
  rawSub(requester, 2, 'svc.replies')
  await rawFlush(requester)
  assert.equal(await refusalOf(requester, PUB_FLAG.request, 'svc.echo', '_INBOX.requesterInbox01.1'), [])
  assert.equal(await refusalOf(requester, PUB_FLAG.request, 'svc.echo', 'svc.replies'), [])
  assert.equal(await refusalOf(requester, PUB_FLAG.request, 'svc.nobody', 'svc.replies'), [])
  await until(3000, () => msgsOn(requester, 1).length === 1 && msgsOn(requester, 2).length === 2, 'the answers')
  assert.is(requests.length, 2)
  assert.equal(msgsOn(requester, 2).map((m) => m.headers?.$status ?? 'data'), ['data', 'no_responders'])
  // The SDK's own request/reply, through its inbox.
  const c = track(await clientAs(broker, 'requester'))
  assert.is((await within(3000, c.request('svc.echo', null, { timeout: 2000 }), 'the reply')).data, 'answer')
  await stopCanary(canary, 'after the honest replies')
})

test('refuses another user\'s inbox as a reply subject, even to a deny-only user', async () => {
  const { broker, canary, forged } = await setup()
  const alice = track(await rawAs(broker, 'alice'))
  rawSub(alice, 1, '_INBOX.aliceInbox00001.>')
  await rawFlush(alice)
  const mallory = track(await rawAs(broker, 'mallory'))
  assert.equal(await refusalOf(mallory, PUB_FLAG.request, 'svc.echo', '_INBOX.aliceInbox00001.1'), ['permission'])
  assert.equal(await refusalOf(mallory, PUB_FLAG.request, 'svc.nobody', '_INBOX.aliceInbox00001.2'), ['permission'])
  assert.equal(await refusalOf(mallory, PUB_FLAG.request, 'svc.echo', 'secret.x'), ['permission'])
  assert.equal(await refusalOf(mallory, PUB_FLAG.request, 'svc.echo', 'public.x'), [], 'a subject it may read is fine')
  await rawFlush(alice)
  assert.equal(msgsOn(alice, 1), [], 'no answer reached alice\'s inbox')
  assert.equal(forged, [])
  await stopCanary(canary, 'after the inbox forgery')
})

test('lets an unrestricted user name any reply subject, as before', async () => {
  const { broker, canary, forged } = await setup()
  const admin = track(await rawAs(broker, 'admin'))
  assert.equal(await refusalOf(admin, PUB_FLAG.request, 'svc.nobody', 'secret.cmd'), [])
  await until(3000, () => forged.length === 1, 'the no_responders answer')
  await stopCanary(canary, 'after the admin')
})

test.run()
