/**
 * Cluster review, a Redis outage (failing now): "local delivery goes on" while a node cannot reach Redis
 * (README, PROTOCOL §4.11). It does for plain subscriptions, not for queue groups.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import { sleep, until, within } from '../helpers.ts'
import { clusterHarness, remoteMembers } from './cluster-review.ts'

const test = suite('cluster review: a Redis outage')
const h = clusterHarness(test)

// Cause: the link going down (RedisCluster#onDown) keeps the other nodes' interest, so `route` still plans and
// `takeLocal` (redis-cluster.ts:333-341) still gives the other nodes' members their share; Outbox#add then drops
// those messages (counted in `dropped`). Why it matters: during the outage a worker pool spread over two nodes
// loses half of what each node publishes, although a local member is there to take every message; plain
// subscribers on the node get everything meanwhile. While down, route() should plan nothing (or takeLocal say
// local), as the node delivers locally only.
test('while its Redis is down, a node gives every queue-group message to its own members', async () => {
  const [a, b] = await h.nodes(2)
  const local = h.track(await within(5000, connect(a.url), 'connect')) as Client
  const remote = h.track(await within(5000, connect(b.url), 'connect')) as Client
  let got = 0
  local.subscribe('jobs.*', { queue: 'workers', callback: () => { got++ } })
  remote.subscribe('jobs.*', { queue: 'workers', callback: () => {} })
  await Promise.all([local.flush(), remote.flush()].map((p) => within(3000, p, 'flush')))
  await remoteMembers(a, 'jobs.x', 'workers', 1) // b's member known at a
  const pub = h.track(await within(5000, connect(a.url), 'connect')) as Client
  await within(10_000, h.redis().kill(), 'Redis killed')
  try {
    await until(10_000, () => a.cluster.link === 'down', 'node A to see the outage')
    for (let i = 0; i < 40; i++) pub.publish('jobs.x', i)
    await within(3000, pub.flush(), 'flush')
    await sleep(200)
    assert.is(got, 40, `node A's own member got ${got} of 40; node A dropped ${a.cluster.stats()?.dropped ?? 0}`)
  } finally {
    await within(20_000, h.redis().restart(), 'Redis back')
  }
})

test.run()
