/**
 * `connect(url, { resume: true })` (PROTOCOL §4.10): the client's half of a resumable session. It counts the
 * MSGs of the session that carry no topic sequence (the broker numbers them the same way, so nothing extra
 * travels with a MSG), acknowledges the count now and then, presents token and count in CONNECT after a
 * drop, and after the handshake subscribes only what the broker no longer holds, then says `resumed` or `gap`.
 */
import type { WireValue } from '../shared/msgpack-reader.ts'
import type { Outbound } from './outbound.ts'
import type { ResumeLoss, StatusHub } from './status.ts'
import type { Subscription } from './subscription.ts'

/** ACK kind of a session acknowledgement (sid 0). */
const SESSION_ACK = 4
/** Acknowledged at least every this many MSGs or payload bytes, and on every server PING: the broker's log stays short. */
const ACK_EVERY = 256
const ACK_BYTES = 64 * 1024

const int = (v: WireValue | undefined): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0)

export class Resume {
  #token: string | null = null
  #received = 0
  #acked = 0
  #bytes = 0
  /** The attempt under way presented a token: its outcome is reported once connected. */
  #asked = false
  #answer: Record<string, WireValue> | null = null
  /** Sids that existed at the last drop (`cut`), until a handshake's restore. */
  #atCut: Set<number> | null = null
  readonly #outbound: Outbound
  readonly #status: StatusHub

  constructor(outbound: Outbound, status: StatusHub) {
    this.#outbound = outbound
    this.#status = status
  }

  /** CONNECT's `resume` for the attempt under way. */
  connectField(): true | { token: string; received: number } {
    this.#answer = null
    this.#asked = this.#token !== null
    return this.#token === null ? true : { token: this.#token, received: this.#received }
  }

  /** The broker's answer (INFO `resume`), which comes before any MSG of the new connection. */
  answer(v: WireValue): void {
    if (v === null || typeof v !== 'object') return // any other shape reads as "not resumed"
    const a = v as Record<string, WireValue>
    if (typeof a.token === 'string') this.#token = a.token
    this.#answer = a
    this.#received = this.#acked = a.resumed === true ? int(a.base) : 0
    this.#bytes = 0
  }

  /** A MSG without a topic sequence arrived, `bytes` of payload. */
  counted(bytes: number): void {
    this.#received++
    if ((this.#bytes += bytes) >= ACK_BYTES || this.#received - this.#acked >= ACK_EVERY) this.ack()
  }

  /** Tells the broker how many arrived, so it can let them go. */
  ack(): void {
    if (this.#received === this.#acked) return
    this.#acked = this.#received
    this.#bytes = 0
    this.#outbound.ack(0, this.#received, SESSION_ACK)
  }

  /**
   * The connection dropped: the subscriptions made until now were (or were being) sent to the broker, so one it
   * does not hold on resume may have missed messages (its SUB was lost in flight); one made while away did not.
   */
  cut(subs: Iterable<Subscription>): void {
    const sids = (this.#atCut ??= new Set())
    for (const sub of subs) sids.add(sub.sid)
  }

  /**
   * After a handshake, instead of resubscribing everything: SUBs for what the broker does not hold, UNSUBs for
   * what it holds that was unsubscribed here meanwhile, then the `resumed` or `gap` status.
   */
  restore(subs: Iterable<Subscription>, server: string, serverId: string | undefined): void {
    const a = this.#answer
    this.#answer = null
    const resumed = a?.resumed === true
    const held = new Set(resumed && Array.isArray(a.sids) ? a.sids : [])
    const counts = new Map<number, number>()
    if (a != null && Array.isArray(a.lost)) for (const p of a.lost) if (Array.isArray(p)) counts.set(int(p[0]), int(p[1]))
    const lost: ResumeLoss[] = []
    const atCut = this.#atCut
    this.#atCut = null
    for (const sub of subs) {
      const kept = held.delete(sub.sid)
      if (!kept) this.#outbound.sub(sub, serverId)
      // Replays and work queues recover by sequence on their own; a plain subscription of an unknown session
      // may have lost anything, and so may one the session does not hold though it existed before the drop.
      const o = sub.wireOptions
      const unknown = !resumed || a.lostPartial === true || (!kept && atCut?.has(sub.sid) === true)
      const count = counts.get(sub.sid) ?? (unknown ? null : 0)
      if (count !== 0 && o?.deliver === undefined && o?.ack !== true) lost.push({ sid: sub.sid, subject: sub.subject, count })
    }
    for (const sid of held) this.#outbound.unsub(int(sid))
    if (!this.#asked) return
    const missed = resumed ? int(a.missed) : 0
    this.#status.emit(resumed && lost.length === 0 ? { type: 'resumed', server, missed } : { type: 'gap', reason: 'resume', server, resumed, missed, lost })
  }
}
