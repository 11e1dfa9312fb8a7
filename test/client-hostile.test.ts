/**
 * The client against a broken or hostile server (issue 17 §4): what a server announces is clamped, a slow
 * `for await` reader holds a bounded queue, every failure ends in `disconnect` + reconnect, and misuse of a
 * subscription is refused at once. The hostile servers are tiny `ws` servers (test/client/fake-server.ts) that
 * speak just enough protocol (INFO, PONG to the client's PINGs) before doing the one bad thing each test is about.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Status } from '../client/index.ts'
import { SubwireError } from '../shared/errors.ts'
import { PONG_BYTES, writeBodyOp, writeMsg, writePub } from '../shared/op-writer.ts'
import { ENCODING, OP, PROTOCOL_VERSION } from '../shared/protocol.ts'
import { FakeServer, frame, type FakeConn } from './client/fake-server.ts'
import { cleanupAfterEach, sleep, startBroker, until, within } from './helpers.ts'
import { collectGarbage } from './hostile/memory.ts'
import { concat } from './hostile/wire.ts'

const track = cleanupAfterEach(test)

const fast = { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } }

/** 0xc1 is the one byte msgpack never uses: any frame holding it is malformed. */
const GARBAGE = Uint8Array.of(0xc1)

/** Records a client's status events as they come. */
function recordStatus(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}

/**
 * The status events of one client make sense as a state machine: `disconnect` only while connected,
 * `reconnect` only while not, and each reconnect loop counts its attempts 1, 2, 3, … (a second loop running
 * beside the first starts over at 1, and its connection is never closed).
 */
function assertOneReconnectLoop(events: Status[]): void {
  let connected = true
  let attempt = 0
  for (const e of events) {
    if (e.type === 'disconnect') {
      assert.ok(connected, `a disconnect while not connected: ${events.map((x) => x.type).join(', ')}`)
      connected = false
      attempt = 0
    } else if (e.type === 'reconnect') {
      assert.ok(!connected, `a reconnect while connected: ${events.map((x) => x.type).join(', ')}`)
      connected = true
    } else if (e.type === 'reconnecting') {
      assert.is(e.attempt, attempt + 1, `reconnect attempts ${events.filter((x) => x.type === 'reconnecting').map((x) => (x as { attempt: number }).attempt).join(', ')}`)
      attempt = e.attempt
    }
  }
}

// ---- 1. what a server announces is clamped ----------------------------------------------------------------

test('clamps the heartbeat a server announces, so 0, 1e12, NaN, a string or a negative number never floods it with PINGs', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  try {
    const rows: Array<[unknown, number]> = [[0, 100], [1e12, 300_000], [Number.NaN, 20_000], ['5', 20_000], [-5, 100], [2.5, 100]]
    await Promise.all(rows.map(async ([announced, expected]) => {
      const server = track(await FakeServer.start({ info: () => ({ heartbeatMs: announced }) }))
      const c = track(await within(3000, connect(server.url, fast), 'connect'))
      assert.is(c.info?.heartbeatMs, expected, `heartbeatMs ${String(announced)}`)
      await sleep(500)
      // At the floor of 100 ms the client probes about five times in 500 ms; unclamped it was about 450.
      assert.ok(server.pings <= 6, `heartbeatMs ${String(announced)}: ${server.pings} PINGs in 500 ms`)
    }))
    assert.equal(warnings.filter((w) => w === 'TimeoutOverflowWarning'), [])
  } finally {
    process.off('warning', onWarning)
  }
})

test('sanitizes every limit a server announces in INFO, falling back to the default for a non-number', async () => {
  const rows: Array<{ announced: Record<string, unknown>; expected: Record<string, unknown> }> = [
    { announced: { maxPayload: Number.NaN, maxSubjectLength: 'long', maxFrame: null }, expected: { maxPayload: 1 << 20, maxSubjectLength: 256, maxFrame: 4 << 20 } },
    { announced: { maxPayload: 0, maxSubjectLength: 0, maxFrame: -1 }, expected: { maxPayload: 1024, maxSubjectLength: 16, maxFrame: 64 * 1024 } },
    { announced: { maxPayload: 1e15, maxSubjectLength: 1e9, maxFrame: 1e300 }, expected: { maxPayload: 64 << 20, maxSubjectLength: 4096, maxFrame: 256 << 20 } },
    { announced: { maxPayload: 4096.7, serverId: 42, clientId: { x: 1 }, protocol: 'one' }, expected: { maxPayload: 4096, serverId: '', clientId: '', protocol: PROTOCOL_VERSION } },
  ]
  for (const { announced, expected } of rows) {
    const server = track(await FakeServer.start({ info: () => announced }))
    const c = track(await within(3000, connect(server.url, fast), 'connect'))
    for (const [key, value] of Object.entries(expected)) assert.is((c.info as unknown as Record<string, unknown>)[key], value, `${key} from ${JSON.stringify(announced)}`)
    // The checks built on them still work: a subject is accepted, a payload over the (clamped) limit is not.
    c.subscribe('a.b')
    assert.is(codeOfPublish(c, new Uint8Array((c.info?.maxPayload ?? 0) + 1)), 'max_payload')
    assert.is(codeOfPublish(c, new Uint8Array(10)), 'no error')
  }
})

function codeOfPublish(c: Client, data: Uint8Array): string {
  try { c.publish('a.b', data) } catch (err) { return (err as SubwireError).code }
  return 'no error'
}

test('sanitizes an INFO that updates the limits on a live connection, too', async () => {
  const server = track(await FakeServer.start({
    handshake: (conn) => conn.ws.send(concat(PONG_BYTES, frame((w) => writeBodyOp(w, OP.INFO, { maxPayload: -7, heartbeatMs: Number.NaN })))),
  }))
  const c = track(await within(3000, connect(server.url, fast), 'connect'))
  await within(2000, c.flush(), 'flush')
  assert.is(c.info?.maxPayload, 1024)
  assert.is(c.info?.heartbeatMs, 20_000)
})

test('refreshes credentials at most once a second whatever authExpiresAt a server announces', async () => {
  await Promise.all([0, Number.NaN, -1e12].map(async (expiresAt) => {
    // Every answer to CONNECT or AUTH says the credentials expire at `expiresAt`.
    const answer = (conn: FakeConn): void => { conn.ws.send(frame((w) => writeBodyOp(w, OP.INFO, { authExpiresAt: expiresAt }))) }
    const server = track(await FakeServer.start({ handshake: (conn) => { conn.ws.send(PONG_BYTES); answer(conn) }, auth: answer }))
    let calls = 0
    const c = track(await within(3000, connect(server.url, { ...fast, token: () => `t${++calls}` }), 'connect'))
    await sleep(1500)
    // Unclamped, 0 and NaN each made about 750 token calls a second.
    assert.ok(calls <= 3, `authExpiresAt ${expiresAt}: ${calls} token calls in 1.5 s`)
    assert.is(c.state, 'connected')
  }))
})

test('waits at most five minutes (plus jitter) when a refusing server asks for a Retry-After of years', async () => {
  let refuse = false
  let upgrades = 0
  const server = track(await FakeServer.start({}, {
    verifyClient: (_info: unknown, done: (ok: boolean, status?: number, message?: string, headers?: Record<string, string>) => void) => {
      upgrades++
      if (refuse) done(false, 503, 'busy', { 'Retry-After': '1000000000', 'X-Subwire-Error': 'limit' })
      else done(true)
    },
  }))
  const c = track(await within(3000, connect(server.url, fast), 'connect'))
  const events = recordStatus(c)
  refuse = true
  server.conns[0].ws.close(1001, 'server_closing')
  await until(2000, () => upgrades >= 2, 'the first reconnect attempt')
  await sleep(300)
  // Unclamped, the wait overflowed the timer into 1 ms and the client hammered the server.
  assert.is(upgrades, 2, `${upgrades} handshakes in 300 ms`)
  const waits = events.flatMap((e) => (e.type === 'reconnecting' ? [e.delayMs] : []))
  assert.ok(waits.length >= 2 && waits[1] <= 450_000 && waits[1] >= 300_000, `waits ${waits.join(', ')}`)
})

// ---- 2. a slow for-await reader holds a bounded queue -------------------------------------------------------

test('holds at most maxPending messages for a for-await reader that does not read, drops the rest and reports them as slow_consumer', async () => {
  const b = track(await startBroker())
  const pub = track(await connect(b.url))
  const c = track(await connect(b.url))
  const events = recordStatus(c)
  const sub = c.subscribe('slow.read', { maxPending: 1000 })
  await c.flush()
  for (let i = 0; i < 50_000; i++) pub.publish('slow.read', i)
  await within(10_000, pub.flush(), 'the publishes')
  await within(10_000, c.flush(), 'the deliveries')
  assert.is(sub.pending, 1000)
  assert.is(sub.dropped, 49_000)
  const reports = (): Array<Extract<Status, { type: 'slow_consumer' }>> => events.filter((e): e is Extract<Status, { type: 'slow_consumer' }> => e.type === 'slow_consumer')
  // Drops are reported at once, then at most once a second: the last report comes within about a second.
  await until(2500, () => reports().reduce((n, r) => n + r.dropped, 0) === 49_000, 'every drop reported')
  assert.equal({ sid: reports()[0].sid, subject: reports()[0].subject, source: reports()[0].source }, { sid: sub.sid, subject: 'slow.read', source: 'client' })
  assert.is(reports().at(-1)?.total, 49_000)
  // The queue keeps the oldest: 0..999 in order, then room again for what comes next.
  const it = sub[Symbol.asyncIterator]()
  for (let i = 0; i < 1000; i++) assert.is((await within(1000, it.next(), 'a queued message')).value.data, i)
  pub.publish('slow.read', 'after')
  assert.is((await within(2000, it.next(), 'a message after the queue drained')).value.data, 'after')
  assert.is(c.state, 'connected')
})

test('keeps the memory of a slow for-await reader bounded by the default budget while 50,000 messages arrive', async () => {
  const b = track(await startBroker())
  const pub = track(await connect(b.url))
  const c = track(await connect(b.url))
  const events = recordStatus(c)
  const sub = c.subscribe('slow.memory')
  await c.flush()
  // The reader takes a message every 2 ms: far slower than the 50,000 messages (100 MiB) arrive.
  let read = 0
  let maxPendingBytes = 0
  let stop = false
  const reader = (async () => {
    for await (const m of sub) {
      void m
      read++
      maxPendingBytes = Math.max(maxPendingBytes, sub.pendingBytes)
      if (stop) break
      await sleep(2)
    }
  })()
  collectGarbage()
  const before = process.memoryUsage()
  const payload = new Uint8Array(2048)
  for (let i = 0; i < 50_000; i++) {
    pub.publish('slow.memory', payload)
    if (i % 1000 === 999) await within(5000, pub.flush(), 'a batch of publishes')
  }
  await within(10_000, c.flush(), 'the deliveries')
  maxPendingBytes = Math.max(maxPendingBytes, sub.pendingBytes)
  const [held, dropped, done] = [sub.pending, sub.dropped, read]
  collectGarbage()
  const after = process.memoryUsage()
  const grew = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / 2 ** 20
  stop = true
  await within(2000, reader, 'the reader to stop')
  assert.ok(maxPendingBytes <= 8 * 2 ** 20, `the queue held ${maxPendingBytes} bytes`)
  // Unbounded, the queue held all 100 MiB of payloads.
  assert.ok(grew < 40, `memory grew by ${grew.toFixed(1)} MiB`)
  // Every message is accounted for: read, still queued, or dropped and reported.
  assert.ok(dropped > 0 && done + dropped + held === 50_000, `read ${done}, dropped ${dropped}, pending ${held}`)
  await until(2000, () => events.some((e) => e.type === 'slow_consumer'), 'a slow_consumer status')
})

test('counts the frames a queued message keeps alive against maxPendingBytes', async () => {
  const b = track(await startBroker())
  const pub = track(await connect(b.url))
  const c = track(await connect(b.url))
  const sub = c.subscribe('slow.bytes', { maxPendingBytes: 256 * 1024 })
  await c.flush()
  for (let i = 0; i < 20_000; i++) pub.publish('slow.bytes', i)
  await within(10_000, pub.flush(), 'the publishes')
  await within(10_000, c.flush(), 'the deliveries')
  assert.ok(sub.pendingBytes <= 256 * 1024, `${sub.pendingBytes} bytes held`)
  assert.ok(sub.pending > 0 && sub.dropped > 0 && sub.pending + sub.dropped === 20_000, `pending ${sub.pending}, dropped ${sub.dropped}`)
})

test('refuses a maxPending or maxPendingBytes that is not a positive integer with bad_option', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  for (const bad of [0, -1, 1.5, Number.NaN, '10']) {
    for (const key of ['maxPending', 'maxPendingBytes']) {
      try {
        c.subscribe('x', { [key]: bad } as Record<string, unknown>)
        assert.unreachable(`${key}: ${String(bad)} should be refused`)
      } catch (err) {
        assert.is((err as SubwireError).code, 'bad_option', `${key}: ${String(bad)}`)
      }
    }
  }
  c.subscribe('x', { maxPending: Number.POSITIVE_INFINITY, maxPendingBytes: Number.POSITIVE_INFINITY })
})

test('marks a slow_consumer event from the broker as the broker\'s, with its sid', async () => {
  const server = track(await FakeServer.start())
  const c = track(await within(3000, connect(server.url, fast), 'connect'))
  const events = recordStatus(c)
  const sub = c.subscribe('ev')
  await c.flush()
  server.conns[0].ws.send(frame((w) => { w.arrayHeader(4); w.uint(OP.EVENT); w.uint(sub.sid); w.str('slow_consumer'); w.value({ dropped: 5, total: Number.NaN, subject: 'ev' }) }))
  await until(2000, () => events.some((e) => e.type === 'slow_consumer'), 'the status')
  assert.equal(events.find((e) => e.type === 'slow_consumer'), { type: 'slow_consumer', sid: sub.sid, subject: 'ev', dropped: 5, total: 0, source: 'broker' })
})

// ---- 3. every failure ends in disconnect + reconnect ------------------------------------------------------

test('rejects connect() with protocol when a bad frame follows the handshake PONG in the same read, leaving no socket open', async () => {
  const server = track(await FakeServer.start({ handshake: (conn) => conn.ws.send(concat(PONG_BYTES, GARBAGE)) }))
  const err = await within(3000, connect(server.url, { reconnect: false }).then(() => null, (e: unknown) => e), 'connect to fail')
  assert.instance(err, SubwireError)
  assert.is((err as SubwireError).code, 'protocol')
  await until(2000, () => server.open === 0, 'the socket to close')
})

/**
 * What a hostile server does on one connection, in place of an honest handshake. In every row but one the
 * client sees the failure before the connection goes live, so what was published meanwhile waits for the
 * next connection. A socket closed after its PONG may go live first and take the publishes down with it:
 * core publishes are at most once (README, Guarantees), so that row checks the flush only.
 */
const HOSTILE_HANDSHAKES: Array<[string, (conn: FakeConn) => void, ('carried' | 'at most once')?]> = [
  ['a bad frame in the same read as the PONG', (conn) => conn.ws.send(concat(PONG_BYTES, GARBAGE))],
  ['a bad frame right after the PONG', (conn) => { conn.ws.send(PONG_BYTES); conn.ws.send(GARBAGE) }],
  ['an op only clients send, after the PONG', (conn) => conn.ws.send(concat(PONG_BYTES, frame((w) => writePub(w, 0, 'x', null, null, ENCODING.raw, new Uint8Array(1)))))],
  ['a text frame after the PONG', (conn) => { conn.ws.send(PONG_BYTES); conn.ws.send('[7]') }],
  ['a MSG with an unknown encoding after the PONG', (conn) => conn.ws.send(concat(PONG_BYTES, frame((w) => writeMsg(w, 1, 'x', null, null, 9, new Uint8Array(1)))))],
  ['the socket closed right after the PONG', (conn) => { conn.ws.send(PONG_BYTES); conn.ws.terminate() }, 'at most once'],
  ['the socket closed instead of the PONG', (conn) => conn.ws.close(4000, 'protocol')],
  ['an ERR instead of the PONG', (conn) => conn.ws.send(frame((w) => { w.arrayHeader(4); w.uint(OP.ERR); w.str('auth_failed'); w.str('no'); w.nil() }))],
  ['silence instead of the PONG (the handshake times out)', () => undefined],
]

for (const [what, hostile, publishes = 'carried'] of HOSTILE_HANDSHAKES) {
  test(`ends in disconnect and one reconnect loop after ${what}; flush() and publishes carry over to the next connection`, async () => {
    // Connection 0 is honest, 1 and 2 are hostile, 3 and later honest again.
    const server = track(await FakeServer.start({ handshake: (conn) => (conn.n === 1 || conn.n === 2 ? hostile(conn) : conn.ws.send(PONG_BYTES)) }))
    const c = track(await within(3000, connect(server.url, { ...fast, connectTimeoutMs: 200 }), 'connect'))
    const events = recordStatus(c)
    server.conns[0].ws.close(1001, 'server_closing')
    await until(2000, () => events.some((e) => e.type === 'disconnect'), 'the client to notice')
    const flushed = c.flush()
    c.publish('carried.over', 1)
    await within(5000, flushed, 'flush() on the next honest connection')
    if (publishes === 'carried') await until(3000, () => server.conns.some((conn) => conn.pubs.includes('carried.over')), 'the publish on the next honest connection')
    assert.is(c.state, 'connected')
    assert.ok(server.conns.length >= 4, `${server.conns.length} connections`)
    await within(2000, c.flush(), 'another flush')
    await sleep(100)
    assert.is(server.open, 1, 'one socket open, no second reconnect loop')
    assertOneReconnectLoop(events)
  })
}

test('stays connected and keeps delivering when a subscription callback throws', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  const events = recordStatus(c)
  let calls = 0
  c.subscribe('throws', { callback: () => { calls++; throw new Error('user bug') } })
  const s = c.subscribe('throws')
  for (let i = 0; i < 3; i++) c.publish('throws', i)
  await within(2000, c.flush(), 'flush')
  assert.is(calls, 3)
  assert.is(s.pending, 3)
  assert.is(c.state, 'connected')
  assert.ok(events.filter((e) => e.type === 'error').length === 3)
})

// ---- 4. misuse is refused at once --------------------------------------------------------------------------

test('refuses for-await on a subscription that has a callback with bad_option at once', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  const sub = c.subscribe('cb', { callback: () => undefined })
  const err = await within(1000, (async () => { for await (const m of sub) void m })().then(() => null, (e: unknown) => e), 'for await to fail')
  assert.instance(err, SubwireError)
  assert.is((err as SubwireError).code, 'bad_option')
  assert.not.ok(sub.isClosed, 'the callback subscription goes on')
})

test.run()
