/**
 * Messages held back for one subscription whose connection is over its outbound cap, under the `drop_old` or
 * `keep_latest` policy (PROTOCOL §8.5). Bytes already handed to the socket cannot be taken back, so the policy
 * acts on what has not been queued yet: `drop_old` keeps the newest messages within a byte budget, dropping the
 * oldest; `keep_latest` keeps only the newest message per subject (a dashboard wants every sensor's latest value,
 * not a stale backlog). Held messages are copies, so they do not pin inbound frames.
 */
import { Delivery, payloadOfTail } from './delivery.ts'

export type HoldPolicy = 'drop_old' | 'keep_latest'

export class HeldMessages {
  readonly #policy: HoldPolicy
  readonly #maxBytes: number
  readonly #fifo: Delivery[] = []
  readonly #latest = new Map<string, Delivery>()
  #bytes = 0

  constructor(policy: HoldPolicy, maxBytes: number) {
    this.#policy = policy
    this.#maxBytes = maxBytes
  }

  get size(): number {
    return this.#policy === 'drop_old' ? this.#fifo.length : this.#latest.size
  }

  /** Holds a copy of `d`; returns how many held messages were dropped to make room (or superseded). */
  hold(d: Delivery): number {
    const copy = snapshot(d)
    const n = copy.binaryTail().length
    let dropped = 0
    if (this.#policy === 'keep_latest') {
      const old = this.#latest.get(copy.subject)
      if (old !== undefined) { this.#latest.delete(copy.subject); this.#bytes -= old.binaryTail().length; dropped++ }
      this.#latest.set(copy.subject, copy)
      this.#bytes += n
      // Past the budget even with one value per subject, the oldest subjects' values go.
      for (const [subject, held] of this.#latest) {
        if (this.#bytes <= this.#maxBytes || this.#latest.size === 1) break
        this.#latest.delete(subject)
        this.#bytes -= held.binaryTail().length
        dropped++
      }
      return dropped
    }
    this.#fifo.push(copy)
    this.#bytes += n
    while (this.#bytes > this.#maxBytes && this.#fifo.length > 1) {
      this.#bytes -= (this.#fifo.shift() as Delivery).binaryTail().length
      dropped++
    }
    return dropped
  }

  /** Hands held messages, oldest first, to `send` until it refuses one; returns true when all went. */
  release(send: (d: Delivery) => boolean): boolean {
    if (this.#policy === 'drop_old') {
      while (this.#fifo.length > 0) {
        if (!send(this.#fifo[0])) return false
        this.#bytes -= (this.#fifo.shift() as Delivery).binaryTail().length
      }
      return true
    }
    for (const [subject, d] of this.#latest) {
      if (!send(d)) return false
      this.#latest.delete(subject)
      this.#bytes -= d.binaryTail().length
    }
    return true
  }
}

/** A Delivery that owns its bytes: the tail copied once, the payload a view into the copy (its last field). */
function snapshot(d: Delivery): Delivery {
  const tail = d.binaryTail().slice()
  const payload = payloadOfTail(tail, d.payloadLength)
  return new Delivery().load(d.subject, d.reply, d.headers, d.encoding, payload, tail)
}
