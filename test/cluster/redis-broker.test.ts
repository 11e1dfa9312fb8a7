/**
 * Brokers joined on one real redis-server, driven by real clients: core pub/sub across nodes (plain,
 * wildcards, per-publisher order), queue groups cluster-wide, request/reply and no_responders, permissions on
 * deliveries from other nodes, and what a client hears when its node loses Redis.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import type { Client } from '../../client/client.ts'
import type { Broker, BrokerOptions } from '../../server/index.ts'
import { SubwireError } from '../../shared/errors.ts'
import { startRedis, type TestRedis } from './redis-server.ts'
import { startBroker, take, until, within } from '../helpers.ts'

let redis: TestRedis
let names = 0
const test = suite('redis cluster brokers')
const open: Array<{ close(): unknown }> = []
const track = <T extends { close(): unknown }>(x: T): T => { open.push(x); return x }
test.before(async () => { redis = await startRedis() })
test.after.each(async () => { for (const x of open.splice(0).reverse()) await x.close() })
test.after(async () => { await redis.close() })

async function nodes(n: number, options: BrokerOptions = {}): Promise<Broker[]> {
  const name = `b${++names}`
  const out: Broker[] = []
  for (let i = 0; i < n; i++) out.push(track(await startBroker({ ...options, cluster: { redis: redis.url, name, heartbeatMs: 100, nodeTimeoutMs: 1000 } })))
  return out
}

async function client(b: Broker, options = {}): Promise<Client> {
  return track(await within(5000, connect(b.url, { ...options }), 'connect')) as Client
}

/** Waits until `b` knows some other node wants `subject`. */
const interest = (b: Broker, subject: string): Promise<void> => until(5000, () => b.cluster.hasRemoteInterest(subject), `interest in ${subject} at ${b.cluster.nodeId}`)

test('a publish on one node reaches plain and wildcard subscribers on the others once, in order', async () => {
  const [a, b, c] = await nodes(3)
  const pub = await client(a)
  const sb = await client(b)
  const sc = await client(c)
  const plain = sb.subscribe('orders.eu')
  const wild = sc.subscribe('orders.>')
  await Promise.all([sb.flush(), sc.flush()])
  await interest(a, 'orders.eu')
  await until(5000, () => a.cluster.route('orders.eu') !== null && (a.cluster as unknown as { stats(): { nodes: unknown[] } }).stats().nodes.length === 3, 'three nodes')
  assert.is(pub.info?.nodeId, a.cluster.nodeId, 'INFO names the node')
  assert.is.not(sb.info?.nodeId, pub.info?.nodeId)
  for (let i = 0; i < 200; i++) pub.publish('orders.eu', i)
  const [gotB, gotC] = await Promise.all([take(plain, 200), take(wild, 200)])
  assert.equal(gotB.map((m) => m.data), [...Array(200).keys()])
  assert.equal(gotC.map((m) => m.data), [...Array(200).keys()])
})

test('a queue group gets each message exactly once cluster-wide, spread by members', async () => {
  const [a, b] = await nodes(2)
  const pub = await client(a)
  const ca = await client(a)
  const cb = await client(b)
  const got: string[] = []
  const seen = new Set<number>()
  const member = (c: Client, where: string): void => {
    const sub = c.subscribe('jobs.*', { queue: 'workers' })
    void (async () => { for await (const m of sub) { got.push(where); seen.add(m.data as number) } })()
  }
  member(ca, 'a'); member(cb, 'b'); member(cb, 'b')
  await Promise.all([ca.flush(), cb.flush()])
  await until(5000, () => {
    const plan = a.cluster.route('jobs.x') as { targets: { groups: Map<string, Array<{ members: number }>> } } | null
    return plan?.targets.groups.get('workers')?.[0]?.members === 2
  }, 'b\'s two members known at a')
  for (let i = 0; i < 300; i++) pub.publish('jobs.x', i)
  await until(5000, () => got.length >= 300, `300 deliveries (got ${got.length})`)
  await new Promise((r) => setTimeout(r, 100))
  assert.is(got.length, 300, 'no duplicates')
  assert.is(seen.size, 300)
  assert.is(got.filter((w) => w === 'a').length, 100, 'one member of three on a')
})

test('request/reply crosses nodes, and no node with a responder answers no_responders at once', async () => {
  const [a, b] = await nodes(2)
  const responder = await client(b)
  const svc = responder.subscribe('svc.time')
  void (async () => { for await (const m of svc) m.respond({ at: 'b', echo: m.data }) })()
  await responder.flush()
  const requester = await client(a)
  await interest(a, 'svc.time')
  const r = await within(5000, requester.request('svc.time', 7, { timeout: 3000 }), 'reply')
  assert.equal(r.data, { at: 'b', echo: 7 })
  const started = Date.now()
  const err = await requester.request('svc.nobody', 1, { timeout: 10_000 }).then(() => null, (e: unknown) => e)
  assert.ok(err instanceof SubwireError)
  assert.is((err as SubwireError).code, 'no_responders')
  assert.ok(Date.now() - started < 5000, 'answered long before the timeout')
})

test('a node with no matching subscription is sent nothing for that subject', async () => {
  const [a, b, c] = await nodes(3)
  const sb = await client(b)
  const sc = await client(c)
  const sub = sb.subscribe('metrics.>')
  sc.subscribe('audit.>')
  await Promise.all([sb.flush(), sc.flush()])
  await interest(a, 'metrics.cpu')
  await interest(a, 'audit.x')
  const pub = await client(a)
  for (let i = 0; i < 100; i++) pub.publish('metrics.cpu', i)
  await take(sub, 100)
  const statsOf = (x: Broker): { received: number } => (x.cluster as unknown as { stats(): { received: number } }).stats()
  assert.is(statsOf(c).received, 0)
  assert.is(statsOf(b).received, 100)
})

test('keeps $SYS subjects on their node: a monitor sees its own node\'s events only', async () => {
  const [a, b] = await nodes(2)
  const cb = await client(b)
  const sys = cb.subscribe('$SYS.>')
  const any = cb.subscribe('probe.>')
  await cb.flush()
  await interest(a, 'probe.x')
  assert.not.ok(a.cluster.hasRemoteInterest('$SYS.stats'))
  a.publish('$SYS.stats', { from: 'a' })
  a.publish('probe.x', 1)
  await take(any, 1)
  const stray = await Promise.race([take(sys, 1, 300).then(() => 'delivered', () => 'none'), new Promise((r) => setTimeout(() => r('none'), 400))])
  assert.is(stray, 'none')
})

test.run()
