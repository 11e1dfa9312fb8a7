import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocketServer } from 'ws'
import { connect, type Client, type Status } from '../client/index.ts'
import type { Broker } from '../server/index.ts'
import { SubwireError } from '../shared/errors.ts'
import { MsgpackWriter } from '../shared/msgpack-writer.ts'
import { writeBodyOp, PONG_BYTES } from '../shared/op-writer.ts'
import { OP, PROTOCOL_VERSION } from '../shared/protocol.ts'
import { nonZeroMask } from '../client/transport.ts'
import { cleanupAfterEach, sleep, startBroker, take, until, within } from './helpers.ts'

const track = cleanupAfterEach(test)

const fast = { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } }

/** Records status events of a client as they come. */
function recordStatus(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}

/** A port that was free a moment ago: nothing listens there. */
async function deadPort(): Promise<number> {
  const b = await startBroker()
  const port = b.port
  await b.close()
  return port
}

test('reconnects after the broker restarts on the same port, resubscribes, and delivers publishes made in the gap', async () => {
  let b: Broker = await startBroker()
  const port = b.port
  const c = track(await connect(b.url, fast))
  const events = recordStatus(c)
  const sub = c.subscribe('gap.>')
  await c.flush()
  await b.close()
  await until(2000, () => c.state === 'reconnecting', 'the client to notice')
  c.publish('gap.during', 'while down')
  b = track(await startBroker({ port }))
  await until(3000, () => c.state === 'connected', 'the reconnect')
  const [m] = await take(sub, 1)
  assert.is(m.subject, 'gap.during')
  assert.is(m.data, 'while down')
  c.publish('gap.after', 2)
  assert.is((await take(sub, 1))[0].subject, 'gap.after')
  const types = events.map((e) => e.type)
  const d = types.indexOf('disconnect')
  const r1 = types.indexOf('reconnecting')
  const r2 = types.indexOf('reconnect')
  assert.ok(d >= 0 && r1 > d && r2 > r1, `status sequence was ${types.join(', ')}`)
})

test('restores every subscription before sending the offline buffer', async () => {
  let b: Broker = await startBroker()
  const port = b.port
  const c = track(await connect(b.url, fast))
  const subs = Array.from({ length: 20 }, (_, i) => c.subscribe(`many.${i}`))
  await c.flush()
  await b.close()
  await until(2000, () => c.state === 'reconnecting', 'the client to notice')
  for (let i = 0; i < 20; i++) c.publish(`many.${i}`, i)
  b = track(await startBroker({ port }))
  for (let i = 0; i < 20; i++) assert.is((await take(subs[i], 1, 3000))[0].data, i)
})

test('fails over to the second server URL when the first is down', async () => {
  const down = await deadPort()
  const b = track(await startBroker())
  const c = track(await connect([`ws://127.0.0.1:${down}/`, b.url], fast))
  assert.is(c.server, b.url)
  const s = c.subscribe('fo')
  c.publish('fo', 1)
  assert.is((await take(s, 1))[0].data, 1)
})

test('moves to the other server when its broker goes away', async () => {
  const a = await startBroker()
  const b = track(await startBroker())
  const c = track(await connect([a.url, b.url], fast))
  assert.is(c.server, a.url)
  const s = c.subscribe('move')
  await c.flush()
  await a.close()
  await until(3000, () => c.state === 'connected' && c.server === b.url, 'failover to the second broker')
  c.publish('move', 'here')
  assert.is((await take(s, 1))[0].data, 'here')
})

test('rejects connect with connection_refused when no URL accepts', async () => {
  const p1 = await deadPort()
  const p2 = await deadPort()
  const err = await connect([`ws://127.0.0.1:${p1}/`, `ws://127.0.0.1:${p2}/`], fast).catch((e: unknown) => e)
  assert.instance(err, SubwireError)
  assert.is((err as SubwireError).code, 'connection_refused')
})

test('throws disconnected_buffer_full past maxPendingBytes while disconnected', async () => {
  const b = await startBroker()
  const c = track(await connect(b.url, { ...fast, maxPendingBytes: 10_000 }))
  await b.close()
  await until(2000, () => c.state === 'reconnecting', 'the client to notice')
  const chunk = new Uint8Array(1000)
  let thrown: unknown = null
  for (let i = 0; i < 20 && thrown === null; i++) {
    try { c.publish('x', chunk) } catch (err) { thrown = err }
  }
  assert.is((thrown as SubwireError).code, 'disconnected_buffer_full')
})

test('gives up after reconnect.maxAttempts and resolves closed with the error', async () => {
  const b = await startBroker()
  const c = await connect(b.url, { reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 } })
  const events = recordStatus(c)
  await b.close()
  const result = await within(3000, c.closed, 'the client to give up')
  assert.instance(result, SubwireError)
  assert.is(events.filter((e) => e.type === 'reconnecting').length, 3)
  assert.is(c.state, 'closed')
})

test('detects a server that stops answering and reconnects', async () => {
  // A fake server: handshakes with a 50 ms heartbeat, then never says anything again.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => [...p][0] ?? false })
  track({ close: () => new Promise((resolve) => wss.close(resolve)) })
  let connections = 0
  wss.on('connection', (ws) => {
    connections++
    const w = new MsgpackWriter(256)
    writeBodyOp(w, OP.INFO, { serverId: 'fake', protocol: PROTOCOL_VERSION, maxPayload: 1 << 20, maxFrame: 4 << 20, maxSubjectLength: 256, heartbeatMs: 50, clientId: 'x' })
    ws.send(w.finish())
    ws.once('message', () => ws.send(PONG_BYTES)) // answers the handshake PING only
  })
  await new Promise((resolve) => wss.once('listening', resolve))
  const port = (wss.address() as { port: number }).port
  const c = track(await connect(`ws://127.0.0.1:${port}/`, fast))
  const events = recordStatus(c)
  await until(3000, () => events.some((e) => e.type === 'stale') && connections >= 2, 'a stale detection and a new connection')
})

test('flush resolves after the server has processed everything sent before it', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  for (let i = 0; i < 1000; i++) c.publish('f', i)
  await within(2000, c.flush(), 'flush')
  assert.is(b.stats().published, 1000)
})

test('drain delivers the messages already on their way, then closes', async () => {
  const b = track(await startBroker())
  const pub = track(await connect(b.url))
  const c = await connect(b.url)
  const got: number[] = []
  c.subscribe('d', { callback: (_e, m) => { got.push(m?.data as number) } })
  await c.flush()
  for (let i = 0; i < 500; i++) pub.publish('d', i)
  await pub.flush()
  await within(3000, c.drain(), 'drain')
  assert.is(got.length, 500)
  assert.is(c.state, 'closed')
  assert.is(await c.closed, undefined)
})

test('sub.drain ends the iterator after messages in flight', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  const s = c.subscribe('sd')
  for (let i = 0; i < 5; i++) c.publish('sd', i)
  await c.flush()
  await within(2000, s.drain(), 'drain')
  const got: unknown[] = []
  await within(2000, (async () => { for await (const m of s) got.push(m.data) })(), 'iteration to end')
  assert.equal(got, [0, 1, 2, 3, 4])
})

test('throws bad_subject at once for an invalid subscription subject', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  for (const subject of ['', 'a..b', 'a.>.b', 'a b', 'a*']) {
    try {
      c.subscribe(subject)
      assert.unreachable(`subscribe(${JSON.stringify(subject)}) should throw`)
    } catch (err) {
      assert.is((err as SubwireError).code, 'bad_subject', subject)
    }
  }
})

test('rejects pending requests with connection_closed on close', async () => {
  const b = track(await startBroker())
  const c = await connect(b.url)
  const svc = track(await connect(b.url))
  svc.subscribe('hang', { callback: () => undefined })
  await svc.flush()
  const pending = c.request('hang', 1, { timeout: 5000 }).catch((e: unknown) => e)
  await c.flush()
  await c.close()
  assert.is(((await pending) as SubwireError).code, 'connection_closed')
  try { c.publish('x', 1); assert.unreachable() } catch (err) { assert.is((err as SubwireError).code, 'connection_closed') }
})

test('fetches a fresh token from the token function on every reconnect', async () => {
  let b: Broker = await startBroker()
  const port = b.port
  let calls = 0
  const c = track(await connect(b.url, { ...fast, token: async () => `t${++calls}` }))
  assert.is(calls, 1)
  await b.close()
  b = track(await startBroker({ port }))
  await until(3000, () => c.state === 'connected' && calls >= 2, 'a reconnect with a new token')
})

test('keeps the connection across a long idle period with short heartbeats', async () => {
  const b = track(await startBroker({ heartbeatMs: 30 }))
  const c = track(await connect(b.url))
  const events = recordStatus(c)
  await sleep(300)
  assert.is(c.state, 'connected')
  assert.is(events.length, 0)
})

test('unsubscribes when a for-await loop over a subscription is left early', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  const s = c.subscribe('leave')
  c.publish('leave', 1)
  c.publish('leave', 2)
  for await (const m of s) { assert.is(m.data, 1); break }
  await c.flush()
  assert.is(b.stats().subscriptions, 0)
  assert.ok(s.isClosed)
})

// The client writes every flush straight from its reusable buffer (no copy): the socket must have taken the
// bytes before the next burst overwrites them.
test('delivers every byte of bursts published back to back while earlier frames are still being written', async () => {
  // A small high-water mark and a subscriber that stalls now and then make the broker pause the publisher's
  // socket, so its writes queue in the socket while the next bursts are being written.
  const b = track(await startBroker({ highWaterBytes: 4096, stallMs: 5_000 }))
  const pub = track(await connect(b.url))
  const sub = track(await connect(b.url))
  const BURSTS = 40
  const PER_BURST = 500
  const got: Uint8Array[] = []
  sub.subscribe('burst.check', {
    callback: (_e, m) => {
      if (m === null) return
      got.push((m.data as Uint8Array).slice())
      if (got.length % 2000 === 0) { const until = performance.now() + 5; while (performance.now() < until) { /* a slow consumer */ } }
    },
  })
  await sub.flush()
  const payload = (n: number): Uint8Array => {
    const p = new Uint8Array(64 + (n % 97))
    for (let i = 0; i < p.length; i++) p[i] = (n * 31 + i) & 0xff
    return p
  }
  for (let burst = 0; burst < BURSTS; burst++) {
    for (let i = 0; i < PER_BURST; i++) pub.publish('burst.check', payload(burst * PER_BURST + i))
    await new Promise((resolve) => setImmediate(resolve)) // one flush per burst, the next burst right behind it
  }
  await pub.flush()
  await until(20_000, () => got.length === BURSTS * PER_BURST, 'every message to arrive')
  for (let n = 0; n < got.length; n++) assert.equal(got[n], payload(n), `message ${n} arrived as published`)
})


test('never gives ws an all-zero mask, with which ws would keep the caller\'s buffer instead of masking a copy', () => {
  const real = globalThis.crypto.getRandomValues.bind(globalThis.crypto)
  let calls = 0
  // The first refill of the mask pool is all zeros; the masks drawn from it must be skipped, not used.
  const zeroFirst = (array: Uint8Array): Uint8Array => {
    calls++
    if (calls === 1) return array.fill(0)
    return real(array)
  }
  globalThis.crypto.getRandomValues = zeroFirst as typeof globalThis.crypto.getRandomValues
  try {
    const mask = new Uint8Array(4)
    for (let i = 0; i < 5_000; i++) {
      nonZeroMask(mask)
      assert.ok((mask[0] | mask[1] | mask[2] | mask[3]) !== 0, `mask ${i} is not all zeros`)
    }
  } finally {
    globalThis.crypto.getRandomValues = real
  }
})
test.run()
