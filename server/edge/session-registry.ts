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
  /** Whose share of the parking and byte limits it counts against (registry `ownerKey`). */
  owner: Owner

  constructor(user: string, owner: Owner, maxBytes: number, budget: LogBudget) {
    this.id = randomBytes(ID_BYTES).toString('base64url')
    this.secret = randomBytes(SECRET_BYTES)
    this.user = user
    this.owner = owner
    this.log = new SessionLog(maxBytes, budget)
    this.log.share = owner
    owner.sessions.add(this)
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
  readonly owner: Owner
}

/**
 * One identity's (or, on a broker without authentication, one address's) part of the broker-wide limits. The
 * limits are shared max-min fairly: past `resumeMaxSessions` parked sessions (or tombstones) the oldest of the
 * owner holding the most goes, and past `resumeMaxTotalBytes` the oldest message of the owner holding the most
 * bytes; on a tie, the owner asking. So nobody can take what another holds below an equal share.
 */
export class Owner {
  readonly key: string
  /** Its sessions, live and parked, oldest first (a log is evicted from in this order). */
  readonly sessions = new Set<ResumeSession>()
  /** Its parked sessions and tombstones, oldest first. */
  readonly parked = new Set<ResumeSession>()
  readonly tombstones = new Map<string, Tombstone>()
  /** Bytes its sessions' logs hold (kept by session-log.ts). */
  bytes = 0

  constructor(key: string) {
    this.key = key
  }

  get unused(): boolean {
    return this.sessions.size === 0 && this.tombstones.size === 0
  }
}

/** Whom a session counts against: its identity, or its client's address when nobody is authenticated. */
export function ownerKey(user: string, address: string): string {
  return user !== '' ? `u:${user}` : `a:${addressBlock(address)}`
}

/**
 * An address as one owner: IPv4 as it is (also when IPv4-mapped), IPv6 by its /64, which one client (a home or
 * a phone) gets whole: keyed by the full address, one client would be 2^64 owners.
 */
function addressBlock(a: string): string {
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7)
  if (!a.includes(':')) return a
  const bare = a.split('%')[0].toLowerCase()
  const [head, tail] = bare.split('::')
  const front = head === '' ? [] : head.split(':')
  const back = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`
}

/** Lets `o`'s oldest held message go, from its oldest session holding any; emptied logs go to the back. */
function evictFrom(o: Owner): boolean {
  for (let n = o.sessions.size; n > 0; n--) {
    const s = o.sessions.values().next().value as ResumeSession
    if (s.log.bytes > 0) return s.log.evictOldest()
    o.sessions.delete(s)
    o.sessions.add(s)
  }
  return false
}

/** The owner with the most of `size`, `self` on a tie (or when nobody has any). */
function biggest(owners: Iterable<Owner>, self: Owner, size: (o: Owner) => number): Owner {
  let top = self
  let most = size(self)
  for (const o of owners) {
    const n = size(o)
    if (n > most) { top = o; most = n }
  }
  return top
}

/** Checks a presented token against a session's or tombstone's secret and identity, in constant time. */
function matches(s: { readonly secret: Buffer; readonly user: string }, secret: Buffer, user: string): boolean {
  return secret.length === SECRET_BYTES && timingSafeEqual(s.secret, secret) && s.user === user
}

export class SessionRegistry {
  readonly budget: LogBudget
  readonly #owners = new Map<string, Owner>()
  /** Where #overShare looks first (the owner it found last), and where its round goes on from. */
  #cursor: Owner | null = null
  #cursorAt: Iterator<Owner> = this.#owners.values()
  readonly #config: BrokerConfig
  readonly #sessions = new Map<string, ResumeSession>()
  /** Parked sessions, oldest first. */
  readonly #parked = new Map<string, ResumeSession>()
  readonly #tombstones = new Map<string, Tombstone>()
  #timer: NodeJS.Timeout | null = null
  #timerAt = 0

  constructor(config: BrokerConfig) {
    this.#config = config
    this.budget = { total: 0, maxTotal: config.resumeMaxTotalBytes, makeRoom: (log) => this.#makeRoom(log) }
  }

  #owner(key: string): Owner {
    let o = this.#owners.get(key)
    if (o === undefined) this.#owners.set(key, (o = new Owner(key)))
    return o
  }

  #release(o: Owner): void {
    if (o.unused && this.#owners.get(o.key) === o) this.#owners.delete(o.key)
  }

  /**
   * All logs together are full and `log` needs room. An owner holding more than an equal share of the budget
   * (`resumeMaxTotalBytes` / owners) gives way first: `log`'s own owner when it is one (from `log` itself
   * first), else the next such owner round the registry (a cursor, so a full budget costs O(1) per message
   * however many owners there are, not a search for the biggest each time). False when nothing is held.
   */
  #makeRoom(log: SessionLog): boolean {
    const self = log.share as Owner
    const share = this.budget.maxTotal / this.#owners.size
    if (self.bytes > share) return (log.bytes > 0 && log.evictOldest()) || evictFrom(self)
    const over = this.#overShare(share)
    if (over !== null) return evictFrom(over)
    // Nobody is over an equal share (all near it): the asker's own oldest, else anyone's.
    if (self.bytes > 0) return (log.bytes > 0 && log.evictOldest()) || evictFrom(self)
    for (const o of this.#owners.values()) if (o.bytes > 0) return evictFrom(o)
    return false
  }

  /** The next owner over `share` bytes from the cursor on, or null after one round without any. */
  #overShare(share: number): Owner | null {
    const cur = this.#cursor
    if (cur !== null && cur.bytes > share && this.#owners.get(cur.key) === cur) return cur
    this.#cursor = null
    let it = this.#cursorAt
    for (let n = this.#owners.size; n > 0; n--) {
      let r = it.next()
      if (r.done === true) r = (it = this.#owners.values()).next()
      if (r.done === true) break
      if (r.value.bytes > share) { this.#cursorAt = it; return (this.#cursor = r.value) }
    }
    this.#cursorAt = it
    return null
  }

  /** The session now counts against `key` (AUTH changed its identity, or it was resumed from another address). */
  own(s: ResumeSession, key: string): void {
    const from = s.owner
    if (from.key === key) return
    const to = this.#owner(key)
    from.sessions.delete(s)
    to.sessions.add(s)
    if (from.parked.delete(s)) to.parked.add(s)
    from.bytes -= s.log.bytes
    to.bytes += s.log.bytes
    s.owner = s.log.share = to
    this.#release(from)
  }

  get parked(): number {
    return this.#parked.size
  }

  create(user: string, key: string): ResumeSession {
    const s = new ResumeSession(user, this.#owner(key), this.#config.resumeMaxBytes, this.budget)
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
    t.owner.tombstones.delete(id)
    this.#release(t.owner)
    return t
  }

  /**
   * A session's connection dropped: it waits for its client. Past the limit, the oldest parked session of the
   * owner parking the most goes (this one's own on a tie).
   */
  park(s: ResumeSession): void {
    while (this.#parked.size >= this.#config.resumeMaxSessions) {
      const top = biggest(this.#owners.values(), s.owner, (o) => o.parked.size)
      const oldest = (top.parked.size > 0 ? top.parked : this.#parked).values().next().value as ResumeSession
      this.end(oldest)
    }
    s.parkedUntil = Date.now() + this.#config.resumeWindowMs
    s.log.parkedAt = s.log.count
    this.#parked.set(s.id, s)
    s.owner.parked.add(s)
    this.#arm()
  }

  /** A connection took a session over (parked or not). */
  unpark(s: ResumeSession): void {
    this.#parked.delete(s.id)
    s.owner.parked.delete(s)
    s.parkedUntil = 0
    s.log.parkedAt = Number.MAX_SAFE_INTEGER
  }

  /**
   * Ends a session: its log goes, a tombstone says what was lost (unless its client said it was done: nobody
   * comes back for it), and a parked holder lets go of everything. Past the limit of tombstones, the oldest of
   * the owner with the most goes (this one's on a tie).
   */
  end(s: ResumeSession, remember = true): void {
    if (this.#sessions.get(s.id) !== s) return
    this.#sessions.delete(s.id)
    const wasParked = this.#parked.delete(s.id)
    const o = s.owner
    o.parked.delete(s)
    const count = s.log.count
    const loss = s.log.end()
    o.sessions.delete(s)
    if (remember) {
      while (this.#tombstones.size >= this.#config.resumeMaxSessions) {
        const top = biggest(this.#owners.values(), o, (x) => x.tombstones.size)
        const id = (top.tombstones.size > 0 ? top.tombstones : this.#tombstones).keys().next().value as string
        this.#forget(id)
      }
      const t: Tombstone = { secret: s.secret, user: s.user, count, loss, until: Date.now() + this.#config.resumeWindowMs, owner: o }
      this.#tombstones.set(s.id, t)
      o.tombstones.set(s.id, t)
    }
    this.#release(o)
    const holder = s.holder
    s.holder = null
    if (wasParked) holder?.expire()
    this.#arm()
  }

  #forget(id: string): void {
    const t = this.#tombstones.get(id)
    if (t === undefined) return
    this.#tombstones.delete(id)
    t.owner.tombstones.delete(id)
    this.#release(t.owner)
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
      reg.#forget(id)
    }
    reg.#arm()
  }

  /** The broker closed: every session ends, nothing is remembered, no timer is left. */
  close(): void {
    for (const s of [...this.#sessions.values()]) this.end(s, false)
    this.#tombstones.clear()
    this.#owners.clear()
    this.#cursor = null
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
