/**
 * The per-connection outbound queue: every byte the broker sends to a client goes through one of these.
 *
 * - Ops of one tick coalesce into one WebSocket frame (flushed on a microtask, or inline when a frame would
 *   pass the max frame size): fewer frames is the main lever on WebSocket throughput. While the socket is
 *   still writing the previous frame, later ticks coalesce too: one frame in flight per connection.
 * - Sizes are counted in bytes, including what the socket has not written yet. Past `highWaterBytes` the queue
 *   reports congestion (the broker then pauses publishers' reads); past `maxPendingBytes` the connection is a
 *   slow consumer. That decision lives in one place: `#admit`.
 */
import type { WebSocket } from 'ws'
import { MsgpackWriter } from '../shared/msgpack.ts'
import { PING_BYTES, PONG_BYTES, jsonMsgTail, jsonOp, writeBodyOp, writeErr, writeEvent, writeMsg } from '../shared/codec.ts'
import { OP } from '../shared/protocol.ts'
import type { Delivery } from './delivery.ts'
import type { StoredMessage } from './topic-store.ts'

/** What a queue tells its connection. */
export interface OutboundEvents {
  /** Unsent bytes passed the high-water mark. */
  onCongested(): void
  /** Unsent bytes fell back under the low-water mark. */
  onDrained(): void
  /** A write would pass the hard cap: the connection is a slow consumer. The write was refused. */
  onOverflow(pendingBytes: number): void
}

/** Limits of one queue. */
export interface OutboundLimits {
  maxFrame: number
  maxPendingBytes: number
  highWaterBytes: number
}

/** Batches dirty queues and flushes them together once the current task's synchronous work is done. */
export class FlushScheduler {
  #dirty: Outbound[] = []
  #scheduled = false
  readonly #run = (): void => {
    const dirty = this.#dirty
    this.#dirty = []
    this.#scheduled = false
    for (let i = 0; i < dirty.length; i++) dirty[i].flushScheduled()
  }

  schedule(queue: Outbound): void {
    this.#dirty.push(queue)
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(this.#run)
    }
  }
}

/** The queue a connection writes through, whichever subprotocol it speaks. */
export interface Outbound {
  /** Unsent bytes: queued here plus buffered in the socket. */
  readonly pendingBytes: number
  /** True from passing the high-water mark until the socket drains (then `onDrained` fires). */
  readonly congested: boolean
  /** Queues a MSG; false when refused because the connection is over its hard cap. */
  msg(prefix: Uint8Array, sid: number, d: Delivery): boolean
  ping(): void
  pong(): void
  info(body: object): void
  err(code: string, message: string, ref: string | number | null): void
  /** Queues a message read from a topic (with its sequence, time and delivery count). */
  storedMsg(sid: number, m: StoredMessage, deliveryCount: number): boolean
  event(sid: number, type: string, data: object): void
  /** Sends what is queued as one frame (or more, split at the max frame size). */
  flush(): void
  /** The scheduler's flush: waits while an earlier frame is still being written (see QueueBase). */
  flushScheduled(): void
  /** Forgets what is queued (the connection is gone). */
  discard(): void
}

const BINARY_SEND = { binary: true, compress: false, fin: true } as const
const TEXT_SEND = { binary: false, compress: false, fin: true } as const
/**
 * Smallest chunk allocated: an idle connection's writes (INFO, PING, PONG) are tens of bytes, and a 4 KiB
 * floor cost each idle connection a kilobyte of RSS in the 15,000-connection benchmark. Busy connections size
 * chunks by their last frame, so they reach their working size after one flush.
 */
const MIN_CHUNK = 256
/**
 * A frame is sent once this full, even mid-tick (a single larger message gets a frame of its own size).
 * Bounds each busy connection's chunk: in fan-out (1 → 100, A) uncapped frames grew to 64–128 KiB per
 * connection; capped at 64 KiB the broker's peak RSS fell from 93–94 to 79–82 MiB and deliveries/s rose from
 * 6.0–6.4M to 6.8–7.3M. 32 KiB doubled the frames and grew V8's young generation (heap 18 → 26 MiB) for no
 * RSS gain. (`npm run bench -- --only A --systems subwire`)
 */
const FRAME_BYTES = 64 * 1024
/** Written chunks at least this large are kept for reuse (busy connections); smaller ones are let go. */
const SPARE_MIN = 16 * 1024

/** An ERR's ref (a subject) cut to a subject's longest valid length: an over-long one was invalid anyway. */
function shortRef(ref: string | number | null): string | number | null {
  return typeof ref === 'string' && ref.length > 1024 ? ref.slice(0, 1024) : ref
}
/** Encodes control ops (INFO, ERR); one for all connections, as encoding is synchronous. */
const controlWriter = new MsgpackWriter(256)

/** Shared bookkeeping: socket-buffered bytes, congestion state and the slow-consumer decision. */
abstract class QueueBase implements Outbound {
  protected readonly socket: WebSocket
  protected readonly limits: OutboundLimits
  protected readonly events: OutboundEvents
  protected readonly scheduler: FlushScheduler
  protected scheduled = false
  protected closed = false
  /** Bytes the socket still held at the last send; refreshed on every send and write callback. */
  #socketBytes = 0
  #congested = false
  /** Frames handed to the socket whose write callback has not come yet. */
  #writing = 0
  /** Runs when the socket has written a frame: refreshes the buffered count and ends congestion. */
  readonly #onWritten = (): void => {
    this.#writing--
    this.frameWritten()
    this.#socketBytes = this.socket.bufferedAmount
    // What queued up while the socket was behind goes out now, as one frame.
    if (this.#writing === 0 && !this.scheduled && this.queuedBytes > 0) this.flush()
    if (this.#congested && this.#socketBytes + this.queuedBytes <= this.limits.highWaterBytes / 2) {
      this.#congested = false
      this.events.onDrained()
    }
  }

  constructor(socket: WebSocket, limits: OutboundLimits, events: OutboundEvents, scheduler: FlushScheduler) {
    this.socket = socket
    this.limits = limits
    this.events = events
    this.scheduler = scheduler
  }

  protected abstract get queuedBytes(): number
  abstract msg(prefix: Uint8Array, sid: number, d: Delivery): boolean
  abstract ping(): void
  abstract pong(): void
  abstract info(body: object): void
  abstract err(code: string, message: string, ref: string | number | null): void
  abstract storedMsg(sid: number, m: StoredMessage, deliveryCount: number): boolean
  abstract event(sid: number, type: string, data: object): void
  protected abstract takeFrame(): Uint8Array | string | null
  /** A frame this queue sent has been written to the kernel (callbacks come in send order). */
  protected frameWritten(): void {}
  /**
   * A frame was handed to the socket. `copied`: the socket buffers nothing, so the kernel has taken the whole
   * frame already (the write callback still comes later) and its bytes may be reused.
   */
  protected frameSent(_frame: Uint8Array | string, _copied: boolean): void {}

  get pendingBytes(): number {
    return this.queuedBytes + this.#socketBytes
  }

  get congested(): boolean {
    return this.#congested
  }

  /** The one slow-consumer decision: may `n` more bytes be queued? */
  protected admit(n: number): boolean {
    if (this.closed) return false
    const pending = this.queuedBytes + this.#socketBytes + n
    if (pending <= this.limits.maxPendingBytes) return true
    this.events.onOverflow(pending)
    return false
  }

  protected markDirty(): void {
    // While a frame is being written, bytes wait here: the high-water mark counts them as it counts the socket's.
    if (this.#writing > 0 && !this.#congested && this.queuedBytes + this.#socketBytes > this.limits.highWaterBytes) {
      this.#congested = true
      this.events.onCongested()
    }
    if (this.scheduled) return
    this.scheduled = true
    this.scheduler.schedule(this)
  }

  /**
   * The scheduler's flush. While the socket is still writing an earlier frame, what is queued waits for that
   * frame's write callback and then goes out as one frame: a subscriber that is behind gets one large write
   * instead of one per tick, each with the send path's objects (frame header, write request, buffered-write
   * entries) alive until the kernel takes it. In the fan-out bench, whose subscriber process is the slow side,
   * the broker's CPU per million deliveries fell from 0.104 to 0.084 s.
   */
  flushScheduled(): void {
    this.scheduled = false
    if (this.#writing === 0) this.flush()
  }

  /** Sends everything queued now (also when closing). */
  flush(): void {
    this.scheduled = false
    for (let frame = this.takeFrame(); frame !== null; frame = this.takeFrame()) this.send(frame)
  }

  protected send(frame: Uint8Array | string): void {
    if (this.closed || this.socket.readyState !== 1 /* OPEN */) return
    // The write callback (one bound function per connection, one call per frame) is how a drain is noticed.
    this.socket.send(frame, typeof frame === 'string' ? TEXT_SEND : BINARY_SEND, this.#onWritten)
    this.#writing++
    this.#socketBytes = this.socket.bufferedAmount
    this.frameSent(frame, this.#socketBytes === 0)
    if (!this.#congested && this.#socketBytes > this.limits.highWaterBytes) {
      this.#congested = true
      this.events.onCongested()
    }
  }

  discard(): void {
    this.closed = true
  }
}

/** Outbound queue for `subwire.v1` (binary msgpack frames). */
export class BinaryOutbound extends QueueBase {
  /** The chunk being filled; null until something is queued, unless a chunk is kept for the next frame. */
  #buf: Uint8Array | null = null
  #len = 0
  /** Next chunk's size: what the last frame needed, so a steady stream never regrows its buffer. */
  #sizeHint = MIN_CHUNK
  /** The chunk the frame being sent was cut from (between `#takeChunk` and `frameSent`). */
  #sending: Uint8Array | null = null
  /** Per frame handed to the socket and not yet called back, oldest first: its chunk while the socket holds it. */
  #inFlight: (Uint8Array | null)[] = []
  /**
   * A chunk the socket has let go of, kept for the next frame. Reusing chunks instead of allocating one per
   * flush cut the broker's peak RSS in the fan-out benchmark: the freed buffers were churning the allocator.
   */
  #spare: Uint8Array | null = null

  protected get queuedBytes(): number {
    return this.#len
  }

  /** Largest frame built from several messages; a single larger message gets a frame of its own size. */
  get #frameCap(): number {
    return Math.min(this.limits.maxFrame, FRAME_BYTES)
  }

  /** Ensures room for `n` bytes in the current chunk, sending it first if the frame would pass the cap. */
  #room(n: number): Uint8Array {
    let buf = this.#buf
    if (buf !== null && this.#len + n > buf.length) {
      if (this.#len + n > this.#frameCap) {
        if (this.#len > 0) this.send(this.#takeChunk())
        buf = this.#buf
        if (buf !== null && n > buf.length) buf = this.#buf = null
      } else {
        const next = new Uint8Array(this.#grownSize(buf.length, this.#len + n))
        next.set(buf.subarray(0, this.#len))
        buf = this.#buf = next
      }
    }
    if (buf === null) buf = this.#buf = this.#newChunk(Math.max(Math.min(this.#sizeHint, this.#frameCap), n))
    return buf
  }

  /**
   * A growing chunk's next size: ×4, and the whole frame cap once past SPARE_MIN. Each step leaves the old
   * chunk as garbage until V8 next collects, and in fan-out all connections grow in the same tick: doubling
   * to 64 KiB left ~5 MiB of such garbage on the broker's peak RSS.
   */
  #grownSize(current: number, needed: number): number {
    const cap = this.#frameCap
    if (needed > SPARE_MIN) return cap
    return Math.min(Math.max(current * 4, needed), cap)
  }

  #newChunk(size: number): Uint8Array {
    const spare = this.#spare
    if (spare !== null && spare.length >= size) {
      this.#spare = null
      return spare
    }
    return new Uint8Array(size)
  }

  #takeChunk(): Uint8Array {
    const chunk = this.#buf as Uint8Array
    const frame = chunk.subarray(0, this.#len)
    this.#sizeHint = Math.max(MIN_CHUNK, this.#len)
    this.#sending = chunk
    this.#buf = null
    this.#len = 0
    return frame
  }

  /**
   * A frame the kernel took at once leaves its chunk free to refill now, not at the write callback. In the
   * fan-out benchmark the kernel took every frame at once, so a busy connection holds one chunk; with frames
   * capped at FRAME_BYTES that also bounds its size (see FRAME_BYTES for the figures).
   */
  protected override frameSent(frame: Uint8Array | string, copied: boolean): void {
    if (typeof frame === 'string') return
    const chunk = this.#sending
    this.#sending = null
    this.#inFlight.push(copied ? null : chunk)
    if (copied) this.#reuse(chunk)
  }

  protected override frameWritten(): void {
    const written = this.#inFlight.shift()
    if (written !== undefined) this.#reuse(written)
  }

  /**
   * Keeps a chunk the socket no longer needs: as the chunk to fill if none is, else as the spare. Only busy
   * connections' chunks are worth keeping (a spare 4 KiB on every idle connection was most of the difference
   * between subwire's and raw ws's memory per idle connection), and only up to the frame cap: a chunk sized
   * for one large message is let go.
   */
  #reuse(chunk: Uint8Array | null): void {
    if (chunk === null || this.closed || chunk.length < SPARE_MIN || chunk.length > this.#frameCap) return
    if (this.#buf === null) this.#buf = chunk
    else if (this.#spare === null || chunk.length > this.#spare.length) this.#spare = chunk
  }

  msg(prefix: Uint8Array, _sid: number, d: Delivery): boolean {
    const tail = d.binaryTail()
    const n = prefix.length + tail.length
    if (!this.admit(n)) return false
    const buf = this.#room(n)
    let pos = this.#len
    // The prefix is 3 to 7 bytes: a loop beats set() at that size.
    for (let i = 0; i < prefix.length; i++) buf[pos++] = prefix[i]
    buf.set(tail, pos)
    this.#len = pos + tail.length
    this.markDirty()
    return true
  }

  #bytes(bytes: Uint8Array): boolean {
    if (!this.admit(bytes.length)) return false
    const buf = this.#room(bytes.length)
    buf.set(bytes, this.#len)
    this.#len += bytes.length
    this.markDirty()
    return true
  }

  ping(): void { this.#bytes(PING_BYTES) }
  pong(): void { this.#bytes(PONG_BYTES) }

  info(body: object): void {
    writeBodyOp(controlWriter, OP.INFO, body)
    this.#bytes(controlWriter.finish())
  }

  err(code: string, message: string, ref: string | number | null): void {
    writeErr(controlWriter, code, message, shortRef(ref))
    this.#bytes(controlWriter.finish())
  }

  storedMsg(sid: number, m: StoredMessage, deliveryCount: number): boolean {
    writeMsg(controlWriter, sid, m.subject, null, m.headers, m.encoding, m.payload, { seq: m.seq, time: m.time, deliveryCount })
    return this.#bytes(controlWriter.finish())
  }

  event(sid: number, type: string, data: object): void {
    writeEvent(controlWriter, sid, type, data)
    this.#bytes(controlWriter.finish())
  }

  protected takeFrame(): Uint8Array | null {
    return this.#len === 0 ? null : this.#takeChunk()
  }

  override discard(): void {
    super.discard()
    this.#buf = null
    this.#len = 0
    this.#sending = null
    this.#spare = null
    this.#inFlight = []
  }
}

/** Outbound queue for `subwire.v1.json` (text frames, one JSON op per line). */
export class JsonOutbound extends QueueBase {
  #lines: string[] = []
  /** Queued characters, counted as bytes: close enough for limits (JSON is for tools, not the fast path). */
  #chars = 0

  protected get queuedBytes(): number {
    return this.#chars
  }

  #line(line: string): boolean {
    if (!this.admit(line.length + 1)) return false
    if (this.#chars + line.length + 1 > this.limits.maxFrame) this.flush()
    this.#lines.push(line)
    this.#chars += line.length + 1
    this.markDirty()
    return true
  }

  msg(_prefix: Uint8Array, sid: number, d: Delivery): boolean {
    return this.#line(`[${OP.MSG},${sid},${d.jsonTail()}`)
  }

  ping(): void { this.#line(`[${OP.PING}]`) }
  pong(): void { this.#line(`[${OP.PONG}]`) }
  info(body: object): void { this.#line(jsonOp([OP.INFO, body])) }
  err(code: string, message: string, ref: string | number | null): void { this.#line(jsonOp([OP.ERR, code, message, shortRef(ref)])) }

  storedMsg(sid: number, m: StoredMessage, deliveryCount: number): boolean {
    const tail = jsonMsgTail(m.subject, null, m.headers as Record<string, string> | null, m.encoding, m.payload)
    return this.#line(`[${OP.MSG},${sid},${tail.slice(0, -1)},${m.seq},${m.time},${deliveryCount}]`)
  }

  event(sid: number, type: string, data: object): void { this.#line(jsonOp([OP.EVENT, sid, type, data])) }

  protected takeFrame(): string | null {
    if (this.#lines.length === 0) return null
    const frame = this.#lines.join('\n')
    this.#lines = []
    this.#chars = 0
    return frame
  }

  override discard(): void {
    super.discard()
    this.#lines = []
    this.#chars = 0
  }
}
