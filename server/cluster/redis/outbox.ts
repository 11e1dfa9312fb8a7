/**
 * Messages waiting to leave for other nodes: one buffer list per target node, sent as one PUBLISH per node when
 * the task that published them is done (or at once past BATCH_BYTES). The send is the first thing of the
 * broker's write phase (FlushScheduler.beforeWrites): it reaches Redis before the task's local deliveries are
 * written (a fan-out's writes to local subscribers take a syscall each), so a message for another node never
 * waits for this node's own subscribers, and every message of a task shares one PUBLISH per node. Bytes handed
 * to Redis and not yet acknowledged are bounded: past MAX_IN_FLIGHT_BYTES (Redis slower than the publishers)
 * new messages are dropped and counted, so a stalled Redis costs the broker a bounded amount of memory rather
 * than all of it.
 */
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

/** Where batches go: the node's ioredis connection in a cluster, anything that publishes in a test. */
export interface Publisher {
  publish(channel: string, message: Buffer): Promise<unknown>
}

class Pending {
  readonly channel: string
  readonly parts: Uint8Array[] = []
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
  #redis: Publisher | null = null
  #scheduled = false
  #inFlight = 0
  /** Called when messages are dropped, so the cluster can tell clients that cross-node delivery lost some. */
  readonly #onDrop: (n: number) => void
  readonly #beforeWrites: (task: () => void) => void

  /** `beforeWrites` runs the flush ahead of the broker's writes to its connections (a microtask without one). */
  constructor(origin: string, onDrop: (n: number) => void, beforeWrites: (task: () => void) => void = queueMicrotask) {
    this.#start = encodeBatchStart(origin)
    this.#onDrop = onDrop
    this.#beforeWrites = beforeWrites
  }

  /** The connection to publish on, or null while the link is down (messages are then dropped). */
  use(redis: Publisher | null): void {
    this.#redis = redis
    if (redis === null) this.#discard()
  }

  /** Queues one message (`head` then `body`) for `channel`. */
  add(channel: string, head: Uint8Array, body: Uint8Array): void {
    if (this.#redis === null || this.#inFlight > MAX_IN_FLIGHT_BYTES) { this.#drop(1); return }
    let p = this.#pending.get(channel)
    if (p === undefined) {
      p = new Pending(channel)
      this.#pending.set(channel, p)
    }
    p.parts.push(head, body)
    p.bytes += head.length + body.length
    p.messages++
    if (p.bytes >= BATCH_BYTES) this.#send(p)
    else if (!this.#scheduled) {
      this.#scheduled = true
      this.#beforeWrites(this.#flush)
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false
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
