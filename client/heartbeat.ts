/**
 * Detects a dead connection: the server PINGs every `heartbeatMs` (INFO), so two silent intervals mean it is
 * gone. One interval timer per client while connected.
 *
 * Background tabs (WHAT_USERS_ASK 12): a hidden tab's socket still receives and answers the server's PINGs at
 * once (message events are not throttled, and a PONG goes out on a microtask), so the broker sees a live
 * client. What is throttled is this timer: Chrome runs a hidden tab's timers once a minute. A beat that fires
 * late cannot tell the server's silence from its own, so it does not convict; it checks instead: a PING that
 * must be answered within `checkTimeoutMs` of being sent. (Before, a late beat only probed and forgot, so in a
 * throttled tab every beat was late and a dead connection was never found.) The same check runs at once when
 * the page becomes visible or the network comes back (visibility.ts), where a reconnect waiting out its
 * backoff tries now.
 */
import { SubwireError } from '../shared/errors.ts'
import { DEFAULT_CHECK_TIMEOUT } from './options.ts'
import { browserPageEvents, type PageEvent, type PageEvents } from './visibility.ts'

/** What the heartbeat asks of its client. */
export interface HeartbeatLink {
  /**
   * Sends a PING nobody waits for: its PONG counts as traffic like anything else the server sends. With
   * `hidden`, the PING tells the broker whether the page is hidden (PROTOCOL §4.7).
   */
  probe(hidden?: boolean): void
  /** The server missed two beats, or a check: the client reports it and drops the connection. */
  stale(): void
  /** The page came back or went online while disconnected: a reconnect waiting out its backoff tries now. */
  wake(): void
}

/** The heartbeat's part of `ConnectOptions`. */
export interface HeartbeatOptions {
  pageEvents?: PageEvents | false
  checkTimeoutMs?: number
}

/** The client's heartbeat: started on each connection, stopped when it is lost, disposed of when closed. */
export class Heartbeat {
  readonly #link: HeartbeatLink
  readonly #checkMs: number
  #timer: ReturnType<typeof setInterval> | null = null
  #checkTimer: ReturnType<typeof setTimeout> | null = null
  #sawInbound = false
  #heardSinceCheck = false
  #missedBeats = 0
  #lastBeat = 0
  #unlisten: (() => void) | null
  /** The page is hidden: said to the broker on every connection, so it allows a frozen tab a longer silence. */
  #hidden: boolean

  /** @throws SubwireError `bad_option` for a `checkTimeoutMs` or `pageEvents` out of range */
  constructor(link: HeartbeatLink, options: HeartbeatOptions = {}) {
    this.#link = link
    const ms = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT
    if (!Number.isSafeInteger(ms) || ms < 10 || ms > 600_000) {
      throw new SubwireError('bad_option', `checkTimeoutMs must be an integer from 10 to 600000, got ${String(options.checkTimeoutMs)}`)
    }
    this.#checkMs = ms
    const page = options.pageEvents
    if (page !== undefined && page !== false && (typeof page !== 'object' || page === null || typeof page.listen !== 'function')) {
      throw new SubwireError('bad_option', 'pageEvents must be false or an object with a listen(listener) method')
    }
    const events = page === false ? null : page ?? browserPageEvents()
    this.#hidden = events?.isHidden?.() === true
    this.#unlisten = events?.listen((e) => this.#onPage(e)) ?? null
  }

  /** Something arrived from the server since the last beat. */
  heard(): void {
    this.#sawInbound = true
    this.#heardSinceCheck = true
  }

  /** Starts beating every `interval` ms on a new connection. */
  start(interval: number): void {
    this.stop()
    this.#sawInbound = true
    this.#missedBeats = 0
    this.#lastBeat = Date.now()
    this.#timer = setInterval(() => this.#onBeat(interval), interval)
    const timer = this.#timer as { unref?: () => void }
    timer.unref?.()
    if (this.#hidden) this.#link.probe(true)
  }

  stop(): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
    if (this.#checkTimer !== null) { clearTimeout(this.#checkTimer); this.#checkTimer = null }
  }

  /** The client is closed: stops, and stops listening to the page. */
  dispose(): void {
    this.stop()
    this.#unlisten?.()
    this.#unlisten = null
  }

  /**
   * Checks the connection now: a PING, and unless something arrives within `checkTimeoutMs` the connection is
   * stale. A throttled deadline fires late, which only gives the server longer: nothing is convicted early.
   */
  check(hidden?: boolean): void {
    if (this.#timer === null) return
    if (this.#checkTimer !== null) { if (hidden !== undefined) this.#link.probe(hidden); return }
    this.#heardSinceCheck = false
    this.#link.probe(hidden)
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = null
      if (!this.#heardSinceCheck && this.#timer !== null) this.#link.stale()
    }, this.#checkMs)
    const timer = this.#checkTimer as { unref?: () => void }
    timer.unref?.()
  }

  #onPage(event: PageEvent): void {
    const was = this.#hidden
    if (event !== 'online') this.#hidden = event === 'hidden'
    if (this.#timer === null) { if (event !== 'hidden') this.#link.wake(); return }
    if (event === 'hidden') this.#link.probe(true)
    else this.check(event === 'visible' && was ? false : undefined)
  }

  /**
   * The server PINGs every interval, so two silent intervals mean it is gone. A timer that fired late
   * (a throttled background tab, a laptop waking up) cannot tell whose silence it was: it checks.
   */
  #onBeat(interval: number): void {
    const now = Date.now()
    const late = now - this.#lastBeat > interval * 1.5
    this.#lastBeat = now
    if (this.#sawInbound) {
      this.#sawInbound = false
      this.#missedBeats = 0
    } else if (late) {
      this.#missedBeats = 0
      this.check()
      return
    } else if (++this.#missedBeats >= 2) {
      this.#link.stale()
      return
    }
    this.#link.probe()
  }
}
