/**
 * One message on its way out: the fields of a publish plus its encoded MSG tails, each built at most once
 * per publish and shared by every subscriber (HOUSE_STYLE 7: encode once, fan out bytes).
 */
import { encodeMsgTail, jsonMsgTail } from '../shared/codec.ts'

export class Delivery {
  subject = ''
  reply: string | null = null
  headers: Record<string, string> | null = null
  encoding = 0
  payload: Uint8Array = new Uint8Array(0)
  #tail: Uint8Array | null = null
  #jsonTail: string | null = null

  /**
   * Loads the next publish. The router reuses one Delivery for every publish (routing is synchronous), so
   * the publish path allocates nothing here.
   */
  load(subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number,
    payload: Uint8Array, tail: Uint8Array | null): this {
    this.subject = subject
    this.reply = reply
    this.headers = headers
    this.encoding = encoding
    this.payload = payload
    this.#tail = tail
    this.#jsonTail = null
    return this
  }

  /** The msgpack MSG tail: the publisher's own PUB bytes when it published in binary, else encoded once. */
  binaryTail(): Uint8Array {
    return (this.#tail ??= encodeMsgTail(this.subject, this.reply, this.headers, this.encoding, this.payload))
  }

  /** The JSON MSG tail, built on first use by a JSON-protocol subscriber. */
  jsonTail(): string {
    return (this.#jsonTail ??= jsonMsgTail(this.subject, this.reply, this.headers, this.encoding, this.payload))
  }
}
