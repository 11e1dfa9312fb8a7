/**
 * Cluster review, permissions (failing now): what a single node guarantees about inboxes and reply subjects
 * (README "Security", PROTOCOL §4.9) must hold when the victim and the attacker are on different nodes. The
 * InboxRegistry is per broker (server/security/inbox-registry.ts, one per node), so node B does not know that
 * alice on node A holds `_INBOX.<id>`: on B the id is "held by nobody".
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PUB_FLAG } from '../../shared/protocol.ts'
import { clientAs, errsFor, msgsOn, rawAs, rawFlush, rawPub, rawSub } from '../security/users.ts'
import { sleep, until, within } from '../helpers.ts'
import { clusterHarness, remoteInterest } from './cluster-review.ts'

const test = suite('cluster review: permissions across nodes')
const h = clusterHarness(test)

const USERS = {
  alice: { publish: { allow: ['svc.>'] }, subscribe: { allow: ['svc.>'] } },
  mallory: { subscribe: { deny: ['secret.>'] }, publish: { deny: ['secret.>'] } },
}
const INBOX = '_INBOX.aliceInboxId0123456'

// Cause: connection-subscriptions claims the id in the node's own InboxRegistry only. Why it matters: a
// responder learns every requester's inbox id from the requests it answers (README: "a responder sees it in
// every request"); on one node that knowledge is useless, in a cluster it reads every later reply of the victim
// (and, claimed on B first, locks the victim out of its own inbox when its reconnect lands on B).
test('a user on another node cannot subscribe to, or read, an inbox a victim holds on its node', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const alice = h.track(await rawAs(a, 'alice'))
  rawSub(alice, 1, `${INBOX}.>`)
  await rawFlush(alice)
  assert.equal(errsFor(alice, 1), [], 'alice holds her inbox on node A')
  await remoteInterest(b, `${INBOX}.1`)
  const mallory = h.track(await rawAs(b, 'mallory'))
  rawSub(mallory, 1, `${INBOX}.>`)
  await rawFlush(mallory)
  const admin = h.track(await clientAs(a, 'admin'))
  admin.publish(`${INBOX}.1`, 'alice\'s secret reply')
  await within(3000, admin.flush(), 'flush')
  await until(3000, () => msgsOn(alice, 1).length === 1, 'alice gets her reply')
  await sleep(200)
  assert.is(msgsOn(mallory, 1).length, 0, 'mallory on node B read alice\'s reply')
  assert.equal(errsFor(mallory, 1).map((e) => e.code), ['permission'], 'the SUB is refused as on one node')
})

// Cause: the reply check (a restricted PUB's reply must be "an inbox its user holds, or one nobody holds") asks
// the publisher's node's registry only. Why it matters: mallory on B makes an honest responder write into
// alice's inbox on A: an answer injected into a request alice never made, which PROTOCOL §4.9 refuses on one node.
test('a request from another node cannot name a victim\'s inbox as its reply subject', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const alice = h.track(await rawAs(a, 'alice'))
  rawSub(alice, 1, `${INBOX}.>`)
  await rawFlush(alice)
  const admin = h.track(await clientAs(a, 'admin'))
  admin.subscribe('svc.echo', { callback: (_e, m) => m?.respond('an answer alice never asked for') })
  await within(3000, admin.flush(), 'flush')
  await remoteInterest(b, 'svc.echo')
  await remoteInterest(b, `${INBOX}.9`)
  const mallory = h.track(await rawAs(b, 'mallory'))
  rawPub(mallory, PUB_FLAG.request, 'svc.echo', `${INBOX}.9`)
  await rawFlush(mallory)
  await sleep(300)
  assert.is(msgsOn(alice, 1).length, 0, 'alice got an injected answer')
  assert.equal(errsFor(mallory, 'svc.echo').map((e) => e.code), ['permission'], 'the forged reply subject is refused')
})

// Cause: as above, the claim is per node. Why it matters: no sticky sessions (issue 14), so alice's reconnect may
// land on any node; where mallory claimed her inbox id first, alice is refused her own inbox and her requests in
// flight lose their replies (and mallory reads them). On one node the id stays reserved for alice for 120 s.
test('a victim reconnecting to another node gets its own inbox back, even where another user tried it first', async () => {
  const [a, b] = await h.nodes(2, USERS)
  const alice = h.track(await rawAs(a, 'alice'))
  rawSub(alice, 1, `${INBOX}.>`)
  await rawFlush(alice)
  const mallory = h.track(await rawAs(b, 'mallory'))
  rawSub(mallory, 1, `${INBOX}.>`)
  await rawFlush(mallory)
  alice.close() // her socket to node A drops; the client reconnects through the load balancer to node B
  const back = h.track(await rawAs(b, 'alice'))
  rawSub(back, 1, `${INBOX}.>`)
  await rawFlush(back)
  assert.equal(errsFor(back, 1).map((e) => e.code), [], 'alice is refused her own inbox on node B')
})

test.run()
