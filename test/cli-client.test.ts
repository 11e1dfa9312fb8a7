/** The client commands (`pub`, `sub`, `req`, `stats`, `topics`) run in-process against a broker. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../client/index.ts'
import { runCli } from '../server/cli.ts'
import type { CliIo } from '../server/cli/io.ts'
import { attachMonitoring } from '../server/monitoring.ts'
import type { StatsReport } from '../server/stats-report.ts'
import { cleanupAfterEach, startBroker, take, until, within } from './helpers.ts'

const track = cleanupAfterEach(test)

interface MemoryIo { io: CliIo; out(): string; err(): string; abort(): void }

function memoryIo(env: Record<string, string> = {}): MemoryIo {
  const out: string[] = []
  const err: string[] = []
  const controller = new AbortController()
  return {
    io: { out: (s) => { out.push(s) }, err: (s) => { err.push(s) }, env, errIsTTY: false, signal: controller.signal },
    out: () => out.join(''),
    err: () => err.join(''),
    abort: () => controller.abort(),
  }
}

async function monitoredBroker() {
  const b = track(await startBroker())
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  return b
}

test('pub sends the data with its headers, numbering {{n}} across --count', async () => {
  const b = track(await startBroker())
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const sub = c.subscribe('cli.pub')
  await within(3000, c.flush(), 'flush')
  const m = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['pub', 'cli.pub', 'n={{n}}', '--count', '3', '--headers', 'k=v'], m.io), 'pub'), 0)
  const got = await take(sub, 3)
  assert.equal(got.map((x) => x.data), ['n=1', 'n=2', 'n=3'])
  assert.equal(got[0]?.headers, { k: 'v' })
  assert.match(m.err(), /published 3 messages to cli\.pub .* msg\/s/)
})

test('pub --json sends the parsed value and refuses invalid JSON with exit code 2', async () => {
  const b = track(await startBroker())
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const sub = c.subscribe('cli.json')
  await within(3000, c.flush(), 'flush')
  assert.is(await within(5000, runCli(['pub', 'cli.json', '{"id":7}', '--json', '--server', b.url], memoryIo().io), 'pub'), 0)
  assert.equal((await take(sub, 1))[0]?.data, { id: 7 })
  const bad = memoryIo()
  assert.is(await within(5000, runCli(['pub', 'cli.json', '{nope', '--json', '--server', b.url], bad.io), 'bad pub'), 2)
  assert.match(bad.err(), /not valid JSON/)
})

test('pub --count 1e5 publishes every message and ends with a summary and a rate', async () => {
  const b = track(await startBroker())
  const m = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(30_000, runCli(['pub', 'cli.many', 'x', '--count', '1e5'], m.io), 'pub 1e5'), 0)
  assert.match(m.err(), /published 100,000 messages to cli\.many \(.*\) in \d+\.\d\d s: [\d.]+k? msg\/s/)
  assert.is(b.stats().published, 100_000)
})

test('sub prints messages as JSON lines and stops after --count', async () => {
  const b = track(await startBroker())
  const m = memoryIo({ SUBWIRE_URL: b.url })
  const running = runCli(['sub', 'cli.sub.*', '--count', '2', '--json'], m.io)
  await until(5000, () => m.err().includes('subscribed to cli.sub.*'), 'the subscription')
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  c.publish('cli.sub.a', { n: 1 }, { headers: { h: '1' } })
  c.publish('cli.sub.b', new Uint8Array([0, 255]))
  assert.is(await within(5000, running, 'sub to end'), 0)
  const lines = m.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.is(lines.length, 2)
  assert.equal([lines[0]?.subject, lines[0]?.data, lines[0]?.headers], ['cli.sub.a', { n: 1 }, { h: '1' }])
  assert.equal([lines[1]?.subject, lines[1]?.dataBase64], ['cli.sub.b', 'AP8='])
})

test('sub prints readable messages until aborted, then how many it received', async () => {
  const b = track(await startBroker())
  const m = memoryIo({ SUBWIRE_URL: b.url })
  const running = runCli(['sub', 'cli.read', '--queue', 'q'], m.io)
  await until(5000, () => m.err().includes('in queue group q'), 'the subscription')
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  c.publish('cli.read', 'hello')
  await until(3000, () => m.out().includes('hello'), 'the message')
  m.abort()
  assert.is(await within(5000, running, 'sub to end'), 0)
  assert.match(m.out(), /^\[#1\] cli\.read {2}hello\n/)
  assert.match(m.err(), /received 1 message\n/)
})

test('sub --deliver all is refused until topics exist', async () => {
  const m = memoryIo()
  assert.is(await within(5000, runCli(['sub', 'x', '--deliver', 'all'], m.io), 'sub'), 2)
  assert.match(m.err(), /topics, which are not available yet/)
})

test('req prints the reply, and fails with exit code 1 and the code when nobody listens', async () => {
  const b = track(await startBroker())
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  c.subscribe('cli.echo', { callback: (_e, msg) => msg?.respond({ echoed: msg.data }) })
  await within(3000, c.flush(), 'flush')
  const m = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['req', 'cli.echo', 'ping'], m.io), 'req'), 0)
  assert.is(m.out(), '{"echoed":"ping"}\n')
  const j = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['req', 'cli.echo', '[1,2]', '--json'], j.io), 'req --json'), 0)
  const reply = JSON.parse(j.out()) as { data: unknown; rttMs: number }
  assert.equal(reply.data, { echoed: [1, 2] })
  assert.type(reply.rttMs, 'number')
  const none = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['req', 'cli.nobody', 'x'], none.io), 'req nobody'), 1)
  assert.match(none.err(), /no_responders/)
})

test('req --timeout fails with timeout when the responder is silent', async () => {
  const b = track(await startBroker())
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  c.subscribe('cli.silent')
  await within(3000, c.flush(), 'flush')
  const m = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['req', 'cli.silent', 'x', '--timeout', '100'], m.io), 'req'), 1)
  assert.match(m.err(), /timeout/)
})

test('a client command fails with exit code 1 and the reason when no broker listens', async () => {
  const b = await startBroker()
  const url = b.url
  await b.close()
  const m = memoryIo({ SUBWIRE_URL: url })
  assert.is(await within(10_000, runCli(['pub', 'x', 'y'], m.io), 'pub'), 1)
  assert.match(m.err(), /cannot connect to ws:\/\/127\.0\.0\.1/)
})

test('stats prints the connections and their subscriptions from GET /stats', async () => {
  const b = await monitoredBroker()
  const c = track(await within(3000, connect(b.url, { name: 'orders-service', reconnect: false }), 'connect'))
  c.subscribe('orders.>', { queue: 'billing' })
  await within(3000, c.flush(), 'flush')
  const m = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['stats'], m.io), 'stats'), 0)
  assert.match(m.out(), /\(ready\) at ws:\/\/127\.0\.0\.1/)
  assert.match(m.out(), /orders-service .* orders\.> \(billing\)/)
  assert.match(m.out(), /topics: none/)
  const j = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['stats', '--json'], j.io), 'stats --json'), 0)
  assert.is((JSON.parse(j.out()) as StatsReport).server.id, b.serverId)
})

test('stats falls back to $SYS.stats when the broker serves no /stats', async () => {
  const b = track(await startBroker())
  track(attachMonitoring(b, { http: false, sysStats: { intervalMs: 50 } }))
  const m = memoryIo({ SUBWIRE_URL: b.url })
  assert.is(await within(5000, runCli(['stats', '--json'], m.io), 'stats'), 0)
  assert.is((JSON.parse(m.out()) as StatsReport).server.id, b.serverId)
})

test('topics says topics are not available yet', async () => {
  const m = memoryIo()
  assert.is(await within(5000, runCli(['topics', 'ls'], m.io), 'topics'), 2)
  assert.match(m.err(), /topics are not available yet/)
})

test.run()
