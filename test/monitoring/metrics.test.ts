/** Prometheus metrics: one registry per broker, values read from the broker when scraped. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import type { Broker } from '../../server/index.ts'
import { cleanupAfterEach, startBroker, take, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

/** The value of an unlabelled sample, or of the sample with exactly these labels. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

async function scrape(b: Broker): Promise<{ type: string; text: string }> {
  const res = await within(10_000, fetch(b.url.replace(/^ws/, 'http') + 'metrics'), 'GET /metrics')
  assert.is(res.status, 200)
  return { type: res.headers.get('content-type') ?? '', text: await within(5000, res.text(), 'the metrics body') }
}

test('exposes connections, subscriptions and message counters in the Prometheus text format', async () => {
  const b = track(await startBroker())
  track(attachMonitoring(b))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const sub = c.subscribe('m.*')
  for (let i = 0; i < 5; i++) c.publish('m.x', 'hello')
  c.publish('nobody.here', 'x')
  await take(sub, 5)
  const { type, text } = await scrape(b)
  assert.match(type, /^text\/plain; version=0\.0\.4/)
  assert.match(text, /# TYPE subwire_messages_in_total counter/)
  assert.is(sample(text, 'subwire_connections'), 1)
  assert.is(sample(text, 'subwire_subscriptions'), 1)
  assert.is(sample(text, 'subwire_messages_in_total'), 6)
  assert.is(sample(text, 'subwire_messages_out_total'), 5)
  assert.is(sample(text, 'subwire_unmatched_total'), 1)
  assert.ok((sample(text, 'subwire_bytes_in_total') ?? 0) > 0, 'bytes in')
  assert.ok((sample(text, 'subwire_bytes_out_total') ?? 0) > 0, 'bytes out')
  assert.is(sample(text, 'subwire_slow_consumers_total'), 0)
  assert.is(sample(text, 'subwire_ready'), 1)
  assert.is(sample(text, 'subwire_connects_total'), 1)
})

test('counters keep counting across scrapes and disconnects are counted by close code', async () => {
  const b = track(await startBroker())
  track(attachMonitoring(b))
  const c = await within(3000, connect(b.url, { reconnect: false }), 'connect')
  c.publish('a', 1)
  await within(3000, c.flush(), 'flush')
  assert.is(sample((await scrape(b)).text, 'subwire_messages_in_total'), 1)
  c.publish('a', 2)
  c.publish('a', 3)
  await within(3000, c.flush(), 'flush')
  await within(3000, c.close(), 'close')
  await until(2000, () => b.stats().connections === 0, 'the broker to see the close')
  const { text } = await scrape(b)
  assert.is(sample(text, 'subwire_messages_in_total'), 3)
  assert.is(sample(text, 'subwire_disconnects_total', '{code="1000"}'), 1)
  assert.is(sample(text, 'subwire_connections'), 0)
})

test('exposes topic gauges labelled by topic, read from the topics at scrape time', async () => {
  const b = track(await startBroker({ topics: [{ name: 'orders', subjects: ['orders.>'], maxMsgs: 50 }, { name: 'audit', subjects: ['audit.>'] }] }))
  track(attachMonitoring(b))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  for (let i = 0; i < 3; i++) await within(3000, c.publishAck(`orders.eu.${i}`, 'x'), 'publish')
  const { text } = await scrape(b)
  assert.match(text, /# TYPE subwire_topic_messages gauge/)
  assert.is(sample(text, 'subwire_topics'), 2)
  assert.is(sample(text, 'subwire_topic_messages', '{topic="orders"}'), 3)
  assert.is(sample(text, 'subwire_topic_messages', '{topic="audit"}'), 0)
  assert.is(sample(text, 'subwire_topic_bytes', '{topic="orders"}'), b.topics.info('orders').bytes)
  assert.is(sample(text, 'subwire_topic_max_messages', '{topic="orders"}'), 50)
  assert.is(sample(text, 'subwire_topic_max_messages', '{topic="audit"}'), undefined, 'no series for a limit not set')
  assert.is(sample(text, 'subwire_topic_max_bytes', '{topic="audit"}'), 64 * 1024 * 1024)
  assert.is(sample(text, 'subwire_topic_last_seq', '{topic="orders"}'), 3)
  b.topics.delete('audit')
  const after = (await scrape(b)).text
  assert.is(sample(after, 'subwire_topic_messages', '{topic="audit"}'), undefined, 'a deleted topic leaves no stale series')
  assert.is(sample(after, 'subwire_topics'), 1)
})

test('exposes consumer groups: members and in flight as gauges, acks, terms and dead letters as counters', async () => {
  const b = track(await startBroker({ topics: [{ name: 'jobs', subjects: ['jobs.>'] }] }))
  track(attachMonitoring(b))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const seen: number[] = []
  c.subscribe('jobs.>', {
    queue: 'workers', ack: true, maxDeliver: 1,
    callback: (_e, m) => {
      if (m === null) return
      seen.push(m.seq)
      if (m.seq === 1 || m.seq === 2) m.ack()
      else if (m.seq === 3) m.term()
      else if (m.seq === 4) m.nak() // its only attempt (maxDeliver 1): dead-lettered
    },
  })
  for (let i = 1; i <= 5; i++) await within(3000, c.publishAck(`jobs.${i}`, i), 'publish')
  await until(3000, () => seen.length === 5 && b.topics.info('jobs').consumers[0]?.deadLettered === 1, 'all five handled')
  await within(3000, c.flush(), 'flush')
  const labels = '{topic="jobs",group="workers"}'
  const { text } = await scrape(b)
  assert.match(text, /# TYPE subwire_topic_group_acked_total counter/)
  assert.is(sample(text, 'subwire_topic_group_members', labels), 1)
  assert.is(sample(text, 'subwire_topic_group_in_flight', labels), 1, 'seq 5, neither acked nor given back')
  assert.is(sample(text, 'subwire_topic_group_redeliveries_pending', labels), 0)
  assert.is(sample(text, 'subwire_topic_group_acked_total', labels), 2)
  assert.is(sample(text, 'subwire_topic_group_terminated_total', labels), 1)
  assert.is(sample(text, 'subwire_topic_group_dead_letters_total', labels), 1)
  assert.is(sample((await scrape(b)).text, 'subwire_topic_group_acked_total', labels), 2, 'a second scrape reads the same totals')
})

test('includes the process metrics, event-loop lag among them', async () => {
  const b = track(await startBroker())
  track(attachMonitoring(b))
  const { text } = await scrape(b)
  assert.match(text, /^nodejs_eventloop_lag_seconds \d/m)
  assert.match(text, /^process_resident_memory_bytes \d/m)
})

test('two brokers in one process each report their own numbers', async () => {
  const [b1, b2] = [track(await startBroker()), track(await startBroker())]
  track(attachMonitoring(b1))
  track(attachMonitoring(b2))
  const c = track(await within(3000, connect(b1.url, { reconnect: false }), 'connect'))
  c.publish('only.b1', 1)
  await within(3000, c.flush(), 'flush')
  assert.is(sample((await scrape(b1)).text, 'subwire_messages_in_total'), 1)
  assert.is(sample((await scrape(b1)).text, 'subwire_connections'), 1)
  assert.is(sample((await scrape(b2)).text, 'subwire_messages_in_total'), 0)
  assert.match((await scrape(b2)).text, new RegExp(`subwire_info\\{[^}]*server_id="${b2.serverId}"`))
})

test.run()
