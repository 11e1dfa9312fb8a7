/**
 * The client's subscriptions by sid: created here (options checked), restored in one write after a reconnect,
 * fed the server's MSGs and EVENTs, and ended here (unsubscribe, drain, a refused SUB, close).
 */
import { SubwireError } from '../shared/errors.ts'
import type { Info } from '../shared/protocol.ts'
import type { WireValue } from '../shared/msgpack-reader.ts'
import { Msg } from './message.ts'
import type { Outbound } from './outbound.ts'
import type { StatusHub } from './status.ts'
import { Subscription, type DropReporter, type SubscribeOptions, type SubscriptionOwner } from './subscription.ts'
import { clampInt, logIdOf } from './server-info.ts'
import { screen, type Validate } from './validate.ts'

/** What the table asks of its client (`Client` implements it with its public members). */
export interface SubscriptionTableLink extends SubscriptionOwner {
  flush(): Promise<void>
}

/** The subscriptions of one client, by sid (sids are never reused). */
export class SubscriptionTable implements DropReporter {
  readonly #subs = new Map<number, Subscription>()
  #nextSid = 1
  readonly #link: SubscriptionTableLink
  readonly #outbound: Outbound
  readonly #status: StatusHub
  readonly #validate: Validate | null
  /** The request inbox: its messages are replies, checked by their request (`screenReply`), not here. */
  #exempt: Subscription | null = null

  constructor(link: SubscriptionTableLink, outbound: Outbound, status: StatusHub, validate: Validate | null = null) {
    this.#link = link
    this.#outbound = outbound
    this.#status = status
    this.#validate = validate
  }

  /** Marks the request inbox (see `#exempt`); returns it. */
  exempt(inbox: Subscription): Subscription {
    this.#exempt = inbox
    return inbox
  }

  refuses(sub: Subscription, msg: Msg): boolean {
    if (this.#validate === null || sub === this.#exempt) return false
    const refused = screen(this.#validate, msg.subject, msg, 'message')
    if (refused === null) return false
    this.#status.emit({ type: 'invalid', subject: msg.subject, error: refused })
    sub.notify(refused)
    return true
  }

  /** The `validate` hook on a reply to a request on `subject`: the refusal (reported as status), or null. */
  screenReply(subject: string, msg: Msg): SubwireError | null {
    if (this.#validate === null) return null
    const refused = screen(this.#validate, subject, msg, 'reply')
    if (refused !== null) this.#status.emit({ type: 'invalid', subject, error: refused })
    return refused
  }

  /**
   * Creates a subscription (the subject is already checked); its SUB is written now when `connected`, else on
   * the next connect.
   * @throws SubwireError `bad_option` for an invalid queue group name or `max`
   */
  add(subject: string, options: SubscribeOptions, connected: boolean, serverId: string | undefined): Subscription {
    if (options.queue !== undefined && (typeof options.queue !== 'string' || options.queue === '' || /[\s\x00-\x1f]/.test(options.queue))) {
      throw new SubwireError('bad_option', `invalid queue group name ${JSON.stringify(options.queue)}`)
    }
    if (options.max !== undefined && !(Number.isSafeInteger(options.max) && options.max > 0)) {
      throw new SubwireError('bad_option', `max must be a positive integer, got ${String(options.max)}`)
    }
    for (const key of ['maxPending', 'maxPendingBytes'] as const) {
      const v = options[key]
      if (v !== undefined && !((Number.isSafeInteger(v) || v === Number.POSITIVE_INFINITY) && v > 0)) {
        throw new SubwireError('bad_option', `${key} must be a positive integer or Infinity, got ${String(v)}`)
      }
    }
    const sub = new Subscription(this.#link, this, this.#nextSid++, subject, options)
    this.#subs.set(sub.sid, sub)
    if (connected) {
      this.#outbound.sub(sub, serverId)
      this.#outbound.schedule()
    }
    return sub
  }

  /** Ends subscription `sid`; its UNSUB is sent when `sending` (otherwise the server has no such sid yet). */
  unsubscribe(sid: number, sending: boolean): void {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    if (sending) {
      this.#outbound.unsub(sid)
      this.#outbound.schedule()
    }
    this.#end(sub, null)
  }

  /** Like `unsubscribe`, but ends the subscription only once the messages sent before the UNSUB arrived. */
  async drain(sid: number, sending: boolean): Promise<void> {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    if (sending) {
      this.#outbound.unsub(sid)
      this.#outbound.schedule()
      await this.#link.flush().catch(() => undefined)
    }
    this.#end(sub, null)
  }

  /** Writes every subscription's SUB (after a handshake: before the offline buffer); resumes `serverId`'s log. */
  resubscribeAll(serverId: string | undefined): void {
    for (const sub of this.#subs.values()) this.#outbound.sub(sub, serverId)
  }

  /** Every subscription (a resume restores only those the broker no longer holds). */
  values(): IterableIterator<Subscription> {
    return this.#subs.values()
  }

  /** Writes an UNSUB for every subscription, keeping them open for the messages on their way (drain). */
  unsubscribeAll(): void {
    for (const sub of this.#subs.values()) this.#outbound.unsub(sub.sid)
  }

  /** Ends every subscription locally. */
  endAll(): void {
    for (const sub of [...this.#subs.values()]) this.#end(sub, null)
  }

  /** Hands a MSG to its subscription (see `OpSink.onMsg`); `info` is the connection's, for a topic message's seq. */
  deliver(sid: number, subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number,
    frame: Uint8Array, payloadStart: number, payloadEnd: number, seq: number, time: number, deliveryCount: number, info: Info | null): void {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return // unsubscribed while the message was on its way
    if (seq !== 0) sub.seqServer = logIdOf(info) ?? ''
    const extra = reply === null && headers === null && seq === 0 ? null : { reply, headers, seq, time, deliveryCount }
    if (sub.deliver(new Msg(sub, subject, encoding, frame, payloadStart, payloadEnd, extra), frame)) this.#end(sub, null)
  }

  /** A subscription event: reported on status() and, as an error code, to the subscription's callback. */
  onEvent(sid: number, type: string, data: Record<string, WireValue>): void {
    if (sid === 0) { this.#connectionEvent(type, data); return }
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    const n = (k: string): number => clampInt(data[k], 0, Number.MAX_SAFE_INTEGER, 0)
    if (type === 'gap') {
      this.#status.emit({ type: 'gap', reason: 'topic', subject: sub.subject, topic: typeof data.topic === 'string' ? data.topic : '', from: n('from'), to: n('to') })
      sub.notify(new SubwireError('gap', `messages ${n('from')}..${n('to')} of ${sub.subject} are no longer held`))
    } else if (type === 'slow_consumer') {
      this.#status.emit({ type: 'slow_consumer', sid, subject: sub.subject, dropped: n('dropped'), total: n('total'), source: 'broker' })
      sub.notify(new SubwireError('slow_consumer', `${n('dropped')} messages on ${sub.subject} were dropped`))
    }
  }

  /** An event about the connection's broker rather than one subscription (sid 0): its cluster link. */
  #connectionEvent(type: string, data: Record<string, WireValue>): void {
    if (type !== 'cluster' || (data.link !== 'up' && data.link !== 'down')) return
    const n = (k: string): number => clampInt(data[k], 0, Number.MAX_SAFE_INTEGER, 0)
    this.#status.emit({ type: 'cluster', link: data.link, downMs: n('downMs'), dropped: n('dropped'), nodeId: typeof data.nodeId === 'string' ? data.nodeId : '' })
  }

  /** A `for await` reader's queue was full: `dropped` more messages are gone (Subscription.#enqueue). */
  slowConsumer(sub: Subscription, dropped: number): void {
    this.#status.emit({ type: 'slow_consumer', sid: sub.sid, subject: sub.subject, dropped, total: sub.dropped, source: 'client' })
  }

  /** A refused SUB: the subscription is dead on the server, so it ends here too. Returns it, if it existed. */
  refuse(sid: number, err: SubwireError): Subscription | undefined {
    const sub = this.#subs.get(sid)
    if (sub !== undefined) this.#end(sub, err)
    return sub
  }

  #end(sub: Subscription, err: SubwireError | null): void {
    this.#subs.delete(sub.sid)
    sub.finish(err)
  }
}
