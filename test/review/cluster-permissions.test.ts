/**
 * Cluster review, permissions that hold across nodes (passing): every delivery from another node passes the
 * receiver's own rules (reserved subjects, dead letters' original subject), a forged reply subject is refused
 * on the publisher's node before anything crosses Redis, and a responder's one-reply allowance works and stays
 * one reply when the requester is on another node.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Msg } from '../../client/index.ts'
import { PUB_FLAG } from '../../shared/protocol.ts'
import { clientAs, errsFor, msgsOn, rawAs, rawFlush, rawPub, rawSub } from '../security/users.ts'
import { sleep, until, within } from '../helpers.ts'
import { clusterHarness, remoteInterest } from './cluster-review.ts'

const test = suite('cluster review: permissions that hold across nodes')
const h = clusterHarness(test)

const USERS = {
  mallory: { subscribe: { deny: ['secret.>'] }, publish: { deny: ['secret.>'] } },
  wide: { subscribe: { allow: ['>'] } },
  dlq: { subscribe: { allow: ['$DLQ.>', 'public.>'] } },
  svc: { subscribe: { allow: ['svc.>'] }, publish: { allow: ['nothing.here'] } },
}

test('a user allowed > and subscribed to > on another node gets no $SYS, $DLQ or _INBOX message', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const wide = h.track(await rawAs(b, 'wide'))
  rawSub(wide, 1, '>')
  await rawFlush(wide)
  assert.equal(errsFor(wide, 1), [])
  await remoteInterest(a, 'public.x')
  const admin = h.track(await clientAs(a, 'admin'))
  for (const subject of ['$SYS.custom.report', '$DLQ.jobs', '_INBOX.someoneElse0123.1', '$SW.TOPIC.LIST', 'public.news']) admin.publish(subject, subject)
  await within(3000, admin.flush(), 'flush')
  await until(3000, () => msgsOn(wide, 1).length >= 1, 'the allowed message')
  await sleep(200)
  assert.equal(msgsOn(wide, 1).map((m) => m.subject), ['public.news'])
})

test('a dead letter from another node reaches only a reader who may read its original subject', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const reader = h.track(await clientAs(b, 'dlq'))
  const seen: Msg[] = []
  reader.subscribe('$DLQ.>', { callback: (_e, m) => { if (m !== null) seen.push(m) } })
  await within(3000, reader.flush(), 'flush')
  await remoteInterest(a, '$DLQ.jobs')
  const admin = h.track(await clientAs(a, 'admin'))
  admin.publish('$DLQ.jobs', 'secret copy', { headers: { 'Sw-Dlq-Subject': 'secret.plans' } })
  admin.publish('$DLQ.jobs', 'public copy', { headers: { 'Sw-Dlq-Subject': 'public.news' } })
  await within(3000, admin.flush(), 'flush')
  await until(3000, () => seen.length >= 1, 'the public copy')
  await sleep(200)
  assert.equal(seen.map((m) => m.data), ['public copy'])
})

test('a request from another node whose reply subject the requester may not read is refused before it crosses', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const admin = h.track(await clientAs(a, 'admin'))
  const written: string[] = []
  admin.subscribe('secret.>', { callback: (_e, m) => { if (m !== null) written.push(m.subject) } })
  admin.subscribe('svc.echo', { callback: (_e, m) => m?.respond('answer') })
  await within(3000, admin.flush(), 'flush')
  await remoteInterest(b, 'svc.echo')
  const mallory = h.track(await rawAs(b, 'mallory'))
  rawPub(mallory, PUB_FLAG.request, 'svc.echo', 'secret.cmd')
  rawPub(mallory, PUB_FLAG.request, 'svc.nobody', 'secret.cmd')
  await rawFlush(mallory)
  await sleep(300)
  assert.equal([...errsFor(mallory, 'svc.echo'), ...errsFor(mallory, 'svc.nobody')].map((e) => e.code), ['permission', 'permission'])
  assert.equal(written, [])
})

test('a responder without publish rights answers a request from another node once, and only once', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const responder = h.track(await rawAs(b, 'svc'))
  rawSub(responder, 1, 'svc.time')
  await rawFlush(responder)
  await remoteInterest(a, 'svc.time')
  const requester = h.track(await clientAs(a, 'admin'))
  const reply = requester.request('svc.time', null, { timeout: 3000 })
  await until(3000, () => msgsOn(responder, 1).length === 1, 'the request on node B')
  const inbox = msgsOn(responder, 1)[0]?.reply ?? ''
  assert.ok(inbox.startsWith('_INBOX.'))
  rawPub(responder, 0, inbox, null)
  await within(3000, reply, 'the reply across nodes')
  rawPub(responder, 0, inbox, null)
  await rawFlush(responder)
  assert.equal(errsFor(responder, inbox).map((e) => e.code), ['permission'], 'the second reply is refused')
})

test('a user on another node may not publish into a victim\'s inbox it was never asked to answer', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const inbox = '_INBOX.victimInboxId0123456'
  const victim = h.track(await rawAs(a, 'svc'))
  rawSub(victim, 1, `${inbox}.>`)
  await rawFlush(victim)
  await remoteInterest(b, `${inbox}.1`)
  const mallory = h.track(await rawAs(b, 'mallory'))
  rawPub(mallory, 0, `${inbox}.1`, null)
  await rawFlush(mallory)
  await sleep(200)
  assert.equal(errsFor(mallory, `${inbox}.1`).map((e) => e.code), ['permission'])
  assert.is(msgsOn(victim, 1).length, 0)
})

test.run()
