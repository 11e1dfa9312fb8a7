/**
 * Session resume (PROTOCOL §4.10), as one connection sees it. A connection whose CONNECT asks for `resume`
 * writes through a `SessionLink` instead of its bare outbound queue: every MSG it sends is also logged
 * (session-log.ts) until the client acknowledges it. When the socket drops, the link parks the session
 * (session-registry.ts): its plain subscriptions stay in the subject index and what they are routed goes into
 * the log. A new connection presenting the token takes the session over: the missed MSGs are written first,
 * then its subscriptions move to the new connection, all in one synchronous step, so nothing is lost, doubled
 * or reordered at the hand-over. Connections that did not ask for resume never meet this file.
 */
import type { ErrorCode } from '../../shared/errors.ts'
import type { WireValue } from '../../shared/msgpack-reader.ts'
import type { Delivery } from '../outbound/delivery.ts'
import type { Outbound } from '../outbound/outbound-queue.ts'
import { afterDrain } from '../outbound/slow-consumer.ts'
import type { Identity } from '../security/auth.ts'
import type { StoredMessage } from '../store/topic-store.ts'
import { withdrawAllSubscriptions } from './connection-subscriptions.ts'
import { lostFields, markParked, onlyReceivable, transplant, withdrawFeeds, type Host, type SessionConn } from './session-handover.ts'
import { ResumeSession, ownerKey, registryOf, type SessionHolder, type SessionRegistry, type Tombstone } from './session-registry.ts'

/** ACK kind (PROTOCOL §4.10) by which a client says how many MSGs of its session it has received. */
export const SESSION_ACK = 4

/** Server-side closes after which the client is expected back: the session is parked, not ended. */
const PARKING_CLOSES: ReadonlySet<ErrorCode> = new Set(['stale_connection', 'slow_consumer', 'auth_expired'])

/** What CONNECT's `resume` asked: a new session (token null) or to take over the one the token names. */
export interface ResumeAsk {
  readonly token: string | null
  readonly received: number
}

/** @throws nothing: returns null for a CONNECT without `resume`, a string for a mistyped one */
export function parseResumeAsk(v: WireValue | undefined): ResumeAsk | null | string {
  if (v === undefined || v === null || v === false) return null
  if (v === true) return { token: null, received: 0 }
  if (typeof v !== 'object' || v instanceof Uint8Array || Array.isArray(v)) return 'CONNECT resume must be true or { token, received }'
  const { token, received } = v as Record<string, WireValue>
  if (typeof token !== 'string' || token.length > 128) return 'CONNECT resume.token must be a string of at most 128 characters'
  if (typeof received !== 'number' || !Number.isSafeInteger(received) || received < 0) return 'CONNECT resume.received must be a non-negative integer'
  return { token, received }
}


/** One connection's side of a resumable session: its outbound queue, wrapped. */
export class SessionLink implements Outbound, SessionHolder {
  #inner: Outbound | null = null
  #session: ResumeSession | null = null
  #registry: SessionRegistry | null = null
  #host: Host | null = null
  #conn: SessionConn | null = null
  readonly #ask: ResumeAsk
  /** Why the broker closed the connection, if it did. */
  #closedFor: ErrorCode | null = null
  /**
   * While a replay is being written: the number of the next logged MSG to write (0: none is). Live MSGs go
   * into the log behind it meanwhile, and PONGs wait (`#pongs`), so a PING still says everything before it came.
   */
  #cursor = 0
  /** PONGs waiting for the replay: each goes out once the MSGs numbered up to its value are written. */
  #pongs: number[] | null = null
  #pumpQueued = false

  constructor(ask: ResumeAsk) {
    this.#ask = ask
  }

  /**
   * CONNECT accepted for `identity`: takes over the session the token names, or starts one, and answers in an
   * INFO before anything else is written. Returns the queue the connection writes through from now on.
   */
  open(host: Host, conn: SessionConn, inner: Outbound, identity: Identity): Outbound {
    this.#inner = inner
    this.#host = host
    this.#conn = conn
    const reg = (this.#registry = registryOf(host))
    const user = identity.principal ?? identity.user
    const { token, received } = this.#ask
    const found = token === null ? null : reg.find(token, user)
    if (found instanceof ResumeSession && received <= found.log.count) {
      this.#takeOver(found, received)
      return this
    }
    const s = reg.create(user, this.#ownerKey(user))
    s.holder = this
    this.#session = s
    // A live session whose count the client overstates is left as it is (its own client may still come back).
    const tomb: Tombstone | null = found === null || found instanceof ResumeSession ? null : found
    const lost = tomb !== null && received <= tomb.count ? tomb.loss.lostAbove(received) : null
    inner.info({ resume: { token: s.token, resumed: false, ...(lost === null || tomb === null ? {} : lostFields(lost, tomb.loss.partial)) } })
    return this
  }

  /**
   * Whose share of the limits the session counts against: its identity's, or its address's on a broker without
   * authentication (where AUTH accepts any name: names would let one client be as many owners as it likes).
   */
  #ownerKey(user: string): string {
    const host = this.#host as Host
    return ownerKey(host.auth.required ? user : '', (this.#conn as SessionConn).remoteAddress)
  }

  #takeOver(s: ResumeSession, received: number): void {
    const host = this.#host as Host
    const conn = this.#conn as SessionConn
    const inner = this.#inner as Outbound
    const old = s.holder as SessionLink
    const reg = this.#registry as SessionRegistry
    reg.unpark(s)
    reg.own(s, this.#ownerKey(s.user))
    // Still open (its client saw the drop first): it lets go of the session and is closed.
    const wasOpen = old.#inner !== null
    if (wasOpen) old.#detach()
    const log = s.log
    log.ack(received)
    const lost = log.loss.lostAbove(received)
    log.loss.clear()
    const held = (old.#conn as SessionConn).subscriptions.size
    const sids = transplant(host, old.#conn as SessionConn, conn)
    if (conn.session.restricted || sids.length < held) onlyReceivable(log, conn, lost)
    const base = Math.max(received, log.first - 1)
    old.#session = null
    s.holder = this
    this.#session = s
    inner.info({ resume: { token: s.token, resumed: true, base, missed: log.count - base, sids, ...lostFields(lost, false) } })
    this.#cursor = base + 1
    this.#pump()
    const oldConn = old.#conn as SessionConn
    old.#conn = null
    markParked(this.#host as Host, oldConn, false)
    if (wasOpen) oldConn.closeWith('stale_connection', 'the session was resumed on another connection')
  }

  /** The old connection of a session taken over while it was still open: it stops writing, its topic feeds go. */
  #detach(): void {
    const conn = this.#conn as SessionConn
    this.#inner?.discard()
    this.#inner = null
    withdrawFeeds(this.#host as Host, conn)
    // What its drop_old/keep_latest runs held goes into the log, and what they dropped into the loss counts.
    afterDrain(this, (this.#host as Host).config.maxPendingBytes, conn)
  }

  /**
   * Writes the replay while the new connection's queue is under its high-water mark, the rest as it drains
   * (`drained`): a replay is up to `resumeMaxBytes` of binary tails, which the JSON subprotocol writes a third
   * larger, so written at once it could pass `maxPendingBytes` and close the very connection it resumes.
   */
  #pump(): void {
    const inner = this.#inner
    const s = this.#session
    if (this.#cursor === 0 || inner === null || s === null) return
    const { highWaterBytes, maxPendingBytes } = (this.#host as Host).config
    let refused = false
    const next = s.log.replayFrom(this.#cursor, (sid, prefix, d, length, index) => {
      const pending = inner.pendingBytes
      if (pending > 0 && (pending >= highWaterBytes || pending + 2 * length + 256 > maxPendingBytes)) return false
      this.#pongsBefore(index)
      return inner.msg(prefix, sid, d) || !(refused = true)
    })
    this.#pongsBefore(next)
    // Refused: the connection is closing (it parks, and the rest waits in the log for the next attempt).
    if (refused) { this.#cursor = 0; this.#pongs = null; return }
    if (next < s.log.first) {
      // Live MSGs outran the replay by a whole log: the client cannot keep up (what it missed is counted on resume).
      this.#cursor = 0
      ;(this.#conn as SessionConn).closeWith('slow_consumer', 'the replay of the resumed session fell a whole log behind')
      return
    }
    if (next <= s.log.count) {
      this.#cursor = next
      // A socket that took everything at once never reports a drain: look again on the next turn.
      if (!inner.congested && !this.#pumpQueued) { this.#pumpQueued = true; setImmediate(SessionLink.#pumpLater, this) }
      return
    }
    this.#cursor = 0
    this.#pongs = null
  }

  /** Writes the PONGs due before MSG number `index`: a PING is answered after what was written before it. */
  #pongsBefore(index: number): void {
    const pongs = this.#pongs
    if (pongs === null) return
    let n = 0
    while (n < pongs.length && pongs[n] < index) { this.#inner?.pong(); n++ }
    if (n > 0) pongs.splice(0, n)
  }

  static #pumpLater(link: SessionLink): void {
    link.#pumpQueued = false
    link.#pump()
  }

  /** The new connection's socket drained: more of the replay goes out. */
  drained(): void {
    if (this.#cursor !== 0) this.#pump()
  }

  /** An ACK; true when it was the session's (sid 0, kind SESSION_ACK: the client has received `seq` MSGs). */
  onAck(sid: number, seq: number, kind: number): boolean {
    if (sid !== 0 || kind !== SESSION_ACK) return false
    this.#session?.log.ack(seq)
    return true
  }

  /** AUTH replaced the connection's identity: the session belongs to the new one from now on (PROTOCOL §4.10). */
  rebind(identity: Identity): void {
    const s = this.#session
    if (s === null) return
    s.user = identity.principal ?? identity.user
    this.#registry?.own(s, this.#ownerKey(s.user))
  }

  /** The broker is closing the connection for `code`. */
  closing(code: ErrorCode): void {
    this.#closedFor ??= code
  }

  /**
   * The socket closed with `code`. Returns true when the session is parked: the connection's plain
   * subscriptions stay (the caller must not withdraw them). Otherwise the session ends here.
   */
  park(conn: SessionConn, code: number): boolean {
    this.#inner = null
    this.#cursor = 0
    this.#pongs = null
    const s = this.#session
    const reg = this.#registry
    if (s === null || reg === null) return false
    const why = this.#closedFor
    if (why !== null ? !PARKING_CLOSES.has(why) : code === 1000 || code === 1001) {
      this.#session = null
      // A client that said it is done (1000, 1001) does not come back: nothing is remembered for it.
      reg.end(s, why !== null)
      return false
    }
    withdrawFeeds(this.#host as Host, conn)
    markParked(this.#host as Host, conn, true)
    reg.park(s)
    // Messages a drop_old or keep_latest run held back at the cut go into the log now, in order.
    afterDrain(this, (this.#host as Host).config.maxPendingBytes, conn)
    return true
  }

  /** The window passed (or the parking limit): the subscriptions go as a disconnect takes them. */
  expire(): void {
    const conn = this.#conn
    this.#session = null
    this.#conn = null
    if (conn === null) return
    markParked(this.#host as Host, conn, false)
    withdrawAllSubscriptions(this.#host as Host, conn)
    conn.subscriptions.clear()
  }

  // ---- Outbound ---------------------------------------------------------------------------------------------

  msg(prefix: Uint8Array, sid: number, d: Delivery): boolean {
    const inner = this.#inner
    const s = this.#session
    if (inner !== null && this.#cursor !== 0 && s !== null) {
      s.log.append(sid, prefix, d) // behind the replay still being written
      this.#pump()
      return true
    }
    if (inner !== null) {
      // Refused by a queue at its cap (the connection is closing as a slow consumer, and will be parked): kept
      // in the log all the same, so the resume replays it rather than losing it without a count.
      if (!inner.msg(prefix, sid, d) && s === null) return false
      s?.log.append(sid, prefix, d)
      return true
    }
    if (s === null) return false
    // Parked: a queue group comes here only when no connected member took the message (router.ts deliverGroups).
    s.log.append(sid, prefix, d)
    return true
  }

  get pendingBytes(): number { return this.#inner?.pendingBytes ?? 0 }
  get congested(): boolean { return this.#inner?.congested ?? false }
  ping(): void { this.#inner?.ping() }
  pong(): void {
    if (this.#cursor === 0) { this.#inner?.pong(); return }
    const at = (this.#session as ResumeSession).log.count
    if (at < this.#cursor) this.#inner?.pong() // everything before it is written already
    else (this.#pongs ??= []).push(at)
  }
  info(body: object): void { this.#inner?.info(body) }
  err(code: string, message: string, ref: string | number | null): void { this.#inner?.err(code, message, ref) }
  storedMsg(sid: number, m: StoredMessage, deliveryCount: number): boolean { return this.#inner?.storedMsg(sid, m, deliveryCount) ?? false }
  event(sid: number, type: string, data: object): void {
    const dropped = (data as { dropped?: unknown }).dropped
    const log = type === 'slow_consumer' && typeof dropped === 'number' ? this.#session?.log : undefined
    if (this.#inner !== null) {
      this.#inner.event(sid, type, data)
      // Told, but in a socket that may never deliver it (a half-dead one): counted lost until the client's
      // count shows it read past it.
      log?.loss.told(sid, dropped as number, log.count)
      return
    }
    // No socket to tell (parked, or taken over): what a slow-consumer policy dropped is counted lost for the
    // resume's answer, never silence.
    log?.loss.add(sid, dropped as number)
  }
  flush(): void { this.#inner?.flush() }
  flushScheduled(): void { this.#inner?.flushScheduled() }
  discard(): void { this.#inner?.discard() }
}
