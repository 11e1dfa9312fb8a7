/**
 * Everything the client sends, on its way to the socket: publishes checked against the server's limits and
 * encoded once, the ops of the current tick coalesced into frames (HOUSE_STYLE 8: sent on a microtask, or
 * inline once a chunk is full), and the offline buffer of publishes made while disconnected (bounded by
 * `maxPendingBytes`). Each op is written straight into its buffer, with no closure, promise or array per op
 * (HOUSE_STYLE 15).
 */
import { PING_BYTES, PONG_BYTES, writeAck, writeBodyOp, writePub, writeSub, writeUnsub } from '../shared/op-writer.ts'
import { encodePayload } from '../shared/payload-codec.ts'
import { SubwireError } from '../shared/errors.ts'
import { DEFAULT_LIMITS, OP, type Info } from '../shared/protocol.ts'
import { assertSubject, subjectProblem } from '../shared/subject.ts'
import { encodedHeadersSize } from './headers-size.ts'
import { OpBuffer } from './op-buffer.ts'
import type { Subscription } from './subscription.ts'
import type { Transport } from './transport.ts'

/**
 * What the outbound buffers ask of their client, read when a frame is due. Functions rather than getters on
 * the client, so the socket stays off `Client`'s public surface.
 */
export interface OutboundLink {
  /** True while connected or draining: the only states in which the tick's ops are written to the socket. */
  sending(): boolean
  /** The socket of the current connection (already set during its handshake), or null. */
  transport(): Transport | null
}

/** The client's outbound ops: one per client, across its connections. */
export class Outbound {
  /** Ops of the current tick while connected; sent on a microtask (or inline once a chunk is full). */
  readonly #out = new OpBuffer()
  /** Publishes made while not connected, sent after subscriptions are restored. */
  readonly #offline = new OpBuffer()
  readonly #link: OutboundLink
  readonly #maxPending: number
  #flushScheduled = false

  constructor(link: OutboundLink, maxPending: number) {
    this.#link = link
    this.#maxPending = maxPending
  }

  /** Bytes written and not yet handed to the socket (the tick's ops and the offline buffer). */
  get size(): number {
    return this.#out.size + this.#offline.size
  }

  /**
   * The last subject published to and the limit it was checked against: a publisher usually repeats a
   * subject, and checking it again was 9 % of a publishing client's CPU (bench B).
   */
  #validSubject: string | null = null
  #validSubjectMax = 0

  /**
   * Checks a PUB against `info`'s limits (the defaults before the first INFO), encodes its payload once and
   * writes it: into this tick's frame when `live` (connected or draining), else into the offline buffer.
   * @throws SubwireError `bad_subject`, `max_payload`, `bad_payload`, `disconnected_buffer_full` (nothing is written)
   */
  publish(flags: number, subject: string, data: unknown, reply: string | null | undefined, headers: Record<string, string> | undefined,
    info: Info | null, live: boolean): void {
    const maxSubject = info?.maxSubjectLength ?? DEFAULT_LIMITS.maxSubjectLength
    if (subject !== this.#validSubject || maxSubject !== this.#validSubjectMax) {
      const problem = subjectProblem(subject, false, maxSubject)
      if (problem !== null) throw new SubwireError('bad_subject', `invalid subject ${JSON.stringify(subject)}: ${problem}`)
      this.#validSubject = subject
      this.#validSubjectMax = maxSubject
    }
    if (reply != null) assertSubject(reply, maxSubject)
    const payload = encodePayload(data)
    const headerBytes = headers === undefined ? 0 : encodedHeadersSize(headers)
    const maxPayload = info?.maxPayload ?? DEFAULT_LIMITS.maxPayload
    if (payload.bytes.length + headerBytes > maxPayload) {
      throw new SubwireError('max_payload', `payload of ${payload.bytes.length + headerBytes} bytes exceeds the maximum of ${maxPayload}`)
    }
    if (live) {
      const out = this.#out
      out.begin()
      writePub(out.writer, flags, subject, reply, headers, payload.encoding, payload.bytes)
      out.end()
      this.schedule()
      return
    }
    const off = this.#offline
    off.begin()
    writePub(off.writer, flags, subject, reply, headers, payload.encoding, payload.bytes)
    if (off.size > this.#maxPending) {
      off.rollback()
      throw new SubwireError('disconnected_buffer_full', `more than ${this.#maxPending} bytes of publishes are waiting for the connection`)
    }
    off.end()
  }

  /** Writes a SUB (a resubscribe resumes from `serverId`'s log); the caller schedules the flush. */
  sub(sub: Subscription, serverId: string | undefined): void {
    const out = this.#out
    out.begin()
    writeSub(out.writer, sub.sid, sub.subject, sub.queue, sub.resubscribeOptions(serverId))
    // On a resubscribe, the server learns how many messages are left before the auto-unsubscribe.
    if (sub.max !== null) writeUnsub(out.writer, sub.sid, sub.max - sub.received)
    out.end()
  }

  /** Writes an UNSUB; the caller schedules the flush. */
  unsub(sid: number): void {
    this.#out.begin()
    writeUnsub(this.#out.writer, sid)
    this.#out.end()
  }

  /** Writes a PING (`bytes`: one carrying the page's state, pings.ts); the caller records its waiter, then schedules the flush. */
  ping(bytes: Uint8Array = PING_BYTES): void {
    this.#out.begin()
    this.#out.writer.raw(bytes)
    this.#out.end()
  }

  /** Answers the server's PING. */
  pong(): void {
    const out = this.#out
    out.begin()
    out.writer.raw(PONG_BYTES)
    out.end()
    this.schedule()
  }

  /** Settles a work-queue message (ACK). */
  ack(sid: number, seq: number, kind: number, delayMs?: number): void {
    this.#out.begin()
    writeAck(this.#out.writer, sid, seq, kind, delayMs)
    this.#out.end()
    this.schedule()
  }

  /** Presents fresh credentials on the live connection (AUTH). */
  auth(body: object): void {
    this.#out.begin()
    writeBodyOp(this.#out.writer, OP.AUTH, body)
    this.#out.end()
    this.schedule()
  }

  /** Moves the offline buffer behind this tick's ops (after a handshake, once subscriptions are restored). */
  restoreOffline(): void {
    this.#out.append(this.#offline)
  }

  /** Forgets this tick's ops (the connection is lost: what matters is rebuilt on reconnect). */
  dropUnsent(): void {
    this.#out.take()
  }

  /** Forgets the offline buffer (the client is closed). */
  dropOffline(): void {
    this.#offline.take()
  }

  /** Sends full chunks now and the rest of the tick's ops on a microtask. */
  schedule(): void {
    if (this.#out.hasFullChunk) {
      // Inline flush past the chunk size: a long synchronous publish loop starts writing early.
      for (const frame of this.#out.takeFullChunks()) this.#link.transport()?.send(frame)
    }
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    queueMicrotask(this.#flush)
  }

  /** Bound once: `queueMicrotask` gets the same function every tick, not a new closure. */
  readonly #flush = (): void => {
    this.#flushScheduled = false
    if (!this.#link.sending()) return
    const t = this.#link.transport()
    if (t === null) return
    if (t.sendsSynchronously) this.#out.sendAll(t.send)
    else for (const frame of this.#out.take()) t.send(frame)
  }
}
