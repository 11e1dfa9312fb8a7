/** Prometheus metrics: one registry per broker, values read from the broker when scraped. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../client/index.ts'
import { attachMonitoring } from '../server/monitoring.ts'
import type { Broker } from '../server/index.ts'
import { cleanupAfterEach, startBroker, take, until, within } from './helpers.ts'

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
