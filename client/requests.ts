/**
 * Request/reply over one wildcard inbox per connection: `_INBOX.<id>.>` is subscribed once, and each request
 * gets the reply subject `_INBOX.<id>.<n>`, so a thousand requests in flight cost one subscription, not a
 * thousand.
 */
import { nanoid } from 'nanoid'
import { SubwireError } from '../shared/errors.ts'
import { HEADER, STATUS_HEADER } from '../shared/protocol.ts'
import { isErrorCode } from '../shared/errors.ts'
import type { Msg } from './message.ts'
import type { SubwireError as Refusal } from '../shared/errors.ts'
import type { SubscribeOptions, Subscription } from './subscription.ts'

/** What requests ask of their client. */
export interface RequestsLink {
  /** Subscribes the inbox (the client's `subscribe`). */
  subscribe(subject: string, options: SubscribeOptions): Subscription
  /** Publishes with PUB `flags` (request, publisher confirm); throws what `publish` throws. */
  publish(flags: number, subject: string, data: unknown, reply: string, headers: Record<string, string> | undefined): void
  /** Runs the `validate` hook on a reply to a request on `subject`: the refusal, or null (validate.ts). */
  screen?(subject: string, msg: Msg): Refusal | null
}

interface Pending {
  resolve(msg: Msg): void
  reject(err: SubwireError): void
  timer: ReturnType<typeof setTimeout>
  subject: string
  /** The reply is application data, for the `validate` hook (not a publisher confirm or a topic API answer). */
  check: boolean
}

export class Requests {
  /** `_INBOX.<id>`: the prefix every reply subject of this client starts with. */
  readonly prefix = `_INBOX.${nanoid()}`
  readonly #pending = new Map<string, Pending>()
  #next = 0
  readonly #link: RequestsLink
  #inbox: Subscription | null = null

  constructor(link: RequestsLink) {
    this.#link = link
  }

  /** The wildcard subject to subscribe once. */
  get inboxPattern(): string {
    return `${this.prefix}.>`
  }

  get size(): number {
    return this.#pending.size
  }

  /**
   * Publishes a request (PUB `flags`) on a fresh reply subject and returns the promise of its answer; a PUB
   * that cannot be sent fails the request at once.
   * @throws SubwireError what `subscribe` throws for the inbox (the client is closed or draining)
   */
  ask(flags: number, subject: string, data: unknown, headers: Record<string, string> | undefined, timeoutMs: number, check = false): Promise<Msg> {
    this.#ensureInbox()
    const { reply, answer } = this.create(subject, timeoutMs, check)
    try {
      this.#link.publish(flags, subject, data, reply, headers)
    } catch (err) {
      this.cancel(reply, err as SubwireError)
    }
    return answer
  }

  #ensureInbox(): void {
    if (this.#inbox !== null && !this.#inbox.isClosed) return
    this.#inbox = this.#link.subscribe(this.inboxPattern, { callback: (_err, msg) => { if (msg !== null) this.onReply(msg) } })
  }

  /** Registers a request; returns its reply subject and the promise of its answer. */
  create(subject: string, timeoutMs: number, check = false): { reply: string; answer: Promise<Msg> } {
    const token = (this.#next++).toString(36)
    const reply = `${this.prefix}.${token}`
    const answer = new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token)
        reject(new SubwireError('timeout', `request on ${subject} got no reply within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(token, { resolve, reject, timer, subject, check })
    })
    return { reply, answer }
  }

  /** Settles the request a reply belongs to; a broker status of `no_responders` rejects it at once. */
  onReply(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length + 1)
    const pending = this.#pending.get(token)
    if (pending === undefined) return // timed out already, or a late second reply
    this.#pending.delete(token)
    clearTimeout(pending.timer)
    const status = msg.headers?.[STATUS_HEADER]
    if (status === 'no_responders') {
      pending.reject(new SubwireError('no_responders', `no subscriber is listening on ${pending.subject}`))
    } else if (status === 'error') {
      // A broker answer that failed (topic API, publisher confirm): its code and message.
      const code = msg.headers?.[HEADER.error]
      let text = `${pending.subject} failed`
      try { const d = msg.data; if (typeof d === 'string') text = d } catch { /* keep the generic text */ }
      pending.reject(new SubwireError(isErrorCode(code) ? code : 'protocol', text))
    } else {
      const refused = pending.check ? this.#link.screen?.(pending.subject, msg) ?? null : null
      if (refused === null) pending.resolve(msg)
      else pending.reject(refused)
    }
  }

  /**
   * Fails the oldest request in flight on `subject` with `err`: the broker refused its PUB (ERR `permission`,
   * ref = the subject) and will never route it, so waiting for the timeout would only say `timeout` later.
   * Returns false when no request on `subject` is in flight (the ERR was for a plain publish).
   *
   * The broker answers a connection's ops in order and refuses by subject, so the oldest request on the
   * subject is the one refused; a plain publish to the same subject refused in between settles it a little
   * earlier, with the answer its own ERR would have given. It is not exact only across a re-authentication
   * that widens the rights: the ERR of a publish sent before it can fail a request on that subject sent after.
   * The scan runs on ERRs only (rare), so a request costs nothing more.
   */
  refuse(subject: string, err: SubwireError): boolean {
    for (const [token, p] of this.#pending) {
      if (p.subject !== subject) continue
      this.#pending.delete(token)
      clearTimeout(p.timer)
      p.reject(err)
      return true
    }
    return false
  }

  /** Fails one request (its PUB could not be sent). */
  cancel(reply: string, err: SubwireError): void {
    const token = reply.slice(this.prefix.length + 1)
    const pending = this.#pending.get(token)
    if (pending === undefined) return
    this.#pending.delete(token)
    clearTimeout(pending.timer)
    pending.reject(err)
  }

  /** Fails every request in flight (the client is closing). */
  rejectAll(err: SubwireError): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.#pending.clear()
  }
}
