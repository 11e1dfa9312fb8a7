/**
 * Cluster review, parked queue members (failing now). A parked session (its socket dropped, PROTOCOL §4.10) keeps
 * its queue members on its node, and other nodes count them when they pick the node of a group's one member:
 * with no sticky sessions the client resumes elsewhere, and the parked members' share goes into a log nobody
 * resumes.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import { sleep, within } from '../helpers.ts'
import { writeSub } from '../../shared/op-writer.ts'
import { drop, openSession } from '../resume/wire-session.ts'
import { rawFlush } from '../security/users.ts'
import { clusterHarness, remoteMembers } from './cluster-review.ts'

const test = suite('cluster review: parked queue members across nodes')
const h = clusterHarness(test)

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
