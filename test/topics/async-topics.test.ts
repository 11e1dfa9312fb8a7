/**
 * The cluster's topic runtime (server/topics/cluster-topics.ts) over a store whose every answer comes later
 * (test/topics/async-store.ts), two nodes sharing it, no Redis: replay across nodes with no gap or duplicate,
 * work queues with members on both nodes, a dead node's work redelivered, an outage and its end.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { pino } from 'pino'
import type { ClusterAdapter, ClusterEvent } from '../../server/cluster/cluster-adapter.ts'
import type { ClusterConfig } from '../../server/cluster/cluster-options.ts'
import type { Session } from '../../server/security/session.ts'
import type { StoredMessage, TopicConfig } from '../../server/store/topic-store.ts'
import { ClusterTopics } from '../../server/topics/cluster-topics.ts'
import type { TopicReceiver } from '../../server/topics/topic-receiver.ts'
import { SubwireError } from '../../shared/errors.ts'
import { until, within } from '../helpers.ts'
import { AsyncSharedEngine } from './async-store.ts'

class FakeAdapter {
  readonly kind = 'fake'
  readonly clustered = true
  readonly link = 'up' as const
  readonly nodeId: string
  readonly #listeners = new Set<(e: ClusterEvent) => void>()
  constructor(nodeId: string) { this.nodeId = nodeId }
  onEvent(l: (e: ClusterEvent) => void): () => void { this.#listeners.add(l); return () => this.#listeners.delete(l) }
  emit(e: ClusterEvent): void { for (const l of this.#listeners) l(e) }
}

let ids = 0

class Receiver implements TopicReceiver {
  readonly id = `c${++ids}`
  readonly session = { mayReceive: () => true } as unknown as Session
  backedUp = false
  congested = false
  readonly got: Array<{ sid: number; seq: number; count: number; subject: string }> = []
  readonly events: Array<{ sid: number; type: string; data: Record<string, unknown> }> = []
  onMessage: ((sid: number, m: StoredMessage) => void) | null = null
  deliverStored(sid: number, m: StoredMessage, deliveryCount: number): void {
    this.got.push({ sid, seq: m.seq, count: deliveryCount, subject: m.subject })
    this.onMessage?.(sid, m)
  }
  event(sid: number, type: string, data: Record<string, unknown>): void { this.events.push({ sid, type, data }) }
}

const open: ClusterTopics[] = []
test.after.each(async () => { for (const t of open.splice(0)) await t.close() })

function config(nodeId: string): ClusterConfig {
  return { redis: ['redis://127.0.0.1:1'], name: 't', nodeId, prefix: 'subwire:t:', heartbeatMs: 1000, nodeTimeoutMs: 5000, unavailableAfterMs: 2000 }
}

type Routed = { subject: string; headers: Record<string, string> }

async function node(shared: AsyncSharedEngine, nodeId: string, topics: TopicConfig[] = [], routed: Routed[] = []): Promise<{ t: ClusterTopics; adapter: FakeAdapter }> {
  const adapter = new FakeAdapter(nodeId)
  const t = new ClusterTopics({
    logger: pino({ level: 'silent' }), maxTopics: 100, defaultTopicMaxBytes: 64 << 20,
    route: (subject, headers) => { routed.push({ subject, headers }) }, cluster: config(nodeId), adapter: adapter as unknown as ClusterAdapter, openStore: async () => shared.node(),
  }, topics)
  open.push(t)
  await within(5000, t.start(), `node ${nodeId} to start`)
  return { t, adapter }
}

const bytes = (i: number): Uint8Array => new TextEncoder().encode(String(i))
const ORDERS: TopicConfig = { name: 'orders', subjects: ['orders.>'] }

function inOrder(seqs: number[], n: number): boolean {
  return seqs.length === n && seqs.every((s, i) => s === i + 1)
}

test('a message appended through node A reaches a replay subscriber on node B once, in order, while B reads its backlog', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const N = 500
  const appends: Promise<unknown>[] = []
  for (let i = 0; i < 200; i++) appends.push(a.t.append('orders', `orders.${i % 3}`, null, 0, bytes(i)))
  await within(5000, Promise.all(appends), 'the backlog')
  const r = new Receiver()
  // Live cursors on B share one tail reader; these join it at different places while appends go on.
  const others = [new Receiver(), new Receiver(), new Receiver()]
  b.t.subscribe(others[0], 1, 'orders.>', 'all')
  b.t.subscribe(r, 1, 'orders.>', { startSeq: 1 })
  for (let i = 200; i < N; i++) {
    appends.push(a.t.append('orders', `orders.${i % 3}`, null, 0, bytes(i)))
    if (i === 300) b.t.subscribe(others[1], 1, 'orders.>', { startSeq: 1 })
    if (i === 400) b.t.subscribe(others[2], 1, 'orders.>', { startSeq: 150 })
    if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await within(10_000, Promise.all(appends), 'appends')
  await until(10_000, () => r.got.length >= N, `all ${N} messages on B (got ${r.got.length})`)
  await new Promise((resolve) => setTimeout(resolve, 50))
  await until(10_000, () => others.every((o) => o.got.length >= (o === others[2] ? N - 149 : N)), 'the other cursors')
  assert.ok(inOrder(r.got.map((g) => g.seq), N), 'exactly 1..N, in order')
  assert.ok(inOrder(others[0].got.map((g) => g.seq), N) && inOrder(others[1].got.map((g) => g.seq), N))
  assert.ok(inOrder(others[2].got.map((g) => g.seq - 149), N - 149), 'from 150 to N')
  assert.is(r.events.length, 0)
})

test('a replay reader that backs up and drains again still gets every message once', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const r = new Receiver()
  let n = 0
  r.onMessage = () => { if (++n % 97 === 0) { r.backedUp = true; r.congested = true; setTimeout(() => { r.backedUp = false; r.congested = false; b.t.resume(r) }, 2) } }
  b.t.subscribe(r, 1, 'orders.eu', 'all')
  const appends: Promise<unknown>[] = []
  for (let i = 0; i < 600; i++) {
    appends.push(a.t.append('orders', i % 2 === 0 ? 'orders.eu' : 'orders.us', null, 0, bytes(i)))
    if (i % 40 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await within(10_000, Promise.all(appends), 'appends')
  await until(10_000, () => r.got.length >= 300, `300 messages (got ${r.got.length})`)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const seqs = r.got.map((g) => g.seq)
  assert.is(seqs.length, 300)
  assert.ok(seqs.every((s, i) => s === 2 * i + 1), 'every orders.eu message once, in order')
  assert.ok(r.got.every((g) => g.subject === 'orders.eu'))
})

test('a work queue with a member on each node gives every message to exactly one of them when all ack', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const ra = new Receiver()
  const rb = new Receiver()
  ra.onMessage = (sid, m) => a.t.settle(ra, sid, 'orders', 'workers', m.seq, 0, 0)
  rb.onMessage = (sid, m) => b.t.settle(rb, sid, 'orders', 'workers', m.seq, 0, 0)
  const refuse = (err: SubwireError): void => { throw err }
  a.t.join(ra, 1, 'orders.>', 'workers', { maxInFlight: 4 }, () => true, refuse)
  b.t.join(rb, 1, 'orders.>', 'workers', { maxInFlight: 4 }, () => true, refuse)
  const N = 300
  const appends: Promise<unknown>[] = []
  for (let i = 0; i < N; i++) appends.push(a.t.append('orders', 'orders.job', null, 0, bytes(i)))
  await within(10_000, Promise.all(appends), 'appends')
  await until(15_000, () => ra.got.length + rb.got.length >= N, `all ${N} (got ${ra.got.length} + ${rb.got.length})`)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const seqs = [...ra.got, ...rb.got].map((g) => g.seq).sort((x, y) => x - y)
  assert.ok(inOrder(seqs, N), 'each message exactly once')
  assert.ok(ra.got.length > 0 && rb.got.length > 0, 'both members worked')
  assert.ok([...ra.got, ...rb.got].every((g) => g.count === 1))
})

test("a member's leaving hands what it held to the member on the other node", async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const ra = new Receiver()
  const rb = new Receiver() // holds, never acks
  ra.onMessage = (sid, m) => a.t.settle(ra, sid, 'orders', 'workers', m.seq, 0, 0)
  b.t.join(rb, 7, 'orders.>', 'workers', { maxInFlight: 5, ackWaitMs: 60_000 }, () => true, () => {})
  for (let i = 0; i < 5; i++) await within(2000, a.t.append('orders', 'orders.job', null, 0, bytes(i)), 'append')
  await until(5000, () => rb.got.length === 5, 'B to hold 5')
  a.t.join(ra, 1, 'orders.>', 'workers', { maxInFlight: 5, ackWaitMs: 60_000 }, () => true, () => {})
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.is(ra.got.length, 0, 'nothing free for A while B holds it all')
  b.t.unsubscribe(rb, 7)
  await until(5000, () => ra.got.length === 5, `A to get B's 5 (got ${ra.got.length})`)
  assert.equal(ra.got.map((g) => g.seq).sort(), [1, 2, 3, 4, 5])
  assert.ok(ra.got.every((g) => g.count === 2), 'each a second attempt')
})

test("a node taken for dead has the work its members held redelivered on the survivors", async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const ra = new Receiver()
  const rb = new Receiver()
  b.t.join(rb, 1, 'orders.>', 'workers', { maxInFlight: 3, ackWaitMs: 60_000 }, () => true, () => {})
  for (let i = 0; i < 3; i++) await within(2000, a.t.append('orders', 'orders.job', null, 0, bytes(i)), 'append')
  await until(5000, () => rb.got.length === 3, 'B to hold 3')
  await b.t.close() // B stops without its members leaving: as a killed process
  a.t.join(ra, 1, 'orders.>', 'workers', { maxInFlight: 10, ackWaitMs: 60_000 }, () => true, () => {})
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.is(ra.got.length, 0)
  a.adapter.emit({ type: 'node_gone', nodeId: 'B' })
  a.adapter.emit({ type: 'node_gone', nodeId: 'B' }) // every survivor may say it; once is what counts
  await until(5000, () => ra.got.length === 3, `A to get B's 3 (got ${ra.got.length})`)
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(ra.got.map((g) => g.seq).sort(), [1, 2, 3])
})

test('a node taken for dead while the store is unreachable has its members removed once the link is back', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const ra = new Receiver()
  const rb = new Receiver()
  b.t.join(rb, 1, 'orders.>', 'workers', { maxInFlight: 2, ackWaitMs: 60_000 }, () => true, () => {})
  for (let i = 0; i < 2; i++) await within(2000, a.t.append('orders', 'orders.job', null, 0, bytes(i)), 'append')
  await until(5000, () => rb.got.length === 2, 'B to hold 2')
  await b.t.close()
  a.t.join(ra, 1, 'orders.>', 'workers', { ackWaitMs: 60_000 }, () => true, () => {})
  await new Promise((resolve) => setTimeout(resolve, 50))
  shared.down = true
  a.adapter.emit({ type: 'node_gone', nodeId: 'B' })
  await new Promise((resolve) => setTimeout(resolve, 100))
  shared.down = false
  await new Promise((resolve) => setTimeout(resolve, 600))
  assert.is(ra.got.length, 0, 'not before the link is back')
  a.adapter.emit({ type: 'link', link: 'up', downMs: 100, dropped: 0 })
  await until(5000, () => ra.got.length === 2, `A to get B's 2 (got ${ra.got.length})`)
})

test('while the store is unavailable appends fail with unavailable and replay waits; after, it goes on with no gap', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const r = new Receiver()
  b.t.subscribe(r, 1, 'orders.>', 'all')
  await within(2000, a.t.append('orders', 'orders.x', null, 0, bytes(1)), 'append')
  await until(2000, () => r.got.length === 1, 'the first message')
  shared.down = true
  const failed = await a.t.append('orders', 'orders.x', null, 0, bytes(2)).then(() => 'stored', (err: SubwireError) => err.code)
  assert.is(failed, 'unavailable')
  await until(5000, () => r.events.some((e) => e.type === 'unavailable'), 'the replay to be told')
  shared.down = false
  b.adapter.emit({ type: 'link', link: 'up', downMs: 100, dropped: 0 })
  for (let i = 0; i < 3; i++) await within(2000, a.t.append('orders', 'orders.x', null, 0, bytes(i)), 'append after')
  await until(5000, () => r.got.length === 4, `4 messages (got ${r.got.length})`)
  assert.equal(r.got.map((g) => g.seq), [1, 2, 3, 4])
  assert.ok(!r.events.some((e) => e.type === 'gap'))
})

test("storage 'memory' or 'file' is refused in a cluster with bad_topic_config", async () => {
  const shared = new AsyncSharedEngine()
  let code = 'none'
  try { new ClusterTopics({ logger: pino({ level: 'silent' }), maxTopics: 10, defaultTopicMaxBytes: 1 << 20, route: () => {}, cluster: config('A'), adapter: new FakeAdapter('A') as unknown as ClusterAdapter }, [{ ...ORDERS, storage: 'memory' }]) } catch (err) { code = (err as SubwireError).code }
  assert.is(code, 'bad_topic_config')
  const a = await node(shared, 'A')
  const refused = await a.t.add({ name: 'f', subjects: ['f.>'], storage: 'file' }).then(() => 'created', (err: SubwireError) => err.code)
  assert.is(refused, 'bad_topic_config')
  assert.is((await within(2000, a.t.add({ name: 'r', subjects: ['r.>'] }), 'add')).name, 'r')
})

test('two nodes declaring one topic both start; the later declaration of a limit is applied', async () => {
  const shared = new AsyncSharedEngine()
  const [a, b] = await Promise.all([node(shared, 'A', [ORDERS]), node(shared, 'B', [ORDERS])])
  assert.is(a.t.topicFor('orders.1'), 'orders')
  assert.is(b.t.topicFor('orders.1'), 'orders')
  await node(shared, 'C', [{ ...ORDERS, maxMsgs: 10 }])
  assert.is((await a.t.info('orders')).config.maxMsgs, 10)
})

test('a topic made through one node is found by the others: at once by a lookup, and by its catalogue within a refresh', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A')
  const b = await node(shared, 'B')
  await within(2000, b.t.add({ name: 'late', subjects: ['late.>'] }), 'add on B')
  assert.is(a.t.topicFor('late.x'), null, 'not known yet')
  assert.is(await within(2000, a.t.lookup('late.x'), 'lookup'), 'late')
  assert.is(a.t.topicFor('late.x'), 'late')
  await within(2000, b.t.delete('late'), 'delete on B')
  await until(3000, () => a.t.topicFor('late.x') === null, 'A to forget it')
})

test("a joiner that may not manage the topic is refused (permission) when its settings would change the group's, on any node", async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const refusals: string[] = []
  a.t.join(new Receiver(), 1, 'orders.>', 'workers', { maxInFlight: 4 }, () => true, (err) => refusals.push(`A:${err.code}`))
  await until(2000, () => shared.engine.list()[0]?.consumers.length === 1, 'the group to exist')
  b.t.join(new Receiver(), 1, 'orders.>', 'workers', { maxInFlight: 4 }, () => false, (err) => refusals.push(`same:${err.code}`))
  b.t.join(new Receiver(), 2, 'orders.>', 'workers', { maxInFlight: 9 }, () => false, (err) => refusals.push(`other:${err.code}`))
  await until(2000, () => refusals.length > 0, 'the refusal')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(refusals, ['other:permission'])
  assert.is(shared.engine.groupInfo('orders', 'workers').config.maxInFlight, 4, 'the settings stay')
  assert.is(shared.engine.groupInfo('orders', 'workers').members, 2)
})

test('a message its member on the other node never acked is dead-lettered once, after maxDeliver attempts', async () => {
  const shared = new AsyncSharedEngine()
  const routedA: Routed[] = []
  const routedB: Routed[] = []
  const a = await node(shared, 'A', [ORDERS], routedA)
  const b = await node(shared, 'B', [ORDERS], routedB)
  const rb = new Receiver()
  b.t.join(rb, 1, 'orders.>', 'workers', { maxDeliver: 2, ackWaitMs: 30 }, () => true, () => {})
  a.t.join(new Receiver(), 1, 'orders.>', 'other', {}, () => true, () => {}) // A pulls the topic too
  await within(2000, a.t.append('orders', 'orders.job', null, 0, bytes(1)), 'append')
  await until(5000, () => routedA.length + routedB.length > 0, 'the dead letter')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const dead = [...routedA, ...routedB]
  assert.is(dead.length, 1, 'once, by one node')
  assert.is(dead[0].subject, '$DLQ.orders')
  assert.is(dead[0].headers['Sw-Dlq-Attempts'], '2')
  assert.is(rb.got.length, 2)
})

test('many replays starting at once on a backlog each get all of it once, with a bounded number of reads in flight', async () => {
  const shared = new AsyncSharedEngine()
  const a = await node(shared, 'A', [ORDERS])
  const b = await node(shared, 'B', [ORDERS])
  const N = 600
  const appends: Promise<unknown>[] = []
  for (let i = 0; i < N; i++) appends.push(a.t.append('orders', 'orders.x', null, 0, bytes(i)))
  await within(10_000, Promise.all(appends), 'the backlog')
  const readers = Array.from({ length: 300 }, () => new Receiver())
  readers.forEach((r, i) => b.t.subscribe(r, 1, 'orders.>', i % 2 === 0 ? 'all' : { startSeq: 1 }))
  await until(20_000, () => readers.every((r) => r.got.length >= N), 'every reader to catch up')
  assert.ok(readers.every((r) => inOrder(r.got.map((g) => g.seq), N)), 'each got 1..N once')
  assert.ok(shared.maxReads <= 64 + 2, `at most 64 page reads and the tails at once (saw ${shared.maxReads})`)
})

test.run()
