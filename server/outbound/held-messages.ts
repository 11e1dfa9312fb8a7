/**
 * Messages held back for one run of subscriptions (subject-index.ts: one owner, one policy, one pattern) whose
 * connection is over its outbound cap, under the `drop_old` or `keep_latest` policy (PROTOCOL §8.5). Bytes
 * already handed to the socket cannot be taken back, so the policy acts on what has not been queued yet:
 * `drop_old` keeps the newest messages within a byte budget, dropping the oldest; `keep_latest` keeps only the
 * newest message per subject (a dashboard wants every sensor's latest value, not a stale backlog). Held messages
 * are copies (made once per publish, `snapshot`), so they do not pin inbound frames. Each is numbered, so a
 * subscription that joins the run later is not sent what was held before it.
 */
import { Delivery, payloadOfTail } from './delivery.ts'

export type HoldPolicy = 'drop_old' | 'keep_latest'

interface Held {
  readonly d: Delivery
  readonly seq: number
  readonly bytes: number
}

export class HeldMessages {
  readonly #policy: HoldPolicy
  readonly #maxBytes: number
  readonly #fifo: Held[] = []
  #head = 0
  readonly #latest = new Map<string, Held>()
  #bytes = 0
  #seq = 0

  constructor(policy: HoldPolicy, maxBytes: number) {
    this.#policy = policy
    this.#maxBytes = maxBytes
  }

  get size(): number {
    return this.#policy === 'drop_old' ? this.#fifo.length - this.#head : this.#latest.size
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes
  }

  /** The number the next held message gets. */
  get nextSeq(): number {
    return this.#seq
  }

  /**
   * Holds `copy` (a snapshot), within the run's budget and at most `room` more bytes than are held now (the
   * connection's share); returns how many held messages were dropped to make room (or superseded).
   */
  hold(copy: Delivery, bytes: number, room: number): number {
    const held: Held = { d: copy, seq: this.#seq++, bytes }
    const budget = Math.min(this.#maxBytes, this.#bytes + room)
    let dropped = 0
    if (this.#policy === 'keep_latest') {
      const old = this.#latest.get(copy.subject)
      if (old !== undefined) { this.#latest.delete(copy.subject); this.#bytes -= old.bytes; dropped++ }
      this.#latest.set(copy.subject, held)
      this.#bytes += bytes
      // Past the budget even with one value per subject, the oldest subjects' values go.
      for (const [subject, h] of this.#latest) {
        if (this.#bytes <= budget || this.#latest.size === 1) break
        this.#latest.delete(subject)
        this.#bytes -= h.bytes
        dropped++
      }
      return dropped
    }
    this.#fifo.push(held)
    this.#bytes += bytes
    while (this.#bytes > budget && this.size > 1) { this.#bytes -= this.#shift().bytes; dropped++ }
    return dropped
  }

  /** Hands held messages, oldest first, to `send` until it refuses one; returns true when all went. */
  release(send: (d: Delivery, seq: number) => boolean): boolean {
    if (this.#policy === 'drop_old') {
      while (this.size > 0) {
        const h = this.#fifo[this.#head]
        if (!send(h.d, h.seq)) return false
        this.#bytes -= this.#shift().bytes
      }
      return true
    }
    for (const [subject, h] of this.#latest) {
      if (!send(h.d, h.seq)) return false
      this.#latest.delete(subject)
      this.#bytes -= h.bytes
    }
    return true
  }

  /** Takes the oldest held message off the FIFO (a head index: `Array.shift` is O(n) on a long backlog). */
  #shift(): Held {
    const h = this.#fifo[this.#head++]
    if (this.#head >= 64 && this.#head * 2 >= this.#fifo.length) { this.#fifo.splice(0, this.#head); this.#head = 0 }
    return h
  }
}

/** A Delivery that owns its bytes: the tail copied once, the payload a view into the copy (its last field). */
export function snapshot(d: Delivery): Delivery {
  // Not `.slice()`: on a Node Buffer (what ws hands the broker) that is a view, which kept the publisher's whole frame.
  const tail = new Uint8Array(d.binaryTail())
  const payload = payloadOfTail(tail, d.payloadLength)
  return new Delivery().load(d.subject, d.reply, d.headers, d.encoding, payload, tail)
}
