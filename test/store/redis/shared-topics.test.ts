/**
 * What only the Redis topic store promises: several store instances ("nodes") on one Redis share each topic and
 * its groups, atomically; pulls for one node's members; a dead node's members leaving; append notices on every
 * node; binary payloads and headers kept byte for byte.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Redis } from 'ioredis'
import { haveRedisServer, startRedis, type TestRedis } from '../../cluster/redis-server.ts'
import { within } from '../../helpers.ts'
import { Stores, codeOf, freshPrefix } from './fixture.ts'
import type { RedisTopicStore } from '../../../server/store/redis/redis-store.ts'

if (!haveRedisServer()) throw new Error('redis-server is not installed: the Redis topic store tests need it (apt-get install redis-server)')

const test = suite('redis store: shared by several nodes')
let redis: TestRedis
const stores = new Stores()
test.before(async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
})
test.after.each(() => stores.closeAll())
test.after(() => redis.close())

/** Two stores on one Redis and prefix: two broker nodes of one cluster. */
function twoNodes(): [RedisTopicStore, RedisTopicStore] {
  const prefix = freshPrefix()
  return [stores.open({ redis: redis.url, prefix }), stores.open({ redis: redis.url, prefix })]
}

const payload = new Uint8Array([1])

test('a topic created on one node is listed, appended to and read on the other', async () => {
  const [a, b] = twoNodes()
  await within(5000, a.create({ name: 'orders', subjects: ['orders.>'] }), 'create on a')
  assert.equal((await within(5000, b.list(), 'list on b')).map((t) => t.name), ['orders'])
  assert.is(await within(5000, b.topicFor('orders.eu.1'), 'topicFor on b'), 'orders')
  await within(5000, b.append('orders', { subject: 'orders.eu.1', payload }), 'append on b')
  const page = await within(5000, a.read('orders', { startSeq: 1 }), 'read on a')
  assert.equal(page.messages.map((m) => [m.seq, m.subject]), [[1, 'orders.eu.1']])
  assert.is(await codeOf(() => b.create({ name: 'other', subjects: ['orders.us.*'] })), 'topic_overlap')
  await within(5000, b.delete('orders'), 'delete on b')
  assert.is(await codeOf(() => a.info('orders')), 'no_topic')
})

test('of two nodes creating the same topic, or overlapping ones, at once, exactly one succeeds', async () => {
  for (let round = 0; round < 10; round++) {
    const [a, b] = twoNodes()
    const same = await within(5000, Promise.all([
      codeOf(() => a.create({ name: 'x', subjects: ['x.>'] })),
      codeOf(() => b.create({ name: 'x', subjects: ['x.>'] })),
    ]), 'two creates of one name')
    assert.equal(same.sort(), ['no error', 'topic_exists'], `round ${round}: same name`)
    const overlapping = await within(5000, Promise.all([
      codeOf(() => a.create({ name: 'y', subjects: ['y.>'] })),
      codeOf(() => b.create({ name: 'z', subjects: ['y.z'] })),
    ]), 'two overlapping creates')
    assert.equal(overlapping.sort(), ['no error', 'topic_overlap'], `round ${round}: overlapping`)
    await stores.closeAll()
  }
})

test('concurrent appends from two nodes get distinct, consecutive sequences', async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'c', subjects: ['c.>'] })
  const appends = []
  for (let i = 0; i < 100; i++) appends.push((i % 2 === 0 ? a : b).append('c', { subject: 'c.x', payload }))
  const seqs = (await within(10_000, Promise.all(appends), '100 appends')).map((r) => r.seq).sort((x, y) => x - y)
  assert.equal(seqs, Array.from({ length: 100 }, (_, i) => i + 1))
  assert.is((await b.info('c')).lastSeq, 100)
})

test('of two appends racing with the same expectedLastSeq from two nodes, exactly one is stored', async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'r', subjects: ['r.>'] })
  for (let round = 0; round < 20; round++) {
    const expectedLastSeq = round
    const codes = await within(5000, Promise.all([a, b].map((s) => codeOf(() => s.append('r', { subject: 'r.x', payload, expectedLastSeq })))), 'race')
    assert.equal(codes.sort(), ['no error', 'wrong_last_seq'], `round ${round}`)
  }
  assert.is((await a.info('r')).messages, 20)
})

test('a msgId appended on one node is a duplicate on the other', async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'd', subjects: ['d.>'] })
  const first = await a.append('d', { subject: 'd.x', payload, msgId: 'm' })
  assert.equal(await b.append('d', { subject: 'd.x', payload, msgId: 'm' }), { seq: first.seq, time: first.time, duplicate: true })
})

test('appends in flight together are stored in call order, each with its own outcome', async () => {
  const [a] = twoNodes()
  await a.create({ name: 'o', subjects: ['o.>'], maxMsgs: 3, discard: 'new' })
  const outcomes = await within(5000, Promise.all([
    a.append('o', { subject: 'o.x', payload, expectedLastSeq: 0, msgId: 'm1' }),
    a.append('o', { subject: 'o.x', payload, expectedLastSeq: 1 }),
    a.append('o', { subject: 'o.x', payload, expectedLastSeq: 7 }),
    a.append('o', { subject: 'o.x', payload, msgId: 'm1' }),
    a.append('o', { subject: 'o.y', payload }),
    a.append('o', { subject: 'o.z', payload }),
    a.append('o', { subject: 'nope.x', payload }),
  ].map((p) => p.then((r) => `${r.seq}${r.duplicate ? ' dup' : ''}`, (err: { code: string }) => err.code))), 'seven appends')
  assert.equal(outcomes, ['1', '2', 'wrong_last_seq', '1 dup', '3', 'topic_full', 'bad_subject'])
  assert.equal((await a.read('o', { startSeq: 1 })).messages.map((m) => m.subject), ['o.x', 'o.x', 'o.y'])
})

test('calls made without awaiting reach Redis in call order, batched appends included', async () => {
  const [a] = twoNodes()
  await a.create({ name: 'q', subjects: ['q.>'] })
  const appended = a.append('q', { subject: 'q.x', payload })
  const read = a.read('q', { startSeq: 1 })
  const info = a.info('q')
  await within(5000, appended, 'append')
  assert.equal((await within(5000, read, 'read')).messages.map((m) => m.seq), [1])
  assert.is((await within(5000, info, 'info')).lastSeq, 1)
})

test('forgets the oldest msgIds past maxDuplicateIds, whatever the window', async () => {
  const store = stores.open({ redis: redis.url, prefix: freshPrefix(), maxDuplicateIds: 3 })
  await store.create({ name: 'a', subjects: ['a.>'], duplicateWindowMs: 3_600_000 })
  for (const msgId of ['m1', 'm2', 'm3', 'm4']) await store.append('a', { subject: 'a.x', payload, msgId })
  assert.is((await store.append('a', { subject: 'a.x', payload, msgId: 'm4' })).duplicate, true)
  assert.is((await store.append('a', { subject: 'a.x', payload, msgId: 'm1' })).duplicate, false)
})

test('refuses options out of range as bad_option', async () => {
  const bad = [{ commandTimeoutMs: 0 }, { commandTimeoutMs: 1.5 }, { maxDuplicateIds: 0 }, { redis: [] as string[] }]
  for (const options of bad) {
    assert.is(await codeOf(async () => stores.open({ redis: redis.url, ...options })), 'bad_option', JSON.stringify(options))
  }
})

test('acks and terms in flight together settle in call order, each with its own answer', async () => {
  const [a] = twoNodes()
  await a.create({ name: 's', subjects: ['s.>'] })
  await a.openGroup('s', 'g')
  await a.join('s', 'g', 'w')
  for (let i = 0; i < 3; i++) await a.append('s', { subject: 's.x', payload })
  assert.is((await a.pull('s', 'g')).deliveries.length, 3)
  const answers = await within(5000, Promise.all([
    a.ack('s', 'g', 1, 'w'), a.ack('s', 'g', 1), a.ack('s', 'g', 2, 'other'), a.term('s', 'g', 3), a.ack('s', 'g', 2),
  ]), 'five settles')
  assert.equal(answers, [true, false, false, true, true])
  const info = await a.groupInfo('s', 'g')
  assert.equal([info.acked, info.terminated, info.ackFloor, info.inFlight], [2, 1, 3, 0])
})

test('a group with members on two nodes, each pulling for its own, delivers every message exactly once', async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'j', subjects: ['j.>'] })
  await a.openGroup('j', 'g', { maxInFlight: 3 })
  for (const m of ['A/1', 'A/2']) await a.join('j', 'g', m)
  for (const m of ['B/1', 'B/2']) await b.join('j', 'g', m)
  for (let i = 0; i < 60; i++) await (i % 2 === 0 ? a : b).append('j', { subject: 'j.job', payload })
  const got = new Map<number, string>()
  for (let round = 0; round < 100 && got.size < 60; round++) {
    const [ra, rb] = await within(5000, Promise.all([a.pull('j', 'g', 'A/'), b.pull('j', 'g', 'B/')]), 'pulls')
    for (const [node, r, store] of [['A/', ra, a], ['B/', rb, b]] as const) {
      for (const d of r.deliveries) {
        assert.ok(d.member.startsWith(node), `${d.member} got a delivery from ${node}'s pull`)
        assert.not.ok(got.has(d.message.seq), `${d.message.seq} delivered twice`)
        got.set(d.message.seq, d.member)
        assert.ok(await store.ack('j', 'g', d.message.seq, d.member), `ack ${d.message.seq}`)
      }
    }
  }
  assert.is(got.size, 60)
  const members = new Set(got.values())
  assert.equal([...members].sort(), ['A/1', 'A/2', 'B/1', 'B/2'], 'every member worked')
  const info = await b.groupInfo('j', 'g')
  assert.equal([info.acked, info.ackFloor, info.inFlight], [60, 60, 0])
})

test("leaveMembers makes what a dead node's members held redeliverable at once, to the other node's", async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'j', subjects: ['j.>'] })
  await a.create({ name: 'k', subjects: ['k.>'] })
  await a.openGroup('j', 'g', { maxInFlight: 2 })
  await a.openGroup('k', 'h')
  await a.join('j', 'g', 'A/1')
  await a.join('k', 'h', 'A/1')
  for (let i = 0; i < 2; i++) await a.append('j', { subject: 'j.job', payload })
  assert.is((await a.pull('j', 'g', 'A/')).deliveries.length, 2)
  await b.join('j', 'g', 'B/1')
  assert.equal((await b.pull('j', 'g', 'B/')).deliveries, [], 'nothing for B yet')
  assert.is(await within(5000, b.leaveMembers('A/'), 'leaveMembers'), 2, 'A/1 left both groups')
  const again = await b.pull('j', 'g', 'B/')
  assert.equal(again.deliveries.map((d) => `${d.member}:${d.message.seq}#${d.deliveryCount}`), ['B/1:1#2', 'B/1:2#2'])
  assert.is((await a.groupInfo('k', 'h')).members, 0)
  assert.is(await b.leaveMembers('A/'), 0, 'idempotent')
})

test('an append on one node is announced to the listeners of the other', async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'n', subjects: ['n.>'] })
  const heard: Array<[string, number]> = []
  let wake: () => void = () => {}
  const stop = b.onAppended((topic, lastSeq) => {
    heard.push([topic, lastSeq])
    wake()
  })
  // The subscriber connects in the background: append until one notice arrives (bounded), then one more.
  for (let i = 0; i < 50 && heard.length === 0; i++) {
    const arrived = new Promise<void>((resolve) => { wake = resolve })
    await a.append('n', { subject: 'n.x', payload })
    await Promise.race([arrived, new Promise((resolve) => setTimeout(resolve, 100))])
  }
  assert.ok(heard.length > 0, 'a notice arrived')
  const arrived = new Promise<void>((resolve) => { wake = resolve })
  const { seq } = await a.append('n', { subject: 'n.x', payload })
  await within(5000, arrived, 'the notice of the last append')
  assert.equal(heard[heard.length - 1], ['n', seq])
  stop()
})

test('keeps payloads of every byte value and headers byte for byte', async () => {
  const [a, b] = twoNodes()
  await a.create({ name: 'bin', subjects: ['bin.>'] })
  const all = Uint8Array.from({ length: 256 }, (_, i) => i)
  const headers = { 'content-type': 'application/octet-stream', 'x-ünïcode': 'värde ✓', empty: '' }
  await a.append('bin', { subject: 'bin.x', payload: all, headers, encoding: 3 })
  await a.append('bin', { subject: 'bin.y', payload: all.subarray(200, 210) })
  const [m1, m2] = (await b.read('bin', { startSeq: 1 })).messages
  assert.equal([...m1.payload], [...all])
  assert.equal(m1.headers, headers)
  assert.is(m1.encoding, 3)
  assert.equal([...m2.payload], [...all.subarray(200, 210)])
  assert.is(m2.headers, null)
})

test('uses a given ioredis client and leaves it open at close', async () => {
  const client = new Redis(redis.url)
  try {
    const store = stores.open({ redis: client, prefix: freshPrefix() })
    await within(5000, store.create({ name: 'i', subjects: ['i.>'] }), 'create')
    await store.close()
    assert.is(await within(5000, client.ping(), 'ping'), 'PONG')
  } finally {
    client.disconnect()
  }
})

test.run()
