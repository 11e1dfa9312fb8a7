/**
 * `connect(url, { resume: true })` through the public API, with a TCP proxy between client and broker that
 * cuts every socket at once while a publisher on its own connection keeps publishing.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Status } from '../../client/index.ts'
import type { Msg } from '../../client/message.ts'
import type { Broker, BrokerOptions } from '../../server/index.ts'
import { cleanupAfterEach, sleep, startBroker, until, within } from '../helpers.ts'
import { createBroker } from '../../server/index.ts'
import { CutProxy } from './cut-proxy.ts'

const track = cleanupAfterEach(test)

const fast = { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } }

/** Status events as they come, and the client's message count at each. */
function watch(c: Client, count: () => number): Array<{ s: Status; at: number }> {
  const seen: Array<{ s: Status; at: number }> = []
  void (async () => { for await (const s of c.status()) seen.push({ s, at: count() }) })()
  return seen
}

/** Messages of a callback subscription, as the numbers their payloads carry. */
function collect(c: Client, subject: string, opts: { queue?: string; into?: number[] } = {}): number[] {
  const got = opts.into ?? []
  c.subscribe(subject, { queue: opts.queue, callback: (err: unknown, m: Msg | null) => { if (err === null && m !== null) got.push(m.data as number) } })
  return got
}

interface Setup { b: Broker; proxy: CutProxy; c: Client; pub: Client }

async function setup(options: BrokerOptions = {}): Promise<Setup> {
  const b = track(await startBroker(options))
  const proxy = track(await CutProxy.start(b.port))
  const c = track(await connect(proxy.url, { resume: true, ...fast }))
  const pub = track(await connect(b.url))
  return { b, proxy, c, pub }
}

/**
 * Cuts, and waits until the broker has parked the session and the client knows it lost the connection; the
 * proxy refuses new connections until `s.proxy.refuse(false)`.
 */
async function cut(s: Setup): Promise<void> {
  const before = s.b.stats().connections
  s.proxy.refuse(true)
  s.proxy.cut()
  await until(2000, () => s.b.stats().connections < before && s.c.state !== 'connected', 'both sides to see the cut')
}

const statusOf = (seen: Array<{ s: Status }>, type: string): Status[] => seen.map((e) => e.s).filter((s) => s.type === type)
const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i)

test('every message arrives exactly once, in order, on plain, wildcard and queue-group subscriptions across a cut', async () => {
  const s = await setup()
  const plain = collect(s.c, 'feed.a')
  const wild = collect(s.c, 'feed.>')
  const group = collect(s.c, 'work', { queue: 'q' })
  const count = (): number => plain.length + wild.length + group.length
  const seen = watch(s.c, count)
  await s.c.flush()
  const N = 3000
  let sent = 0
  // The publisher keeps publishing, a batch per turn of the event loop, while the proxy cuts mid-stream.
  const publishing = (async () => {
    while (sent < N) {
      for (let i = 0; i < 25 && sent < N; i++, sent++) { s.pub.publish('feed.a', sent); s.pub.publish('work', sent) }
      if (sent === 1000) { s.proxy.refuse(true); s.proxy.cut() }
      if (sent === 1200) s.proxy.refuse(false) // 200 publishes (600 deliveries) while the client is away at least
      await sleep(1)
    }
    await s.pub.flush()
  })()
  await within(10_000, publishing, 'the publisher')
  await until(10_000, () => plain.length >= N && group.length >= N, `every message (plain ${plain.length}, group ${group.length})`)
  await s.c.flush()
  assert.equal(plain, range(N), 'plain: each once, in order')
  assert.equal(wild, range(N), 'wildcard: each once, in order')
  assert.equal(group, range(N), 'queue group (its only member): each once, in order')
  const disconnect = seen.find((e) => e.s.type === 'disconnect')
  const resumed = seen.find((e) => e.s.type === 'resumed')
  assert.ok(disconnect !== undefined && resumed !== undefined, 'disconnect, then resumed')
  assert.equal(statusOf(seen, 'gap'), [])
  // The replay is what came between the drop and the resumed status, but for live messages that were read in
  // the same turn as the handshake's last frame.
  const missed = (resumed.s as { missed: number }).missed
  assert.ok(missed >= 600 && missed <= resumed.at - disconnect.at, `missed ${missed}, ${resumed.at - disconnect.at} arrived meanwhile`)
})

test('resumed reports exactly the messages published while away', async () => {
  const s = await setup()
  const got = collect(s.c, 'away.>')
  const seen = watch(s.c, () => got.length)
  await s.c.flush()
  s.pub.publish('away.x', -1)
  await until(2000, () => got.length === 1, 'the first message')
  await cut(s)
  for (let i = 0; i < 40; i++) s.pub.publish('away.x', i)
  await s.pub.flush()
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  assert.equal(statusOf(seen, 'resumed')[0], { type: 'resumed', server: s.proxy.url, missed: 40 })
  assert.equal(got, [-1, ...range(40)])
})

test('resumes an idle connection that never received anything, and does not subscribe twice', async () => {
  const s = await setup()
  const got = collect(s.c, 'idle.x')
  const seen = watch(s.c, () => got.length)
  await s.c.flush()
  await cut(s)
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  assert.equal(statusOf(seen, 'resumed')[0], { type: 'resumed', server: s.proxy.url, missed: 0 })
  s.pub.publish('idle.x', 1)
  await s.pub.flush()
  await until(2000, () => got.length === 1, 'the message')
  await s.c.flush()
  assert.equal(got, [1], 'once: the broker held the subscription, the client did not make it again')
  const errors = statusOf(seen, 'error').flatMap((e) => (e.type === 'error' && e.error.code !== 'connection_refused' ? [e.error.code] : []))
  assert.equal(errors, [], 'no refused SUB (a sid the broker already held)')
})

test('three cuts in a row: each resumes, every message once and in order', async () => {
  const s = await setup()
  const got = collect(s.c, 'three.>')
  const seen = watch(s.c, () => got.length)
  await s.c.flush()
  let n = 0
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i++) s.pub.publish('three.x', n++)
    await s.pub.flush()
    await cut(s)
    for (let i = 0; i < 50; i++) s.pub.publish('three.x', n++)
    await s.pub.flush()
    s.proxy.refuse(false)
    await until(3000, () => statusOf(seen, 'resumed').length === round + 1, `resume ${round + 1}`)
  }
  await until(2000, () => got.length >= n, 'every message')
  assert.equal(got, range(n))
  assert.equal(statusOf(seen, 'gap'), [])
})

test('subscriptions made and ended while away are made and ended at the broker on resume', async () => {
  const s = await setup()
  const kept = collect(s.c, 'k.x')
  const dropped: number[] = []
  const gone = s.c.subscribe('g.x', { callback: (err, m) => { if (err === null && m !== null) dropped.push(m.data as number) } })
  const seen = watch(s.c, () => kept.length)
  await s.c.flush()
  await cut(s)
  const added = collect(s.c, 'n.x')
  gone.unsubscribe()
  s.pub.publish('g.x', 1) // held for g.x by the parked session: replayed, and dropped by the client
  await s.pub.flush()
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  await s.c.flush()
  for (const subject of ['k.x', 'g.x', 'n.x']) s.pub.publish(subject, 2)
  await s.pub.flush()
  await until(2000, () => kept.length === 1 && added.length === 1, 'the live messages')
  await s.c.flush()
  assert.equal([kept, added, dropped], [[2], [2], []])
  assert.is(s.b.stats().subscriptions, 2, 'g.x is gone at the broker too')
})

test('a parked queue member is passed over while another member is connected', async () => {
  const s = await setup()
  const mine = collect(s.c, 'jobs', { queue: 'workers' })
  const other = track(await connect(s.b.url))
  const theirs = collect(other, 'jobs', { queue: 'workers' })
  const seen = watch(s.c, () => mine.length)
  await s.c.flush()
  await other.flush()
  await cut(s)
  for (let i = 0; i < 20; i++) s.pub.publish('jobs', i)
  await s.pub.flush()
  await until(2000, () => theirs.length === 20, 'the other member to get all of them')
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  assert.equal(statusOf(seen, 'resumed')[0], { type: 'resumed', server: s.proxy.url, missed: 0 })
  assert.equal(mine, [])
})

test('past the window: a gap with what each subscription lost, and the subscriptions made again', async () => {
  // A window long enough for the publishes to reach the parked session before it ends.
  const s = await setup({ resumeWindowMs: 1000 })
  const a = collect(s.c, 'w.a')
  const bb = collect(s.c, 'w.b')
  const seen = watch(s.c, () => a.length + bb.length)
  await s.c.flush()
  await cut(s)
  for (let i = 0; i < 5; i++) s.pub.publish('w.a', i)
  s.pub.publish('w.b', 0)
  await s.pub.flush()
  await until(5000, () => s.b.stats().subscriptions === 0, 'the window to pass')
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'gap').length === 1, 'the gap')
  const gap = statusOf(seen, 'gap')[0]
  assert.ok(gap.type === 'gap' && gap.reason === 'resume')
  assert.is(gap.resumed, false)
  assert.equal(gap.lost.map(({ subject, count }) => ({ subject, count })), [{ subject: 'w.a', count: 5 }, { subject: 'w.b', count: 1 }])
  await s.c.flush() // its SUBs, written after the handshake, have reached the broker
  s.pub.publish('w.a', 99)
  await s.pub.flush()
  await until(2000, () => a.length === 1, 'a live message on the subscription made again')
  assert.equal(a, [99])
})

test('past resumeMaxBytes: the newest are replayed and a gap counts what each subscription lost', async () => {
  // Raw 50-byte payloads on a 3-character subject: 163 bytes each in the log (a 59-byte tail + 104), 6 fit in 1 KiB.
  const s = await setup({ resumeMaxBytes: 1024 })
  const x: number[] = []
  const y: number[] = []
  for (const [subject, into] of [['b.x', x], ['b.y', y]] as const) {
    s.c.subscribe(subject, { callback: (err, m) => { if (err === null && m !== null) into.push((m.data as Uint8Array)[0]) } })
  }
  const seen = watch(s.c, () => x.length + y.length)
  await s.c.flush()
  await cut(s)
  const payload = (i: number): Uint8Array => Uint8Array.of(i, ...new Uint8Array(49))
  for (let i = 0; i < 30; i++) s.pub.publish('b.x', payload(i))
  for (let i = 0; i < 10; i++) s.pub.publish('b.y', payload(i))
  await s.pub.flush()
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'gap').length === 1, 'the gap')
  const gap = statusOf(seen, 'gap')[0]
  assert.ok(gap.type === 'gap' && gap.reason === 'resume')
  assert.is(gap.resumed, true)
  assert.is(gap.missed, 6)
  assert.equal(gap.lost.map(({ subject, count }) => ({ subject, count })), [{ subject: 'b.x', count: 30 }, { subject: 'b.y', count: 4 }])
  assert.equal(x, [])
  assert.equal(y, range(6, 4))
  assert.equal(statusOf(seen, 'resumed'), [])
})

test('a slow consumer closed at its cap is parked: on resume every message arrives once, in order, or is counted lost', async () => {
  const s = await setup({ maxPayload: 1024, maxPendingBytes: 64 * 1024, highWaterBytes: 16 * 1024, resumeMaxBytes: 32 * 1024 })
  const got: number[] = []
  s.c.subscribe('slow.x', { callback: (err, m) => { if (err === null && m !== null) got.push(new DataView((m.data as Uint8Array).buffer, (m.data as Uint8Array).byteOffset).getUint32(0)) } })
  const seen = watch(s.c, () => got.length)
  await s.c.flush()
  s.proxy.stall(true)
  const N = 20_000
  const payload = new Uint8Array(1000)
  for (let i = 0; i < N && s.b.stats().slowConsumers === 0; i++) {
    new DataView(payload.buffer).setUint32(0, i)
    s.pub.publish('slow.x', payload.slice())
    if (i % 100 === 99) await s.pub.flush()
  }
  await s.pub.flush()
  const sent = s.b.stats().published
  assert.is(s.b.stats().slowConsumers, 1, 'the client was closed as a slow consumer')
  s.proxy.stall(false)
  s.proxy.cut() // what the proxy held for the old connection is gone with it
  await until(5000, () => statusOf(seen, 'gap').length + statusOf(seen, 'resumed').length === 1, 'the resume')
  await s.c.flush()
  const gap = statusOf(seen, 'gap')[0]
  const lost = gap?.type === 'gap' && gap.reason === 'resume' ? gap.lost.reduce((n, l) => n + (l.count ?? 0), 0) : 0
  assert.ok(got.every((v, i) => i === 0 || v > got[i - 1]), 'in order, no duplicate')
  assert.is(got.length + lost, sent, `received ${got.length} + lost ${lost}: each of the ${sent} published once`)
  assert.is(got[got.length - 1], sent - 1, 'the newest arrived')
})

test('a connection that goes silent is closed as stale and its session resumes', async () => {
  const s = await setup({ heartbeatMs: 100, closeGraceMs: 100 })
  const got = collect(s.c, 'q.>')
  const seen = watch(s.c, () => got.length)
  await s.c.flush()
  s.proxy.refuse(true)
  s.proxy.stall(true, true) // nothing gets through either way: the broker's PINGs go unanswered
  await until(3000, () => s.b.stats().connections === 1, 'the broker to drop the silent connection')
  for (let i = 0; i < 10; i++) s.pub.publish('q.x', i)
  await s.pub.flush()
  s.proxy.cut()
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  assert.equal(statusOf(seen, 'resumed')[0], { type: 'resumed', server: s.proxy.url, missed: 10 })
  assert.equal(got, range(10))
})

test('with credentials: the resumed session is the same user\'s', async () => {
  const b = track(await startBroker({ auth: { tokens: [{ token: 'dashboard-token', user: 'dashboard' }] } }))
  const proxy = track(await CutProxy.start(b.port))
  const c = track(await connect(proxy.url, { resume: true, token: () => 'dashboard-token', ...fast }))
  const pub = track(await connect(b.url, { token: 'dashboard-token' }))
  const s: Setup = { b, proxy, c, pub }
  const got = collect(c, 'd.>')
  const seen = watch(c, () => got.length)
  await c.flush()
  await cut(s)
  for (let i = 0; i < 5; i++) pub.publish('d.x', i)
  await pub.flush()
  proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  assert.equal(statusOf(seen, 'resumed')[0], { type: 'resumed', server: proxy.url, missed: 5 })
  assert.equal(got, range(5))
})

test('a restarted broker no longer knows the session: a gap, and every subscription made again', async () => {
  const s = await setup()
  const got = collect(s.c, 'r.>')
  const seen = watch(s.c, () => got.length)
  await s.c.flush()
  const port = s.b.port
  s.proxy.refuse(true)
  await s.b.close()
  const b2 = track(await createBroker({ host: '127.0.0.1', port }))
  s.proxy.retarget(b2.port)
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'gap').length === 1, 'the gap')
  const gap = statusOf(seen, 'gap')[0]
  assert.ok(gap.type === 'gap' && gap.reason === 'resume')
  assert.is(gap.resumed, false)
  assert.equal(gap.lost.map(({ subject, count }) => ({ subject, count })), [{ subject: 'r.>', count: null }])
  const pub2 = track(await connect(b2.url))
  await s.c.flush()
  pub2.publish('r.x', 7)
  await pub2.flush()
  await until(2000, () => got.length === 1, 'a message from the new broker')
  assert.equal(got, [7])
})

test('replay subscriptions resume by sequence alongside the session', async () => {
  const s = await setup({ topics: [{ name: 'ev', subjects: ['ev.>'] }] })
  const replayed: number[] = []
  s.c.subscribe('ev.>', { deliver: 'all', callback: (err, m) => { if (err === null && m !== null) replayed.push(m.data as number) } })
  const live = collect(s.c, 'ev.>')
  const seen = watch(s.c, () => live.length)
  await s.c.flush()
  for (let i = 0; i < 10; i++) s.pub.publish('ev.x', i)
  await s.pub.flush()
  await until(2000, () => replayed.length === 10 && live.length === 10, 'the first ten')
  await cut(s)
  for (let i = 10; i < 30; i++) s.pub.publish('ev.x', i)
  await s.pub.flush()
  s.proxy.refuse(false)
  await until(3000, () => statusOf(seen, 'resumed').length === 1, 'resumed')
  await until(2000, () => replayed.length >= 30 && live.length >= 30, 'all thirty on both')
  await s.c.flush()
  assert.equal(live, range(30))
  assert.equal(replayed, range(30))
})

test('resume options out of range are refused with bad_option', async () => {
  for (const options of [{ resumeWindowMs: 0 }, { resumeWindowMs: 2 ** 31 }, { resumeMaxBytes: 100 }, { resumeMaxBytes: 1.5 },
    { resumeMaxBytes: 16 * 1024 * 1024 }, { resumeMaxSessions: 0 }, { resumeMaxTotalBytes: 'a' }, { resumeMaxBytes: 4096, resumeMaxTotalBytes: 2048 }]) {
    const err = await within(2000, createBroker({ host: '127.0.0.1', port: 0, ...(options as BrokerOptions) }).then((b) => b.close().then(() => null), (e: unknown) => e), 'createBroker')
    assert.is((err as { code?: string } | null)?.code, 'bad_option', JSON.stringify(options))
  }
})

test.run()
