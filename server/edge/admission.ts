/**
 * Who may open a connection right now: origin, connection counts (total and per address), the rate of new
 * connections (so a restart with 50,000 clients does not melt the broker), and a brake on addresses that keep
 * failing authentication. It also counts what an address holds beyond its connections: TCP sockets that have
 * not upgraded yet, and subscriptions (the broker-wide and per-address budgets SUB draws on).
 *
 * Loopback peers are not counted against a per-address limit (or the connect rate) that was left at its
 * default (BrokerConfig.loopbackExempt): one machine's load test is one address.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { ErrorCode } from '../../shared/errors.ts'
import type { BrokerConfig } from '../options.ts'
import { isLoopback } from '../security/addresses.ts'
import { TokenBucket } from './rate-limit.ts'

/** Why a handshake is refused: HTTP status, error code, reason, and a retry hint in seconds. */
export interface Refused {
  status: number
  code: ErrorCode
  reason: string
  retryAfterSeconds?: number
}

/** Failures within this window count towards the brake. */
const FAILURE_WINDOW_MS = 60_000
/** Addresses remembered for the brake before the table starts over (bounds its memory). */
const MAX_TRACKED_ADDRESSES = 10_000
/**
 * TCP sockets an address may hold beyond `maxConnectionsPerIp` (upgrades in progress, HTTP requests), so a
 * client at its limit is still answered 429 and its monitoring requests get through.
 */
export const SOCKET_HEADROOM = 16

/** What an address holds: its connections (and, through them, subscriptions). */
interface AddressSlot {
  /** The first connection's address string, shared by the later ones (see #perIp). */
  readonly ip: string
  readonly loopback: boolean
  connections: number
  subscriptions: number
}

export class Admission {
  readonly #config: BrokerConfig
  /**
   * Connections per address, with the first connection's address string: every later connection from that
   * address keeps this one instance (32 bytes per idle connection in the 15,000-connection benchmark).
   */
  readonly #perIp = new Map<string, AddressSlot>()
  readonly #connects: TokenBucket
  readonly #failures = new Map<string, { count: number; since: number }>()
  #total = 0
  /** Subscriptions held on the whole broker (every kind). */
  #subscriptions = 0
  /** Open TCP sockets per socket address, upgraded or not (only on the broker's own HTTP server). */
  readonly #sockets = new Map<string, number>()
  /** One close listener for every counted socket (`this` is the socket): no closure per socket. */
  readonly #onSocketClose: (this: Socket) => void

  constructor(config: BrokerConfig) {
    this.#config = config
    // A burst of one second's worth, so a quiet broker admits a small fleet at once.
    this.#connects = new TokenBucket(config.maxConnectsPerSecond, config.maxConnectsPerSecond)
    const sockets = this.#sockets
    this.#onSocketClose = function (this: Socket): void {
      // remoteAddress is cached by Node once read (it was, when the socket was counted), so it survives the close.
      const ip = this.remoteAddress ?? ''
      const n = (sockets.get(ip) ?? 1) - 1
      if (n <= 0) sockets.delete(ip)
      else sockets.set(ip, n)
    }
  }

  /** The client's address: the socket's, or with `trustProxy` the first `X-Forwarded-For` entry. */
  clientAddress(req: IncomingMessage): string {
    if (this.#config.trustProxy) {
      const forwarded = req.headers['x-forwarded-for']
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim()
      if (first !== undefined && first !== '') return first
    }
    return req.socket.remoteAddress ?? ''
  }

  /** Decides on a new handshake; on success the connection is counted (call `release` when it closes). */
  admit(req: IncomingMessage, ip: string): Refused | null {
    const allowed = this.#config.allowedOrigins
    const origin = req.headers.origin
    if (allowed !== null && typeof origin === 'string' && !allowed.includes(origin.toLowerCase())) {
      return { status: 403, code: 'bad_origin', reason: `origin ${origin} is not allowed` }
    }
    if (this.#total >= this.#config.maxConnections) {
      return { status: 503, code: 'limit', reason: `the broker holds its maximum of ${this.#config.maxConnections} connections`, retryAfterSeconds: 5 }
    }
    const loopback = isLoopback(ip)
    const exempt = this.#config.loopbackExempt
    const slot = this.#perIp.get(ip)
    if ((slot?.connections ?? 0) >= this.#config.maxConnectionsPerIp && !(loopback && exempt.maxConnectionsPerIp)) {
      return { status: 429, code: 'limit', reason: `too many connections from ${ip}`, retryAfterSeconds: 5 }
    }
    if (!(loopback && exempt.maxConnectsPerSecond)) {
      const wait = this.#connects.take(1)
      if (wait > 0) {
        this.#connects.take(-1) // a refused attempt does not spend a token
        return { status: 503, code: 'limit', reason: 'too many new connections: retry later', retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) }
      }
    }
    this.#total++
    if (slot === undefined) this.#perIp.set(ip, { ip, loopback, connections: 1, subscriptions: 0 })
    else slot.connections++
    return null
  }

  /**
   * Counts a new TCP socket of the broker's own HTTP server against its address (the 'connection' event, before
   * a byte is read); false when the address already holds `maxConnectionsPerIp` + SOCKET_HEADROOM sockets: the
   * caller destroys it. With `trustProxy` every socket is the proxy's, so none is counted.
   */
  acceptSocket(socket: Socket): boolean {
    if (this.#config.trustProxy) return true
    const ip = socket.remoteAddress ?? ''
    if (isLoopback(ip) && this.#config.loopbackExempt.maxConnectionsPerIp) return true
    const n = this.#sockets.get(ip) ?? 0
    if (n >= this.#config.maxConnectionsPerIp + SOCKET_HEADROOM) return false
    this.#sockets.set(ip, n + 1)
    socket.once('close', this.#onSocketClose)
    return true
  }

  /**
   * Takes one subscription from the broker-wide budget and from the budget of an admitted address; returns why
   * not (for ERR `max_subscriptions`), or null when taken (give it back with `releaseSubscriptions`).
   */
  takeSubscription(ip: string): string | null {
    if (this.#subscriptions >= this.#config.maxSubscriptions) return `the broker holds its maximum of ${this.#config.maxSubscriptions} subscriptions`
    const slot = this.#perIp.get(ip)
    if (slot !== undefined) {
      if (slot.subscriptions >= this.#config.maxSubscriptionsPerIp && !(slot.loopback && this.#config.loopbackExempt.maxSubscriptionsPerIp)) {
        return `connections from ${ip} hold their maximum of ${this.#config.maxSubscriptionsPerIp} subscriptions`
      }
      slot.subscriptions++
    }
    this.#subscriptions++
    return null
  }

  /** Gives back `n` subscriptions taken by `takeSubscription` for this address. */
  releaseSubscriptions(ip: string, n: number): void {
    this.#subscriptions -= n
    const slot = this.#perIp.get(ip)
    if (slot !== undefined) slot.subscriptions -= n
  }

  /** Subscriptions counted on the whole broker. */
  get subscriptions(): number {
    return this.#subscriptions
  }

  /** The shared instance of an admitted address's string (see #perIp). */
  sharedAddress(ip: string): string {
    return this.#perIp.get(ip)?.ip ?? ip
  }

  release(ip: string): void {
    this.#total--
    const slot = this.#perIp.get(ip)
    if (slot === undefined) return
    if (--slot.connections <= 0) this.#perIp.delete(ip)
  }

  /** Records an authentication failure; returns how long to hold back the answer (0, then doubling to 5 s). */
  failureDelay(ip: string, now = Date.now()): number {
    let entry = this.#failures.get(ip)
    if (entry === undefined || now - entry.since > FAILURE_WINDOW_MS) {
      if (this.#failures.size >= MAX_TRACKED_ADDRESSES) this.#failures.clear()
      entry = { count: 0, since: now }
      this.#failures.set(ip, entry)
    }
    entry.count++
    return entry.count <= 3 ? 0 : Math.min(5000, 100 * 2 ** (entry.count - 4))
  }
}
