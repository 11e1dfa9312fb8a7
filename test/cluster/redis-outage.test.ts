/**
 * A cluster whose Redis goes away and comes back (a real redis-server restarted on its port): nodes go on
 * delivering locally, say they are not ready, tell their clients what cross-node delivery may have lost, and
 * announce their interest again once Redis is back; `/stats` and `/metrics` show the cluster throughout.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import type { Client } from '../../client/client.ts'
import type { Status } from '../../client/status.ts'
import type { Broker } from '../../server/index.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import { startRedis, type TestRedis } from './redis-server.ts'
import { startBroker, take, until, within } from '../helpers.ts'

const test = suite('redis cluster outage')
const open: Array<{ close(): unknown }> = []
const track = <T extends { close(): unknown }>(x: T): T => { open.push(x); return x }
test.after.each(async () => { for (const x of open.splice(0).reverse()) await x.close() })

async function get(b: Broker, path: string): Promise<{ status: number; text: string }> {
  const res = await within(5000, fetch(`http://127.0.0.1:${b.port}${path}`), `GET ${path}`)
  return { status: res.status, text: await res.text() }
}

async function pair(redis: TestRedis): Promise<[Broker, Broker]> {
  const cluster = { redis: redis.url, name: `o${Math.random().toString(36).slice(2, 8)}`, heartbeatMs: 100, nodeTimeoutMs: 1000 }
  const a = track(await startBroker({ cluster }))
  const b = track(await startBroker({ cluster }))
  track(attachMonitoring(a, { sysStats: { intervalMs: 50 } }))
  return [a, b]
}

test('shows the cluster in /stats, /metrics and /readyz', async () => {
  const redis = track(await startRedis())
  const [a, b] = await pair(redis)
  const c = track(await within(5000, connect(b.url), 'connect')) as Client
  c.subscribe('x.>')
  await c.flush()
  await until(5000, () => (a.cluster.stats()?.nodes.length ?? 0) === 2 && a.cluster.hasRemoteInterest('x.1'), 'a sees b')
  const stats = JSON.parse((await get(a, '/stats')).text) as { cluster: { link: string; nodes: Array<{ nodeId: string; self: boolean; connections: number }> } }
  assert.is(stats.cluster.link, 'up')
  assert.equal(stats.cluster.nodes.map((n) => n.self).sort(), [false, true])
  await until(5000, () => a.cluster.stats()?.nodes.find((n) => !n.self)?.connections === 1, 'b\'s heartbeat counts its client')
  const metrics = (await get(a, '/metrics')).text
  assert.match(metrics, /subwire_cluster_link_up 1/)
  assert.match(metrics, /subwire_cluster_nodes 2/)
  assert.is((await get(a, '/readyz')).status, 200)
  assert.not.ok(stats.cluster.nodes.some((n) => JSON.stringify(n).includes('password')))
})

test('a Redis restart: local delivery goes on, clients hear of it, /readyz is 503, then cross-node delivery resumes', async () => {
  const redis = track(await startRedis())
  const [a, b] = await pair(redis)
  const pub = track(await within(5000, connect(a.url), 'connect')) as Client
  const localSub = track(await within(5000, connect(a.url), 'connect')) as Client
  const remoteSub = track(await within(5000, connect(b.url), 'connect')) as Client
  const events: Status[] = []
  void (async () => { for await (const s of pub.status()) events.push(s) })()
  const local = localSub.subscribe('t.>')
  const remote = remoteSub.subscribe('t.>')
  await Promise.all([localSub.flush(), remoteSub.flush()])
  await until(5000, () => a.cluster.hasRemoteInterest('t.1'), 'interest at a')
  pub.publish('t.1', 'before')
  assert.is((await take(remote, 1))[0].data, 'before')
  assert.is((await take(local, 1))[0].data, 'before')

  await redis.kill()
  await until(5000, () => a.cluster.link === 'down' && b.cluster.link === 'down', 'both links down')
  assert.is((await get(a, '/readyz')).status, 503)
  await until(5000, () => events.some((e) => e.type === 'cluster' && e.link === 'down'), 'the client hears the link is down')
  for (let i = 0; i < 5; i++) pub.publish('t.2', i)
  assert.equal((await take(local, 5)).map((m) => m.data), [0, 1, 2, 3, 4], 'local delivery goes on')

  await redis.restart()
  await until(10_000, () => a.cluster.link === 'up' && b.cluster.link === 'up', 'both links back')
  const up = await within(5000, (async () => {
    while (true) {
      const e = events.find((s) => s.type === 'cluster' && s.link === 'up')
      if (e !== undefined) return e
      await new Promise((r) => setTimeout(r, 10))
    }
  })(), 'the client hears the link is back')
  assert.ok(up.type === 'cluster' && up.dropped === 5 && up.downMs > 0, `told what was dropped: ${JSON.stringify(up)}`)
  assert.is((await get(a, '/readyz')).status, 200)
  // Interest announced again: a fresh Redis knows nothing until the nodes re-announce.
  await until(10_000, () => a.cluster.hasRemoteInterest('t.3'), 'interest re-announced')
  pub.publish('t.3', 'after')
  assert.is((await take(remote, 1))[0].data, 'after')
})

test('a Redis that stops answering (SIGSTOP) is taken for down after unavailableAfterMs, and up again when it answers', async () => {
  const redis = track(await startRedis())
  const cluster = { redis: redis.url, name: `s${Math.random().toString(36).slice(2, 8)}`, heartbeatMs: 100, nodeTimeoutMs: 1000, unavailableAfterMs: 300 }
  const a = track(await startBroker({ cluster }))
  track(attachMonitoring(a, { sysStats: { intervalMs: 50 } }))
  const c = track(await within(5000, connect(a.url), 'connect')) as Client
  const events: Status[] = []
  void (async () => { for await (const s of c.status()) events.push(s) })()
  const pid = redis.pid
  if (pid === undefined) throw new Error('no redis pid')
  process.kill(pid, 'SIGSTOP')
  try {
    await until(5000, () => a.cluster.link === 'down', 'the link taken for down')
    assert.is((await get(a, '/readyz')).status, 503)
    await until(5000, () => events.some((e) => e.type === 'cluster' && e.link === 'down'), 'the client told')
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  await until(15_000, () => a.cluster.link === 'up', 'the link back')
  assert.is((await get(a, '/readyz')).status, 200)
})

test.run()
