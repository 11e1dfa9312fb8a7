/**
 * The broker's resumable sessions (PROTOCOL §4.10): live ones by id, parked ones (their socket dropped) in the
 * order they were parked, and the ended ones' loss ledgers (tombstones) so a client that comes back too late
 * still learns how much it lost. One registry per broker, made on the first session; one timer, armed only
 * while something is parked or remembered, for the earliest expiry (the window is the same for every session,
 * so park order is expiry order).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { BrokerConfig } from '../options.ts'
import { SessionLog, type LogBudget, type LossLedger } from './session-log.ts'

/** Bytes of the secret half of a token: 128 random bits (the id half is random too, but only names the session). */
const SECRET_BYTES = 16
const ID_BYTES = 12

/** What the registry knows of the connection a session belongs to. */
export interface SessionHolder {
  /** The session ended while parked: its subscriptions go as a disconnect takes them. */
  expire(): void
}

/** One resumable session: its token, whom it is bound to, its log, and the connection that holds it. */
export class ResumeSession {
  readonly id: string
  readonly secret: Buffer
  /** The identity it is bound to (user name, JWT principal); '' on a broker without authentication. */
  user: string
  readonly log: SessionLog
  holder: SessionHolder | null = null
  /** Epoch ms its parking ends; 0 while a connection holds it. */
  parkedUntil = 0

  constructor(user: string, maxBytes: number, budget: LogBudget) {
    this.id = randomBytes(ID_BYTES).toString('base64url')
    this.secret = randomBytes(SECRET_BYTES)
    this.user = user
    this.log = new SessionLog(maxBytes, budget)
  }

  /** What the client presents to resume: `<id>.<secret>`. */
  get token(): string {
    return `${this.id}.${this.secret.toString('base64url')}`
  }
}

/** What is left of an ended session: how much it lost, for one late attempt to resume, until it expires. */
export interface Tombstone {
  readonly secret: Buffer
  readonly user: string
  /** Messages numbered up to here had been written when it ended. */
  readonly count: number
  readonly loss: LossLedger
  readonly until: number
}

/** Checks a presented token against a session's or tombstone's secret and identity, in constant time. */
function matches(s: { readonly secret: Buffer; readonly user: string }, secret: Buffer, user: string): boolean {
  return secret.length === SECRET_BYTES && timingSafeEqual(s.secret, secret) && s.user === user
}

export class SessionRegistry {
  readonly budget: LogBudget
  readonly #config: BrokerConfig
  readonly #sessions = new Map<string, ResumeSession>()
  /** Parked sessions, oldest first. */
  readonly #parked = new Map<string, ResumeSession>()
  readonly #tombstones = new Map<string, Tombstone>()
  #timer: NodeJS.Timeout | null = null
  #timerAt = 0

  constructor(config: BrokerConfig) {
    this.#config = config
    this.budget = { total: 0, maxTotal: config.resumeMaxTotalBytes }
  }

  get parked(): number {
    return this.#parked.size
  }

  create(user: string): ResumeSession {
    const s = new ResumeSession(user, this.#config.resumeMaxBytes, this.budget)
    this.#sessions.set(s.id, s)
    return s
  }

  /**
   * The session or tombstone a token names, when it is bound to `user`; null for anything else (unknown,
   * malformed, another identity's), so an attempt learns nothing it could not already know.
   */
  find(token: string, user: string): ResumeSession | Tombstone | null {
    const dot = token.indexOf('.')
    if (dot < 0) return null
    const id = token.slice(0, dot)
    const secret = Buffer.from(token.slice(dot + 1), 'base64url')
    const s = this.#sessions.get(id)
    if (s !== undefined) return matches(s, secret, user) ? s : null
    const t = this.#tombstones.get(id)
    if (t === undefined || !matches(t, secret, user)) return null
    this.#tombstones.delete(id) // told once
    return t
  }

  /** A session's connection dropped: it waits for its client (the oldest parked one goes past the limit). */
  park(s: ResumeSession): void {
    while (this.#parked.size >= this.#config.resumeMaxSessions) {
      const oldest = this.#parked.values().next().value as ResumeSession
      this.end(oldest)
    }
    s.parkedUntil = Date.now() + this.#config.resumeWindowMs
    s.log.parkedAt = s.log.count
    this.#parked.set(s.id, s)
    this.#arm()
  }

  /** A connection took a session over (parked or not). */
  unpark(s: ResumeSession): void {
    this.#parked.delete(s.id)
    s.parkedUntil = 0
    s.log.parkedAt = Number.MAX_SAFE_INTEGER
  }

  /** Ends a session: its log goes, a tombstone says what was lost, and a parked holder lets go of everything. */
  end(s: ResumeSession): void {
    if (this.#sessions.get(s.id) !== s) return
    this.#sessions.delete(s.id)
    const wasParked = this.#parked.delete(s.id)
    const count = s.log.count
    const loss = s.log.end()
    while (this.#tombstones.size >= this.#config.resumeMaxSessions) this.#tombstones.delete(this.#tombstones.keys().next().value as string)
    this.#tombstones.set(s.id, { secret: s.secret, user: s.user, count, loss, until: Date.now() + this.#config.resumeWindowMs })
    const holder = s.holder
    s.holder = null
    if (wasParked) holder?.expire()
    this.#arm()
  }

  #arm(): void {
    const next = this.#nextExpiry()
    if (next === 0) {
      if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null }
      return
    }
    if (this.#timer !== null && this.#timerAt <= next) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timerAt = next
    this.#timer = setTimeout(SessionRegistry.#sweep, Math.max(1, next - Date.now()), this)
    this.#timer.unref()
  }

  #nextExpiry(): number {
    const p = this.#parked.values().next().value as ResumeSession | undefined
    const t = this.#tombstones.values().next().value as Tombstone | undefined
    const a = p?.parkedUntil ?? 0
    const b = t?.until ?? 0
    return a === 0 ? b : b === 0 ? a : Math.min(a, b)
  }

  static #sweep(reg: SessionRegistry): void {
    reg.#timer = null
    const now = Date.now()
    for (const s of reg.#parked.values()) {
      if (s.parkedUntil > now) break
      reg.end(s)
    }
    for (const [id, t] of reg.#tombstones) {
      if (t.until > now) break
      reg.#tombstones.delete(id)
    }
    reg.#arm()
  }

  /** The broker closed: every session ends, nothing is remembered, no timer is left. */
  close(): void {
    for (const s of [...this.#sessions.values()]) this.end(s)
    this.#tombstones.clear()
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null }
  }
}

/** Registries by broker (the connections' host object): made on the first resumable session. */
const registries = new WeakMap<object, SessionRegistry>()

export function registryOf(host: { readonly config: BrokerConfig }): SessionRegistry {
  let reg = registries.get(host)
  if (reg === undefined) registries.set(host, (reg = new SessionRegistry(host.config)))
  return reg
}

/** Ends every session of a broker that is closing (a parked one holds subscriptions in its router). */
export function closeSessions(host: object): void {
  registries.get(host)?.close()
}
