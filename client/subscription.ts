/**
 * A subscription on the client: where messages for one sid go, by callback or by `for await`. A `for await`
 * reader's queue is bounded (`maxPending`, `maxPendingBytes`): past it new messages are dropped, counted and
 * reported as `slow_consumer` status, like the broker's `drop_new` policy and NATS's pending limits.
 */
import { SubwireError } from '../shared/errors.ts'
import { Channel } from './channel.ts'
import type { Msg, MsgSource, Responder } from './message.ts'

/** `SubscribeOptions.maxPending` when not given. */
export const DEFAULT_SUB_MAX_PENDING = 65_536
/** `SubscribeOptions.maxPendingBytes` when not given: as much as the broker holds for a whole connection. */
export const DEFAULT_SUB_MAX_PENDING_BYTES = 8 * 1024 * 1024
/** What a queued message costs beyond its subject, headers and frame: the Msg object and its slot, roughly. */
const MSG_COST = 96
/** Drops are reported at once, then at most once per this interval while they go on (as the broker does). */
const REPORT_INTERVAL_MS = 1000

/** Options of `subscribe()`; `T` and `R` are the messages' data and reply types (client/typed.ts). */
export interface SubscribeOptions<T = unknown, R = unknown> {
  /** Queue group: each message goes to one member of the group. */
  queue?: string
  /** Unsubscribe automatically after this many messages. */
  max?: number
  /** Called for every message (and with an error if the subscription fails); no iterator is then needed. */
  callback?: (err: SubwireError | null, msg: Msg<T, R> | null) => void
  /** Replay from a topic first, then continue live; resumed after a reconnect from the last seq + 1. */
  deliver?: 'all' | 'last' | 'last_per_subject' | 'new' | { startSeq: number } | { startTime: number }
  /** Acked work queue (needs `queue`): each message stays pending until `m.ack()`. */
  ack?: boolean
  /** Ack deadline before redelivery. @default 30000 */
  ackWaitMs?: number
  /** Attempts before dead-lettering to `$DLQ.<topic>`. @default unlimited */
  maxDeliver?: number
  /** Most unacked messages held at once. @default 100 */
  maxInFlight?: number
  /** Delays before redelivery attempts (the last repeats). */
  backoffMs?: number[]
  /**
   * When this subscriber cannot keep up: `disconnect` (default), `drop_new` (drop what arrives), `drop_old`
   * (keep the newest within a budget) or `keep_latest` (keep the newest message per subject). Drops are
   * counted and reported as `slow_consumer` events.
   */
  policy?: 'disconnect' | 'drop_new' | 'drop_old' | 'keep_latest'
  /**
   * Most messages a `for await` reader may leave unread. Past it new messages are dropped (the queue keeps the
   * oldest), counted in `sub.dropped` and reported as a `slow_consumer` status with `source: 'client'`.
   * `Infinity` turns the limit off; a `callback` subscription queues nothing. @default 65536
   */
  maxPending?: number
  /**
   * Most bytes the unread messages of a `for await` reader may keep alive: subjects, headers, 96 B per message,
   * and each received frame buffer their payloads are views into, counted once. Past it new messages are
   * dropped as with `maxPending`; one message is always held. `Infinity` turns it off. @default 8 MiB
   */
  maxPendingBytes?: number
}

/** Where a subscription reports the messages its `for await` queue had no room for. */
export interface DropReporter {
  slowConsumer(sub: Subscription, dropped: number): void
  /** True when the `validate` hook refused `msg` (reported already): it is not delivered. */
  refuses?(sub: Subscription, msg: Msg): boolean
}

/** What a subscription asks of its client (which also answers for its messages: respond, ack). */
export interface SubscriptionOwner extends Responder {
  unsubscribeSid(sid: number): void
  drainSid(sid: number): Promise<void>
  reportError(err: SubwireError, subject: string): void
}

/** A subscription; its messages are `Msg<T, R>` (both `unknown` without a subject schema, client/typed.ts). */
export class Subscription<T = unknown, R = unknown> implements AsyncIterable<Msg<T, R>>, MsgSource {
  readonly sid: number
  readonly subject: string
  readonly queue: string | null
  readonly max: number | null
  /** Messages received so far. */
  received = 0
  /** Highest topic sequence delivered so far (resume point after a reconnect). */
  lastSeq = 0
  /** The server (INFO `serverId`) whose log `lastSeq` counts in. */
  seqServer = ''
  /** Options sent to the server with SUB (replay, acks, policy), or null for a plain subscription. */
  readonly wireOptions: Record<string, unknown> | null
  readonly #owner: SubscriptionOwner
  readonly #callback: ((err: SubwireError | null, msg: Msg | null) => void) | null
  readonly #channel: Channel<Msg>
  readonly #reporter: DropReporter
  readonly #maxPending: number
  readonly #maxPendingBytes: number
  /** The buffer of the newest queued message's frame: the next message from it adds no buffer to the cost. */
  #tailBuffer: ArrayBufferLike | null = null
  #dropped = 0
  #unreported = 0
  #lastReport = 0
  #reportTimer: ReturnType<typeof setTimeout> | null = null
  #closed = false
  #closedResolve!: (err: SubwireError | null) => void
  /** Resolves when the subscription ends: null on unsubscribe/drain, the error if it failed. */
  readonly closed: Promise<SubwireError | null>

  constructor(owner: SubscriptionOwner, reporter: DropReporter, sid: number, subject: string, options: SubscribeOptions) {
    this.#owner = owner
    this.#reporter = reporter
    this.#maxPending = options.maxPending ?? DEFAULT_SUB_MAX_PENDING
    this.#maxPendingBytes = options.maxPendingBytes ?? DEFAULT_SUB_MAX_PENDING_BYTES
    this.sid = sid
    this.subject = subject
    this.queue = options.queue ?? null
    this.max = options.max ?? null
    this.#callback = options.callback ?? null
    // Leaving a `for await` loop early unsubscribes, like ending a stream: otherwise messages would keep
    // arriving for an iterator nobody reads, and be lost without a word.
    this.#channel = new Channel<Msg>(Number.POSITIVE_INFINITY, () => this.unsubscribe())
    this.wireOptions = wireOptionsOf(options)
    this.closed = new Promise((resolve) => { this.#closedResolve = resolve })
  }

  /** Who answers and settles this subscription's messages (its client). */
  get responder(): Responder {
    return this.#owner
  }

  get isClosed(): boolean {
    return this.#closed
  }

  /** Messages waiting in the iterator. */
  get pending(): number {
    return this.#channel.length
  }

  /** What the messages waiting in the iterator cost, as counted against `maxPendingBytes`. */
  get pendingBytes(): number {
    return this.#channel.bytes
  }

  /** Messages dropped because the iterator's queue was full (reported as `slow_consumer` status). */
  get dropped(): number {
    return this.#dropped
  }

  /**
   * The SUB options for (re)subscribing: a replay resumes after the last sequence it delivered, on the same
   * server. A sequence means nothing to another server (a restarted in-memory broker starts its log at 1
   * again), so there the subscription starts over as it was first asked for.
   */
  resubscribeOptions(serverId: string | undefined): Record<string, unknown> | null {
    const o = this.wireOptions
    if (o === null || o.deliver === undefined || this.lastSeq === 0 || serverId !== this.seqServer) return o
    return { ...o, deliver: { startSeq: this.lastSeq + 1 } }
  }

  /** Reports a subscription event (gap, slow_consumer) to the callback; the subscription goes on. */
  notify(err: SubwireError): void {
    if (this.#callback === null || this.#closed) return
    try { this.#callback(err, null) } catch { /* a throwing callback must not stop delivery */ }
  }

  /**
   * Hands over one message, a view into `frame`; returns true when the subscription has now received its max.
   * Messages dropped for a full queue count as received (the broker counts them against `max` too).
   */
  deliver(msg: Msg, frame: Uint8Array): boolean {
    if (this.#closed) return false
    this.received++
    if (msg.seq > this.lastSeq) this.lastSeq = msg.seq
    if (this.#reporter.refuses?.(this, msg) === true) return this.max !== null && this.received >= this.max
    if (this.#callback !== null) {
      try {
        this.#callback(null, msg)
      } catch (err) {
        this.#owner.reportError(new SubwireError('bad_option', 'a subscription callback threw', { cause: err }), this.subject)
      }
    } else {
      this.#enqueue(msg, frame)
    }
    return this.max !== null && this.received >= this.max
  }

  /**
   * Queues a message for the iterator, or drops it when the queue is full. A queued message keeps its whole
   * frame buffer alive, so the first one queued from a buffer pays for all of it (messages of one buffer arrive
   * together): the count is then off by at most the buffer the reader is in the middle of.
   */
  #enqueue(msg: Msg, frame: Uint8Array): void {
    const ch = this.#channel
    if (ch.waiting) { ch.push(msg); return } // the reader takes it now: nothing is held
    const buffer = frame.buffer
    let cost = MSG_COST + msg.subject.length + (ch.length === 0 || buffer !== this.#tailBuffer ? buffer.byteLength : 0)
    const headers = msg.headers
    if (headers !== null) for (const k in headers) cost += k.length + headers[k].length + 16
    if (ch.length > 0 && (ch.length >= this.#maxPending || ch.bytes + cost > this.#maxPendingBytes)) {
      this.#drop()
      return
    }
    this.#tailBuffer = buffer
    ch.push(msg, cost)
  }

  #drop(): void {
    this.#dropped++
    this.#unreported++
    if (this.#reportTimer !== null) return
    const wait = this.#lastReport + REPORT_INTERVAL_MS - Date.now()
    if (wait <= 0) { this.#report(); return }
    this.#reportTimer = setTimeout(() => this.#report(), wait)
    const timer = this.#reportTimer as { unref?: () => void }
    timer.unref?.()
  }

  #report(): void {
    if (this.#reportTimer !== null) { clearTimeout(this.#reportTimer); this.#reportTimer = null }
    if (this.#unreported === 0) return
    const n = this.#unreported
    this.#unreported = 0
    this.#lastReport = Date.now()
    this.#reporter.slowConsumer(this, n)
  }

  /** Ends the subscription locally (no wire traffic): iteration finishes after queued messages. */
  finish(err: SubwireError | null = null): void {
    if (this.#closed) return
    this.#closed = true
    this.#report() // drops not reported yet are reported now, never lost with the subscription
    if (err !== null && this.#callback !== null) {
      try { this.#callback(err, null) } catch { /* the callback's own failure must not mask the first */ }
    }
    this.#channel.end(this.#callback === null ? err : null)
    this.#closedResolve(err)
  }

  /** Stops delivery now; messages already queued are still yielded. */
  unsubscribe(): void {
    this.#owner.unsubscribeSid(this.sid)
  }

  /** Unsubscribes after every message the server sent before the UNSUB has arrived. */
  drain(): Promise<void> {
    return this.#owner.drainSid(this.sid)
  }

  /**
   * The messages, for `for await`.
   * @throws SubwireError `bad_option` at once for a subscription with a `callback` (its messages go there)
   */
  [Symbol.asyncIterator](): AsyncIterator<Msg<T, R>> {
    if (this.#callback !== null) throw new SubwireError('bad_option', `${this.subject} delivers to its callback; it cannot also be iterated`)
    return this.#channel as AsyncIterator<Msg> as AsyncIterator<Msg<T, R>>
  }
}

function wireOptionsOf(o: SubscribeOptions): Record<string, unknown> | null {
  const out: Record<string, unknown> = {}
  for (const key of ['deliver', 'ack', 'ackWaitMs', 'maxDeliver', 'maxInFlight', 'backoffMs', 'policy'] as const) {
    if (o[key] !== undefined) out[key] = o[key]
  }
  return Object.keys(out).length === 0 ? null : out
}
