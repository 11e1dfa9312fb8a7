/** The operations endpoints on the broker's port: health, readiness, stats, the monitor page, and what is not ours. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import { connect } from '../../client/index.ts'
import { createBroker, type Broker } from '../../server/index.ts'
import type { StatsReport } from '../../server/monitoring/stats-report.ts'
import { cleanupAfterEach, RawClient, startBroker, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

/** The broker's HTTP base, e.g. http://127.0.0.1:PORT */
function httpBase(b: Broker): string {
  return b.url.replace(/^ws/, 'http').replace(/\/$/, '').replace(new RegExp(`${b.config.path}$`), '')
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; type: string; body: string }> {
  const res = await within(10_000, fetch(url, init), `GET ${url}`)
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await within(10_000, res.text(), `the body of ${url}`) }
}

async function monitored(options: Parameters<typeof startBroker>[0] = {}): Promise<Broker> {
  const b = track(await startBroker(options))
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  return b
}

test('healthz answers 200 and readyz answers 200 while the broker is ready', async () => {
  const b = await monitored()
  const health = await get(`${httpBase(b)}/healthz`)
  assert.is(health.status, 200)
  assert.match(health.body, /^ok/)
  const ready = await get(`${httpBase(b)}/readyz`)
  assert.is(ready.status, 200)
})

test('readyz answers 503 while the broker drains, and healthz still 200', async () => {
  const b = await monitored({ closeGraceMs: 1500 })
  const raw = new RawClient(b.url)
  await within(3000, raw.opened, 'the raw socket to open')
  raw.connect()
  await raw.waitFor((op) => op.op === 'INFO')
  // A client that stops reading never finishes the close handshake, so the broker drains for closeGraceMs.
  ;(raw.ws as unknown as { _socket: Socket })._socket.pause()
  const closing = b.close()
  try {
    await until(1000, () => b.state === 'draining', 'the broker to drain')
    const ready = await get(`${httpBase(b)}/readyz`)
    assert.is(ready.status, 503)
    assert.match(ready.body, /draining/)
    assert.is((await get(`${httpBase(b)}/healthz`)).status, 200)
  } finally {
    raw.close()
    await within(5000, closing, 'the broker to close')
  }
})

test('stats lists connections with their subscriptions and pending bytes, and no topics on a broker without any', async () => {
  const b = await monitored()
  const c = track(await within(3000, connect(b.url, { name: 'stats-reader', reconnect: false }), 'connect'))
  c.subscribe('orders.>', { queue: 'billing' })
  await within(3000, c.flush(), 'flush')
  const { status, type, body } = await get(`${httpBase(b)}/stats`)
  assert.is(status, 200)
  assert.match(type, /application\/json/)
  const report = JSON.parse(body) as StatsReport
  assert.is(report.server.id, b.serverId)
  assert.is(report.server.state, 'ready')
  assert.is(report.connections, 1)
  assert.equal(report.topics, [])
  const conn = report.connectionList?.find((x) => x.name === 'stats-reader')
  assert.ok(conn !== undefined, 'the connection is listed')
  assert.is(conn.subscriptions, 1)
  assert.equal(conn.subjects.map((s) => [s.subject, s.queue]), [['orders.>', 'billing']])
  assert.type(conn.pendingBytes, 'number')
  assert.equal(report.topSubscriptions[0], { subject: 'orders.>', subscriptions: 1, queues: ['billing'] })
})

test('stats has a row per topic: its subjects, fill against its limits, sequences, times and consumer groups', async () => {
  const b = await monitored({ topics: [
    { name: 'orders', subjects: ['orders.>', 'refunds.*'], maxMsgs: 100 },
    { name: 'audit', subjects: ['audit.>'], maxBytes: 4096 },
  ] })
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const held: number[] = []
  c.subscribe('orders.>', { queue: 'billing', ack: true, callback: (_e, m) => { if (m !== null) held.push(m.seq) } })
  const before = Date.now()
  for (let i = 1; i <= 3; i++) await within(3000, c.publishAck(`orders.eu.${i}`, i), 'publish')
  await until(3000, () => held.length === 3, 'three jobs delivered')
  const report = JSON.parse((await get(`${httpBase(b)}/stats`)).body) as StatsReport
  assert.equal(report.topics.map((t) => t.name), ['audit', 'orders'], 'by name')
  const [audit, orders] = report.topics
  assert.equal(audit, {
    name: 'audit', subjects: ['audit.>'], messages: 0, capacity: null, bytes: 0, maxBytes: 4096,
    firstSeq: 1, lastSeq: 0, firstTime: null, lastTime: null, storage: 'memory', diskBytes: 0, lost: [], groups: 0, consumers: [],
  })
  assert.ok(orders !== undefined)
  assert.equal([orders.subjects, orders.messages, orders.capacity, orders.firstSeq, orders.lastSeq], [['orders.>', 'refunds.*'], 3, 100, 1, 3])
  assert.is(orders.maxBytes, 64 * 1024 * 1024, "the broker's defaultTopicMaxBytes")
  assert.ok(orders.bytes > 0, `${orders.bytes} bytes`)
  assert.ok((orders.firstTime ?? 0) >= before && (orders.lastTime ?? 0) >= (orders.firstTime ?? 0), 'store times')
  assert.equal(orders.consumers, [{ name: 'billing', members: 1, inFlight: 3, acked: 0, redeliveries: 0, deadLettered: 0 }])
})

test('stats/history returns one sample per interval', async () => {
  const b = await monitored()
  await new Promise((resolve) => setTimeout(resolve, 300))
  const { samples } = JSON.parse((await get(`${httpBase(b)}/stats/history`)).body) as { samples: Array<{ at: number; connections: number }> }
  assert.ok(samples.length >= 2, `${samples.length} samples`)
  assert.ok(samples.every((s, i) => i === 0 || s.at > (samples[i - 1]?.at ?? 0)), 'oldest first')
})

test('a browser asking for / gets the monitor page, which loads monitor.js', async () => {
  const b = await monitored()
  const page = await get(`${httpBase(b)}/`, { headers: { accept: 'text/html,application/xhtml+xml' } })
  assert.is(page.status, 200)
  assert.match(page.type, /text\/html/)
  assert.match(page.body, /<script type="module" src="monitor.js">/)
  assert.match(page.body, /name="subwire-ws-path" content="\/"/)
  const script = await get(`${httpBase(b)}/monitor.js`)
  assert.is(script.status, 200)
  assert.match(script.type, /javascript/)
  assert.ok(script.body.length > 10_000, `a bundle with the client in it (${script.body.length} bytes)`)
})

test('a non-browser client at / gets 426 and a list of the endpoints', async () => {
  const b = await monitored()
  const { status, body } = await get(`${httpBase(b)}/`)
  assert.is(status, 426)
  assert.match(body, /\/healthz/)
  assert.match(body, /\/metrics/)
})

test('unknown paths answer 404 and other methods 405', async () => {
  const b = await monitored()
  assert.is((await get(`${httpBase(b)}/nope`)).status, 404)
  assert.is((await get(`${httpBase(b)}/stats`, { method: 'POST' })).status, 405)
})

test('a broker without monitoring answers 426 at its WebSocket path and 404 elsewhere', async () => {
  const b = track(await startBroker())
  assert.is((await get(`${httpBase(b)}/`)).status, 426)
  assert.is((await get(`${httpBase(b)}/healthz`)).status, 404)
})

test('closing the monitoring removes its routes', async () => {
  const b = track(await startBroker())
  const m = attachMonitoring(b)
  assert.is((await get(`${httpBase(b)}/healthz`)).status, 200)
  m.close()
  assert.is((await get(`${httpBase(b)}/healthz`)).status, 404)
})

test("a broker attached to an application's server leaves the application's routes alone", async () => {
  const app: Server = createServer((req, res) => {
    if (!monitoring.handle(req, res)) res.writeHead(200, { 'content-type': 'text/plain' }).end(`app: ${req.url}`)
  })
  await within(3000, new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve)), 'the app to listen')
  track({ close: () => new Promise<void>((resolve) => { app.closeAllConnections(); app.close(() => resolve()) }) })
  const b = track(await createBroker({ server: app, path: '/ws' }))
  const monitoring = track(attachMonitoring(b, { monitorPage: false }))
  const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
  assert.equal((await get(`${base}/healthz`)).body.startsWith('ok'), true, 'mounted by the app through handle()')
  assert.is((await get(`${base}/orders`)).body, 'app: /orders')
  const c = track(await within(3000, connect(`ws://127.0.0.1:${(app.address() as AddressInfo).port}/ws`, { reconnect: false }), 'connect'))
  await within(3000, c.flush(), 'flush')
  assert.is(JSON.parse((await get(`${base}/stats`)).body).connections, 1)
})

test.run()
