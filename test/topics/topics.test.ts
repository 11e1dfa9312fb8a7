import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Msg, type Status } from '../../client/index.ts'
import type { Broker } from '../../server/index.ts'
import { SubwireError } from '../../shared/errors.ts'
import { cleanupAfterEach, RawClient, sleep, startBroker, take, until, within } from '../helpers.ts'
import { writeSub, PING_BYTES } from '../../shared/op-writer.ts'

const track = cleanupAfterEach(test)

async function setup(topics: Array<Record<string, unknown>>, options: Record<string, unknown> = {}): Promise<{ b: Broker; c: Client }> {
  const b = track(await startBroker({ topics: topics as never, ...options }))
  const c = track(await connect(b.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } }))
  return { b, c }
}

function statuses(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}

test('stores publishes with sequence numbers and times, and replays them to a late subscriber', async () => {
  const { c } = await setup([{ name: 'orders', subjects: ['orders.>'] }])
  for (let i = 0; i < 5; i++) c.publish(`orders.eu.${i}`, { i })
  await c.flush()
  const sub = c.subscribe('orders.>', { deliver: 'all' })
  const got = await take(sub, 5)
  assert.equal(got.map((m) => m.seq), [1, 2, 3, 4, 5])
  assert.equal(got.map((m) => (m.data as { i: number }).i), [0, 1, 2, 3, 4])
  assert.ok(got.every((m) => m.time > 0))
  const info = await c.topics.info('orders')
  assert.is(info.messages, 5)
  assert.is(info.firstSeq, 1)
  assert.is(info.lastSeq, 5)
})

test('hands over from replay to live with no gap and no duplicate while 20,000 messages are published', async () => {
  const { b, c } = await setup([{ name: 'stream', subjects: ['stream.>'] }])
  const pub = track(await connect(b.url))
  const N = 20_000
  const seqs: number[] = []
  let started = false
  const publishing = (async () => {
    for (let i = 0; i < N; i++) {
      pub.publish('stream.tick', i)
      if (i === 2000) started = true
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve))
    }
    await pub.flush()
  })()
  await until(10_000, () => started, 'publishing to be under way')
  c.subscribe('stream.>', { deliver: { startSeq: 1 }, callback: (_e, m) => { if (m !== null) seqs.push(m.seq) } })
  await within(20_000, publishing, 'publishing')
  await until(20_000, () => seqs.length >= N, `all ${N} messages (got ${seqs.length})`)
  assert.is(seqs.length, N)
  assert.ok(seqs.every((s, i) => s === i + 1), 'exactly 1..N, in order')
})

test('resumes a replaying subscription from the last delivered seq + 1 after the broker drops the connection', async () => {
  const { b, c } = await setup([{ name: 'log', subjects: ['log.>'] }])
  const seen: number[] = []
  c.subscribe('log.>', { deliver: 'all', callback: (_e, m) => { if (m !== null) seen.push(m.seq) } })
  for (let i = 0; i < 10; i++) c.publish('log.a', i)
  await until(3000, () => seen.length === 10, 'the first ten')
  const pub = track(await connect(b.url))
  assert.ok(b.disconnect(c.info?.clientId ?? ''), 'the broker dropped the client')
  for (let i = 10; i < 20; i++) pub.publish('log.a', i)
  await pub.flush()
  await until(5000, () => seen.length >= 20, 'the resumed messages')
  await sleep(100)
  assert.equal(seen, Array.from({ length: 20 }, (_, i) => i + 1), 'no gap, no duplicate across the reconnect')
})

test('reports a gap with the lost range when the topic no longer holds what a subscriber asks for', async () => {
  const { c } = await setup([{ name: 'small', subjects: ['small.>'], maxMsgs: 5 }])
  for (let i = 0; i < 20; i++) c.publish('small.x', i)
  await c.flush()
  const events = statuses(c)
  const errors: string[] = []
  const got: number[] = []
  c.subscribe('small.>', { deliver: { startSeq: 1 }, callback: (err, m) => { if (err !== null) errors.push(err.code); else if (m !== null) got.push(m.seq) } })
  await until(3000, () => got.length === 5, 'the five held messages')
  assert.equal(got, [16, 17, 18, 19, 20])
  await until(2000, () => events.some((e) => e.type === 'gap'), 'a gap event')
  const gap = events.find((e) => e.type === 'gap') as Extract<Status, { type: 'gap' }>
  assert.is(gap.from, 1)
  assert.is(gap.to, 15)
  assert.is(gap.subject, 'small.>')
  assert.equal(errors, ['gap'])
})

test('keeps the last value per subject for a dashboard', async () => {
  const { c } = await setup([{ name: 'sensors', subjects: ['sensors.>'], maxMsgsPerSubject: 1 }])
  for (let t = 0; t < 3; t++) for (const s of ['a', 'b', 'c']) c.publish(`sensors.${s}`, t)
  await c.flush()
  const got = await take(c.subscribe('sensors.>', { deliver: 'last_per_subject' }), 3)
  assert.equal(got.map((m) => [m.subject, m.data]).sort(), [['sensors.a', 2], ['sensors.b', 2], ['sensors.c', 2]])
})

test('confirms publishes, de-duplicates by msgId, and checks expectedLastSeq', async () => {
  const { c } = await setup([{ name: 'pay', subjects: ['pay.>'], duplicateWindowMs: 60_000 }])
  const first = await c.publishAck('pay.1', { amount: 5 }, { msgId: 'p-1' })
  assert.equal(first, { topic: 'pay', seq: 1, duplicate: false })
  const again = await c.publishAck('pay.1', { amount: 5 }, { msgId: 'p-1' })
  assert.equal(again, { topic: 'pay', seq: 1, duplicate: true })
  assert.is((await c.publishAck('pay.2', 1, { expectedLastSeq: 1 })).seq, 2)
  const wrong = await c.publishAck('pay.3', 1, { expectedLastSeq: 1 }).catch((e: unknown) => e)
  assert.is((wrong as SubwireError).code, 'wrong_last_seq')
  const none = await c.publishAck('elsewhere', 1).catch((e: unknown) => e)
  assert.is((none as SubwireError).code, 'no_topic')
  assert.is((await c.topics.info('pay')).messages, 2)
})

test('refuses publishes past the limits with topic_full under discard new, and holds limits exactly', async () => {
  const { c } = await setup([{ name: 'capped', subjects: ['capped.>'], maxMsgs: 3, discard: 'new' }, { name: 'bytes', subjects: ['bytes.>'], maxBytes: 1000 }])
  for (let i = 0; i < 3; i++) await c.publishAck('capped.x', i)
  const full = await c.publishAck('capped.x', 3).catch((e: unknown) => e)
  assert.is((full as SubwireError).code, 'topic_full')
  for (let i = 0; i < 20; i++) c.publish('bytes.x', new Uint8Array(100))
  await c.flush()
  const info = await c.topics.info('bytes')
  assert.ok(info.bytes <= 1000, `held ${info.bytes} bytes`)
})

test('manages topics from the client: add, list, update, purge, delete, with typed errors', async () => {
  const { c } = await setup([])
  await c.topics.add({ name: 'a', subjects: ['a.>'] })
  const overlap = await c.topics.add({ name: 'b', subjects: ['a.x.*'] }).catch((e: unknown) => e)
  assert.is((overlap as SubwireError).code, 'topic_overlap')
  const exists = await c.topics.add({ name: 'a', subjects: ['z.>'] }).catch((e: unknown) => e)
  assert.is((exists as SubwireError).code, 'topic_exists')
  const bad = await c.topics.add({ name: 'bad', subjects: ['q.>'], maxMsgs: -1 }).catch((e: unknown) => e)
  assert.is((bad as SubwireError).code, 'bad_topic_config')
  for (let i = 0; i < 4; i++) c.publish(`a.${i % 2}`, i)
  await c.flush()
  assert.equal((await c.topics.list()).map((t) => t.name), ['a'])
  assert.is(await c.topics.purge('a', { subject: 'a.0' }), 2)
  assert.is((await c.topics.update('a', { name: 'a', subjects: ['a.>'], maxMsgs: 10 })).config.maxMsgs, 10)
  await c.topics.delete('a')
  const gone = await c.topics.info('a').catch((e: unknown) => e)
  assert.is((gone as SubwireError).code, 'no_topic')
})

/** Starts `n` workers in an acked queue group; returns their clients and what each received. */
async function workers(b: Broker, n: number, options: Record<string, unknown>, handle: (m: Msg, worker: number) => void): Promise<Client[]> {
  const out: Client[] = []
  for (let w = 0; w < n; w++) {
    const c = await connect(b.url, { reconnect: false })
    c.subscribe('jobs.>', { queue: 'workers', ack: true, ...options, callback: (_e, m) => { if (m !== null) handle(m, w) } })
    await c.flush()
    out.push(c)
  }
  return out
}

test('work queue: a killed worker\'s unacked jobs, and only those, are redelivered; every job is acked exactly once', async () => {
  const { b, c } = await setup([{ name: 'jobs', subjects: ['jobs.>'] }])
  const acked = new Map<number, number>()
  const deliveries = new Map<number, number>()
  const held: Msg[] = []
  const ws = await workers(b, 3, { ackWaitMs: 5000, maxInFlight: 5 }, (m, w) => {
    deliveries.set(m.seq, (deliveries.get(m.seq) ?? 0) + 1)
    if (w === 0) { held.push(m); return } // worker 0 never acks
    acked.set(m.seq, (acked.get(m.seq) ?? 0) + 1)
    m.ack()
  })
  for (const w of ws.slice(1)) track(w)
  for (let i = 0; i < 60; i++) c.publish(`jobs.${i}`, i)
  await c.flush()
  await until(5000, () => held.length === 5 && acked.size === 55, 'worker 0 to hold five jobs and the rest to be acked')
  const heldSeqs = held.map((m) => m.seq)
  await ws[0].close() // killed with five unacked jobs
  await until(5000, () => acked.size === 60, 'every job acked')
  assert.ok([...acked.values()].every((n) => n === 1), 'each acked exactly once')
  const redelivered = [...deliveries].filter(([, n]) => n > 1).map(([seq]) => seq).sort((x, y) => x - y)
  assert.equal(redelivered, heldSeqs.sort((x, y) => x - y), 'only the killed worker\'s jobs were redelivered')
})

test('work queue: nak with a delay redelivers later, with the attempt count', async () => {
  const { b, c } = await setup([{ name: 'jobs', subjects: ['jobs.>'] }])
  const attempts: Array<[number, number]> = []
  const started = Date.now()
  track((await workers(b, 1, {}, (m) => {
    attempts.push([m.deliveryCount, Date.now() - started])
    if (m.deliveryCount === 1) m.nak({ delayMs: 300 })
    else m.ack()
  }))[0])
  c.publish('jobs.one', 1)
  await until(3000, () => attempts.length === 2, 'the redelivery')
  assert.equal(attempts.map(([n]) => n), [1, 2])
  assert.ok(attempts[1][1] - attempts[0][1] >= 250, 'not redelivered before the delay')
})

test('work queue: dead-letters a job after maxDeliver attempts, with the reason in headers', async () => {
  const { b, c } = await setup([{ name: 'jobs', subjects: ['jobs.>'] }, { name: 'dlq', subjects: ['$DLQ.>'] }])
  const dead = c.subscribe('$DLQ.jobs')
  let attempts = 0
  track((await workers(b, 1, { maxDeliver: 3 }, (m) => { attempts++; m.nak() }))[0])
  c.publish('jobs.poison', 'bad')
  const [m] = await take(dead, 1)
  assert.is(attempts, 3)
  assert.is(m.data, 'bad')
  assert.is(m.headers?.['Sw-Dlq-Attempts'], '3')
  assert.is(m.headers?.['Sw-Dlq-Subject'], 'jobs.poison')
  assert.is((await c.topics.info('dlq')).messages, 1, 'a dead-letter topic holds it')
})

test('work queue: never hands a member more than maxInFlight unacked jobs', async () => {
  const { b, c } = await setup([{ name: 'jobs', subjects: ['jobs.>'] }])
  const held: Msg[] = []
  track((await workers(b, 1, { maxInFlight: 4 }, (m) => { held.push(m) }))[0])
  for (let i = 0; i < 20; i++) c.publish('jobs.x', i)
  await c.flush()
  await until(2000, () => held.length === 4, 'four jobs')
  await sleep(150)
  assert.is(held.length, 4, 'no fifth until one is acked')
  held[0].ack()
  await until(2000, () => held.length === 5, 'a fifth after an ack')
})

test('work queue: jobs published while nobody is a member wait and go to the first member to join', async () => {
  const { b, c } = await setup([{ name: 'jobs', subjects: ['jobs.>'] }])
  for (let i = 0; i < 10; i++) c.publish('jobs.backlog', i)
  await c.flush()
  const got: number[] = []
  track((await workers(b, 1, {}, (m) => { got.push(m.data as number); m.ack() }))[0])
  await until(3000, () => got.length === 10, 'the backlog')
  assert.equal(got, Array.from({ length: 10 }, (_, i) => i))
})

test('drop_new: a stalled subscriber loses only its own messages, counted and reported; others get everything', async () => {
  const b = track(await startBroker({ maxPendingBytes: 4 * 1024 * 1024, highWaterBytes: 64 * 1024, stallMs: 50 }))
  const pub = track(await connect(b.url))
  const good = track(await connect(b.url))
  const stalled = track(new RawClient(b.url))
  await within(2000, stalled.opened, 'open')
  stalled.connect()
  stalled.sendOps((w) => writeSub(w, 1, 'fire', null, { policy: 'drop_new' }))
  stalled.send(PING_BYTES)
  await stalled.waitFor((op) => op.op === 'PONG')
  ;(stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  let got = 0
  good.subscribe('fire', { callback: () => { got++ } })
  await good.flush()
  const chunk = new Uint8Array(32 * 1024)
  let sent = 0
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 16; i++) pub.publish('fire', chunk)
    sent += 16
    await pub.flush()
  }
  await until(10_000, () => got === sent, 'the healthy subscriber to get everything')
  assert.is(stalled.closeCode, null, 'drop_new keeps the stalled subscriber connected')
  assert.is(b.stats().slowConsumers, 0)
  ;(stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume()
  const event = await stalled.waitFor((op) => op.op === 'EVENT', 5000, 'a slow_consumer event')
  assert.is((event as { type: string }).type, 'slow_consumer')
  assert.ok(((event as unknown as { data: { dropped: number } }).data.dropped) > 0)
})

/** A raw subscriber that stops reading, for policy tests; returns it and a function that resumes reading. */
async function stalledSubscriber(b: Broker, subject: string, policy: string): Promise<{ raw: RawClient; resume: () => void }> {
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => writeSub(w, 1, subject, null, { policy }))
  raw.send(PING_BYTES)
  await raw.waitFor((op) => op.op === 'PONG')
  const socket = (raw.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
  socket.pause()
  return { raw, resume: () => socket.resume() }
}

const policyBroker = { maxPayload: 64 * 1024, maxFrame: 256 * 1024, maxPendingBytes: 512 * 1024, highWaterBytes: 32 * 1024, stallMs: 50 }

test('keep_latest: a stalled dashboard gets the newest value of every subject once it reads again', async () => {
  const b = track(await startBroker(policyBroker))
  const pub = track(await connect(b.url))
  const { raw, resume } = await stalledSubscriber(b, 'sensor.*', 'keep_latest')
  const last = new Map<string, number>()
  // 32 MB: more than the kernel's loopback buffers and the broker's cap together.
  for (let i = 0; i < 4000; i++) {
    const subject = `sensor.s${i % 4}`
    const bytes = new Uint8Array(8 * 1024)
    new DataView(bytes.buffer).setUint32(0, i)
    pub.publish(subject, bytes)
    last.set(subject, i)
    if (i % 200 === 199) await pub.flush()
  }
  await pub.flush()
  assert.is(raw.closeCode, null, 'not disconnected')
  resume()
  const newest = (subject: string): number | undefined => {
    const msgs = raw.ops.filter((op) => op.op === 'MSG' && op.subject === subject) as Array<{ payload: Uint8Array }>
    const p = msgs.at(-1)?.payload
    return p === undefined ? undefined : new DataView(p.buffer, p.byteOffset).getUint32(0)
  }
  await until(5000, () => [...last].every(([subject, i]) => newest(subject) === i), 'the newest value of every subject')
  const event = await raw.waitFor((op) => op.op === 'EVENT', 3000, 'a slow_consumer event')
  assert.ok((event as unknown as { data: { dropped: number } }).data.dropped > 0, 'superseded values are counted')
})

test('drop_old: a stalled subscriber keeps the newest messages, in order, and is told how many it lost', async () => {
  const b = track(await startBroker(policyBroker))
  const pub = track(await connect(b.url))
  const { raw, resume } = await stalledSubscriber(b, 'feed', 'drop_old')
  const N = 4000
  for (let i = 0; i < N; i++) {
    const bytes = new Uint8Array(8 * 1024)
    new DataView(bytes.buffer).setUint32(0, i)
    pub.publish('feed', bytes)
    if (i % 200 === 199) await pub.flush()
  }
  await pub.flush()
  resume()
  const seqOf = (op: unknown): number => { const p = (op as { payload: Uint8Array }).payload; return new DataView(p.buffer, p.byteOffset).getUint32(0) }
  await until(5000, () => raw.ops.some((op) => op.op === 'MSG' && seqOf(op) === N - 1), 'the newest message')
  const seen = raw.ops.filter((op) => op.op === 'MSG').map(seqOf)
  assert.ok(seen.every((v, i) => i === 0 || v > seen[i - 1]), 'in order, no duplicates')
  assert.ok(seen.length < N, 'some were dropped')
  await until(3000, () => raw.ops.some((op) => op.op === 'EVENT'), 'a slow_consumer event')
  const dropped = raw.ops.filter((op) => op.op === 'EVENT').reduce((sum, op) => sum + (op as unknown as { data: { dropped: number } }).data.dropped, 0)
  assert.is(seen.length + dropped, N, 'every message is either delivered or counted as dropped')
})

test('starts a replay over when it reconnects to a different server, whose sequences mean something else', async () => {
  let b: Broker = await startBroker({ topics: [{ name: 'log', subjects: ['log.>'] }] as never })
  const port = b.port
  const c = track(await connect(b.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } }))
  const seen: number[] = []
  c.subscribe('log.>', { deliver: 'all', callback: (_e, m) => { if (m !== null) seen.push(m.data as number) } })
  for (let i = 0; i < 50; i++) c.publish('log.a', i)
  await until(3000, () => seen.length === 50, 'the first fifty')
  await b.close()
  b = track(await startBroker({ port, topics: [{ name: 'log', subjects: ['log.>'] }] as never }))
  await until(5000, () => c.state === 'connected', 'the reconnect')
  c.publish('log.a', 'after restart')
  await until(3000, () => seen.includes('after restart' as never), 'the new server\'s message, from its seq 1')
})

test.run()
