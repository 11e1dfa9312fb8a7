/**
 * Messages waiting to leave for other nodes: one buffer list per target node, sent as one PUBLISH per node at
 * the end of the tick (or at once past BATCH_BYTES). The first message of a tick for a node leaves at once, on
 * its own: it reaches the socket before the tick's local deliveries are written (a fan-out's writes to local
 * subscribers take a syscall each), so a quiet cluster adds no wait for the others' batch, and a busy one pays
 * one extra PUBLISH per node per tick. Bytes handed to Redis and not yet acknowledged are
 * bounded: past MAX_IN_FLIGHT_BYTES (Redis slower than the publishers) new messages are dropped and counted,
 * so a stalled Redis costs the broker a bounded amount of memory rather than all of it.
 */
import type { Redis } from 'ioredis'
import { encodeBatchStart } from './cluster-frame.ts'

const BATCH_BYTES = 256 * 1024
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024

export interface OutboxStats {
  /** Messages handed to Redis for other nodes (one per target node). */
  sent: number
  /** Batches (PUBLISH commands). */
  batches: number
  bytes: number
  /** Messages dropped because Redis was unreachable or too far behind, or a PUBLISH failed. */
  dropped: number
}

class Pending {
  readonly channel: string
  readonly parts: Buffer[] = []
  bytes = 0
  messages = 0
  constructor(channel: string) {
    this.channel = channel
  }
}

export class Outbox {
  readonly stats: OutboxStats = { sent: 0, batches: 0, bytes: 0, dropped: 0 }
  readonly #start: Buffer
  readonly #pending = new Map<string, Pending>()
  #redis: Redis | null = null
  #scheduled = false
  /** Channels whose first message of this tick went alone (cleared at the end of the tick). */
  readonly #sentAlone = new Set<string>()
  #inFlight = 0
  /** Called when messages are dropped, so the cluster can tell clients that cross-node delivery lost some. */
  readonly #onDrop: (n: number) => void

  constructor(origin: string, onDrop: (n: number) => void) {
    this.#start = encodeBatchStart(origin)
    this.#onDrop = onDrop
  }

  /** The connection to publish on, or null while the link is down (messages are then dropped). */
  use(redis: Redis | null): void {
    this.#redis = redis
    if (redis === null) this.#discard()
  }

  /** Queues one message (`head` then `body`) for `channel`. */
  add(channel: string, head: Buffer, body: Buffer): void {
    if (this.#redis === null || this.#inFlight > MAX_IN_FLIGHT_BYTES) { this.#drop(1); return }
    let p = this.#pending.get(channel)
    if (p === undefined) {
      p = new Pending(channel)
      this.#pending.set(channel, p)
    }
    if (!this.#sentAlone.has(channel)) {
      this.#sentAlone.add(channel)
      p.parts.push(head, body)
      p.bytes = head.length + body.length
      p.messages = 1
      this.#send(p)
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.#flush)
      }
      return
    }
    p.parts.push(head, body)
    p.bytes += head.length + body.length
    p.messages++
    if (p.bytes >= BATCH_BYTES) this.#send(p)
    else if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flush)
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    this.#sentAlone.clear()
    for (const p of this.#pending.values()) this.#send(p)
  }

  #send(p: Pending): void {
    this.#pending.delete(p.channel)
    const redis = this.#redis
    if (redis === null) { this.#drop(p.messages); return }
    const batch = Buffer.concat([this.#start, ...p.parts], this.#start.length + p.bytes)
    const size = batch.length
    this.#inFlight += size
    this.stats.sent += p.messages
    this.stats.batches++
    this.stats.bytes += size
    const messages = p.messages
    redis.publish(p.channel, batch).then(
      () => { this.#inFlight -= size },
      () => { this.#inFlight -= size; this.stats.sent -= messages; this.#drop(messages) },
    )
  }

  #discard(): void {
    for (const p of this.#pending.values()) this.#drop(p.messages)
    this.#pending.clear()
  }

  #drop(n: number): void {
    this.stats.dropped += n
    this.#onDrop(n)
  }
}
