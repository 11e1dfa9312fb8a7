/** The client commands (`pub`, `sub`, `req`, `stats`, `topics`) run in-process against a broker. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import { runCli } from '../../server/cli/main.ts'
import type { CliIo } from '../../server/cli/io.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import type { StatsReport } from '../../server/monitoring/stats-report.ts'
import type { TopicInfo } from '../../client/index.ts'
import { parseDeliver } from '../../server/cli/sub.ts'
import { cleanupAfterEach, sleep, startBroker, take, until, within } from '../helpers.ts'
import { memoryIo } from './memory-io.ts'

const track = cleanupAfterEach(test)



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
  assert.match(m.err(), /published 100,000 messages to cli\.many \(.*\) in \d+\.\d\d s: [\d.]+[kMG]? msg\/s/)
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

/** Runs one command line against a broker; returns its exit code and output. */
async function run(url: string, args: string[], ms = 5000): Promise<{ code: number; out: string; err: string }> {
  const m = memoryIo({ SUBWIRE_URL: url })
  const code = await within(ms, runCli(args, m.io), `subwire ${args.join(' ')}`)
  return { code, out: m.out(), err: m.err() }
}

/** A broker with topic `orders` (orders.>) holding orders.eu.1, orders.us.1, orders.eu.2 (seq 1..3), then, a
 * moment later, orders.us.2 and orders.eu.3 (seq 4..5); returns it and the time between the two batches. */
async function ordersBroker(): Promise<{ url: string; between: number }> {
  const b = track(await startBroker({ topics: [{ name: 'orders', subjects: ['orders.>'] }] }))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  for (const s of ['orders.eu.1', 'orders.us.1', 'orders.eu.2']) await within(3000, c.publishAck(s, s), `publish ${s}`)
  await sleep(20)
  const between = Date.now()
  await sleep(20)
  for (const s of ['orders.us.2', 'orders.eu.3']) await within(3000, c.publishAck(s, s), `publish ${s}`)
  return { url: b.url, between }
}

/** The subject and seq of each JSON line `sub --json` printed. */
function seqs(out: string): Array<[string, number]> {
  return out.trim().split('\n').map((l) => JSON.parse(l) as { subject: string; seq: number }).map((m) => [m.subject, m.seq])
}

test('sub --deliver replays what the topic holds from the point asked for, with seq and time', async () => {
  const { url, between } = await ordersBroker()
  const rows: Array<[string, string, number, Array<[string, number]>]> = [
    ['all', 'orders.>', 5, [['orders.eu.1', 1], ['orders.us.1', 2], ['orders.eu.2', 3], ['orders.us.2', 4], ['orders.eu.3', 5]]],
    ['last', 'orders.us.*', 1, [['orders.us.2', 4]]],
    ['last_per_subject', 'orders.>', 5, [['orders.eu.1', 1], ['orders.us.1', 2], ['orders.eu.2', 3], ['orders.us.2', 4], ['orders.eu.3', 5]]],
    ['seq:4', 'orders.>', 2, [['orders.us.2', 4], ['orders.eu.3', 5]]],
    [`time:${new Date(between).toISOString()}`, 'orders.eu.*', 1, [['orders.eu.3', 5]]],
  ]
  for (const [deliver, subject, count, want] of rows) {
    const r = await run(url, ['sub', subject, '--deliver', deliver, '--count', String(count), '--json'])
    assert.is(r.code, 0, deliver)
    assert.equal(seqs(r.out), want, deliver)
    assert.match(r.err, new RegExp(`subscribed to ${subject.replace(/[.*>]/g, '\\$&')} \\(deliver `), deliver)
  }
  const text = await run(url, ['sub', 'orders.>', '--deliver', 'seq:5', '--count', '1'])
  assert.match(text.out, /^\[#1 seq 5 \d{4}-\d\d-\d\dT[\d:.]+Z\] orders\.eu\.3 {2}orders\.eu\.3\n$/)
  const json = JSON.parse((await run(url, ['sub', 'orders.>', '--deliver', 'last', '--count', '1', '--json'])).out) as { time: string }
  assert.ok(Date.parse(json.time) > between, `time is when it was stored (${json.time})`)
})

test('sub --deliver new skips what is stored and prints what comes next', async () => {
  const { url } = await ordersBroker()
  const m = memoryIo({ SUBWIRE_URL: url })
  const running = runCli(['sub', 'orders.>', '--deliver', 'new', '--count', '1', '--json'], m.io)
  await until(5000, () => m.err().includes('subscribed to'), 'the subscription')
  const c = track(await within(3000, connect(url, { reconnect: false }), 'connect'))
  await within(3000, c.publishAck('orders.eu.9', 9), 'publish')
  assert.is(await within(5000, running, 'sub to end'), 0)
  assert.equal(seqs(m.out()), [['orders.eu.9', 6]])
})

test('sub --deliver refuses a bad value with exit code 2, and a subject no topic covers with no_topic', async () => {
  const rows: Array<[string, unknown]> = [
    ['all', 'all'], ['last_per_subject', 'last_per_subject'], ['seq:42', { startSeq: 42 }],
    ['time:2025-06-01T12:00:00Z', { startTime: Date.parse('2025-06-01T12:00:00Z') }], ['time:-5m', { startTime: 1_000_000 - 300_000 }],
  ]
  for (const [raw, want] of rows) assert.equal(parseDeliver(raw, 1_000_000), want, raw)
  for (const raw of ['first', 'seq:0', 'seq:x', 'time:yesterday', 'time:-5 parsecs']) {
    const m = memoryIo()
    assert.is(await within(5000, runCli(['sub', 'x', '--deliver', raw], m.io), raw), 2, raw)
    assert.match(m.err(), /--deliver/, raw)
  }
  const { url } = await ordersBroker()
  const none = await run(url, ['sub', 'invoices.>', '--deliver', 'all'])
  assert.is(none.code, 1)
  assert.match(none.err, /no_topic/)
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

test('pub --ack prints where the message was stored, and --msg-id makes a repeat a duplicate', async () => {
  const { url } = await ordersBroker()
  const first = await run(url, ['pub', 'orders.eu.7', '{"id":7}', '--json', '--ack', '--msg-id', 'order-7'])
  assert.is(first.code, 0)
  assert.is(first.out, 'stored in topic orders as seq 6\n')
  const again = await run(url, ['pub', 'orders.eu.7', '{"id":7}', '--json', '--ack', '--msg-id', 'order-7'])
  assert.is(again.out, 'duplicate: already stored in topic orders as seq 6 (not stored again)\n')
  const many = await run(url, ['pub', 'orders.bulk', 'n={{n}}', '--count', '3', '--ack', '--msg-id', 'bulk-{{n}}'])
  assert.is(many.out, '[#1] stored in topic orders as seq 7\n[#2] stored in topic orders as seq 8\n[#3] stored in topic orders as seq 9\n')
  assert.match(many.err, /confirmed: 3 stored, 0 duplicates/)
  const repeat = await run(url, ['pub', 'orders.bulk', 'n={{n}}', '--count', '2', '--ack', '--msg-id', 'bulk-{{n}}'])
  assert.match(repeat.err, /confirmed: 0 stored, 2 duplicates/)
})

test('pub --ack fails with the broker code: no_topic, wrong_last_seq; --expected-last-seq alone is a usage error', async () => {
  const { url } = await ordersBroker()
  const none = await run(url, ['pub', 'invoices.1', 'x', '--ack'])
  assert.is(none.code, 1)
  assert.match(none.err, /no_topic/)
  const ok = await run(url, ['pub', 'orders.eu.8', 'x', '--ack', '--expected-last-seq', '5'])
  assert.is(ok.out, 'stored in topic orders as seq 6\n')
  const stale = await run(url, ['pub', 'orders.eu.8', 'x', '--ack', '--expected-last-seq', '5'])
  assert.is(stale.code, 1)
  assert.match(stale.err, /wrong_last_seq/)
  assert.is((await run(url, ['pub', 'orders.eu.8', 'x', '--expected-last-seq', '6'])).code, 2)
})

test('topics add, ls, info, update, purge and rm manage the broker\'s topics', async () => {
  const b = track(await startBroker())
  const add = await run(b.url, ['topics', 'add', 'orders', '--subjects', 'orders.>,refunds.*', '--max-msgs', '1000', '--max-bytes', '1MiB', '--max-age', '1h', '--duplicate-window', '2m'])
  assert.is(add.code, 0, add.err)
  assert.match(add.out, /^created topic orders\ntopic orders {2}subjects orders\.>, refunds\.\*\n {2}limits {4}maxMsgs 1,000, maxBytes 1\.00 MiB, maxAge 1h, discard old, duplicateWindow 2m\n/)
  assert.equal(b.topics.info('orders').config, { name: 'orders', subjects: ['orders.>', 'refunds.*'], maxMsgs: 1000, maxBytes: 1_048_576, maxAgeMs: 3_600_000, discard: 'old', duplicateWindowMs: 120_000 })
  assert.is((await run(b.url, ['topics', 'add', 'sensors', '--subjects', 'sensors.>', '--max-msgs-per-subject', '1', '--discard', 'new'])).code, 0)
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  for (let i = 0; i < 4; i++) await within(3000, c.publishAck(`orders.${i % 2 === 0 ? 'eu' : 'us'}.${i}`, 'x'), 'publish')
  const ls = await run(b.url, ['topics', 'ls'])
  assert.match(ls.out, /^TOPIC +SUBJECTS +MESSAGES +BYTES +STORAGE +SEQ +LAST STORED +GROUPS\n/)
  assert.match(ls.out, /\norders +orders\.>,refunds\.\* +4 \/ 1,000 +[\d.]+ (B|KiB) \/ 1\.00 MiB +memory +1\.\.4 +\d{4}-[\d-]+T[\d:.]+Z\n/)
  assert.match(ls.out, /\nsensors +sensors\.> +0 +0 B \/ 64\.0 MiB +memory +- \(last 0\) +-\n/)
  const info = await run(b.url, ['topics', 'info', 'orders'])
  assert.match(info.out, / {2}messages {2}4 of 1,000, [\d.]+ (B|KiB) of 1\.00 MiB\n {2}seq {7}1\.\.4, stored /)
  const update = await run(b.url, ['topics', 'update', 'orders', '--max-msgs', 'none', '--max-age', '30m'])
  assert.is(update.code, 0, update.err)
  assert.equal(b.topics.info('orders').config, { name: 'orders', subjects: ['orders.>', 'refunds.*'], maxBytes: 1_048_576, maxAgeMs: 1_800_000, discard: 'old', duplicateWindowMs: 120_000 })
  assert.is((await run(b.url, ['topics', 'purge', 'orders', '--subject', 'orders.eu.*'])).out, 'purged 2 messages from orders on orders.eu.*\n')
  assert.is((await run(b.url, ['topics', 'purge', 'orders'])).out, 'purged 2 messages from orders\n')
  assert.is(b.topics.info('orders').lastSeq, 4, 'sequences go on after a purge')
  assert.is((await run(b.url, ['topics', 'rm', 'sensors'])).out, 'deleted topic sensors\n')
  assert.equal(b.topics.list().map((t) => t.name), ['orders'])
})

test('topics ls --json and info --json print what the broker reports, consumer groups included', async () => {
  const b = track(await startBroker({ topics: [{ name: 'jobs', subjects: ['jobs.>'] }] }))
  const worker = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  worker.subscribe('jobs.>', { queue: 'workers', ack: true, callback: () => undefined })
  await within(3000, worker.flush(), 'flush')
  await within(3000, worker.publishAck('jobs.1', 'do it'), 'publish')
  await until(3000, () => b.topics.info('jobs').consumers[0]?.inFlight === 1, 'the job in flight')
  const ls = JSON.parse((await run(b.url, ['topics', 'ls', '--json'])).out) as TopicInfo[]
  assert.equal(ls.map((t) => [t.name, t.messages, t.lastSeq]), [['jobs', 1, 1]])
  const info = JSON.parse((await run(b.url, ['topics', 'info', 'jobs', '--json'])).out) as TopicInfo
  assert.equal(info.consumers.map((g) => [g.name, g.members, g.inFlight, g.acked]), [['workers', 1, 1, 0]])
  const text = await run(b.url, ['topics', 'info', 'jobs'])
  assert.match(text.out, /\nGROUP +MEMBERS +IN FLIGHT +ACKED +TO REDELIVER +TERMINATED +DEAD-LETTERED +ACK FLOOR +NEXT SEQ\nworkers +1 +1 +0 +0 +0 +0 +0 +2\n/)
  assert.match((await run(b.url, ['topics', 'ls'])).out, /workers \(1 member, 1 in flight\)/)
  assert.equal(JSON.parse((await run(b.url, ['topics', 'purge', 'jobs', '--json'])).out), { purged: 1 })
})

test('topics fails with the broker\'s code and exit code 1: topic_exists, topic_overlap, no_topic, limit', async () => {
  const b = track(await startBroker({ maxTopics: 2, topics: [{ name: 'orders', subjects: ['orders.>'] }] }))
  const rows: Array<[string[], string]> = [
    [['add', 'orders', '--subjects', 'elsewhere.>'], 'topic_exists'],
    [['add', 'eu', '--subjects', 'orders.eu.*'], 'topic_overlap'],
    [['info', 'nope'], 'no_topic'],
    [['update', 'nope', '--max-msgs', '5'], 'no_topic'],
    [['rm', 'nope'], 'no_topic'],
    [['purge', 'nope'], 'no_topic'],
  ]
  for (const [args, code] of rows) {
    const r = await run(b.url, ['topics', ...args])
    assert.is(r.code, 1, args.join(' '))
    assert.match(r.err, new RegExp(`^subwire topics: ${code}: `), args.join(' '))
  }
  assert.is((await run(b.url, ['topics', 'add', 'second', '--subjects', 'b.>'])).code, 0)
  const full = await run(b.url, ['topics', 'add', 'third', '--subjects', 'c.>'])
  assert.is(full.code, 1)
  assert.match(full.err, /limit: /)
})

test('topics refuses bad arguments with exit code 2 before connecting', async () => {
  const b = await startBroker()
  const url = b.url
  await b.close() // nothing listens: a command that tried to connect would exit 1, not 2
  const rows: Array<[string[], RegExp]> = [
    [['add', 'orders'], /needs --subjects/],
    [['add', 'orders', '--subjects', 'a..b'], /--subjects: "a\.\.b" is not a valid subject pattern/],
    [['add', 'orders', '--subjects', 'a.>', '--max-msgs', 'lots'], /--max-msgs must be a positive integer, got "lots"/],
    [['add', 'orders', '--subjects', 'a.>', '--max-msgs', '0'], /--max-msgs must be a positive integer/],
    [['add', 'orders', '--subjects', 'a.>', '--max-bytes', '10s'], /--max-bytes must be a positive size in bytes/],
    [['add', 'orders', '--subjects', 'a.>', '--max-age', '1MiB'], /--max-age must be a positive duration/],
    [['add', 'orders', '--subjects', 'a.>', '--max-msgs', 'none'], /--max-msgs must be a positive integer, got "none"/],
    [['add', 'orders', '--subjects', 'a.>', '--discard', 'oldest'], /--discard must be 'old'/],
    [['update', 'orders'], /nothing to update/],
    [['update', 'orders', '--max-age', 'soon'], /--max-age must be a positive duration .* \(or 'none'\)/],
    [['info'], /needs a topic name/],
    [['ls', 'extra'], /unexpected arguments: extra/],
    [['frobnicate'], /unknown topics command "frobnicate"/],
    [['add', 'orders', '--subjects', 'a.>', '--max-msg', '5'], /Unknown option '--max-msg'/],
  ]
  for (const [args, message] of rows) {
    const m = memoryIo({ SUBWIRE_URL: url })
    assert.is(await within(5000, runCli(['topics', ...args], m.io), args.join(' ')), 2, args.join(' '))
    assert.match(m.err(), message, args.join(' '))
  }
  const m = memoryIo({ SUBWIRE_URL: url })
  await runCli(['topics', 'add', 'orders', '--subjects', 'a.>', '--max-msgs', 'x'], m.io)
  assert.match(m.err(), /\(subwire topics add --help lists the options\)/)
})

test('each topics command answers --help with its own usage', async () => {
  for (const command of ['ls', 'info', 'add', 'update', 'rm', 'purge']) {
    const m = memoryIo()
    assert.is(await within(5000, runCli(['topics', command, '--help'], m.io), command), 0, command)
    assert.match(m.out(), new RegExp(`^Usage: subwire topics ${command}`), command)
    assert.match(m.out(), /--json/, command)
  }
  const add = memoryIo()
  await runCli(['topics', 'add', '--help'], add.io)
  for (const flag of ['--subjects', '--max-msgs', '--max-bytes', '--max-age', '--max-msgs-per-subject', '--discard', '--duplicate-window']) assert.ok(add.out().includes(flag), flag)
  const top = memoryIo()
  assert.is(await runCli(['topics'], top.io), 0)
  assert.match(top.out(), /^Usage: subwire topics <ls\|info\|add\|update\|rm\|purge>/)
})

test('stats prints a row per topic with its fill and consumer groups', async () => {
  const b = track(await startBroker({ topics: [{ name: 'jobs', subjects: ['jobs.>'], maxMsgs: 100 }] }))
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  c.subscribe('jobs.>', { queue: 'workers', ack: true, callback: () => undefined })
  for (let i = 0; i < 3; i++) await within(3000, c.publishAck(`jobs.${i}`, i), 'publish')
  await until(3000, () => b.topics.info('jobs').consumers[0]?.inFlight === 3, 'three in flight')
  const r = await run(b.url, ['stats'])
  assert.match(r.out, /\nTOPIC +SUBJECTS +MESSAGES +BYTES +STORAGE +SEQ +LAST STORED +GROUPS\njobs +jobs\.> +3 \/ 100 +\d+ B \/ 64\.0 MiB +memory +1\.\.3 +\S+ +workers \(1 member, 3 in flight\)\n/)
})

test.run()
