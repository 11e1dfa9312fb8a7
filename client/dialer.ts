/**
 * Which server to connect to, and when: at start each URL once, in order; after a lost connection the
 * reconnect loop, which moves on to the next URL, waits out the backoff (reconnect.ts) or the server's
 * Retry-After, and tries again until connected, closed, or out of attempts. The client's state machine
 * decides when to dial; one attempt is the client's (open, INFO, CONNECT + PING, PONG).
 */
import { SubwireError } from '../shared/errors.ts'
import { CLIENT_STATE, type ClientState } from './client-state.ts'
import { backoffDelay, reconnectConfig, type ReconnectOptions, type ReconnectPace } from './reconnect.ts'
import { MAX_RETRY_AFTER_MS, clampInt } from './server-info.ts'
import type { StatusHub } from './status.ts'

/** What the dialer asks of its client. */
export interface DialerLink {
  /** The client's state: a closed client ends the first pass, and only a reconnecting one keeps retrying. */
  state(): ClientState
  /** One connection attempt to `url`. */
  attempt(url: string): Promise<void>
  /** An attempt succeeded: the client is connected, or returns why not (its socket was lost meanwhile). */
  connected(): SubwireError | null
  /** No attempt will succeed: the client closes with `err`. */
  giveUp(err: SubwireError): void
}

/** The server rotation and the reconnect loop of one client. */
export class Dialer {
  readonly #servers: readonly string[]
  readonly #policy: Required<ReconnectOptions> | null
  readonly #status: StatusHub
  readonly #link: DialerLink
  #serverIndex = 0
  /** The server's Retry-After hint from the last refused handshake, in ms. */
  #retryAfterMs: number | null = null
  #wakeSleeper: (() => void) | null = null

  constructor(servers: readonly string[], reconnect: ReconnectOptions | false | undefined, status: StatusHub, link: DialerLink) {
    this.#servers = servers
    this.#policy = reconnect === false ? null : reconnectConfig(reconnect)
    this.#status = status
    this.#link = link
  }

  /** The server URL of the current connection (or of the attempt under way). */
  get server(): string {
    return this.#servers[this.#serverIndex]
  }

  /** False with `reconnect: false`: a lost connection then closes the client. */
  get reconnects(): boolean {
    return this.#policy !== null
  }

  /** Keeps a refused handshake's Retry-After hint (or null) for the next wait, at most MAX_RETRY_AFTER_MS. */
  retryAfter(ms: number | null): void {
    this.#retryAfterMs = ms === null ? null : clampInt(ms, 0, MAX_RETRY_AFTER_MS, 0)
  }

  /** First connection: each URL once, in order; rejects with the last error if none accepts. */
  async dialFirst(): Promise<void> {
    let lastError: SubwireError = new SubwireError('connection_refused', 'no server accepted the connection')
    for (let i = 0; i < this.#servers.length; i++) {
      if (this.#link.state() === CLIENT_STATE.closed) break
      this.#serverIndex = i
      try {
        await this.#link.attempt(this.#servers[i])
        const lost = this.#link.connected()
        if (lost === null) return
        throw lost
      } catch (err) {
        lastError = err instanceof SubwireError ? err : new SubwireError('connection_refused', String(err), { cause: err })
      }
    }
    this.#link.giveUp(lastError)
    throw lastError
  }

  /** The reconnect loop, while the client is reconnecting (only called when `reconnects`). */
  async redial(pace: ReconnectPace): Promise<void> {
    const policy = this.#policy as Required<ReconnectOptions>
    let lastError: SubwireError | null = null
    for (let attempt = 0; this.#link.state() === CLIENT_STATE.reconnecting; attempt++) {
      if (attempt >= policy.maxAttempts) {
        this.#link.giveUp(lastError ?? new SubwireError('connection_closed', `gave up after ${attempt} reconnect attempts`))
        return
      }
      // Every attempt moves on to the next URL: a server that just failed is the least likely to answer.
      this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length
      // A server that refused us with Retry-After is obeyed, with up to 50% jitter so a fleet spreads out.
      const hint = this.#retryAfterMs
      this.#retryAfterMs = null
      const delayMs = Math.max(backoffDelay(attempt, policy, pace), hint === null ? 0 : Math.floor(hint * (1 + Math.random() * 0.5)))
      this.#status.emit({ type: 'reconnecting', server: this.server, attempt: attempt + 1, delayMs })
      await this.#sleep(delayMs)
      if (this.#link.state() !== CLIENT_STATE.reconnecting) return
      try {
        await this.#link.attempt(this.server)
        if (this.#link.state() !== CLIENT_STATE.reconnecting) return
        const lost = this.#link.connected()
        if (lost !== null) throw lost
        this.#status.emit({ type: 'reconnect', server: this.server })
        return
      } catch (err) {
        lastError = err instanceof SubwireError ? err : new SubwireError('connection_refused', String(err))
        this.#status.emit({ type: 'error', error: lastError })
      }
    }
  }

  /** Ends the wait before the next attempt now (the client is closing; the loop then sees it). */
  wake(): void {
    this.#wakeSleeper?.()
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      // Past 2^31 - 1 ms a timer fires at once (TimeoutOverflowWarning): a wait that long would be a hammer.
      const timer = setTimeout(() => { this.#wakeSleeper = null; resolve() }, Math.min(ms, 2 ** 31 - 1))
      this.#wakeSleeper = () => { clearTimeout(timer); this.#wakeSleeper = null; resolve() }
    })
  }
}
