/**
 * The per-connection outbound queue: every byte the broker sends to a client goes through one of these
 * (`BinaryOutbound` for `subwire.v1`, `JsonOutbound` for `subwire.v1.json`; this module holds what they share).
 *
 * - Ops of one tick coalesce into one WebSocket frame (flushed on a microtask, or inline when a frame would
 *   pass its cap): fewer frames is the main lever on WebSocket throughput. While the socket holds an unwritten
 *   frame, later ticks coalesce too and go out when it is written.
 * - Sizes are counted in bytes, including what the socket has not written yet. Past `highWaterBytes` the queue
 *   reports congestion (the broker then pauses publishers' reads); past `maxPendingBytes` the connection is a
 *   slow consumer. That decision lives in one place: `admit`.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { rawSocketOf } from './frame-writer.ts'
import type { Delivery } from './delivery.ts'
import type { StoredMessage } from '../store/topic-store.ts'

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
  /** The list of the previous run, emptied and kept: a fresh array per tick grew (and was collected) each time. */
  #spare: Outbound[] = []
  #scheduled = false
  /**
   * Where the next run starts in its list. Sockets are written one after another, so without it the
   * connection that subscribed last would always wait for every other write of a fan-out (issue 15: the
   * latency probe subscribed last got the serial cost of 99 writes as its p50). Rotating spreads that wait.
   */
  #turn = 0
  /** Tasks of the next run that go before any connection's write (beforeWrites). */
  #first: Array<() => void> = []
  #firstSpare: Array<() => void> = []
  readonly #run = (): void => {
    this.#scheduled = false
    if (this.#first.length > 0) {
      const first = this.#first
      this.#first = this.#firstSpare
      for (let i = 0; i < first.length; i++) first[i]()
      first.length = 0
      this.#firstSpare = first
    }
    const dirty = this.#dirty
    this.#dirty = this.#spare
    const n = dirty.length
    const start = n > 1 ? this.#turn++ % n : 0
    if (this.#turn > 0x3fffffff) this.#turn = 0
    for (let i = start; i < n; i++) dirty[i].flushScheduled()
    for (let i = 0; i < start; i++) dirty[i].flushScheduled()
    dirty.length = 0
    this.#spare = dirty
  }

  /**
   * Runs `task` at the start of the next run, before any connection is written to. The cluster's outbox
   * sends what this task published for other nodes there: one PUBLISH per node carrying every message of the
   * task, on the wire before the local fan-out's writes (a syscall each) instead of after them.
   */
  beforeWrites(task: () => void): void {
    this.#first.push(task)
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(this.#run)
    }
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
  /** Sends what is queued as one frame (or more, split at the frame cap). */
  flush(): void
  /** The scheduler's flush: waits while the socket holds an unwritten frame (see QueueBase). */
  flushScheduled(): void
  /** Forgets what is queued (the connection is gone). */
  discard(): void
}

/** Frames in flight whose taken-at-once flags fit the bit queue (see #takenBits). */
const BITS = 30

const BINARY_SEND = { binary: true, compress: false, fin: true } as const
const TEXT_SEND = { binary: false, compress: false, fin: true } as const

/** An ERR's ref (a subject) cut to a subject's longest valid length: an over-long one was invalid anyway. */
export function shortRef(ref: string | number | null): string | number | null {
  return typeof ref === 'string' && ref.length > 1024 ? ref.slice(0, 1024) : ref
}

/** Shared bookkeeping: socket-buffered bytes, congestion state and the slow-consumer decision. */
export abstract class QueueBase implements Outbound {
  protected readonly socket: WebSocket
  protected readonly limits: OutboundLimits
  protected readonly events: OutboundEvents
  protected readonly scheduler: FlushScheduler
  /** The TCP socket whole binary frames are written to (frame-writer.ts), or null: frames go through ws. */
  protected readonly raw: Socket | null
  protected scheduled = false
  protected closed = false
  /** Bytes the socket still held at the last send; refreshed on every send and write callback. */
  #socketBytes = 0
  #congested = false
  /**
   * Per frame handed to the socket whose write callback has not come yet, oldest first: whether the kernel
   * took it during the send. Callbacks come in send order. The oldest BITS of them are bits of a number (bit 0
   * the oldest), the rest, if ever, in an array: an array per connection kept ~150 B of capacity on every
   * idle connection once its first frames went out (E, 15,000 idle connections).
   */
  #inFlight = 0
  #takenBits = 0
  #moreTaken: boolean[] | null = null
  /** Frames the socket still holds (not taken at once, not yet called back). */
  #holding = 0
  /** Runs when the socket has written a frame: refreshes the buffered count and ends congestion. */
  readonly #onWritten = (): void => {
    if (!this.#shiftTaken()) {
      this.#holding--
      this.heldFrameWritten()
    }
    this.#socketBytes = this.#buffered()
    // What queued up while the socket was behind goes out now, as one frame.
    if (this.#holding === 0 && !this.scheduled && this.queuedBytes > 0) this.flush()
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
    this.raw = this.framesItself() ? rawSocketOf(socket) : null
  }

  #pushTaken(taken: boolean): void {
    if (this.#inFlight < BITS) this.#takenBits |= (taken ? 1 : 0) << this.#inFlight
    else (this.#moreTaken ??= []).push(taken)
    this.#inFlight++
  }

  /** Whether the oldest frame in flight was taken at once; it is no longer in flight. */
  #shiftTaken(): boolean {
    if (this.#inFlight === 0) return true
    const taken = (this.#takenBits & 1) === 1
    this.#takenBits >>>= 1
    if (this.#inFlight-- > BITS) {
      const more = this.#moreTaken as boolean[]
      if (more.shift() === true) this.#takenBits |= 1 << (BITS - 1)
      if (more.length === 0) this.#moreTaken = null
    }
    return taken
  }

  /** True when `takeFrame` returns binary frames with their WebSocket header written (frame-writer.ts). */
  protected framesItself(): boolean {
    return false
  }

  /** Bytes the socket holds: ws counts its sender's queue too, which is empty when frames bypass it. */
  #buffered(): number {
    return this.raw !== null ? this.raw.writableLength : this.socket.bufferedAmount
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
  /**
   * A frame was handed to the socket. `taken`: the socket buffers nothing, so the kernel copied the whole
   * frame during the send (its write callback still comes later) and its bytes may be reused now.
   */
  protected frameSent(_frame: Uint8Array | string, _taken: boolean): void {}
  /** The oldest frame the socket held (sent, not taken) has been written. */
  protected heldFrameWritten(): void {}
  /** The scheduler's flush found the socket holding a frame: what is queued waits for its write callback. */
  protected waitForSocket(): void {}

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
    // While the socket holds a frame, bytes wait here: the high-water mark counts them as it counts the socket's.
    if (this.#holding > 0 && !this.#congested && this.queuedBytes + this.#socketBytes > this.limits.highWaterBytes) {
      this.#congested = true
      this.events.onCongested()
    }
    if (this.scheduled) return
    this.scheduled = true
    this.scheduler.schedule(this)
  }

  /**
   * The scheduler's flush. While the socket holds an unwritten frame, what is queued waits for that frame's
   * write callback and then goes out as one frame: a subscriber that is behind gets one large write instead
   * of one per tick, each with the send path's objects (frame header, write request, buffered-write entries)
   * alive until the kernel takes it. In the fan-out bench, whose subscriber process is the slow side, the
   * broker's CPU per million deliveries fell from 0.104 to 0.084 s.
   */
  flushScheduled(): void {
    this.scheduled = false
    if (this.#holding === 0) this.flush()
    else this.waitForSocket()
  }

  /** Sends everything queued now (also when closing). */
  flush(): void {
    this.scheduled = false
    for (let frame = this.takeFrame(); frame !== null; frame = this.takeFrame()) this.send(frame)
  }

  protected send(frame: Uint8Array | string): void {
    if (this.closed || this.socket.readyState !== 1 /* OPEN */) return
    // The write callback (one bound function per connection, one call per frame) is how a drain is noticed.
    if (this.raw !== null && typeof frame !== 'string') this.raw.write(frame, this.#onWritten)
    else this.socket.send(frame, typeof frame === 'string' ? TEXT_SEND : BINARY_SEND, this.#onWritten)
    this.#socketBytes = this.#buffered()
    // ws writes an uncompressed frame through to the socket during send(), and the socket buffers nothing
    // when the kernel took every byte; anything else (a busy socket, TLS, a deflate in progress) counts as held.
    const taken = this.#socketBytes === 0
    this.#pushTaken(taken)
    if (!taken) this.#holding++
    this.frameSent(frame, taken)
    if (!this.#congested && this.#socketBytes > this.limits.highWaterBytes) {
      this.#congested = true
      this.events.onCongested()
    }
  }

  discard(): void {
    this.closed = true
  }
}
