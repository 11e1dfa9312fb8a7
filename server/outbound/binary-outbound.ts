/**
 * The outbound queue of a `subwire.v1` connection (binary msgpack frames).
 *
 * A MSG is queued as a reference: its subscription's prefix and the publish's tail, which every subscriber of
 * the publish shares. Bytes are copied once, when the frame is built at flush, into one scratch buffer that
 * all connections share: the kernel copies a frame during the send when the socket has room, so the scratch
 * is free again for the next connection. Only a connection whose socket holds an unwritten frame keeps bytes
 * of its own. In fan-out (1 → 100, A), against each connection filling a 64 KiB chunk of its own: broker peak
 * RSS 79–82 → 72–75 MiB (ArrayBuffers 7 → 1 MiB), deliveries/s 6.8–7.3M → 7.5–7.7M, broker CPU-s per 1M
 * deliveries 0.092–0.098 → 0.089–0.093 (`npm run bench -- --only A --systems subwire`, three runs each).
 */
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { PING_BYTES, PONG_BYTES, writeBodyOp, writeErr, writeEvent, writeMsg } from '../../shared/op-writer.ts'
import { OP } from '../../shared/protocol.ts'
import type { Delivery } from './delivery.ts'
import { QueueBase, shortRef } from './outbound-queue.ts'
import { holdTails, releaseTails, tailAt, tailSlot } from './tail-table.ts'
import { HEADER_ROOM, frameBinary } from './frame-writer.ts'
import type { StoredMessage } from '../store/topic-store.ts'

/**
 * A frame is sent once this full, even mid-tick (a single larger message gets a frame of its own size).
 * In fan-out (1 → 100, A), uncapped frames grew to 64–128 KiB per connection; capping them at 64 KiB (each
 * connection then still filling a chunk of its own) took the broker's peak RSS from 93–94 to 79–82 MiB and
 * deliveries/s from 6.0–6.4M to 6.8–7.3M. 32 KiB doubled the frames and grew V8's young generation (heap
 * 18 → 26 MiB) for no RSS gain.
 */
export const FRAME_BYTES = 64 * 1024
/**
 * Smallest buffer of a queue's own: an idle connection's writes (INFO, PING, PONG) are tens of bytes, and a
 * 4 KiB floor cost each idle connection a kilobyte of RSS in the 15,000-connection benchmark.
 */
const MIN_OWN = 256
/**
 * A queue's own buffer is kept between frames from this size up to FRAME_BYTES (a connection busy with topic
 * replays or behind on its socket); smaller ones are let go, as are larger ones sized for one big message.
 */
const KEEP_MIN = 16 * 1024
/** A reference list longer than this (entries) after a frame is let go rather than kept for the next tick. */
const KEEP_REFS = 4096
/** Distinct subscriptions' MSGs one frame references before what is queued is copied instead. */
const MAX_PREFIXES = 32

/** Encodes control ops (INFO, ERR); one for all connections, as encoding is synchronous. */
const controlWriter = new MsgpackWriter(256)

/**
 * The buffer frames are built in, shared by every connection of the process (building and sending a frame is
 * synchronous). Null after the socket kept it (a frame it could not take at once); a written frame's buffer
 * of the same size takes its place.
 */
let scratch: Uint8Array | null = null

/** Every buffer a frame is built in starts with room for the frame's header (frame-writer.ts). */
const H = HEADER_ROOM
/** The length of a full-size frame buffer: FRAME_BYTES of payload after the header room. */
const FRAME_BUFFER = FRAME_BYTES + H

/** A buffer for a frame of `size` bytes: the shared scratch, or one of its own for a single large message. */
function frameBuffer(size: number): Uint8Array {
  if (size > FRAME_BYTES) return new Uint8Array(size + H)
  return (scratch ??= new Uint8Array(FRAME_BUFFER))
}

/** True for a buffer worth keeping for the next frame. */
function keepable(buffer: Uint8Array): boolean {
  return buffer.length >= KEEP_MIN && buffer.length <= FRAME_BUFFER
}

/**
 * A growing buffer's next size: ×4, and straight to FRAME_BYTES once past KEEP_MIN. Each step leaves the old
 * buffer as garbage until V8 next collects; doubling to 64 KiB on 100 connections in the same tick left
 * ~5 MiB of it on the broker's peak RSS.
 */
function grownSize(current: number, needed: number): number {
  if (needed > KEEP_MIN) return Math.max(FRAME_BUFFER, needed)
  return Math.max(current * 4, needed, MIN_OWN)
}

export class BinaryOutbound extends QueueBase {
  /** Queued MSGs as (prefix index, tail slot) pairs, in order, after the queue's own bytes. */
  #refs: Int32Array | null = null
  /** Entries of #refs in use (two per MSG). */
  #refCount = 0
  #refBytes = 0
  /** The distinct prefixes (one per subscription) of the queued MSGs; the first #prefixCount are current. */
  #prefixes: Uint8Array[] | null = null
  #prefixCount = 0
  /** Index of the prefix used last: a connection's MSGs usually come from one subscription at a time. */
  #lastPrefix = 0
  /**
   * Queued bytes this queue owns, sent before the references: control ops, stored messages, and MSGs copied
   * out of their references while the socket held a frame. They start at H (the header room).
   */
  #own: Uint8Array | null = null
  #ownLen = 0
  /** The buffer the frame being sent lives in (between `takeFrame` and `frameSent`). */
  #sending: Uint8Array | null = null
  /** Buffers of frames the socket holds, oldest first. */
  /** Made when first needed, as #prefixes is: most connections never have a frame held. */
  #held: Uint8Array[] | null = null

  protected get queuedBytes(): number {
    return this.#ownLen + this.#refBytes
  }

  protected override framesItself(): boolean {
    return true
  }

  /** The slow-consumer check, then room in the frame: what is queued goes out first if `n` would pass the cap. */
  #admitToFrame(n: number): boolean {
    if (!this.admit(n)) return false
    const queued = this.#ownLen + this.#refBytes
    if (queued > 0 && queued + n > FRAME_BYTES) this.flush()
    return true
  }

  msg(prefix: Uint8Array, _sid: number, d: Delivery): boolean {
    const tail = d.binaryTail()
    const n = prefix.length + tail.length
    if (!this.#admitToFrame(n)) return false
    const p = this.#prefixIndex(prefix)
    const at = this.#refCount
    let refs = this.#refs
    if (refs === null || at + 2 > refs.length) refs = this.#growRefs()
    if (at === 0) holdTails()
    refs[at] = p
    refs[at + 1] = tailSlot(d, tail)
    this.#refCount = at + 2
    this.#refBytes += n
    this.markDirty()
    return true
  }

  /** The index of `prefix` among the queued MSGs' prefixes, adding it if new. */
  #prefixIndex(prefix: Uint8Array): number {
    const prefixes = (this.#prefixes ??= [])
    const last = this.#lastPrefix
    if (last < this.#prefixCount && prefixes[last] === prefix) return last
    let i = 0
    while (i < this.#prefixCount && prefixes[i] !== prefix) i++
    if (i === this.#prefixCount) {
      // A connection receiving from many subscriptions in one tick: copy what is queued and start a new list.
      if (i === MAX_PREFIXES) i = (this.#copyRefs(0), 0)
      prefixes[i] = prefix
      this.#prefixCount = i + 1
    }
    this.#lastPrefix = i
    return i
  }

  #growRefs(): Int32Array {
    const old = this.#refs
    const next = new Int32Array(old === null ? 64 : old.length * 4)
    if (old !== null) next.set(old.subarray(0, this.#refCount))
    return (this.#refs = next)
  }

  /** Queues bytes that are not this queue's to keep (the control writer's), by copying them. */
  #bytes(bytes: Uint8Array): boolean {
    const n = bytes.length
    if (!this.#admitToFrame(n)) return false
    // Own bytes go before the references: MSGs queued earlier are copied first so the order holds.
    if (this.#refCount > 0) this.#copyRefs(n)
    this.#ownRoom(n).set(bytes, H + this.#ownLen)
    this.#ownLen += n
    this.markDirty()
    return true
  }

  /** The queue's own buffer with room for `n` more bytes. */
  #ownRoom(n: number): Uint8Array {
    const own = this.#own
    const needed = H + this.#ownLen + n
    if (own !== null && needed <= own.length) return own
    const next = new Uint8Array(grownSize(own === null ? 0 : own.length, needed))
    if (own !== null && this.#ownLen > 0) next.set(own.subarray(H, H + this.#ownLen), H)
    return (this.#own = next)
  }

  /** Copies the referenced MSGs into the queue's own buffer, leaving room for `extra` bytes after them. */
  #copyRefs(extra: number): void {
    const own = this.#ownRoom(this.#refBytes + extra)
    this.#ownLen = this.#writeRefs(own, H + this.#ownLen) - H
  }

  /** Writes the referenced MSGs into `out` from `pos`, lets go of the references, and returns the end. */
  #writeRefs(out: Uint8Array, pos: number): number {
    const refs = this.#refs as Int32Array
    const prefixes = this.#prefixes as Uint8Array[]
    for (let i = 0; i < this.#refCount; i += 2) {
      const prefix = prefixes[refs[i]]
      const tail = tailAt(refs[i + 1])
      // The prefix is 3 to 7 bytes: a loop beats set() at that size.
      for (let k = 0; k < prefix.length; k++) out[pos++] = prefix[k]
      out.set(tail, pos)
      pos += tail.length
    }
    if (this.#refCount > 0) releaseTails()
    if (refs.length > KEEP_REFS) this.#refs = null
    this.#refCount = 0
    this.#refBytes = 0
    this.#prefixCount = 0
    return pos
  }

  /** The socket holds a frame: copy what is referenced now, so publishers' frames are not kept until it drains. */
  protected override waitForSocket(): void {
    if (this.#refCount > 0) this.#copyRefs(0)
  }

  protected takeFrame(): Uint8Array | null {
    const size = this.#ownLen + this.#refBytes
    if (size === 0) return null
    const own = this.#own
    let buffer: Uint8Array
    if (this.#refCount === 0) {
      // Only bytes of its own: the frame is that buffer, no copy.
      buffer = own as Uint8Array
      this.#own = null
    } else {
      buffer = frameBuffer(size)
      if (this.#ownLen > 0) buffer.set((own as Uint8Array).subarray(H, H + this.#ownLen), H)
      this.#writeRefs(buffer, H + this.#ownLen)
      if (own !== null && !keepable(own)) this.#own = null
    }
    this.#ownLen = 0
    this.#sending = buffer
    // Written to the TCP socket as a whole frame when it can be (frame-writer.ts), else handed to ws.
    return this.raw !== null ? buffer.subarray(frameBinary(buffer, size), H + size) : buffer.subarray(H, H + size)
  }

  protected override frameSent(frame: Uint8Array | string, taken: boolean): void {
    const buffer = this.#sending
    this.#sending = null
    if (buffer === null || typeof frame === 'string') return
    if (taken) {
      this.#reuse(buffer)
      return
    }
    const held = (this.#held ??= [])
    held.push(buffer)
    if (buffer === scratch) scratch = null
  }

  protected override heldFrameWritten(): void {
    const buffer = this.#held?.shift()
    if (buffer !== undefined) this.#reuse(buffer)
  }

  /** Puts a buffer the socket no longer needs back to use: as the shared scratch, or as this queue's own. */
  #reuse(buffer: Uint8Array): void {
    if (buffer === scratch || this.closed || !keepable(buffer)) return
    if (scratch === null && buffer.length === FRAME_BUFFER) scratch = buffer
    else if (this.#own === null) this.#own = buffer
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

  override discard(): void {
    super.discard()
    if (this.#refCount > 0) releaseTails()
    this.#refs = null
    this.#refCount = 0
    this.#refBytes = 0
    this.#prefixes = null
    this.#prefixCount = 0
    this.#own = null
    this.#ownLen = 0
    this.#sending = null
    this.#held = null
  }
}
