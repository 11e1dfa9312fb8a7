/** A subscription on the client: where messages for one sid go, by callback or by `for await`. */
import { SubwireError } from '../shared/errors.ts'
import { Channel } from './channel.ts'
import type { Msg, MsgSource, Responder } from './message.ts'

/** Options of `subscribe()`. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string
  /** Unsubscribe automatically after this many messages. */
  max?: number
  /** Called for every message (and with an error if the subscription fails); no iterator is then needed. */
  callback?: (err: SubwireError | null, msg: Msg | null) => void
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
}

/** What a subscription asks of its client (which also answers for its messages: respond, ack). */
export interface SubscriptionOwner extends Responder {
  unsubscribeSid(sid: number): void
  drainSid(sid: number): Promise<void>
  reportError(err: SubwireError, subject: string): void
}

export class Subscription implements AsyncIterable<Msg>, MsgSource {
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
  readonly #callback: NonNullable<SubscribeOptions['callback']> | null
  readonly #channel: Channel<Msg>
  #closed = false
  #closedResolve!: (err: SubwireError | null) => void
  /** Resolves when the subscription ends: null on unsubscribe/drain, the error if it failed. */
  readonly closed: Promise<SubwireError | null>

  constructor(owner: SubscriptionOwner, sid: number, subject: string, options: SubscribeOptions) {
    this.#owner = owner
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

  /** Hands over one message; returns true when the subscription has now received its max. */
  deliver(msg: Msg): boolean {
    if (this.#closed) return false
    this.received++
    if (msg.seq > this.lastSeq) this.lastSeq = msg.seq
    if (this.#callback !== null) {
      try {
        this.#callback(null, msg)
      } catch (err) {
        this.#owner.reportError(new SubwireError('bad_option', 'a subscription callback threw', { cause: err }), this.subject)
      }
    } else {
      this.#channel.push(msg)
    }
    return this.max !== null && this.received >= this.max
  }

  /** Ends the subscription locally (no wire traffic): iteration finishes after queued messages. */
  finish(err: SubwireError | null = null): void {
    if (this.#closed) return
    this.#closed = true
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

  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return this.#channel
  }
}

function wireOptionsOf(o: SubscribeOptions): Record<string, unknown> | null {
  const out: Record<string, unknown> = {}
  for (const key of ['deliver', 'ack', 'ackWaitMs', 'maxDeliver', 'maxInFlight', 'backoffMs', 'policy'] as const) {
    if (o[key] !== undefined) out[key] = o[key]
  }
  return Object.keys(out).length === 0 ? null : out
}
