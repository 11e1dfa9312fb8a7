/**
 * One message on its way out: the fields of a publish plus its encoded MSG tails, each built at most once
 * per publish and shared by every subscriber (HOUSE_STYLE 7: encode once, fan out bytes).
 */
import { encodeMsgTail } from '../../shared/op-writer.ts'
import { jsonMsgTail } from '../../shared/json-frame.ts'

/**
 * The payload of an encoded `subject … payload` tail: its last `length` bytes (PROTOCOL §4.3: the payload is
 * the tail's last field). A view, not a copy.
 */
export function payloadOfTail(tail: Uint8Array, length: number): Uint8Array {
  return tail.subarray(tail.length - length)
}

export class Delivery {
  subject = ''
  reply: string | null = null
  headers: Record<string, string> | null = null
  encoding = 0
  /** The payload's length in bytes (known before, and often without, a view of the payload itself). */
  payloadLength = 0
  #payload: Uint8Array | null = null
  #tail: Uint8Array | null = null
  #jsonTail: string | null = null
  /** Where this publish's binary tail sits in the tail table (tail-table.ts); -1 until a queue enters it. */
  tailSlot = -1

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
    this.payloadLength = payload.length
    this.#payload = payload
    this.#tail = tail
    this.#jsonTail = null
    this.tailSlot = -1
    return this
  }

  /**
   * Loads a binary publish without headers whose payload is the last `payloadLength` bytes of `tail`; the
   * payload view is made only if something asks for it (a JSON subscriber, a drop policy's snapshot). On the
   * 1→1 path that view was one of the two allocations per publish left.
   */
  loadTail(subject: string, reply: string | null, encoding: number, tail: Uint8Array, payloadLength: number): this {
    this.subject = subject
    this.reply = reply
    this.headers = null
    this.encoding = encoding
    this.payloadLength = payloadLength
    this.#payload = null
    this.#tail = tail
    this.#jsonTail = null
    this.tailSlot = -1
    return this
  }

  get payload(): Uint8Array {
    if (this.#payload === null) {
      // loadTail always sets the tail; load always sets #payload.
      this.#payload = payloadOfTail(this.#tail as Uint8Array, this.payloadLength)
    }
    return this.#payload
  }

  /** The msgpack MSG tail: the publisher's own PUB bytes when it published in binary, else encoded once. */
  binaryTail(): Uint8Array {
    return (this.#tail ??= encodeMsgTail(this.subject, this.reply, this.headers, this.encoding, this.payload))
  }

  /** `binaryTail()` as the cluster seam reads it (ClusterMessage.tail): the bytes that go to other nodes. */
  get tail(): Uint8Array {
    return this.binaryTail()
  }

  /** The JSON MSG tail, built on first use by a JSON-protocol subscriber. */
  jsonTail(): string {
    return (this.#jsonTail ??= jsonMsgTail(this.subject, this.reply, this.headers, this.encoding, this.payload))
  }
}
