/** A received message. Its payload is decoded on first access to `data`, never before (lazy decode). */
import { decodePayload } from '../shared/codec.ts'

/** What a message needs to answer a request or settle a work-queue delivery. */
export interface Responder {
  publish(subject: string, data?: unknown, options?: { headers?: Record<string, string> }): void
  settle(sid: number, seq: number, kind: number, delayMs?: number): void
}

const ACK = 0
const NAK = 1
const WORKING = 2
const TERM = 3

export class Msg {
  /** The subject it was published to. */
  readonly subject: string
  /** Subscription id it arrived on. */
  readonly sid: number
  /** Where to send a reply, if the publisher asked for one. */
  readonly reply: string | null
  /** String headers, or null when there are none. */
  readonly headers: Record<string, string> | null
  /** Sequence number in its topic (0 when it did not come from a topic). */
  readonly seq: number
  /** When the topic stored it, epoch ms (0 when it did not come from a topic). */
  readonly time: number
  /** Which delivery attempt this is, on an acked subscription (1 for the first; 0 otherwise). */
  readonly deliveryCount: number
  readonly #encoding: number
  /** The payload is `#frame[#start, #end)`; its view is made on first use (most handlers of a fan-out never ask). */
  readonly #frame: Uint8Array
  readonly #start: number
  readonly #end: number
  #bytes: Uint8Array | null = null
  readonly #responder: Responder
  #data: unknown = undefined
  #decoded = false

  constructor(responder: Responder, sid: number, subject: string, reply: string | null,
    headers: Record<string, string> | null, encoding: number, frame: Uint8Array, start: number, end: number,
    seq = 0, time = 0, deliveryCount = 0) {
    this.#responder = responder
    this.seq = seq
    this.time = time
    this.deliveryCount = deliveryCount
    this.sid = sid
    this.subject = subject
    this.reply = reply
    this.headers = headers
    this.#encoding = encoding
    this.#frame = frame
    this.#start = start
    this.#end = end
  }

  /** The payload, decoded by its encoding tag: msgpack value, `Uint8Array` for raw bytes, or JSON value. */
  get data(): unknown {
    if (!this.#decoded) {
      this.#data = decodePayload(this.#encoding, this.bytes)
      this.#decoded = true
    }
    return this.#data
  }

  /** The payload's encoded bytes, as they travelled. */
  get bytes(): Uint8Array {
    return (this.#bytes ??= this.#frame.subarray(this.#start, this.#end))
  }

  /**
   * Publishes `data` to this message's reply subject.
   * @returns false when the message had no reply subject
   * @example sub.callback = (err, m) => m.respond({ ok: true })
   */
  respond(data?: unknown, options?: { headers?: Record<string, string> }): boolean {
    if (this.reply === null) return false
    this.#responder.publish(this.reply, data, options)
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
    this.#responder.settle(this.sid, this.seq, kind, delayMs)
  }
}
