/** A received message. Its payload is decoded on first access to `data`, never before (lazy decode). */
import { decodePayload } from '../shared/payload-codec.ts'

/** What a message needs to answer a request or settle a work-queue delivery. */
export interface Responder {
  publish(subject: string, data?: unknown, options?: { headers?: Record<string, string> }): void
  settle(sid: number, seq: number, kind: number, delayMs?: number): void
}

const ACK = 0
const NAK = 1
const WORKING = 2
const TERM = 3

/** What a message shares with every other message of its subscription. */
export interface MsgSource {
  readonly sid: number
  readonly responder: Responder
}

/** The fields most messages do not have, kept off the message itself (see Msg). */
export interface MsgExtra {
  readonly reply: string | null
  readonly headers: Record<string, string> | null
  readonly seq: number
  readonly time: number
  readonly deliveryCount: number
}

/** Marks a payload not decoded yet (undefined is a valid decoded payload). */
const NOT_DECODED: unique symbol = Symbol('not decoded')

/**
 * A received message; `T` is its data's type and `R` its reply's, from the client's subject schema
 * (client/typed.ts), both `unknown` without one. Its fields are kept few on purpose: a fan-out subscriber builds millions a second, and
 * their allocation rate set how often its young generation was collected, which promoted the socket's read
 * buffers into the old generation and made V8 run a full collection every ~40 ms (121-136 of them in a 7-second
 * fan-out run, against 46 with the lighter allocation; `--trace-gc` on the bench's subscriber child). So the
 * subscription's shared parts are one reference, the rarely-set fields (reply, headers, topic fields) one more,
 * and the payload is a range of the frame, viewed on demand.
 */
export class Msg<T = unknown, R = unknown> {
  /** The subject it was published to. */
  readonly subject: string
  readonly #source: MsgSource
  readonly #extra: MsgExtra | null
  readonly #encoding: number
  readonly #frame: Uint8Array
  readonly #start: number
  readonly #end: number
  #data: unknown = NOT_DECODED

  constructor(source: MsgSource, subject: string, encoding: number, frame: Uint8Array, start: number, end: number, extra: MsgExtra | null = null) {
    this.#source = source
    this.subject = subject
    this.#encoding = encoding
    this.#frame = frame
    this.#start = start
    this.#end = end
    this.#extra = extra
  }

  /** Subscription id it arrived on. */
  get sid(): number {
    return this.#source.sid
  }

  /** Where to send a reply, if the publisher asked for one. */
  get reply(): string | null {
    return this.#extra === null ? null : this.#extra.reply
  }

  /** String headers, or null when there are none. */
  get headers(): Record<string, string> | null {
    return this.#extra === null ? null : this.#extra.headers
  }

  /** Sequence number in its topic (0 when it did not come from a topic). */
  get seq(): number {
    return this.#extra === null ? 0 : this.#extra.seq
  }

  /** When the topic stored it, epoch ms (0 when it did not come from a topic). */
  get time(): number {
    return this.#extra === null ? 0 : this.#extra.time
  }

  /** Which delivery attempt this is, on an acked subscription (1 for the first; 0 otherwise). */
  get deliveryCount(): number {
    return this.#extra === null ? 0 : this.#extra.deliveryCount
  }

  /** The payload, decoded by its encoding tag: msgpack value, `Uint8Array` for raw bytes, or JSON value. */
  get data(): T {
    if (this.#data === NOT_DECODED) this.#data = decodePayload(this.#encoding, this.bytes)
    // `T` is the subject schema's type for this subject (typed.ts), `unknown` without a schema: a claim the
    // compiler cannot check, which a `validate` hook (ConnectOptions) checks at run time.
    return this.#data as T
  }

  /** The payload's encoding tag (PROTOCOL §5): how `bytes` are read. */
  get encoding(): number {
    return this.#encoding
  }

  /** The payload's encoded bytes, as they travelled (a view into the received frame). */
  get bytes(): Uint8Array {
    return this.#frame.subarray(this.#start, this.#end)
  }

  /**
   * Publishes `data` to this message's reply subject.
   * @returns false when the message had no reply subject
   * @example sub.callback = (err, m) => m.respond({ ok: true })
   */
  respond(...[data, options]: undefined extends R ? [data?: R, options?: { headers?: Record<string, string> }] : [data: R, options?: { headers?: Record<string, string> }]): boolean {
    const reply = this.reply
    if (reply === null) return false
    this.#source.responder.publish(reply, data, options)
    return true
  }

  /** Acknowledges a work-queue message: it will not be delivered again. Idempotent. */
  ack(): void {
    this.#settle(ACK)
  }

  /** Gives a work-queue message back for redelivery, after `delayMs` if given. */
  nak(options: { delayMs?: number } = {}): void {
    this.#settle(NAK, options.delayMs)
  }

  /** Extends the ack deadline of a work-queue message that is still being worked on. */
  working(): void {
    this.#settle(WORKING)
  }

  /** Gives up on a work-queue message: it is neither redelivered nor dead-lettered. */
  term(): void {
    this.#settle(TERM)
  }

  #settle(kind: number, delayMs?: number): void {
    if (this.seq === 0 || this.deliveryCount === 0) return // not from an acked subscription: nothing to settle
    this.#source.responder.settle(this.sid, this.seq, kind, delayMs)
  }
}
