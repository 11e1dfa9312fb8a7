/**
 * Cluster review, queue groups (failing now). The publishing node picks the node of a group's one member by
 * member counts alone (RedisCluster#pick, weighted round-robin), before it knows whether that node's members
 * can take the message. On one node, deliverGroup passes over a member that cannot take a message (echo off,
 * refused by its permissions, gone) and the next member gets it; across nodes the pick is final, so what the
 * chosen side cannot deliver is lost although a member elsewhere could have taken it.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import { clientAs } from '../security/users.ts'
import { sleep, until, within } from '../helpers.ts'
import { writeSub } from '../../shared/op-writer.ts'
import { drop, openSession } from '../resume/wire-session.ts'
import { rawFlush } from '../security/users.ts'
import { clusterHarness } from './cluster-review.ts'

const test = suite('cluster review: parked queue members across nodes')
const h = clusterHarness(test)

/** Waits until `b` counts `members` members of `queue` on other nodes for `subject`. */
async function remoteMembers(b: { cluster: { route(s: string): unknown } }, subject: string, queue: string, members: number): Promise<void> {
  await until(5000, () => {
    const plan = b.cluster.route(subject) as { targets: { groups: Map<string, Array<{ members: number }>> } } | null
    return (plan?.targets.groups.get(queue) ?? []).reduce((n, s) => n + s.members, 0) === members
  }, `${members} remote members of ${queue}`)
}

// Cause: a parked session's queue member (its socket dropped, PROTOCOL §4.10) stays in its node's announced
// member count, so other nodes give that node its share (RedisCluster#pick), and there Router#receive ->
// deliverGroup hands it to the parked member as the group's keeper (no connected member on that node). Why it
// matters: with no sticky sessions the client's reconnect lands on another node (a fresh session there), so for
// the whole resume window the old node's share of the group's messages goes into a log nobody resumes; on one
// node a parked member keeps a message only when no connected member took it.
test('a parked queue member on one node takes no message a connected member on another node could take', async () => {
  const [a, b] = await h.nodes(2)
  const { raw } = await openSession(h.track, a, true)
  raw.sendOps((w) => { writeSub(w, 1, 'jobs.*', 'workers', null) })
  await rawFlush(raw)
  const worker = h.track(await within(5000, connect(b.url), 'connect')) as Client
  let got = 0
  worker.subscribe('jobs.*', { queue: 'workers', callback: () => { got++ } })
  await within(3000, worker.flush(), 'flush')
  await remoteMembers(b, 'jobs.x', 'workers', 1)
  await drop(a, raw) // parked on node A; the client would now reconnect through the load balancer, maybe to B
  await sleep(200)
  const pub = h.track(await within(5000, connect(b.url), 'connect')) as Client
  for (let i = 0; i < 40; i++) pub.publish('jobs.x', i)
  await within(3000, pub.flush(), 'flush')
  await sleep(300)
  assert.is(got, 40, 'the connected member on node B missed what node A\'s parked member kept')
})


test.run()
