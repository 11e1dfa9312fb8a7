/**
 * Review of session resume (issue 16 §1) through the public client, on a flaky network: a proxy between client
 * and broker cuts sockets, refuses connections, or lets an attempt's CONNECT through and swallows the answer.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Status } from '../../client/index.ts'
import type { Msg } from '../../client/message.ts'
import type { Broker, BrokerOptions } from '../../server/index.ts'
import { cleanupAfterEach, startBroker, until, within } from '../helpers.ts'
import { StallProxy } from './stall-proxy.ts'

const track = cleanupAfterEach(test)

const fast = { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } }

function watch(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}

function collect(c: Client, subject: string): number[] {
  const got: number[] = []
  const num = (d: unknown): number => (typeof d === 'number' ? d : (d as { i: number }).i)
  c.subscribe(subject, { callback: (err: unknown, m: Msg | null) => { if (err === null && m !== null) got.push(num(m.data)) } })
  return got
}

interface Setup { b: Broker; proxy: StallProxy; c: Client; pub: Client }

async function setup(options: BrokerOptions = {}, client: Record<string, unknown> = {}): Promise<Setup> {
  const b = track(await startBroker(options))
  const proxy = track(await StallProxy.start(b.port))
  const c = track(await connect(proxy.url, { resume: true, ...fast, ...client }))
  const pub = track(await connect(b.url))
  return { b, proxy, c, pub }
}

async function cut(s: Setup): Promise<void> {
  const before = s.b.stats().connections
  s.proxy.refuse(true)
  s.proxy.cut()
  await until(2000, () => s.b.stats().connections < before && s.c.state !== 'connected', 'both sides to see the cut')
}

async function publish(pub: Client, subject: string, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) pub.publish(subject, i)
  await within(2000, pub.flush(), 'the publishes')
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i)

test('a resume attempt whose answer does not arrive in time leaves the session for the next attempt', async () => {
  const s = await setup({}, { connectTimeoutMs: 300 })
  const seen = watch(s.c)
  const got = collect(s.c, 'feed')
  await within(2000, s.c.flush(), 'the SUB')
  await publish(s.pub, 'feed', 0, 3)
  await until(2000, () => got.length === 3, 'the first three')
  await cut(s)
  await publish(s.pub, 'feed', 3, 5)
  // The next attempt's CONNECT reaches the broker (which takes the session over and replays), its answer does not.
  s.proxy.deafAfterConnect.add(s.proxy.accepted + 1)
  s.proxy.refuse(false)
  await until(5000, () => seen.some((x) => x.type === 'resumed' || x.type === 'gap'), 'the outcome of the resume')
  const outcome = seen.find((x) => x.type === 'resumed' || x.type === 'gap') as Status
  assert.is(outcome.type, 'resumed', 'the slow attempt did not end the session')
  await until(2000, () => got.length >= 8, 'the five published while away')
  assert.equal(got, range(8))
})

test('a second cut in the middle of the replay: the next attempt gets the rest, every message once and in order', async () => {
  const s = await setup()
  const seen = watch(s.c)
  const got = collect(s.c, 'feed')
  await within(2000, s.c.flush(), 'the SUB')
  await cut(s)
  // About 600 KiB of missed messages: a replay of several 64 KiB frames.
  const big = 'x'.repeat(2000)
  for (let i = 0; i < 300; i++) s.pub.publish('feed', { i, big })
  await within(5000, s.pub.flush(), 'the publishes')
  s.proxy.cutAfterConnect.set(s.proxy.accepted + 1, 200 * 1024)
  s.proxy.refuse(false)
  await until(10_000, () => seen.some((x) => x.type === 'resumed' || x.type === 'gap'), 'the outcome of the resume')
  await until(5000, () => got.length >= 300, 'every message')
  const outcome = seen.find((x) => x.type === 'resumed' || x.type === 'gap') as Status
  assert.is(outcome.type, 'resumed')
  assert.ok(s.proxy.accepted >= 3, 'the attempt cut in its replay was followed by another')
  assert.equal(got, range(300))
})

test('an auto-unsubscribe count holds across a resume: max messages in all, then the subscription is gone at the broker', async () => {
  const s = await setup()
  const seen = watch(s.c)
  const got: number[] = []
  s.c.subscribe('capped', { max: 5, callback: (err: unknown, m: Msg | null) => { if (err === null && m !== null) got.push(m.data as number) } })
  await within(2000, s.c.flush(), 'the SUB')
  await publish(s.pub, 'capped', 0, 2)
  await until(2000, () => got.length === 2, 'the first two')
  await cut(s)
  await publish(s.pub, 'capped', 2, 10)
  s.proxy.refuse(false)
  await until(5000, () => seen.some((x) => x.type === 'resumed' || x.type === 'gap'), 'the outcome of the resume')
  await within(2000, s.c.flush(), 'a round trip')
  await publish(s.pub, 'capped', 12, 3)
  await within(2000, s.c.flush(), 'a round trip')
  assert.equal(got, range(5))
  assert.is(s.b.stats().subscriptions, 0, 'nothing left subscribed')
  const outcome = seen.find((x) => x.type === 'resumed' || x.type === 'gap') as Status
  assert.is(outcome.type, 'resumed', `nothing was lost: ${JSON.stringify(outcome)}`)
})

test('a SUB lost in flight at the cut is not reported as resumed with nothing missed', async () => {
  const s = await setup()
  const seen = watch(s.c)
  const early = collect(s.c, 'early')
  await within(2000, s.c.flush(), 'the first SUB')
  // Subscribed while connected; the cut comes before the SUB leaves the client's side of the proxy.
  const late = collect(s.c, 'late')
  const before = s.b.stats().connections
  s.proxy.refuse(true)
  s.proxy.cut()
  await until(2000, () => s.b.stats().connections < before && s.c.state !== 'connected', 'both sides to see the cut')
  assert.is(s.b.stats().subscriptions, 1, 'the broker never got the second SUB')
  await publish(s.pub, 'early', 0, 3)
  await publish(s.pub, 'late', 0, 3)
  s.proxy.refuse(false)
  await until(5000, () => seen.some((x) => x.type === 'resumed' || x.type === 'gap'), 'the outcome of the resume')
  await until(2000, () => early.length === 3, 'the replay')
  await within(2000, s.c.flush(), 'a round trip')
  const outcome = seen.find((x) => x.type === 'resumed' || x.type === 'gap') as Status
  // Either the three arrived, or the status says this subscription may have lost some.
  if (late.length !== 3) {
    assert.is(outcome.type, 'gap', `late got ${late.length} of 3, and the status said ${outcome.type}`)
  }
})

test('a client that received and acknowledged every message of a burst on two subjects resumes with nothing lost', async () => {
  // A burst larger than the session log (messages queued toward a client outrun its acks) on two subjects.
  const s = await setup({ resumeMaxBytes: 4096 })
  const seen = watch(s.c)
  const a = collect(s.c, 'burst.a')
  const b = collect(s.c, 'burst.b')
  await within(2000, s.c.flush(), 'the SUBs')
  for (let i = 0; i < 400; i++) s.pub.publish(i % 2 === 0 ? 'burst.a' : 'burst.b', i)
  await within(2000, s.pub.flush(), 'the burst')
  await until(3000, () => a.length + b.length === 400, 'the whole burst')
  await within(2000, s.c.flush(), 'a round trip') // the client has acknowledged what it counted by now
  await cut(s)
  s.proxy.refuse(false)
  await until(5000, () => seen.some((x) => x.type === 'resumed' || x.type === 'gap'), 'the outcome of the resume')
  const outcome = seen.find((x) => x.type === 'resumed' || x.type === 'gap') as Status
  assert.is(outcome.type, 'resumed', `nothing was lost, yet: ${JSON.stringify(outcome)}`)
})

test('ten resumable clients cut at once while a publisher keeps publishing: each gets every message once, in order', async () => {
  const b = track(await startBroker())
  const proxy = track(await StallProxy.start(b.port))
  const pub = track(await connect(b.url))
  const clients: Array<{ c: Client; got: number[]; seen: Status[] }> = []
  for (let i = 0; i < 10; i++) {
    const c = track(await connect(proxy.url, { resume: true, ...fast }))
    const got = collect(c, 'fan.>')
    clients.push({ c, got, seen: watch(c) })
    await within(2000, c.flush(), 'the SUB')
  }
  let n = 0
  let publishing = true
  const pump = (async () => {
    while (publishing && n < 20_000) {
      for (let i = 0; i < 20; i++) pub.publish('fan.x', n++)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  })()
  await until(3000, () => clients.every((x) => x.got.length > 100), 'live delivery before the cut')
  proxy.refuse(true)
  proxy.cut()
  await until(3000, () => clients.every((x) => x.c.state !== 'connected'), 'every client to see the cut')
  await new Promise((resolve) => setTimeout(resolve, 100))
  proxy.refuse(false)
  await until(5000, () => clients.every((x) => x.seen.some((s) => s.type === 'resumed' || s.type === 'gap')), 'every client back')
  await new Promise((resolve) => setTimeout(resolve, 100))
  publishing = false
  await within(2000, pump, 'the publisher to stop')
  await within(2000, pub.flush(), 'the last publishes')
  await until(5000, () => clients.every((x) => x.got.length >= n), `every client to get all ${n}`)
  for (const x of clients) {
    assert.equal(x.seen.filter((s) => s.type === 'gap'), [], 'no gap')
    assert.ok(x.got.every((v, i) => v === i) && x.got.length === n, `in order, once each (${x.got.length} of ${n})`)
  }
})

test('a cut in the middle of a replay while live messages keep coming behind it: every message once, in order', async () => {
  const s = await setup()
  const seen = watch(s.c)
  const got = collect(s.c, 'feed')
  await within(2000, s.c.flush(), 'the SUB')
  await cut(s)
  const big = 'x'.repeat(2000)
  let n = 0
  for (; n < 300; n++) s.pub.publish('feed', { i: n, big })
  await within(5000, s.pub.flush(), 'the publishes')
  let publishing = true
  const pump = (async () => {
    while (publishing && n < 20_000) {
      for (let i = 0; i < 10; i++) { s.pub.publish('feed', n); n++ }
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  })()
  s.proxy.cutAfterConnect.set(s.proxy.accepted + 1, 200 * 1024)
  s.proxy.refuse(false)
  await until(10_000, () => seen.some((x) => x.type === 'resumed' || x.type === 'gap'), 'the outcome of the resume')
  await new Promise((resolve) => setTimeout(resolve, 100))
  publishing = false
  await within(2000, pump, 'the publisher to stop')
  await within(2000, s.pub.flush(), 'the last publishes')
  await until(5000, () => got.length >= n, `all ${n}`)
  await within(2000, s.c.flush(), 'a round trip')
  assert.ok(s.proxy.accepted >= 3, 'the attempt cut in its replay was followed by another')
  assert.equal(seen.filter((x) => x.type === 'gap'), [])
  assert.ok(got.length === n && got.every((v, i) => v === i), `once each, in order (${got.length} of ${n})`)
})

test('queue-group messages held by parked members when the window ends are counted in their gaps, all of them', async () => {
  const b = track(await startBroker({ resumeWindowMs: 1000 }))
  const proxy = track(await StallProxy.start(b.port))
  const pub = track(await connect(b.url))
  const members: Array<{ c: Client; seen: Status[] }> = []
  for (let i = 0; i < 2; i++) {
    const c = track(await connect(proxy.url, { resume: true, ...fast }))
    c.subscribe('work', { queue: 'q', callback: () => undefined })
    await within(2000, c.flush(), 'the SUB')
    members.push({ c, seen: watch(c) })
  }
  proxy.refuse(true)
  proxy.cut()
  await until(3000, () => b.stats().connections === 1 && members.every((m) => m.c.state !== 'connected'), 'the cut')
  await publish(pub, 'work', 0, 4)
  await until(5000, () => b.stats().subscriptions === 0, 'the window to pass')
  proxy.refuse(false)
  await until(5000, () => members.every((m) => m.seen.some((s) => s.type === 'gap' || s.type === 'resumed')), 'both back')
  let lost = 0
  for (const m of members) {
    const g = m.seen.find((s) => s.type === 'gap' || s.type === 'resumed') as Status
    assert.is(g.type, 'gap')
    if (g.type === 'gap' && g.reason === 'resume') for (const l of g.lost) lost += l.count ?? 0
  }
  assert.is(lost, 4, 'every held message is counted by the member that held it')
})

test.run()
