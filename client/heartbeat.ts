/**
 * Detects a dead connection: the server PINGs every `heartbeatMs` (INFO), so two silent intervals mean it is
 * gone. One interval timer per client while connected.
 */

/** What the heartbeat asks of its client. */
export interface HeartbeatLink {
  /** Sends a PING nobody waits for: its PONG counts as traffic like anything else the server sends. */
  probe(): void
  /** The server missed two beats: the client reports it and drops the connection. */
  stale(): void
}

/** The client's heartbeat: started on each connection, stopped when it is lost. */
export class Heartbeat {
  readonly #link: HeartbeatLink
  #timer: ReturnType<typeof setInterval> | null = null
  #sawInbound = false
  #missedBeats = 0
  #lastBeat = 0

  constructor(link: HeartbeatLink) {
    this.#link = link
  }

  /** Something arrived from the server since the last beat. */
  heard(): void {
    this.#sawInbound = true
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
  }

  stop(): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
  }

  /**
   * The server PINGs every interval, so two silent intervals mean it is gone. A timer that fired late
   * (a background tab throttles timers, WHAT_USERS_ASK 12) convicts nobody: it only probes.
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
    } else if (++this.#missedBeats >= 2) {
      this.#link.stale()
      return
    }
    this.#link.probe()
  }
}
