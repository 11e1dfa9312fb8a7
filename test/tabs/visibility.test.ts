/**
 * Background tabs and flaky networks (issue 16 §3), in Node through the `pageEvents` seam: a page becoming
 * visible or going online checks the connection at once (a PING answered within `checkTimeoutMs`, else the
 * connection is stale and the client reconnects), a reconnect waiting out its backoff tries at once, and a
 * heartbeat whose timer fires late (a throttled tab) checks instead of forgetting, so a dead connection is found.
 * A dead connection is played by a TCP proxy that stops forwarding without closing anything.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type PageEvent, type PageEvents, type Status } from '../../client/index.ts'
import { Heartbeat } from '../../client/heartbeat.ts'
import type { Broker } from '../../server/index.ts'
import { sleep, startBroker, until, within } from '../helpers.ts'
import { SilentProxy } from './silent-proxy.ts'

/** A page whose events the test fires. */
class FakePage implements PageEvents {
  readonly #listeners = new Set<(e: PageEvent) => void>()
  listen(fn: (e: PageEvent) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }
  fire(e: PageEvent): void { for (const fn of this.#listeners) fn(e) }
  get listeners(): number { return this.#listeners.size }
}

const open: Array<{ close(): Promise<unknown> }> = []
test.after.each(async () => {
  for (const x of open.splice(0).reverse()) await within(5000, x.close(), 'cleanup').catch(() => undefined)
})

function statuses(c: Client): Status['type'][] {
  const seen: Status['type'][] = []
  void (async () => { for await (const s of c.status()) seen.push(s.type) })()
  return seen
}

test('a page becoming visible checks the connection at once: a dead one is stale within checkTimeoutMs and reconnects', async () => {
  const broker: Broker = await startBroker()
  open.push(broker)
  const proxy = new SilentProxy(broker.port)
  open.push(proxy)
  const page = new FakePage()
  // connectTimeoutMs: a reconnect attempt made before speak() has its handshake swallowed by the proxy, and
  // must give up soon enough for the next one to get through (with the default 10 s it failed under load).
  const c = await within(5000, connect(await proxy.listen(), { pageEvents: page, checkTimeoutMs: 200, connectTimeoutMs: 1000, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } }), 'connect')
  open.push(c)
  const seen = statuses(c)
  proxy.silence()
  page.fire('hidden')
  await sleep(50)
  assert.equal(seen, [], 'hidden checks nothing')
  // The broker's heartbeat is 20 s: without the check, nothing would notice for 40 s.
  page.fire('visible')
  await until(3000, () => seen.includes('stale'), 'the stale status').catch((e: Error) => { throw new Error(`${e.message}; seen ${seen.join(',')}`) })
  proxy.speak()
  await until(5000, () => seen.includes('reconnect'), 'the reconnect')
  assert.is(c.state, 'connected')
})

test('going online on a live connection checks it and keeps it', async () => {
  const broker: Broker = await startBroker()
  open.push(broker)
  const page = new FakePage()
  const c = await within(5000, connect(broker.url, { pageEvents: page, checkTimeoutMs: 100 }), 'connect')
  open.push(c)
  const seen = statuses(c)
  page.fire('online')
  page.fire('visible') // a second check while one is under way is the same check
  await sleep(300)
  assert.equal(seen, [])
  assert.is(c.state, 'connected')
})

test('going online while a reconnect waits out its backoff tries at once', async () => {
  let broker: Broker = await startBroker()
  const port = broker.port
  const page = new FakePage()
  const c = await within(5000, connect(broker.url, { pageEvents: page, reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } }), 'connect')
  open.push(c)
  const seen = statuses(c)
  await within(5000, broker.close(), 'the broker to close')
  // The first retry comes soon after a server closing (and fails); the second waits up to a minute.
  await until(5000, () => seen.filter((s) => s === 'reconnecting').length === 2, 'the second reconnect wait')
  broker = await startBroker({ port })
  open.push(broker)
  page.fire('online')
  await until(3000, () => seen.includes('reconnect'), 'the reconnect after online')
  assert.is(c.state, 'connected')
})

test('a closed client stops listening to the page', async () => {
  const broker: Broker = await startBroker()
  open.push(broker)
  const page = new FakePage()
  const c = await within(5000, connect(broker.url, { pageEvents: page }), 'connect')
  assert.is(page.listeners, 1)
  await within(3000, c.close(), 'close')
  assert.is(page.listeners, 0)
})

/** Blocks the event loop, as a throttled tab delays its timers: the next beat fires late. */
function stall(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) { /* busy */ }
}

test('a heartbeat whose every beat fires late (a throttled tab) still finds a dead connection', async () => {
  let stale = 0
  let probes = 0
  const hb = new Heartbeat({ probe: () => { probes++; stall(60) }, stale: () => { stale++ }, wake: () => {} }, { pageEvents: false, checkTimeoutMs: 20 })
  hb.start(20)
  try {
    await until(3000, () => stale > 0, 'the heartbeat to call the connection stale')
  } finally {
    hb.dispose()
  }
  assert.ok(probes >= 1)
})

test('a heartbeat whose beats fire late on a live connection never calls it stale', async () => {
  let stale = 0
  let probes = 0
  // Every probe is answered (heard) before the next beat, however late that beat is.
  const hb: Heartbeat = new Heartbeat({ probe: () => { probes++; queueMicrotask(() => hb.heard()); stall(60) }, stale: () => { stale++ }, wake: () => {} }, { pageEvents: false, checkTimeoutMs: 20 })
  hb.start(20)
  try {
    await until(3000, () => probes >= 8, 'eight beats')
  } finally {
    hb.dispose()
  }
  assert.is(stale, 0)
})

test('checkTimeoutMs and pageEvents out of range are refused as bad_option', async () => {
  const code = async (options: Record<string, unknown>): Promise<string> => {
    try {
      await connect('ws://127.0.0.1:1/', { reconnect: false, ...options })
      return 'no error'
    } catch (err) {
      return (err as { code?: string }).code ?? String(err)
    }
  }
  assert.is(await code({ checkTimeoutMs: 0 }), 'bad_option')
  assert.is(await code({ checkTimeoutMs: 1.5 }), 'bad_option')
  assert.is(await code({ pageEvents: 'document' }), 'bad_option')
  assert.is(await code({ pageEvents: {} }), 'bad_option')
})

test.run()
