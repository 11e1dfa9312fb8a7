/**
 * The Redis cluster adapter (server/cluster/redis/) against a real redis-server: the one ClusterAdapter contract
 * with peers, then what only a cluster on Redis promises (queue groups cluster-wide, reply routes, node death,
 * hostile bytes on its channels).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { pino } from 'pino'
import { Redis } from 'ioredis'
import { RedisCluster } from '../../server/cluster/redis/redis-cluster.ts'
import { resolveClusterConfig, type ClusterOptions } from '../../server/cluster/cluster-options.ts'
import type { ClusterEvent, ClusterMessage, ClusterReceiver } from '../../server/cluster/cluster-adapter.ts'
import { runClusterAdapterContract } from './cluster-adapter.contract.ts'
import { startRedis, type TestRedis } from './redis-server.ts'
import { until, within } from '../helpers.ts'

let redis: TestRedis
let clusters = 0

function node(options: Partial<ClusterOptions> = {}, name = `c${++clusters}`): RedisCluster {
  const config = resolveClusterConfig({ redis: redis.url, name, heartbeatMs: 100, nodeTimeoutMs: 500, ...options })
  if (config === null) throw new Error('no config')
  return new RedisCluster({ config, logger: pino({ level: 'silent' }), maxSubjectLength: 256, maxHeaders: 64, maxPayload: 1 << 20, info: () => ({ connections: 0, subscriptions: 0 }) })
}

const setup = suite('redis cluster: setup')
setup.before(async () => { redis = await startRedis() })
setup('starts redis-server', () => { assert.ok(redis.running) })
setup.run()

runClusterAdapterContract('redis', async (n) => {
  const name = `contract${++clusters}`
  return Array.from({ length: n }, () => node({}, name))
}, { peers: true })

class Inbox implements ClusterReceiver {
  readonly got: Array<{ subject: string; reply: string | null; queues: readonly string[] | null; payload: number[] }> = []
  hasGroups = new Set<string>()
  receive(m: ClusterMessage): readonly string[] | null {
    this.got.push({ subject: m.subject, reply: m.reply, queues: m.queues ?? null, payload: [...m.payload] })
    const missed = (m.queues ?? []).filter((q) => !this.hasGroups.has(q))
    return missed.length === 0 ? null : missed
  }
}

const msg = (subject: string, payload: number[] = [], reply: string | null = null): ClusterMessage =>
  ({ subject, reply, headers: null, encoding: 0, payload: Uint8Array.from(payload) })

const test = suite('redis cluster')
const open: RedisCluster[] = []
const track = (c: RedisCluster): RedisCluster => { open.push(c); return c }
test.after.each(async () => { await Promise.all(open.splice(0).map((c) => c.close())) })
test.after(async () => { await redis.close() })

test('a node with no matching subscription receives no bytes for a subject', async () => {
  const name = `quiet${++clusters}`
  const [a, b, c] = [track(node({}, name)), track(node({}, name)), track(node({}, name))]
  const [ia, ib, ic] = [new Inbox(), new Inbox(), new Inbox()]
  await Promise.all([a.start(ia), b.start(ib), c.start(ic)])
  b.addInterest('orders.*', null)
  c.addInterest('audit.>', null)
  await until(5000, () => a.hasRemoteInterest('orders.x') && a.hasRemoteInterest('audit.x'), 'interest reaches a')
  for (let i = 0; i < 100; i++) { const p = a.route(`orders.${i}`); a.publish(msg(`orders.${i}`, [i]), p) }
  await until(5000, () => ib.got.length === 100, 'b gets its 100')
  await new Promise((r) => setTimeout(r, 100))
  assert.is(ic.got.length, 0)
  assert.is(c.stats().received, 0, 'node c was sent nothing')
  assert.is(a.stats().sent, 100, 'one copy per message, to node b only')
})

test('splits a queue group by members across nodes, each message to exactly one node', async () => {
  const name = `q${++clusters}`
  const [a, b, c] = [track(node({}, name)), track(node({}, name)), track(node({}, name))]
  const [ib, ic] = [new Inbox(), new Inbox()]
  ib.hasGroups.add('workers'); ic.hasGroups.add('workers')
  await Promise.all([a.start(new Inbox()), b.start(ib), c.start(ic)])
  b.addInterest('jobs.>', 'workers')
  c.addInterest('jobs.*', 'workers')
  c.addInterest('jobs.*', 'workers')
  await until(5000, () => {
    const p = a.route('jobs.x') as { targets: { groups: Map<string, Array<{ members: number }>> } } | null
    return (p?.targets.groups.get('workers') ?? []).reduce((n, s) => n + s.members, 0) === 3
  }, 'three members known at a')
  let local = 0
  for (let i = 0; i < 300; i++) {
    const plan = a.route('jobs.x')
    if (plan === null) throw new Error('no plan')
    if (a.takeLocal(plan, 'workers', 1)) local++
    a.publish(msg('jobs.x', [i & 0xff]), plan)
  }
  await until(5000, () => ib.got.length + ic.got.length + local === 300, 'every message placed once')
  assert.is(local, 75, 'one of four members is local: a quarter')
  assert.is(ib.got.length, 75)
  assert.is(ic.got.length, 150)
  assert.ok(ib.got.every((m) => m.queues?.[0] === 'workers'))
})

test('routes a reply back to the requesting node before its inbox interest arrived', async () => {
  const name = `r${++clusters}`
  const [a, b] = [track(node({}, name)), track(node({}, name))]
  const [ia, ib] = [new Inbox(), new Inbox()]
  await Promise.all([a.start(ia), b.start(ib)])
  b.addInterest('svc.echo', null)
  await until(5000, () => a.hasRemoteInterest('svc.echo'), 'interest reaches a')
  a.publish(msg('svc.echo', [1], '_INBOX.a.1'))
  await until(5000, () => ib.got.length === 1, 'request at b')
  assert.ok(b.hasRemoteInterest('_INBOX.a.1'), 'b knows where the reply goes without any interest from a')
  b.publish(msg('_INBOX.a.1', [2]))
  await until(5000, () => ia.got.length === 1, 'reply at a')
  assert.equal(ia.got[0].payload, [2])
})

test('forgets a node that dies without leaving, and says so', async () => {
  const name = `d${++clusters}`
  const a = track(node({}, name))
  const events: ClusterEvent[] = []
  a.onEvent((e) => events.push(e))
  await a.start(new Inbox())
  // A node as a crashed one leaves it: its key (which a crash stops refreshing), its set entry and its interest.
  const raw = new Redis(redis.url)
  try {
    const p = `subwire:${name}:`
    await raw.multi().set(`${p}node:ghost`, JSON.stringify({ connections: 1, subscriptions: 1 }), 'PX', 400).sadd(`${p}nodes`, 'ghost')
      .hset(`${p}i:ghost`, '\u0000x', '1').publish(`${p}interest`, JSON.stringify({ n: 'ghost', t: 'reset' })).exec()
    await until(5000, () => a.hasRemoteInterest('x'), 'a reads the ghost\'s interest')
    await until(5000, () => a.stats().nodes.some((n) => n.nodeId === 'ghost'), 'a lists the ghost')
    await until(5000, () => !a.hasRemoteInterest('x'), 'a drops the dead node\'s interest')
    assert.ok(events.some((e) => e.type === 'node_gone' && e.nodeId === 'ghost'))
    assert.is(await raw.sismember(`${p}nodes`, 'ghost'), 0, 'removed from the node set')
    assert.is(await raw.exists(`${p}i:ghost`), 0, 'its interest hash deleted')
  } finally { raw.disconnect() }
})

test('drops malformed batches and control messages from its channels without throwing', async () => {
  const name = `h${++clusters}`
  const a = track(node({}, name))
  const ia = new Inbox()
  await a.start(ia)
  const raw = new Redis(redis.url)
  try {
    const channel = `subwire:${name}:n:${a.nodeId}`
    for (const bad of [Buffer.from([]), Buffer.from([9, 9, 9]), Buffer.from([1, 200]), Buffer.from([1, 1, 65, 0, 0, 0, 50, 0]), Buffer.from('{"n":1}')]) await raw.publish(channel, bad)
    for (const bad of ['nope', '{"n":"x","t":"set","k":[[1,2],["\\u0000a.>",-1]]}', '{"n":"x","t":"set","k":5}']) await raw.publish(`subwire:${name}:interest`, bad)
    await until(5000, () => a.stats().rejected >= 6, 'rejections counted')
  } finally { raw.disconnect() }
  assert.is(ia.got.length, 0)
  assert.is(a.link, 'up')
})

test('takes the first of several Redis URLs that answers', async () => {
  const c = track(node({ redis: ['redis://127.0.0.1:1', redis.url] }))
  await within(15_000, c.start(new Inbox()), 'start on the second URL')
  assert.is(c.link, 'up')
  assert.is(c.stats().redis, redis.url)
})

test('refuses to start with a typed error when Redis cannot be reached', async () => {
  const c = node({ redis: 'redis://127.0.0.1:1' })
  const err = await within(10_000, c.start(new Inbox()).then(() => null, (e: unknown) => e), 'start fails')
  assert.is((err as { code?: string }).code, 'unavailable')
})

test.run()
