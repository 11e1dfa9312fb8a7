/**
 * `GET /stats` is bounded in size whatever one client subscribed (issue 17 §2): connections are paged
 * (`?limit=&offset=`, at most `MAX_CONNECTIONS_PAGE`), each lists a subscription count and its first
 * `SUBJECTS_PER_CONNECTION` subjects, inbox ids are masked, and the most-subscribed subjects are counted over a
 * bounded sample. `$SYS.stats` and `/stats/history` are bounded the same way.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import type { Broker } from '../../server/index.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import { MAX_CONNECTIONS_PAGE, SUBJECTS_PER_CONNECTION, TOPIC_GROUPS_LISTED, type StatsReport } from '../../server/monitoring/stats-report.ts'
import { MAX_GROUP_SERIES } from '../../server/monitoring/metrics.ts'
import { SysStats } from '../../server/monitoring/sys-stats.ts'
import { cleanupAfterEach, codeOf, startBroker, take, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

function base(b: Broker): string {
  return b.url.replace(/^ws/, 'http').replace(/\/$/, '')
}

async function monitored(): Promise<Broker> {
  const b = track(await startBroker())
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  return b
}

async function get(url: string): Promise<{ status: number; error: string | null; bytes: number; body: string }> {
  const res = await within(10_000, fetch(url), `GET ${url}`)
  const body = await within(10_000, res.text(), `the body of ${url}`)
  return { status: res.status, error: res.headers.get('x-subwire-error'), bytes: Buffer.byteLength(body), body }
}

async function client(b: Broker, name: string): Promise<Client> {
  return track(await within(5000, connect(b.url, { name, reconnect: false }), `connect ${name}`))
}

test('answers /stats in under 64 KiB beside one connection holding 100,000 subscriptions', async () => {
  const b = await monitored()
  const hog = await client(b, 'hog')
  for (let i = 0; i < 100_000; i++) hog.subscribe(`load.${i}`)
  await within(30_000, hog.flush(), 'the subscriptions to be made')
  const a = await get(`${base(b)}/stats`)
  assert.is(a.status, 200)
  assert.ok(a.bytes < 64 * 1024, `${a.bytes} bytes`)
  const report = JSON.parse(a.body) as StatsReport
  assert.is(report.subscriptions, 100_000)
  const row = report.connectionList?.find((c) => c.name === 'hog')
  assert.ok(row !== undefined)
  assert.is(row.subscriptions, 100_000, 'the count is exact')
  assert.is(row.subjects.length, SUBJECTS_PER_CONNECTION, 'only the first subjects are listed')
  assert.equal(row.subjects[0], { subject: 'load.0', queue: null })
  assert.ok(report.topSubscriptions.length <= 10)
  assert.is(report.topSubscriptionsPartial, true, 'says the counts cover a sample')
})

test('pages the connection list with limit and offset, and says how many there are', async () => {
  const b = await monitored()
  for (let i = 0; i < 5; i++) await client(b, `c${i}`)
  const first = JSON.parse((await get(`${base(b)}/stats?limit=2`)).body) as StatsReport
  assert.equal(first.connectionList?.map((c) => c.name), ['c0', 'c1'])
  assert.equal(first.connectionPage, { offset: 0, limit: 2, total: 5 })
  const last = JSON.parse((await get(`${base(b)}/stats?limit=2&offset=4`)).body) as StatsReport
  assert.equal(last.connectionList?.map((c) => c.name), ['c4'])
  const none = JSON.parse((await get(`${base(b)}/stats?limit=0`)).body) as StatsReport
  assert.equal(none.connectionList, [])
  assert.is(none.connections, 5)
})

test('refuses a limit above the cap or a malformed offset with 400 bad_option', async () => {
  const b = await monitored()
  for (const q of [`limit=${MAX_CONNECTIONS_PAGE + 1}`, 'limit=-1', 'limit=ten', 'offset=1.5', 'offset=-3', 'limit=1&limit=2']) {
    const a = await get(`${base(b)}/stats?${q}`)
    assert.is(a.status, 400, q)
    assert.is(a.error, 'bad_option', q)
  }
  assert.is((await get(`${base(b)}/stats?limit=${MAX_CONNECTIONS_PAGE}`)).status, 200)
})

test('lists inbox subscriptions with their ids masked', async () => {
  const b = await monitored()
  const requester = await client(b, 'requester')
  const responder = await client(b, 'responder')
  responder.subscribe('svc.echo', { callback: (_e, m) => { m?.respond('pong') } })
  await within(3000, responder.flush(), 'flush')
  await within(3000, requester.request('svc.echo', 'ping'), 'a request, so the requester has its inbox')
  const a = await get(`${base(b)}/stats`)
  const row = (JSON.parse(a.body) as StatsReport).connectionList?.find((c) => c.name === 'requester')
  assert.ok(row !== undefined)
  const inbox = row.subjects.find((s) => s.subject.startsWith('_INBOX.'))
  assert.ok(inbox !== undefined, 'the inbox subscription is listed')
  assert.is(inbox.subject, '_INBOX.*.>')
  const real = b.connections().find((c) => c.name === 'requester')?.subscriptions.find((s) => s.subject.startsWith('_INBOX.'))
  const id = real?.subject.split('.')[1]
  assert.ok(id !== undefined && id.length > 4, 'the broker itself knows the id')
  assert.not.ok(a.body.includes(id), 'the inbox id appears nowhere in /stats')
})

test('keeps $SYS.stats small beside a connection with many subscriptions', async () => {
  const b = await monitored()
  const hog = await client(b, 'hog')
  for (let i = 0; i < 20_000; i++) hog.subscribe(`load.${i}`)
  await within(10_000, hog.flush(), 'the subscriptions')
  const watcher = await client(b, 'watcher')
  const [m] = await within(5000, take(watcher.subscribe('$SYS.stats'), 1), 'a $SYS.stats report')
  assert.ok(m !== undefined)
  assert.ok(m.bytes.byteLength < 16 * 1024, `${m.bytes.byteLength} bytes`)
  assert.is((m.data as StatsReport).connectionList, undefined)
})

test('lists the first consumer groups of a topic with their count, and gives only the first ones metric series', async () => {
  const b = track(await startBroker({ topics: [{ name: 'jobs', subjects: ['jobs.>'] }] }))
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  const opener = await client(b, 'group-opener')
  for (let i = 0; i < 500; i++) opener.subscribe('jobs.>', { queue: `g${i}`, ack: true, callback: () => undefined })
  await within(10_000, opener.flush(), 'the groups to open')
  const report = JSON.parse((await get(`${base(b)}/stats`)).body) as StatsReport
  const jobs = report.topics.find((t) => t.name === 'jobs')
  assert.ok(jobs !== undefined)
  assert.is(jobs.groups, 500)
  assert.is(jobs.consumers.length, TOPIC_GROUPS_LISTED)
  const metrics = (await get(`${base(b)}/metrics`)).body
  assert.match(metrics, /subwire_topic_groups\{topic="jobs"\} 500/)
  const series = metrics.split('\n').filter((l) => l.startsWith('subwire_topic_group_members{'))
  assert.is(series.length, MAX_GROUP_SERIES)
})

test('refuses a history size or interval out of bounds with bad_option', async () => {
  const b = track(await startBroker())
  for (const options of [{ historySize: 0 }, { historySize: 100_000 }, { historySize: 1.5 }, { intervalMs: 0 }, { intervalMs: Number.NaN }]) {
    assert.is(codeOf(() => new SysStats(b, options).close()), 'bad_option', JSON.stringify(options))
  }
})

test.run()
