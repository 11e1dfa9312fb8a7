/**
 * The client's credentials: read for every CONNECT and AUTH (a `token` function is called each time, so a
 * refreshed token is used), presented again on the live connection by `reauthenticate()`, and refreshed
 * automatically a little before the server says they expire (INFO `authExpiresAt`).
 */
import { SubwireError } from '../shared/errors.ts'
import type { ConnectInfo } from '../shared/protocol.ts'
import { CLIENT_STATE, type ClientState } from './client-state.ts'
import { DEFAULT_CONNECT_TIMEOUT, type ConnectOptions } from './options.ts'
import type { Outbound } from './outbound.ts'
import { MIN_REFRESH_MS } from './server-info.ts'

/** The credential fields of CONNECT and AUTH. */
export type CredentialFields = Pick<ConnectInfo, 'token' | 'user' | 'password'>

/** What credentials ask of their client (`Client` implements it with its public members). */
export interface CredentialsLink {
  readonly state: ClientState
  /** Called by the refresh timer, so an automatic refresh is the same call as a caller's. */
  reauthenticate(): Promise<void>
  reportError(error: SubwireError): void
}

/** The client's credentials and its re-authentication (at most one in flight). */
export class Credentials {
  readonly #options: ConnectOptions
  readonly #link: CredentialsLink
  readonly #outbound: Outbound
  /** A re-authentication waiting for the server's INFO (success) or ERR `auth` (failure). */
  #reauth: { resolve(): void; reject(err: SubwireError): void; timer: ReturnType<typeof setTimeout> } | null = null
  /** Refreshes credentials shortly before they expire (when `token` is a function). */
  #refreshTimer: ReturnType<typeof setTimeout> | null = null

  constructor(options: ConnectOptions, link: CredentialsLink, outbound: Outbound) {
    this.#options = options
    this.#link = link
    this.#outbound = outbound
  }

  /** Credentials for CONNECT or AUTH; a `token` function is called every time. */
  async read(): Promise<CredentialFields> {
    const body: CredentialFields = {}
    const t = this.#options.token
    try {
      const token = typeof t === 'function' ? await t() : t
      if (token !== undefined) body.token = token
    } catch (cause) {
      throw new SubwireError('auth_failed', 'the token function failed', { cause })
    }
    if (this.#options.user !== undefined) body.user = this.#options.user
    if (this.#options.password !== undefined) body.password = this.#options.password
    return body
  }

  /** Sends AUTH with fresh credentials and waits for the server's answer (see `Client.reauthenticate`). */
  async reauthenticate(): Promise<void> {
    if (this.#link.state !== CLIENT_STATE.connected) throw new SubwireError('disconnected', 'not connected')
    if (this.#reauth !== null) throw new SubwireError('auth_failed', 'a re-authentication is already in progress')
    return new Promise<void>((resolve, reject) => {
      // One deadline for the token function and the server's answer: a token function that never settles
      // fails the re-authentication instead of leaving it pending forever.
      const timer = setTimeout(() => this.#settle(new SubwireError('timeout', 'no answer to re-authentication')), this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT)
      const pending = { resolve, reject, timer }
      this.#reauth = pending
      this.read().then((body) => {
        if (this.#reauth !== pending) return // timed out, or the connection was lost meanwhile
        if (this.#link.state !== CLIENT_STATE.connected) this.#settle(new SubwireError('disconnected', 'not connected'))
        else this.#outbound.auth(body)
      }, (err: unknown) => { if (this.#reauth === pending) this.#settle(err as SubwireError) })
    })
  }

  /** The server accepted our credentials (an INFO with `authExpiresAt`: the answer to CONNECT or AUTH). */
  accepted(expiresAt: number | null | undefined): void {
    this.#scheduleRefresh(expiresAt)
    this.#settle(null)
  }

  /** The server refused an AUTH (ERR with ref `auth`); the old credentials stay valid until they expire. */
  refused(err: SubwireError): void {
    this.#settle(err)
  }

  /** The connection is gone: no refresh on it, and a re-authentication in flight fails with `err`. */
  stop(err: SubwireError): void {
    this.#scheduleRefresh(null)
    this.#settle(err)
  }

  #settle(err: SubwireError | null): void {
    const pending = this.#reauth
    if (pending === null) return
    this.#reauth = null
    clearTimeout(pending.timer)
    if (err === null) pending.resolve()
    else pending.reject(err)
  }

  /**
   * Schedules a refresh a little before `expiresAt` (20% of the lifetime left, between 1 s and 60 s early),
   * never sooner than MIN_REFRESH_MS from now: a server that answers every AUTH with an expiry in the past
   * (or a clock far off the server's) gets one AUTH a second, not a tight loop of token calls.
   */
  #scheduleRefresh(expiresAt: number | null | undefined): void {
    if (this.#refreshTimer !== null) { clearTimeout(this.#refreshTimer); this.#refreshTimer = null }
    if (typeof expiresAt !== 'number' || typeof this.#options.token !== 'function') return
    const left = expiresAt - Date.now()
    const wait = Math.max(MIN_REFRESH_MS, left - Math.min(60_000, Math.max(1000, left * 0.2)))
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null
      this.#link.reauthenticate().catch((err: unknown) => this.#link.reportError(err instanceof SubwireError ? err : new SubwireError('auth_failed', String(err))))
    }, Math.min(wait, 2 ** 31 - 1))
    const timer = this.#refreshTimer as { unref?: () => void }
    timer.unref?.()
  }
}
