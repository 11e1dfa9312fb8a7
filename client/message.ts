/** A received message. Its payload is decoded on first access to `data`, never before (lazy decode). */
import { decodePayload } from '../shared/codec.ts'

/** What a message needs to answer a request. */
export interface Responder {
  publish(subject: string, data?: unknown, options?: { headers?: Record<string, string> }): void
}

export class Msg {
  /** The subject it was published to. */
  readonly subject: string
  /** Subscription id it arrived on. */
  readonly sid: number
  /** Where to send a reply, if the publisher asked for one. */
  readonly reply: string | null
  /** String headers, or null when there are none. */
  readonly headers: Record<string, string> | null
  readonly #encoding: number
  readonly #bytes: Uint8Array
  readonly #responder: Responder
  #data: unknown = undefined
  #decoded = false

  constructor(responder: Responder, sid: number, subject: string, reply: string | null,
    headers: Record<string, string> | null, encoding: number, bytes: Uint8Array) {
    this.#responder = responder
    this.sid = sid
    this.subject = subject
    this.reply = reply
    this.headers = headers
    this.#encoding = encoding
    this.#bytes = bytes
  }

  /** The payload, decoded by its encoding tag: msgpack value, `Uint8Array` for raw bytes, or JSON value. */
  get data(): unknown {
    if (!this.#decoded) {
      this.#data = decodePayload(this.#encoding, this.#bytes)
      this.#decoded = true
    }
    return this.#data
  }

  /** The payload's encoded bytes, as they travelled. */
  get bytes(): Uint8Array {
    return this.#bytes
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
}
