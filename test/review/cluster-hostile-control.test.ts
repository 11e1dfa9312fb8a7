/**
 * Cluster review, bytes on Redis (failing now). Whoever can PUBLISH on the cluster's Redis (another tenant of
 * a shared Redis, a misconfigured node of an older version, or a race inside the cluster) must not leave a node
 * with state it never drops, nor make it send clients what a client's own PUB could never carry.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import { encodeBatchStart, encodeBody, encodeHead } from '../../server/cluster/redis/cluster-frame.ts'
import { sleep, until, within } from '../helpers.ts'
import { clusterHarness } from './cluster-review.ts'

const test = suite('cluster review: hostile bytes on Redis')
const h = clusterHarness(test)

// Cause: RedisCluster#onControl applies a `set` for any node id it is told of, and only nodes listed in
// `<prefix>nodes` are ever forgotten (#beat forgets the ids of #peers and of beat.dead; a node that was never
// a peer is neither). The same hole opens without anyone hostile: a snapshot (#snapshot's HGETALL on the command
// connection) answered after that node's `bye` (on the subscriber connection) re-adds the interest of a node
// that has left. Why it matters: from then on every publish on a matching subject is encoded and PUBLISHed to a
// channel nobody reads, forever, and `set` messages with fresh keys grow RemoteInterest without bound.
test('interest announced for a node that is not live is dropped within the node timeout', async () => {
  const [a] = await h.nodes(1)
  const raw = h.raw()
  const control = `subwire:${a.cluster.stats()?.name ?? ''}:interest`
  await raw.publish(control, JSON.stringify({ n: 'ghost', t: 'set', k: [['\u0000orders.>', 1]] }))
  await until(3000, () => a.cluster.hasRemoteInterest('orders.eu'), 'the ghost\'s interest to arrive')
  await sleep(3000) // three node timeouts (1 s) and thirty heartbeats
  assert.not.ok(a.cluster.hasRemoteInterest('orders.eu'), 'node A still routes orders.> to a node that never was')
})

// Cause: cluster-frame.ts decodeMessage passes the encoding byte through unchecked (a client's PUB with an
// unknown encoding is refused by the broker), and Router#receive hands it to local subscribers as it is. Why it
// matters: the reference client treats a MSG with an unknown payload encoding as a broken server and drops the
// connection (README "The client trusts no server"): one batch on a node's channel disconnects all its subscribers.
test('a message from Redis with an unknown payload encoding is rejected, never passed to clients', async () => {
  const [a] = await h.nodes(1)
  const sub = h.track(await within(5000, connect(a.url, { reconnect: false }), 'connect')) as Client
  let got = 0
  sub.subscribe('orders.eu', { callback: () => { got++ } })
  await within(3000, sub.flush(), 'flush')
  const stats = a.cluster.stats()
  const channel = `subwire:${stats?.name ?? ''}:n:${a.cluster.nodeId}`
  const body = encodeBody('orders.eu', null, null, 7, Uint8Array.of(1, 2, 3))
  const batch = Buffer.concat([encodeBatchStart('someone'), encodeHead(body.length, null), body])
  const rejected = stats?.rejected ?? 0
  await h.raw().publish(channel, batch)
  await sleep(300)
  assert.is(got, 0, 'the subscriber got a message with encoding 7')
  assert.not.ok(sub.isClosed, 'the subscriber was disconnected')
  assert.is(a.cluster.stats()?.rejected, rejected + 1, 'the message is counted as rejected')
})

test.run()
