/**
 * The binary outbound queue (server/outbound/binary-outbound.ts) against a fake socket that can take frames at once
 * (the kernel had room) or hold them (it had not): frames keep every byte in order, stay within the 64 KiB
 * cap, and a frame the socket holds is never written over by the buffers the queue reuses.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { WebSocket } from 'ws'
import { BinaryOutbound, FRAME_BYTES } from '../../server/outbound/binary-outbound.ts'
import { Delivery } from '../../server/outbound/delivery.ts'
import { FlushScheduler, type OutboundEvents } from '../../server/outbound/outbound-queue.ts'
import { PING_BYTES, msgPrefix } from '../../shared/op-writer.ts'

interface SentFrame {
  /** The bytes as handed to the socket: a view the queue might reuse. */
  readonly view: Uint8Array
  /** A copy taken at send time: what the kernel would have read. */
  readonly copy: Uint8Array
  readonly held: boolean
  readonly done: () => void
}

/** A `ws` socket stand-in: `holding` decides whether the kernel takes a frame during send() or later. */
class FakeSocket {
  readyState = 1
  bufferedAmount = 0
  holding = false
  readonly frames: SentFrame[] = []
  #unwritten: SentFrame[] = []

  send(data: Uint8Array, _options: object, done: () => void): void {
    const frame = { view: data, copy: data.slice(), held: this.holding, done }
    this.frames.push(frame)
    if (this.holding) {
      this.bufferedAmount += data.length
      this.#unwritten.push(frame)
    } else {
      process.nextTick(done)
    }
  }

  /** The kernel writes every held frame: each must still hold the bytes it was sent with. */
  drain(): void {
    this.holding = false
    for (const frame of this.#unwritten.splice(0)) {
      assertSameBytes(frame.view, frame.copy, 'a held frame, when the socket writes it')
      this.bufferedAmount -= frame.view.length
      frame.done()
    }
  }

  get bytes(): Uint8Array {
    return concat(this.frames.map((f) => f.copy))
  }
}

/**
 * Byte equality with a short message: uvu's diff of two differing 64 KiB arrays runs for minutes, so a
 * failure names the lengths and the first differing offset instead.
 */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  let at = 0
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++
  if (at === actual.length && at === expected.length) return
  assert.unreachable(`${what}: ${actual.length} bytes, expected ${expected.length}; first difference at byte ${at}`)
}

const events: OutboundEvents = { onCongested() {}, onDrained() {}, onOverflow() {} }
const LIMITS = { maxFrame: 4 * 1024 * 1024, maxPendingBytes: 64 * 1024 * 1024, highWaterBytes: 64 * 1024 }

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function queueOn(socket: FakeSocket, scheduler = new FlushScheduler()): BinaryOutbound {
  return new BinaryOutbound(socket as unknown as WebSocket, LIMITS, events, scheduler)
}

/** A publish whose tail is `size` bytes of `fill`, as the router hands it to every subscriber's queue. */
function publish(size: number, fill: number): Delivery {
  return new Delivery().loadTail('orders.eu', null, 0, new Uint8Array(size).fill(fill), size - 4)
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

test('sends the MSGs and control ops of one tick as one frame, in order', async () => {
  const socket = new FakeSocket()
  const q = queueOn(socket)
  const prefix = msgPrefix(7)
  const a = publish(40, 1)
  const b = publish(50, 2)
  q.msg(prefix, 7, a)
  q.ping()
  q.msg(prefix, 7, b)
  await tick()
  assert.is(socket.frames.length, 1)
  assertSameBytes(socket.bytes, concat([prefix, a.binaryTail(), PING_BYTES, prefix, b.binaryTail()]), 'bytes sent')
})

test('gives each queue its own prefix on a publish that all of them share', async () => {
  const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket()]
  const scheduler = new FlushScheduler()
  const queues = sockets.map((s) => queueOn(s, scheduler))
  const d = publish(30, 9)
  queues.forEach((q, i) => q.msg(msgPrefix(i + 1), i + 1, d))
  await tick()
  sockets.forEach((s, i) => assertSameBytes(s.bytes, concat([msgPrefix(i + 1), d.binaryTail()]), 'bytes sent'))
})

test('caps frames at 64 KiB and sends a larger message in a frame of its own', async () => {
  const socket = new FakeSocket()
  const q = queueOn(socket)
  const prefix = msgPrefix(3)
  const expected: Uint8Array[] = []
  for (let i = 0; i < 2000; i++) {
    const d = publish(100, i % 251)
    q.msg(prefix, 3, d)
    expected.push(prefix, d.binaryTail())
  }
  const big = publish(FRAME_BYTES * 2, 77)
  q.msg(prefix, 3, big)
  expected.push(prefix, big.binaryTail())
  await tick()
  const sizes = socket.frames.map((f) => f.copy.length)
  assert.ok(sizes.length >= 4, `frames: ${sizes.join(', ')}`)
  assert.ok(sizes.slice(0, -1).every((n) => n <= FRAME_BYTES), `frames: ${sizes.join(', ')}`)
  assert.is(sizes[sizes.length - 1], prefix.length + big.binaryTail().length)
  assertSameBytes(socket.bytes, concat(expected), 'bytes sent')
})

test('never writes over a frame the socket still holds, across ticks and full frames', async () => {
  const socket = new FakeSocket()
  const q = queueOn(socket)
  const prefix = msgPrefix(5)
  const expected: Uint8Array[] = []
  socket.holding = true
  for (let round = 0; round < 3; round++) {
    // More than one frame's worth per tick: full frames go out inline while earlier ones are still held.
    for (let i = 0; i < 1500; i++) {
      const d = publish(120, (round * 31 + i) % 256)
      q.msg(prefix, 5, d)
      expected.push(prefix, d.binaryTail())
    }
    q.pong()
    expected.push(Uint8Array.of(0x91, 7))
    await tick()
  }
  socket.drain()
  await tick()
  socket.drain()
  assert.ok(socket.frames.some((f) => f.held))
  assertSameBytes(socket.bytes, concat(expected), 'bytes sent')
})

test('while the socket holds a frame, later ticks go out together once it is written', async () => {
  const socket = new FakeSocket()
  const q = queueOn(socket)
  const prefix = msgPrefix(2)
  socket.holding = true
  q.msg(prefix, 2, publish(20, 1))
  await tick()
  assert.is(socket.frames.length, 1)
  const later = [publish(20, 2), publish(20, 3), publish(20, 4)]
  for (const d of later) {
    q.msg(prefix, 2, d)
    await tick()
  }
  assert.is(socket.frames.length, 1, 'nothing more is sent while the socket holds a frame')
  socket.drain()
  assert.is(socket.frames.length, 2)
  assertSameBytes(socket.frames[1].copy, concat(later.flatMap((d) => [prefix, d.binaryTail()])), 'bytes sent')
})

test('keeps the order of MSGs queued before and after an EVENT, which the queue copies into its own buffer', async () => {
  const socket = new FakeSocket()
  const q = queueOn(socket)
  const prefix = msgPrefix(4)
  const before = publish(25, 1)
  const after = publish(25, 2)
  q.msg(prefix, 4, before)
  q.event(4, 'gap', { from: 1, to: 2 })
  q.msg(prefix, 4, after)
  await tick()
  const bytes = socket.bytes
  const head = concat([prefix, before.binaryTail()])
  const tail = concat([prefix, after.binaryTail()])
  assertSameBytes(bytes.subarray(0, head.length), head, 'bytes sent')
  assertSameBytes(bytes.subarray(bytes.length - tail.length), tail, 'bytes sent')
  assert.ok(bytes.length > head.length + tail.length)
})

test('tells frames taken at once from held ones with dozens of both in flight, so no held frame is reused early', async () => {
  const socket = new FakeSocket()
  const q = queueOn(socket)
  const prefix = msgPrefix(6)
  const expected: Uint8Array[] = []
  // 1 KiB messages: a 64 KiB frame every ~64. The first ~40 frames are taken (their callbacks still pending),
  // the next ~40 held: more than the 30 the queue tracks in bits, in one tick.
  for (let i = 0; i < 5200; i++) {
    if (i === 2600) socket.holding = true
    const d = publish(1024, (i * 13) % 256)
    q.msg(prefix, 6, d)
    expected.push(prefix, d.binaryTail())
  }
  await tick()
  assert.ok(socket.frames.filter((f) => !f.held).length > 30, 'more than 30 frames taken at once')
  assert.ok(socket.frames.filter((f) => f.held).length > 30, 'more than 30 frames held')
  // Queued while the socket holds frames: copied into a buffer the queue believes free.
  for (let i = 0; i < 300; i++) {
    const d = publish(1024, (i * 7) % 256)
    q.msg(prefix, 6, d)
    expected.push(prefix, d.binaryTail())
  }
  await tick()
  socket.drain()
  await tick()
  socket.drain()
  assertSameBytes(socket.bytes, concat(expected), 'bytes sent')
})

test.run()
