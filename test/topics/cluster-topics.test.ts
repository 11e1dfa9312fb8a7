/**
 * Topics shared by the brokers of a cluster, on one real redis-server, driven by real clients: replay across
 * nodes with no gap or duplicate, acked work queues with members on two nodes, a dead node's work
 * redelivered, a Redis outage (topic publishes fail fast with `unavailable`, core pub/sub on a node goes on)
 * and its end, storage per node refused, management through any node.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Msg } from '../../client/index.ts'
import type { Client } from '../../client/client.ts'
import type { Broker, BrokerOptions } from '../../server/index.ts'
import { SubwireError } from '../../shared/errors.ts'
import { haveRedisServer, startRedis, type TestRedis } from '../cluster/redis-server.ts'
import { sleep, startBroker, until, within } from '../helpers.ts'
import { brokerFor, clientAs, errsFor, rawAs, rawFlush, rawSub } from '../security/users.ts'

let redis: TestRedis
let names = 0
const test = suite('topics in a cluster')
const open: Array<{ close(): unknown }> = []
const track = <T extends { close(): unknown }>(x: T): T => { open.push(x); return x }
test.before(async () => { redis = await startRedis() })
test.after.each(async () => { for (const x of open.splice(0).reverse()) await within(10_000, Promise.resolve(x.close()), 'close') })
test.after(async () => { await redis.close() })

async function nodes(n: number, options: BrokerOptions = {}, name = `t${++names}`): Promise<Broker[]> {
  const out: Broker[] = []
  for (let i = 0; i < n; i++) {
    out.push(track(await within(10_000, startBroker({ ...options, cluster: { redis: redis.url, name, heartbeatMs: 100, nodeTimeoutMs: 1000, unavailableAfterMs: 200 } }), 'a node')))
  }
  return out
}

async function client(b: Broker): Promise<Client> {
  return track(await within(5000, connect(b.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 } }), 'connect')) as Client
}

const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (err: unknown) => (err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}`))

const ORDERS = { name: 'orders', subjects: ['orders.>'] }

test('a topic publish on node A is replayed by a subscriber on node B from seq 1 and then live, no gap and no duplicate across 500 messages', async () => {
  const [a, b] = await nodes(2, { topics: [ORDERS] })
  const pub = await client(a)
  const sub = await client(b)
  const N = 500
  const seqs: number[] = []
  const values: number[] = []
  let sent = 0
  const publishing = (async () => {
    for (let i = 0; i < N; i++) {
      pub.publish(`orders.${i % 4}`, i)
      sent++
      if (i % 25 === 24) await sleep(1)
    }
    await pub.flush()
  })()
  await until(5000, () => sent >= 100, 'publishing to be under way')
  sub.subscribe('orders.>', { deliver: { startSeq: 1 }, callback: (_e, m) => { if (m !== null) { seqs.push(m.seq); values.push(m.data as number) } } })
  await within(20_000, publishing, 'publishing')
  await until(20_000, () => seqs.length >= N, `all ${N} on B (got ${seqs.length})`)
  await sleep(100)
  assert.is(seqs.length, N)
  assert.ok(seqs.every((s, i) => s === i + 1), 'exactly 1..N, in order')
  assert.ok(values.every((v, i) => v === i), "in the publisher's order")
})

test('a confirmed publish through one node is confirmed after the append, and a duplicate msgId through the other is found', async () => {
  const [a, b] = await nodes(2, { topics: [ORDERS] })
  const ca = await client(a)
  const cb = await client(b)
  const first = await within(5000, ca.publishAck('orders.eu', { n: 1 }, { msgId: 'm-1' }), 'confirm on A')
  assert.equal(first, { topic: 'orders', seq: 1, duplicate: false })
  const again = await within(5000, cb.publishAck('orders.eu', { n: 1 }, { msgId: 'm-1' }), 'confirm on B')
  assert.equal(again, { topic: 'orders', seq: 1, duplicate: true })
  assert.is(await codeOf(cb.publishAck('orders.eu', 2, { expectedLastSeq: 7 })), 'wrong_last_seq')
})

test("a publisher's topic and core publishes reach a subscriber in the order it made them", async () => {
  const [a, b] = await nodes(2, { topics: [ORDERS] })
  const pub = await client(a)
  const sub = await client(b)
  const seen: string[] = []
  const record = (_e: unknown, m: Msg | null): void => { if (m !== null) seen.push(`${m.subject}:${String(m.data)}`) }
  sub.subscribe('orders.x', { callback: record })
  sub.subscribe('chat.x', { callback: record })
  await sub.flush()
  await until(5000, () => a.cluster.hasRemoteInterest('chat.x') && a.cluster.hasRemoteInterest('orders.x'), 'interest to reach A')
  const want: string[] = []
  for (let i = 0; i < 200; i++) {
    const subject = i % 3 === 0 ? 'chat.x' : 'orders.x' // the topic's appends wait for Redis; chat's would not
    pub.publish(subject, i)
    want.push(`${subject}:${i}`)
  }
  await pub.flush()
  await until(10_000, () => seen.length >= want.length, `all ${want.length} (got ${seen.length})`)
  assert.equal(seen, want)
})

function worker(c: Client, got: number[], ack = true, held: Msg[] = []): void {
  c.subscribe('orders.>', { queue: 'workers', ack: true, ackWaitMs: 60_000, maxInFlight: 5, callback: (_e, m) => {
    if (m === null) return
    got.push(m.seq)
    if (ack) m.ack()
    else held.push(m)
  } })
}

test('a work queue with one member on A and one on B gives every message exactly once when all ack', async () => {
  const [a, b] = await nodes(2, { topics: [ORDERS] })
  const gotA: number[] = []
  const gotB: number[] = []
  worker(await client(a), gotA)
  worker(await client(b), gotB)
  await sleep(100)
  const pub = await client(a)
  const N = 200
  for (let i = 0; i < N; i++) pub.publish('orders.job', i)
  await pub.flush()
  await until(15_000, () => gotA.length + gotB.length >= N, `all ${N} (A ${gotA.length}, B ${gotB.length})`)
  await sleep(300)
  const all = [...gotA, ...gotB].sort((x, y) => x - y)
  assert.is(all.length, N)
  assert.ok(all.every((s, i) => s === i + 1), 'each message once')
  assert.ok(gotA.length > 0 && gotB.length > 0, 'both members worked')
})

test("a member's connection closing hands the messages it held to the member on the other node", async () => {
  const [a, b] = await nodes(2, { topics: [ORDERS] })
  const holder = await client(b)
  const gotB: number[] = []
  worker(holder, gotB, false)
  await sleep(100)
  const pub = await client(a)
  for (let i = 0; i < 5; i++) pub.publish('orders.job', i)
  await pub.flush()
  await until(5000, () => gotB.length === 5, 'B to hold 5')
  const gotA: number[] = []
  worker(await client(a), gotA)
  await sleep(200)
  assert.is(gotA.length, 0, 'B holds them all')
  await holder.close()
  await until(5000, () => gotA.length === 5, `A to get them (got ${gotA.length})`)
  assert.equal([...gotA].sort(), [1, 2, 3, 4, 5])
})

test("node B gone without its members leaving: B's held work is redelivered on A", async () => {
  const [a, b] = await nodes(2, { topics: [ORDERS] })
  const gotB: number[] = []
  worker(await client(b), gotB, false)
  await sleep(100)
  const pub = await client(a)
  for (let i = 0; i < 3; i++) pub.publish('orders.job', i)
  await pub.flush()
  await until(5000, () => gotB.length === 3, 'B to hold 3')
  const gotA: number[] = []
  worker(await client(a), gotA)
  await sleep(200)
  assert.is(gotA.length, 0)
  // As a killed process: B's topic store goes first, so its members never leave; then B stops heartbeating.
  await within(5000, Promise.resolve((b.topics.shared as NonNullable<Broker["topics"]["shared"]>).store.close()), "B's store to close")
  await within(10_000, b.close(), 'B to close')
  await until(10_000, () => gotA.length === 3, `A to get B's 3 (got ${gotA.length})`)
  assert.equal([...gotA].sort(), [1, 2, 3])
})

test("a restricted member joining on another node with settings that would change the group's is refused with permission on its sid", async () => {
  const name = `t${++names}`
  const users = { joiner: { subscribe: { allow: ['orders.>'] }, publish: { allow: ['orders.>'] } } }
  const options = { topics: [ORDERS], cluster: { redis: redis.url, name, heartbeatMs: 100, nodeTimeoutMs: 1000 } }
  const a = await within(10_000, brokerFor(users, options), 'node A')
  track(a.broker)
  track(a.canary)
  const b = await within(10_000, brokerFor(users, options), 'node B')
  track(b.broker)
  track(b.canary)
  const admin = track(await clientAs(a.broker, 'admin'))
  admin.subscribe('orders.>', { queue: 'workers', ack: true, maxDeliver: 5, callback: () => {} })
  await within(3000, admin.flush(), 'the admin to open the group')
  await sleep(100)
  const raw = track(await rawAs(b.broker, 'joiner'))
  rawSub(raw, 1, 'orders.>', 'workers', { ack: true, maxDeliver: 1 })
  rawSub(raw, 2, 'orders.>', 'workers', { ack: true, maxDeliver: 5 })
  await until(5000, () => errsFor(raw, 1).length > 0, 'the refusal')
  await rawFlush(raw)
  assert.equal(errsFor(raw, 1).map((e) => e.code), ['permission'])
  assert.equal(errsFor(raw, 2), [])
  const info = await within(5000, (a.broker.topics.shared as NonNullable<Broker['topics']['shared']>).info('orders'), 'info')
  assert.is(info.consumers[0].config.maxDeliver, 5)
})

test("storage 'memory' is refused in a cluster with bad_topic_config, as option and as request", async () => {
  const name = `t${++names}`
  const refused = await codeOf(startBroker({ topics: [{ ...ORDERS, storage: 'memory' }], cluster: { redis: redis.url, name } }))
  assert.is(refused, 'bad_topic_config')
  const [a] = await nodes(1, {}, name)
  const c = await client(a)
  assert.is(await codeOf(c.topics.add({ name: 'f', subjects: ['f.>'], storage: 'file' })), 'bad_topic_config')
  assert.is(await codeOf(startBroker({ topics: [{ ...ORDERS, storage: 'redis' as never }] })), 'bad_topic_config')
})

test('a topic made, listed, purged and deleted through either node', async () => {
  const [a, b] = await nodes(2)
  const ca = await client(a)
  const cb = await client(b)
  await within(5000, ca.topics.add({ name: 'jobs', subjects: ['jobs.>'] }), 'add on A')
  assert.equal((await within(5000, cb.topics.list(), 'list on B')).map((t) => t.name), ['jobs'])
  const confirm = await within(5000, cb.publishAck('jobs.1', 'x'), 'a confirmed publish on B at once')
  assert.is(confirm.topic, 'jobs')
  assert.is((await within(5000, ca.topics.info('jobs'), 'info on A')).messages, 1)
  assert.is(await within(5000, cb.topics.purge('jobs'), 'purge on B'), 1)
  await within(5000, ca.topics.delete('jobs'), 'delete on A')
  assert.is(await codeOf(cb.topics.info('jobs')), 'no_topic')
})

test('Redis killed: a topic publish fails fast with unavailable while core pub/sub on the node goes on; restarted, topic publishes work again', async () => {
  const [a] = await nodes(1, { topics: [ORDERS] })
  const c = await client(a)
  await within(5000, c.publishAck('orders.x', 0), 'a publish before')
  const core: unknown[] = []
  c.subscribe('chat.room', { callback: (_e, m) => { if (m !== null) core.push(m.data) } })
  await c.flush()
  await redis.kill()
  // Refused, not left to the client's timeout (which would be 'timeout').
  assert.is(await within(5000, codeOf(c.publishAck('orders.x', 1, { timeout: 4000 })), 'the refusal'), 'unavailable')
  c.publish('chat.room', 'still here')
  await until(5000, () => core.length === 1, 'a core message during the outage')
  await redis.restart()
  let again = 'not tried'
  for (let i = 0; i < 30 && again !== 'no error'; i++) {
    again = await within(5000, codeOf(c.publishAck('orders.x', 2, { timeout: 1000 })), 'a publish after the restart')
    if (again !== 'no error') await sleep(200)
  }
  assert.is(again, 'no error', 'topic publishes work again')
})

if (haveRedisServer()) test.run()
else console.log('topics in a cluster: skipped (no redis-server)')
