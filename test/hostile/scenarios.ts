/**
 * Hostile scenarios that take more than one frame: limits pushed from one connection, floods, clients that
 * stop reading, a slowloris handshake, a zip bomb, and authentication refusals. Same row shape as cases.ts.
 */
import * as assert from 'uvu/assert'
import { connect as tcpConnect } from 'node:net'
import { connect } from '../../client/index.ts'
import { writeBodyOp, writePub, writeSub, PING_BYTES } from '../../shared/op-writer.ts'
import { ENCODING, OP, PROTOCOL_VERSION } from '../../shared/protocol.ts'
import { sleep, until, within, type RawOp } from '../helpers.ts'
import { collectGarbage } from './memory.ts'
import { BROKERS, pong, resumeReading, stopReading, type Row } from './row.ts'
import { DeflateSocket, bytes, concat, deflatedBytes, deflatedZeros, mp, pings, pub } from './wire.ts'

const KIB = 1024
const MIB = 1024 * KIB
const isErr = (code: string) => (op: RawOp): boolean => op.op === 'ERR' && op.code === code

const limits: Row[] = [
  {
    name: 'answers a payload one byte over maxPayload with max_payload and delivers nothing',
    send: async (raw) => {
      raw.sendOps((w) => writeSub(w, 1, 'hostile.big', null))
      raw.send(pub('hostile.big', new Uint8Array(MIB + 1)))
      await raw.waitFor(isErr('max_payload'), 5000, 'max_payload')
      await pong(raw)
      assert.is(raw.ops.filter((op) => op.op === 'MSG').length, 0)
    },
    expect: { err: 'max_payload', ref: 'hostile.big', stays: true },
  },
  {
    name: 'counts header bytes towards maxPayload',
    send: (raw) => raw.send(pub('hostile.bigh', new Uint8Array(MIB - 8), { h: 'x'.repeat(64) })),
    expect: { err: 'max_payload', ref: 'hostile.bigh', stays: true },
  },
  {
    name: 'answers 9,000 of 10,000 subscriptions with max_subscriptions (maxSubscriptionsPerConnection 1000)',
    brokerOptions: BROKERS.fewSubscriptions,
    send: async (raw, ctx) => {
      raw.sendOps((w) => { for (let sid = 1; sid <= 10_000; sid++) writeSub(w, sid, `hostile.many.${sid}`, null) })
      await pong(raw, 10_000)
      const refused = raw.ops.filter(isErr('max_subscriptions')) as Array<Extract<RawOp, { op: 'ERR' }>>
      assert.is(refused.length, 9000)
      assert.is(refused[0].ref, 1001)
      assert.is(refused[8999].ref, 10_000)
      const mine = ctx.broker.connections().find((c) => c.name === 'hostile')
      assert.is(mine?.subscriptions.length, 1000)
    },
    expect: { err: 'max_subscriptions', stays: true },
  },
]

const floods: Row[] = [
  {
    // 50,000 PINGs a frame; the PONGs fill the kernel's socket buffers first (several MiB on loopback), then
    // the broker's queue, which must stop at maxPendingBytes (512 KiB here) and close the connection.
    name: 'closes a client that floods PINGs without reading as slow_consumer (4004), its queue never past its cap',
    brokerOptions: BROKERS.smallQueues,
    send: async (raw, ctx) => {
      const cap = ctx.broker.config.maxPendingBytes
      const before = ctx.broker.stats().slowConsumers
      stopReading(raw)
      const frame = pings(50_000)
      let frames = 0
      let peak = 0
      while (ctx.broker.stats().slowConsumers === before && raw.closeCode === null && frames < 400) {
        await within(5000, new Promise<void>((resolve, reject) => raw.ws.send(frame, (err) => (err ? reject(err) : resolve()))), 'a flood frame to be written')
        frames++
        for (const c of ctx.broker.connections()) peak = Math.max(peak, c.pendingBytes)
      }
      assert.ok(frames * 50_000 >= 100_000, `sent ${frames * 50_000} PINGs`)
      assert.is(ctx.broker.stats().slowConsumers, before + 1, `slow consumers after ${frames * 50_000} PINGs`)
      assert.ok(peak <= cap + 64 * KIB, `a queue peaked at ${peak} bytes, cap ${cap}`)
      resumeReading(raw)
    },
    expect: { close: 4004 },
  },
  {
    name: 'closes a subscriber that never reads a firehose as slow_consumer (4004) while another gets every message',
    brokerOptions: BROKERS.smallQueues,
    send: async (raw, ctx) => {
      raw.sendOps((w) => writeSub(w, 1, 'hostile.firehose', null))
      await pong(raw)
      const healthy = ctx.track(await within(3000, connect(ctx.broker.url, { reconnect: false, name: 'healthy' }), 'connect'))
      let got = 0
      healthy.subscribe('hostile.firehose', { callback: () => { got++ } })
      await within(3000, healthy.flush(), 'subscribe')
      const publisher = ctx.track(await within(3000, connect(ctx.broker.url, { reconnect: false, name: 'publisher' }), 'connect'))
      stopReading(raw)
      const before = ctx.broker.stats().slowConsumers
      const chunk = new Uint8Array(16 * KIB)
      let sent = 0
      for (let round = 0; round < 400 && ctx.broker.stats().slowConsumers === before; round++) {
        for (let i = 0; i < 16; i++) publisher.publish('hostile.firehose', chunk)
        sent += 16
        await within(5000, publisher.flush(), 'the publisher to flush')
      }
      assert.is(ctx.broker.stats().slowConsumers, before + 1)
      await until(5000, () => got === sent, `the healthy subscriber to get all ${sent} messages (has ${got})`)
      resumeReading(raw)
    },
    expect: { close: 4004 },
  },
  {
    // ws answers WebSocket-level pings itself, outside the broker's queue; ws 8.23 caps unanswered auto-pongs
    // and terminates the socket (no close frame, so the client sees 1006).
    name: 'cuts a client that floods WebSocket-level pings without reading',
    send: async (raw) => {
      stopReading(raw)
      const payload = Buffer.alloc(125, 7)
      for (let batch = 0; batch < 200 && raw.closeCode === null; batch++) {
        for (let i = 0; i < 1000 && raw.ws.readyState === raw.ws.OPEN; i++) raw.ws.ping(payload)
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
    expect: { close: 1006 },
  },
  {
    name: 'refuses part of a flood of 150 simultaneous handshakes with 503 and Retry-After (maxConnectsPerSecond 50)',
    brokerOptions: BROKERS.connectRate,
    flood: 150,
    send: () => undefined,
    expect: { refused: 503 },
  },
  {
    // The broker bounds header time with headersTimeoutMs (10 s by default), so the slow socket is still
    // open when the row ends; the row only asks that nobody else waits (test/hostile/limits.test.ts closes it).
    name: 'keeps serving others while a slowloris trickles an upgrade request one header a time',
    send: async (raw, ctx) => {
      const port = Number(new URL(ctx.broker.url).port)
      const slow = tcpConnect(port, '127.0.0.1')
      ctx.track({ close: () => slow.destroy() })
      slow.on('error', () => undefined)
      await within(3000, new Promise((resolve) => slow.once('connect', resolve)), 'the slowloris socket')
      slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n')
      for (let i = 0; i < 20; i++) {
        await sleep(25)
        slow.write(`X-Slow-${i}: ${'z'.repeat(8)}\r\n`)
        await pong(raw)
      }
      const other = await ctx.open()
      await pong(other)
    },
    expect: { stays: true },
  },
  {
    name: 'closes 1009 on a deflated message that inflates past maxFrame (64 MiB of zeros), without the memory',
    brokerOptions: BROKERS.deflate,
    send: async (_raw, ctx) => {
      const bomb = await within(10_000, deflatedZeros(64 * MIB), 'the bomb to compress')
      assert.ok(bomb.length < 128 * KIB, `the bomb is ${bomb.length} bytes`)
      const socket = ctx.track(new DeflateSocket(ctx.broker.url))
      await within(3000, socket.opened, 'the deflate socket to open')
      assert.ok(socket.deflating, 'permessage-deflate was negotiated')
      await socket.waitFor((op) => op.op === 'INFO', 3000, 'INFO')
      socket.send(concat(bytes(0x92, OP.CONNECT), mp({ protocol: PROTOCOL_VERSION })))
      // The same path with a small message works, so the 1009 below is about size, not a malformed frame.
      socket.writeCompressed(await within(3000, deflatedBytes(PING_BYTES), 'a PING to compress'))
      await socket.waitFor((op) => op.op === 'PONG', 3000, 'the PONG to a compressed PING')
      collectGarbage()
      const rssBefore = process.memoryUsage().rss
      socket.writeCompressed(bomb)
      await socket.waitClose(5000)
      const grew = process.memoryUsage().rss - rssBefore
      assert.ok(grew < 32 * MIB, `RSS grew by ${(grew / MIB).toFixed(1)} MiB`)
      return socket
    },
    expect: { close: 1009 },
  },
]

const auth: Row[] = [
  { name: 'closes 4001 on a CONNECT with a wrong token', brokerOptions: BROKERS.tokens, connected: false, send: (raw) => raw.connect({ token: 'wrong-token-456' }), expect: { err: 'auth_failed', close: 4001 } },
  { name: 'closes 4001 on a CONNECT with no token', brokerOptions: BROKERS.tokens, connected: false, send: (raw) => raw.connect(), expect: { err: 'auth_failed', close: 4001 } },
  { name: 'closes 4001 on a CONNECT whose token is a number', brokerOptions: BROKERS.tokens, connected: false, send: (raw) => raw.connect({ token: 12_345_678 }), expect: { err: 'auth_failed', close: 4001 } },
  {
    name: 'never delivers a PUB pipelined behind a refused CONNECT',
    brokerOptions: BROKERS.tokens,
    connected: false,
    send: (raw, ctx) => raw.sendOps((w) => {
      w.raw(concat(bytes(0x92, OP.CONNECT), mp({ protocol: PROTOCOL_VERSION, token: 'wrong-token-789' })))
      // Would break the canary's sequence if it were ever routed.
      writePub(w, 0, ctx.canary.subject, null, null, ENCODING.msgpack, mp(-1))
    }),
    expect: { err: 'auth_failed', close: 4001 },
  },
  {
    // CONNECT failures from one address are answered ever more slowly (0, 0, 0, 100 ms, 200 ms, ... up to 5 s);
    // AUTH (PROTOCOL §4.8) on a live connection is the same guess with the same answer.
    name: 'slows down repeated failed AUTH attempts from one address, as it does failed CONNECTs',
    brokerOptions: BROKERS.tokensForGuessing,
    send: async (raw) => {
      const answerMs: number[] = []
      for (let attempt = 1; attempt <= 5 && raw.closeCode === null; attempt++) {
        const answered = raw.ops.filter(isErr('auth_failed')).length
        const start = Date.now()
        raw.sendOps((w) => writeBodyOp(w, OP.AUTH, { token: `guess-${attempt}-of-5` }))
        await until(10_000, () => raw.ops.filter(isErr('auth_failed')).length > answered || raw.closeCode !== null, `the answer to AUTH guess ${attempt}`)
        answerMs.push(Date.now() - start)
      }
      if (raw.closeCode === null) assert.ok(answerMs[4] >= 100, `the 5th failed AUTH was answered after ${answerMs[4]} ms (all: ${answerMs.join(', ')} ms)`)
    },
    expect: { err: 'auth_failed' },
  },
  { name: 'closes 4000 on AUTH before CONNECT on a broker that requires tokens', brokerOptions: BROKERS.tokens, connected: false, send: (raw) => raw.sendOps((w) => { w.arrayHeader(2); w.uint(OP.AUTH); w.value({ token: 'good-token-123' }) }), expect: { err: 'protocol', close: 4000 } },
  { name: 'closes 4002 when no CONNECT comes within authTimeoutMs (200 ms)', brokerOptions: BROKERS.tokensQuickTimeout, connected: false, send: () => undefined, expect: { err: 'connect_timeout', close: 4002 } },
]

/** Multi-frame hostile scenarios. */
export const SCENARIO_ROWS: Row[] = [...limits, ...floods, ...auth]
