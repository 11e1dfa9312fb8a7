import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect, type Client } from '../client/index.ts'
import type { Broker } from '../server/index.ts'
import { CLOSE_CODE, OP, PUB_FLAG, SUBPROTOCOL, ENCODING, STATUS_HEADER } from '../shared/protocol.ts'
import { SubwireError } from '../shared/errors.ts'
import { writePub, writeSub, writeUnsub, PING_BYTES } from '../shared/op-writer.ts'
import { cleanupAfterEach, RawClient, sleep, startBroker, take, until, within, type RawOp } from './helpers.ts'

const track = cleanupAfterEach(test)

async function brokerAndClients(n: number, options = {}): Promise<{ b: Broker; clients: Client[] }> {
  const b = track(await startBroker(options))
  const clients: Client[] = []
  for (let i = 0; i < n; i++) clients.push(track(await within(3000, connect(b.url), 'connect')))
  return { b, clients }
}

const isErr = (code: string) => (op: RawOp) => op.op === 'ERR' && op.code === code

test('delivers a message to every matching subscription and to no other', async () => {
  const { clients: [pub, sub] } = await brokerAndClients(2)
  const gt = sub.subscribe('orders.>')
  const star = sub.subscribe('orders.*.created')
  const exact = sub.subscribe('orders.eu.created')
  const other = sub.subscribe('orders.us.created')
  await sub.flush()
  pub.publish('orders.eu.created', { id: 1 })
  await pub.flush()
  for (const s of [gt, star, exact]) {
    const [m] = await take(s, 1)
    assert.is(m.subject, 'orders.eu.created')
    assert.equal(m.data, { id: 1 })
  }
  await sub.flush()
  assert.is(other.pending, 0)
})

test('carries headers, reply subjects and every payload kind unchanged', async () => {
  const { clients: [c] } = await brokerAndClients(1)
  const s = c.subscribe('kinds.*')
  const payloads: unknown[] = [{ a: [1, 2, { b: 'c' }] }, 'text', 42, 1.5, null, true, new Uint8Array([0, 255, 7]), undefined]
  payloads.forEach((p, i) => c.publish(`kinds.k${i}`, p, { headers: { n: String(i) }, reply: `r.${i}` }))
  const got = await take(s, payloads.length)
  got.forEach((m, i) => {
    assert.equal(m.data, payloads[i])
    assert.equal(m.headers, { n: String(i) })
    assert.is(m.reply, `r.${i}`)
  })
})

test('spreads a queue group fairly: 4 members, 10,000 messages, each gets 20% to 30%', async () => {
  const { clients: [pub, ...members] } = await brokerAndClients(5)
  const counts = [0, 0, 0, 0]
  members.forEach((c, i) => c.subscribe('work.items', { queue: 'workers', callback: () => { counts[i]++ } }))
  const plain = members[0].subscribe('work.items', { callback: () => undefined })
  for (const c of members) await c.flush()
  for (let i = 0; i < 10_000; i++) pub.publish('work.items', i)
  await pub.flush()
  await until(5000, () => counts.reduce((a, b) => a + b, 0) === 10_000, 'all queue deliveries')
  for (const n of counts) assert.ok(n >= 2000 && n <= 3000, `member share ${n} of 10000`)
  await until(3000, () => plain.received === 10_000, 'the plain subscriber to get every message')
})

test('treats same-named queue subscriptions on different matching patterns as one group', async () => {
  const { clients: [pub, a, b] } = await brokerAndClients(3)
  let na = 0
  let nb = 0
  a.subscribe('jobs.*', { queue: 'q', callback: () => { na++ } })
  b.subscribe('jobs.>', { queue: 'q', callback: () => { nb++ } })
  await a.flush(); await b.flush()
  for (let i = 0; i < 100; i++) pub.publish('jobs.x', i)
  await pub.flush()
  await until(3000, () => na + nb === 100, '100 deliveries')
  assert.ok(na > 0 && nb > 0)
})

test('delivers 10,000 messages from one publisher to 3 subscribers in publish order', async () => {
  const { clients: [pub, ...subs] } = await brokerAndClients(4)
  const seen = subs.map(() => [] as number[])
  subs.forEach((c, i) => c.subscribe('seq', { callback: (_e, m) => { seen[i].push(m?.data as number) } }))
  for (const c of subs) await c.flush()
  for (let i = 0; i < 10_000; i++) pub.publish('seq', i)
  await pub.flush()
  await until(5000, () => seen.every((s) => s.length === 10_000), 'all messages')
  for (const s of seen) assert.ok(s.every((v, i) => v === i), 'in order')
})

test('answers a request with the first reply', async () => {
  const { clients: [req, svc] } = await brokerAndClients(2)
  svc.subscribe('math.double', { callback: (_e, m) => m?.respond((m.data as number) * 2) })
  await svc.flush()
  const r = await within(2000, req.request('math.double', 21, { timeout: 1000 }), 'reply')
  assert.is(r.data, 42)
})

test('fails a request at once with no_responders when nothing is subscribed', async () => {
  const { clients: [c] } = await brokerAndClients(1)
  const started = Date.now()
  const err = await c.request('nobody.home', 1, { timeout: 4000 }).catch((e: unknown) => e)
  assert.instance(err, SubwireError)
  assert.is((err as SubwireError).code, 'no_responders')
  assert.ok(Date.now() - started < 2000, 'did not wait for the timeout')
})

test('fails a request with timeout when the responder stays silent', async () => {
  const { clients: [c, svc] } = await brokerAndClients(2)
  svc.subscribe('slow.svc', { callback: () => undefined })
  await svc.flush()
  const err = await c.request('slow.svc', 1, { timeout: 150 }).catch((e: unknown) => e)
  assert.is((err as SubwireError).code, 'timeout')
})

test('keeps 100 requests in flight on one inbox subscription', async () => {
  const { b, clients: [c, svc] } = await brokerAndClients(2)
  svc.subscribe('echo', { callback: (_e, m) => m?.respond(m.data) })
  await svc.flush()
  const before = b.stats().subscriptions
  const replies = await within(5000, Promise.all(Array.from({ length: 100 }, (_, i) => c.request('echo', i, { timeout: 3000 }))), '100 replies')
  assert.equal(replies.map((r) => r.data), Array.from({ length: 100 }, (_, i) => i))
  assert.is(b.stats().subscriptions, before + 1, 'one inbox subscription for all requests')
})

test('unsubscribes automatically after max messages', async () => {
  const { b, clients: [c] } = await brokerAndClients(1)
  const s = c.subscribe('tick', { max: 3 })
  for (let i = 0; i < 10; i++) c.publish('tick', i)
  const got: unknown[] = []
  await within(3000, (async () => { for await (const m of s) got.push(m.data) })(), 'the iterator to end')
  assert.equal(got, [0, 1, 2])
  await c.flush()
  assert.is(b.stats().subscriptions, 0)
})

test('honours UNSUB with a max sent after the subscription started', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => { writeSub(w, 1, 'n', null); writeUnsub(w, 1, 2) })
  for (let i = 0; i < 5; i++) raw.sendOps((w) => writePub(w, 0, 'n', null, null, ENCODING.raw, Uint8Array.of(i)))
  raw.send(PING_BYTES)
  await raw.waitFor((op) => op.op === 'PONG')
  assert.is(raw.ops.filter((op) => op.op === 'MSG').length, 2)
})

test('refuses a payload over max_payload in the client, at once', async () => {
  const { clients: [c] } = await brokerAndClients(1, { maxPayload: 1024, maxFrame: 1024 * 1024 })
  try {
    c.publish('big', new Uint8Array(2000))
    assert.unreachable('should throw')
  } catch (err) {
    assert.is((err as SubwireError).code, 'max_payload')
  }
})

test('answers an oversized PUB with max_payload and keeps the connection', async () => {
  const b = track(await startBroker({ maxPayload: 1024, maxFrame: 1024 * 1024 }))
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => { writeSub(w, 1, 'ok', null); writePub(w, 0, 'big', null, null, ENCODING.raw, new Uint8Array(2000)) })
  const err = await raw.waitFor(isErr('max_payload'))
  assert.equal((err as { ref: unknown }).ref, 'big')
  raw.sendOps((w) => writePub(w, 0, 'ok', null, null, ENCODING.raw, Uint8Array.of(1)))
  await raw.waitFor((op) => op.op === 'MSG')
  assert.is(raw.closeCode, null)
})

test('refuses a publish to a subject with a wildcard as bad_subject and delivers nothing', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => { writeSub(w, 1, '>', null); writePub(w, 0, 'a.*', null, null, ENCODING.raw, Uint8Array.of(1)); writePub(w, 0, 'a..b', null, null, ENCODING.raw, Uint8Array.of(1)) })
  raw.send(PING_BYTES)
  await raw.waitFor((op) => op.op === 'PONG')
  assert.is(raw.ops.filter(isErr('bad_subject')).length, 2)
  assert.is(raw.ops.filter((op) => op.op === 'MSG').length, 0)
  assert.is(raw.closeCode, null)
})

test('refuses a binary PUB whose json-tagged payload is not JSON, so JSON subscribers never see forged lines', async () => {
  const b = track(await startBroker())
  const json = track(new RawClient(b.url, SUBPROTOCOL.json))
  await within(2000, json.opened, 'open')
  json.send(`[${OP.CONNECT},{"protocol":1}]\n[${OP.SUB},1,"inj",null]\n[${OP.PING}]`)
  await json.waitFor((op) => op.op === 'PONG')
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  const forged = new TextEncoder().encode('1]\n[8,"auth_failed","injected",null')
  const spaced = new TextEncoder().encode('{\n"a": 1\n}')
  raw.sendOps((w) => { writePub(w, 0, 'inj', null, null, ENCODING.json, forged); writePub(w, 0, 'inj', null, null, ENCODING.json, spaced) })
  await raw.waitFor(isErr('bad_payload'))
  const msg = await json.waitFor((op) => op.op === 'MSG')
  assert.equal(JSON.parse(new TextDecoder().decode((msg as { payload: Uint8Array }).payload)), { a: 1 })
  assert.is(json.ops.filter((op) => op.op === 'ERR').length, 0)
})

test('refuses an unknown subprotocol at the handshake with a reason', async () => {
  const b = track(await startBroker())
  for (const protocols of [['mqtt'], []]) {
    const raw = new RawClient(b.url, protocols)
    const err = await raw.opened.then(() => null, (e: { status?: number; headers?: Record<string, string> }) => e)
    assert.is(err?.status, 400)
    assert.is(err?.headers?.['x-subwire-error'], 'bad_subprotocol')
    raw.close()
  }
})

test('closes a client that never sends CONNECT with connect_timeout', async () => {
  const b = track(await startBroker({ connectTimeoutMs: 100 }))
  const raw = track(new RawClient(b.url))
  assert.is(await raw.waitClose(2000), CLOSE_CODE.connectTimeout)
  assert.is(raw.closeReason, 'connect_timeout')
})

test('closes a client whose first op is not CONNECT as a protocol error', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.sendOps((w) => writeSub(w, 1, 'a', null))
  assert.is(await raw.waitClose(), CLOSE_CODE.protocol)
  assert.ok(raw.ops.some(isErr('protocol')))
})

test('closes a client that sends a second CONNECT', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.connect()
  assert.is(await raw.waitClose(), CLOSE_CODE.protocol)
})

test('closes a client that sends a text frame on the binary subprotocol', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.send('[6]')
  assert.is(await raw.waitClose(), CLOSE_CODE.protocol)
})

test('drops a client that misses two PINGs', async () => {
  const b = track(await startBroker({ heartbeatMs: 100 }))
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  assert.is(await raw.waitClose(2000), CLOSE_CODE.stale)
  assert.ok(raw.ops.filter((op) => op.op === 'PING').length >= 2)
})

test('keeps a client that answers PINGs', async () => {
  const { clients: [c] } = await brokerAndClients(1, { heartbeatMs: 50 })
  await sleep(400)
  assert.is(c.state, 'connected')
})

test('speaks JSON on subwire.v1.json, with JSON payloads as JSON and others as base64', async () => {
  const { b, clients: [c] } = await brokerAndClients(1)
  const raw = track(new RawClient(b.url, SUBPROTOCOL.json))
  await within(2000, raw.opened, 'open')
  raw.send(`[${OP.CONNECT},{"protocol":1}]\n[${OP.SUB},1,"j.>",null]\n[${OP.PING}]`)
  await raw.waitFor((op) => op.op === 'PONG')
  const fromJson = c.subscribe('j.from')
  await c.flush()
  raw.send(`[${OP.PUB},0,"j.from",null,{"h":"v"},${ENCODING.json},{"hello":[1,2]}]`)
  const [m] = await take(fromJson, 1)
  assert.equal(m.data, { hello: [1, 2] })
  assert.equal(m.headers, { h: 'v' })
  c.publish('j.bin', new Uint8Array([1, 2, 3]))
  const msgs = await raw.waitFor((op) => op.op === 'MSG' && op.subject === 'j.bin')
  assert.is((msgs as { encoding: number }).encoding, ENCODING.raw)
  // The binary PUB's payload reaches the JSON side intact (the broker takes it from the PUB's tail).
  // Raw bytes travel in JSON as a base64 string: "AQID" is [1, 2, 3].
  assert.is(new TextDecoder().decode((msgs as { payload: Uint8Array }).payload), '"AQID"')
  assert.equal(raw.ws.protocol, SUBPROTOCOL.json)
})

test('refuses a subscription to an invalid subject with bad_subject naming its sid', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => writeSub(w, 7, 'a.>.b', null))
  const err = await raw.waitFor(isErr('bad_subject'))
  assert.is((err as { ref: unknown }).ref, 7)
})

test('enforces max subscriptions per connection with max_subscriptions', async () => {
  const b = track(await startBroker({ maxSubscriptionsPerConnection: 2 }))
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => { writeSub(w, 1, 'a', null); writeSub(w, 2, 'b', null); writeSub(w, 3, 'c', null) })
  const err = await raw.waitFor(isErr('max_subscriptions'))
  assert.is((err as { ref: unknown }).ref, 3)
})

test('answers no_responders on the reply subject for a request PUB', async () => {
  const b = track(await startBroker())
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.sendOps((w) => { writeSub(w, 1, 'my.inbox.>', null); writePub(w, PUB_FLAG.request, 'nobody', 'my.inbox.1', null, ENCODING.msgpack, new Uint8Array(0)) })
  const msg = await raw.waitFor((op) => op.op === 'MSG')
  assert.is((msg as { subject: string }).subject, 'my.inbox.1')
  assert.equal((msg as { headers: unknown }).headers, { [STATUS_HEADER]: 'no_responders' })
})

test('closes a subscriber that stops reading as slow_consumer and keeps serving the others', async () => {
  const { b, clients: [pub, good] } = await brokerAndClients(2, { maxPendingBytes: 2 * 1024 * 1024, maxFrame: 1024 * 1024 + 128 * 1024, maxPayload: 1024 * 1024, highWaterBytes: 64 * 1024, stallMs: 50 })
  const stalled = track(new RawClient(b.url))
  await within(2000, stalled.opened, 'open')
  stalled.connect()
  stalled.sendOps((w) => writeSub(w, 1, 'firehose', null))
  stalled.send(PING_BYTES)
  await stalled.waitFor((op) => op.op === 'PONG')
  const rawSocket = (stalled.ws as unknown as { _socket: { pause(): void } })._socket
  rawSocket.pause()
  let got = 0
  good.subscribe('firehose', { callback: () => { got++ } })
  await good.flush()
  const chunk = new Uint8Array(64 * 1024)
  let sent = 0
  const deadline = Date.now() + 8000
  while (stalled.closeCode === null && b.stats().slowConsumers === 0 && Date.now() < deadline) {
    for (let i = 0; i < 16; i++) pub.publish('firehose', chunk)
    sent += 16
    await pub.flush()
  }
  assert.is(b.stats().slowConsumers, 1)
  await until(5000, () => got === sent, 'the healthy subscriber to get everything')
})

test('attaches to an existing HTTP server at a path', async () => {
  const server = createServer((_req, res) => { res.end('app') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  track({ close: () => new Promise((resolve) => server.close(resolve)) })
  const b = track(await startBroker({ server, path: '/bus' }))
  const { port } = server.address() as AddressInfo
  assert.is(b.url, `ws://127.0.0.1:${port}/bus`)
  const c = track(await connect(b.url))
  const s = c.subscribe('x')
  c.publish('x', 1)
  assert.is((await take(s, 1))[0].data, 1)
  const res = await fetch(`http://127.0.0.1:${port}/`)
  assert.is(await res.text(), 'app')
})

test('does not echo to the publisher when echo is off', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url, { echo: false }))
  const other = track(await connect(b.url))
  const mine = c.subscribe('e')
  const theirs = other.subscribe('e')
  await c.flush(); await other.flush()
  c.publish('e', 1)
  await take(theirs, 1)
  await c.flush()
  assert.is(mine.pending, 0)
})

test('closes clients with going away when the broker closes', async () => {
  const b = await startBroker()
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  raw.send(PING_BYTES)
  await raw.waitFor((op) => op.op === 'PONG')
  await within(3000, b.close(), 'broker close')
  assert.is(await raw.waitClose(), CLOSE_CODE.goingAway)
})

test('reports connections through events, connections() and state', async () => {
  const b = track(await startBroker())
  assert.is(b.state, 'ready')
  assert.ok(b.ready)
  const seen: string[] = []
  b.events.on('connect', (e) => seen.push(`connect ${e.name}`))
  b.events.on('disconnect', (e) => seen.push(`disconnect ${e.name} ${e.subscriptions.length}`))
  const c = await connect(b.url, { name: 'watched' })
  c.subscribe('w.>')
  c.publish('w.x', 'hello')
  await c.flush()
  const [summary] = b.connections()
  assert.is(summary.name, 'watched')
  assert.equal(summary.subscriptions.map((s) => s.subject), ['w.>'])
  assert.is(summary.msgsIn, 1)
  assert.is(summary.msgsOut, 1)
  await c.close()
  await until(2000, () => seen.length === 2, 'the disconnect event')
  assert.equal(seen, ['connect watched', 'disconnect watched 1'])
})

test('publishes from the broker itself to subscribers', async () => {
  const { b, clients: [c] } = await brokerAndClients(1)
  const s = c.subscribe('$SYS.>')
  await c.flush()
  b.publish('$SYS.hello', { up: true })
  assert.equal((await take(s, 1))[0].data, { up: true })
  try { b.publish('bad.*'); assert.unreachable() } catch (err) { assert.is((err as SubwireError).code, 'bad_subject') }
})

test.run()
