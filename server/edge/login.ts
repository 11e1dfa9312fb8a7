/**
 * The credentials of one connection over its life (PROTOCOL §4.8): CONNECT's credentials checked while the
 * connection's input waits, the expiry of what was accepted, and re-authentication with AUTH on a live
 * connection. Failures say `auth_failed` and nothing more, and repeated ones from an address are answered
 * slowly (the admission's brute-force brake). A connection makes its Login only when a broker checks
 * credentials or a client sends AUTH.
 */
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type { ErrorCode } from '../../shared/errors.ts'
import type { Authenticator, Credentials, Identity } from '../security/auth.ts'

/** The connection, as its login sees it. */
export interface LoginOwner {
  readonly remoteAddress: string
  readonly name: string
  readonly log: Logger
  /** True while CONNECT's credentials are being checked (false once the connection closed meanwhile). */
  readonly authenticating: boolean
  readonly isOpen: boolean
  /** CONNECT's credentials were accepted: the connection opens and decodes what it held. */
  onAuthenticated(identity: Identity, lang: string | undefined, version: string | undefined): void
  /** AUTH's credentials were accepted on a live connection. */
  onReauthenticated(identity: Identity): void
  /** Tells the client a re-authentication failed (ERR ref `auth`); the old credentials stay valid. */
  refuseAuth(message: string): void
  resumeReading(): void
  closeWith(code: ErrorCode, message: string): void
}

/** What a login needs from the broker. */
export interface LoginHost {
  readonly auth: Authenticator
  /** How long to hold back the answer to a failed authentication from this address. */
  authFailureDelay(ip: string): number
}

export class Login {
  readonly #owner: LoginOwner
  readonly #host: LoginHost
  /** The upgrade request, kept only until CONNECT is checked, when the application's auth hook needs it. */
  #request: IncomingMessage | null
  #expiryTimer: NodeJS.Timeout | null = null
  #reauthPending = false

  constructor(owner: LoginOwner, host: LoginHost, request: IncomingMessage | null) {
    this.#owner = owner
    this.#host = host
    this.#request = request
  }

  /** Checks CONNECT's credentials; the owner is told when they are accepted, or closed when refused. */
  async check(creds: Credentials, lang: string | undefined, version: string | undefined): Promise<void> {
    const owner = this.#owner
    let identity: Identity | null = null
    try {
      identity = await this.#host.auth.authenticate(creds, this.#request, owner.remoteAddress)
    } catch (err) {
      owner.log.error({ err }, 'authentication failed unexpectedly')
    }
    this.#request = null
    if (!owner.authenticating) return // closed meanwhile
    if (identity === null) {
      owner.log.warn({ ip: owner.remoteAddress, name: owner.name }, 'authentication failed')
      // Reads resume first, so the client's half of the close handshake is read and the close is not held for it.
      setTimeout(Login.#refuseConnect, this.#host.authFailureDelay(owner.remoteAddress), owner).unref()
      return
    }
    owner.onAuthenticated(identity, lang, version)
  }

  static #refuseConnect(owner: LoginOwner): void {
    owner.resumeReading()
    owner.closeWith('auth_failed', 'authentication failed')
  }

  /** Closes the connection with `auth_expired` when its credentials expire (unless re-authenticated first). */
  armExpiry(expiresAt: number | null): void {
    if (this.#expiryTimer !== null) { clearTimeout(this.#expiryTimer); this.#expiryTimer = null }
    if (expiresAt === null) return
    // setTimeout holds at most 2^31-1 ms; a later expiry is re-armed when that fires.
    const wait = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1)
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = null
      if (Date.now() >= expiresAt) this.#owner.closeWith('auth_expired', 'credentials expired')
      else this.armExpiry(expiresAt)
    }, wait)
    this.#expiryTimer.unref()
  }

  /** AUTH: new credentials on a live connection. One attempt at a time. */
  reauthenticate(creds: Credentials): void {
    if (this.#reauthPending) { this.#owner.refuseAuth('a re-authentication is already in progress'); return }
    this.#reauthPending = true
    void this.#host.auth.authenticate(creds, null, this.#owner.remoteAddress).then((identity) => this.#settle(identity), () => this.#settle(null))
  }

  #settle(identity: Identity | null): void {
    const owner = this.#owner
    if (!owner.isOpen) return
    if (identity === null) {
      // Pending until the (braked) answer goes out, so a client cannot stack attempts meanwhile.
      // The old credentials stay valid until they expire; only this attempt failed. Braked like CONNECT.
      owner.log.warn({ ip: owner.remoteAddress }, 're-authentication failed')
      const delay = this.#host.authFailureDelay(owner.remoteAddress)
      const refuse = (): void => {
        this.#reauthPending = false
        if (owner.isOpen) owner.refuseAuth('authentication failed')
      }
      if (delay === 0) refuse()
      else setTimeout(refuse, delay).unref()
      return
    }
    this.#reauthPending = false
    this.armExpiry(identity.expiresAt)
    owner.onReauthenticated(identity)
  }

  /** True when nothing is pending and no expiry is armed: the owner may drop it (and make one again on AUTH). */
  get idle(): boolean {
    return this.#expiryTimer === null && !this.#reauthPending && this.#request === null
  }

  /** The connection closed: no timer outlives it. */
  close(): void {
    if (this.#expiryTimer !== null) { clearTimeout(this.#expiryTimer); this.#expiryTimer = null }
    this.#request = null
  }
}
