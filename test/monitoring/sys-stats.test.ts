/** `$SYS`: stats every interval and connection events, published only while someone listens. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import { SysStats, SYS_SUBJECT, type ConnEvent } from '../../server/monitoring/sys-stats.ts'
import type { StatsReport } from '../../server/monitoring/stats-report.ts'
import { cleanupAfterEach, sleep, startBroker, take, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

test('publishes $SYS.stats every interval with rates, counters and the server id', async () => {
  const b = track(await startBroker())
  track(new SysStats(b, { intervalMs: 40 }))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const stats = c.subscribe(SYS_SUBJECT.stats)
  await within(3000, c.flush(), 'flush')
  for (let i = 0; i < 50; i++) c.publish('load', i)
  const [first, second, third] = (await take(stats, 3)).map((m) => m.data as StatsReport)
  assert.ok(first !== undefined && second !== undefined && third !== undefined)
  assert.is(first.server.id, b.serverId)
  assert.ok(second.at > first.at, 'in time order')
  assert.ok(third.totals.published >= 50, `published ${third.totals.published}`)
  assert.ok([first, second, third].some((r) => r.rates.published > 0), 'a non-zero publish rate')
  assert.is(third.connections, 1)
  assert.equal(third.topics, [])
  assert.is(third.connectionList, undefined)
})

test('$SYS.stats carries the topics, so a monitor sees them fill and their work queues move', async () => {
  const b = track(await startBroker({ topics: [{ name: 'jobs', subjects: ['jobs.>'], maxMsgs: 10 }] }))
  track(new SysStats(b, { intervalMs: 40 }))
  const c = track(await within(3000, connect(b.url, { reconnect: false }), 'connect'))
  const stats = c.subscribe(SYS_SUBJECT.stats)
  let acked = 0
  c.subscribe('jobs.>', { queue: 'workers', ack: true, callback: (_e, m) => { if (m !== null && m.seq <= 2) { m.ack(); acked++ } } })
  for (let i = 1; i <= 4; i++) await within(3000, c.publishAck(`jobs.${i}`, i), 'publish')
  await until(3000, () => acked === 2, 'two jobs acked')
  await within(3000, c.flush(), 'flush')
  // The next report taken after the acks were processed (a report may already be on its way).
  const it = stats[Symbol.asyncIterator]()
  const report = await within(3000, (async () => {
    for (;;) {
      const r = (await it.next()).value?.data as StatsReport
      if (r.topics[0]?.consumers[0]?.acked === 2) return r
    }
  })(), 'a report showing the two acks')
  assert.equal(report.topics.map((t) => [t.name, t.subjects, t.messages, t.capacity, t.firstSeq, t.lastSeq]), [['jobs', ['jobs.>'], 4, 10, 1, 4]])
  assert.equal(report.topics[0]?.consumers, [{ name: 'workers', members: 1, inFlight: 2, acked: 2, redeliveries: 0, deadLettered: 0 }])
})

test('publishes nothing while nobody subscribes, so no unmatched publishes pile up', async () => {
  const b = track(await startBroker())
  track(new SysStats(b, { intervalMs: 20 }))
  await sleep(150)
  assert.is(b.stats().published, 0)
  assert.is(b.stats().unmatched, 0)
})

test('publishes $SYS.conn.connect and $SYS.conn.disconnect with the close code', async () => {
  const b = track(await startBroker())
  track(new SysStats(b))
  const watcher = track(await within(3000, connect(b.url, { reconnect: false }), 'connect the watcher'))
  const events = watcher.subscribe('$SYS.conn.*')
  await within(3000, watcher.flush(), 'flush')
  const other = await within(3000, connect(b.url, { name: 'passer-by', reconnect: false }), 'connect')
  await within(3000, other.close(), 'close')
  const [connected, disconnected] = await take(events, 2)
  assert.is(connected?.subject, SYS_SUBJECT.connect)
  assert.is((connected?.data as ConnEvent).name, 'passer-by')
  assert.is(disconnected?.subject, SYS_SUBJECT.disconnect)
  assert.is((disconnected?.data as ConnEvent).code, 1000)
  assert.is((disconnected?.data as ConnEvent).server, b.serverId)
})

test('keeps history samples and stops by itself once the broker has closed', async () => {
  const b = await startBroker()
  const s = new SysStats(b, { intervalMs: 20, historySize: 3 })
  try {
    await until(2000, () => s.history().length === 3, 'three samples')
    await sleep(100)
    assert.is(s.history().length, 3, 'bounded by historySize')
    await within(3000, b.close(), 'close')
    await sleep(60)
    const before = s.history().at(-1)?.at
    await sleep(100)
    assert.is(s.history().at(-1)?.at, before, 'no samples after the broker closed')
  } finally {
    s.close()
  }
})

test.run()
