/**
 * The cluster's Redis goes away (issue 14, "Faults" rows 3 and 4), with three broker processes on a real
 * redis-server: restarted, the nodes reconnect and re-announce their interest, say not ready meanwhile and
 * ready after, never crash, go on delivering locally, tell their clients (status `cluster`, link down then up)
 * and fail topic publishes fast with `unavailable`. A node that cannot reach Redis past `unavailableAfterMs` is
 * not ready and refuses topic publishes with `unavailable`; so does one whose Redis hangs (SIGSTOP).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client, Status } from '../../client/index.ts'
import { within } from '../helpers.ts'
import type { NodeProcess } from './fault-harness.ts'
import { FaultFixture, eventually } from './fault-fixture.ts'
import { settle } from './fault-wait.ts'

const TOPICS = [{ name: 'orders', subjects: ['orders.>'] }]

const f = new FaultFixture(test, { broker: { topics: TOPICS } })
const cluster = (unavailableAfterMs: number): ReturnType<FaultFixture['cluster']> => f.cluster({ unavailableAfterMs })
const client = (node: NodeProcess): Promise<Client> => f.client(node.url)

/** Every status event of `c` from now on. */
function statuses(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}


/** Collects the numbers a subscription receives (probes are strings). */
function numbers(c: Client, subject: string): number[] {
  const got: number[] = []
  c.subscribe(subject, { callback: (_err, m) => { if (m !== null && typeof m.data === 'number') got.push(m.data) } })
  return got
}

async function publishAckCode(c: Client, subject: string): Promise<string> {
  return await within(5000, c.publishAck(subject, 'x').then(() => 'stored', (err: unknown) => String((err as { code?: string }).code)), `publishAck on ${subject}`)
}

test('Redis restarted: not ready meanwhile and ready after, nothing crashes, local delivery goes on, clients told, topic publishes unavailable, cross-node delivery again after', async () => {
  const set = await cluster(300)
  const r = f.redis
  if (set === null || r === null) return
  const [n1, n2] = [set.at(0), set.at(1)]
  const pub = await client(n1)
  const local = await client(n1)
  const remote = await client(n2)
  const remoteStatus = statuses(remote)
  const pubStatus = statuses(pub)
  const localGot = numbers(local, 'ticks.local')
  const remoteGot = numbers(remote, 'ticks.remote')
  await within(5000, Promise.all([local.flush(), remote.flush()]), 'the subscriptions')
  await settle(pub, [remote], 'ticks.remote')
  assert.is(await publishAckCode(pub, 'orders.1'), 'stored', 'topics work before the outage')

  const restarting = r.restart(1500)
  const failed = restarting.then(() => null, (err: unknown) => err)
  try {
    assert.ok(await eventually(5000, async () => (await n1.get('/readyz')).status === 503), 'not ready while Redis is down')
    for (let i = 1; i <= 20; i++) pub.publish('ticks.local', i)
    assert.ok(await eventually(5000, () => localGot.length === 20), `local delivery goes on during the outage (${localGot.length}/20)`)
    assert.equal(localGot, Array.from({ length: 20 }, (_, i) => i + 1))
    assert.is(await publishAckCode(pub, 'orders.2'), 'unavailable', 'a topic publish fails fast during the outage')
    // Node 2 wants these, but node 1 cannot reach it: dropped, and counted for node 1's clients.
    for (let i = 1; i <= 5; i++) pub.publish('ticks.remote', -i)
    await within(5000, pub.flush(), 'the publisher to flush')
  } finally {
    await within(20_000, restarting.catch(() => undefined), 'redis-server to come back')
  }
  assert.is(await failed, null, 'redis-server restarted')

  for (const node of set.nodes) {
    assert.ok(await eventually(15_000, async () => (await node.get('/readyz')).status === 200), `${node.nodeId} ready again after the outage`)
    assert.ok(node.running, `${node.nodeId} did not crash (pid ${node.pid})`)
  }
  // Redis came back empty (no AOF): the nodes must have announced their interest again.
  const before = remoteGot.length
  let sent = 0
  assert.ok(await eventually(15_000, () => {
    pub.publish('ticks.remote', 1000 + sent++)
    return remoteGot.length > before
  }), 'cross-node delivery works again after the outage')
  const down = remoteStatus.find((s) => s.type === 'cluster' && s.link === 'down')
  const up = remoteStatus.find((s) => s.type === 'cluster' && s.link === 'up')
  assert.ok(down !== undefined, `the client was told the link went down: ${JSON.stringify(remoteStatus)}`)
  assert.ok(up !== undefined && up.type === 'cluster' && up.downMs > 0, `and that it came back, with how long it lasted: ${JSON.stringify(remoteStatus)}`)
  const pubUp = pubStatus.find((s) => s.type === 'cluster' && s.link === 'up')
  assert.ok(pubUp !== undefined && pubUp.type === 'cluster' && pubUp.dropped >= 5, `the publisher's node says what it dropped for other nodes: ${JSON.stringify(pubUp)}`)
  assert.ok(await eventually(10_000, async () => (await publishAckCode(pub, 'orders.3')) === 'stored'), 'topic publishes work again after')
  for (const node of set.nodes) assert.ok(node.running, `${node.nodeId} alive at the end`)
})

test('a node that cannot reach Redis past unavailableAfterMs is not ready and refuses topic publishes with unavailable', async () => {
  const set = await cluster(1500)
  const r = f.redis
  if (set === null || r === null) return
  const n1 = set.at(0)
  const c = await client(n1)
  const seen = statuses(c)
  assert.is(await publishAckCode(c, 'orders.1'), 'stored')
  assert.is((await n1.get('/readyz')).status, 200)
  await within(5000, r.kill(), 'redis-server to die')
  assert.ok(await eventually(5000, () => seen.some((s) => s.type === 'cluster' && s.link === 'down')), 'the node notices the link is down')
  assert.is(await publishAckCode(c, 'orders.2'), 'unavailable', 'topic publishes fail at once, not after the bound')
  assert.ok(await eventually(10_000, async () => (await n1.get('/readyz')).status === 503), 'not ready once the link has been down past unavailableAfterMs')
  const stats = JSON.parse((await n1.get('/stats')).body) as Record<string, unknown>
  assert.match(JSON.stringify(stats.cluster ?? null), /down/, `/stats says the Redis link is down: ${JSON.stringify(stats.cluster ?? null)}`)
  assert.is(await publishAckCode(c, 'orders.3'), 'unavailable')
  for (const node of set.nodes) assert.ok(node.running, `${node.nodeId} keeps running without Redis`)
  await within(20_000, r.restart(), 'redis-server to start again')
  assert.ok(await eventually(15_000, async () => (await n1.get('/readyz')).status === 200), 'ready again once Redis is back')
})

test('a Redis that hangs (SIGSTOP: no reply, no closed socket) is noticed: not ready, topic publishes unavailable, nothing crashes, all well after SIGCONT', async () => {
  const set = await cluster(500)
  const r = f.redis
  if (set === null || r === null) return
  const n1 = set.at(0)
  const c = await client(n1)
  assert.is(await publishAckCode(c, 'orders.1'), 'stored')
  const pid = r.pid ?? 0
  process.kill(pid, 'SIGSTOP')
  try {
    assert.ok(await eventually(15_000, async () => (await n1.get('/readyz')).status === 503), 'not ready while Redis does not answer')
    assert.is(await publishAckCode(c, 'orders.2'), 'unavailable', 'a topic publish is refused, not left hanging')
    for (const node of set.nodes) assert.ok(node.running, `${node.nodeId} keeps running`)
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  assert.ok(await eventually(15_000, async () => (await n1.get('/readyz')).status === 200), 'ready again once Redis answers')
  assert.ok(await eventually(10_000, async () => (await publishAckCode(c, 'orders.3')) === 'stored'), 'topic publishes work again')
})

test.run()
