/**
 * Who may open a connection right now: origin, connection counts (total and per address), the rate of new
 * connections (so a restart with 50,000 clients does not melt the broker), and a brake on addresses that keep
 * failing authentication.
 */
import type { IncomingMessage } from 'node:http'
import type { ErrorCode } from '../../shared/errors.ts'
import type { BrokerConfig } from '../options.ts'
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

export class Admission {
  readonly #config: BrokerConfig
  /**
   * Connections per address, with the first connection's address string: every later connection from that
   * address keeps this one instance (32 bytes per idle connection in the 15,000-connection benchmark).
   */
  readonly #perIp = new Map<string, { readonly ip: string; connections: number }>()
  readonly #connects: TokenBucket
  readonly #failures = new Map<string, { count: number; since: number }>()
  #total = 0

  constructor(config: BrokerConfig) {
    this.#config = config
    // A burst of one second's worth, so a quiet broker admits a small fleet at once.
    this.#connects = new TokenBucket(config.maxConnectsPerSecond, config.maxConnectsPerSecond)
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
    if ((this.#perIp.get(ip)?.connections ?? 0) >= this.#config.maxConnectionsPerIp) {
      return { status: 429, code: 'limit', reason: `too many connections from ${ip}`, retryAfterSeconds: 5 }
    }
    const wait = this.#connects.take(1)
    if (wait > 0) {
      this.#connects.take(-1) // a refused attempt does not spend a token
      return { status: 503, code: 'limit', reason: 'too many new connections: retry later', retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) }
    }
    this.#total++
    const slot = this.#perIp.get(ip)
    if (slot === undefined) this.#perIp.set(ip, { ip, connections: 1 })
    else slot.connections++
    return null
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
