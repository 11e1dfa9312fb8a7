/** A subscription on the client: where messages for one sid go, by callback or by `for await`. */
import { SubwireError } from '../shared/errors.ts'
import { Channel } from './channel.ts'
import type { Msg } from './message.ts'

/** Options of `subscribe()`. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string
  /** Unsubscribe automatically after this many messages. */
  max?: number
  /** Called for every message (and with an error if the subscription fails); no iterator is then needed. */
  callback?: (err: SubwireError | null, msg: Msg | null) => void
}

/** What a subscription asks of its client. */
export interface SubscriptionOwner {
  unsubscribeSid(sid: number): void
  drainSid(sid: number): Promise<void>
  reportError(err: SubwireError, subject: string): void
}

export class Subscription implements AsyncIterable<Msg> {
  readonly sid: number
  readonly subject: string
  readonly queue: string | null
  readonly max: number | null
  /** Messages received so far. */
  received = 0
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
    this.closed = new Promise((resolve) => { this.#closedResolve = resolve })
  }

  get isClosed(): boolean {
    return this.#closed
  }

  /** Messages waiting in the iterator. */
  get pending(): number {
    return this.#channel.length
  }

  /** Hands over one message; returns true when the subscription has now received its max. */
  deliver(msg: Msg): boolean {
    if (this.#closed) return false
    this.received++
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
