/**
 * What one connection is allowed to do: its identity, compiled permissions, the reply subjects it may answer
 * (allowResponses), the reply subjects it may name, and the inboxes it owns (by user, inbox-registry.ts). The
 * connection asks; this file decides.
 */
import type { Identity } from './auth.ts'
import { INBOX_PREFIX, InboxRegistry, inboxId } from './inbox-registry.ts'
import { PermissionChecker } from './permissions.ts'

let anonymousCount = 0

/** Reply subjects under it may earn a response allowance (noteRequest). */
const INBOX_REPLY_PREFIX = `${INBOX_PREFIX}.`

/** Most reply subjects one connection may hold an allowance for (the oldest half dropped past it). */
const MAX_RESPONSE_ALLOWANCES = 10_000

interface Allowance { left: number; until: number }

/**
 * Response allowances in two generations: new ones go to `young`; when it is full the old generation is
 * dropped whole and `young` takes its place. Every operation is O(1). (A single Map trimmed by deleting
 * `keys().next()` was 14.5 % of the broker's CPU in the request/reply bench: V8 walks over every deleted
 * slot at the front of the table to find the first live key.)
 */
class Allowances {
  #young = new Map<string, Allowance>()
  #old = new Map<string, Allowance>()

  get(reply: string): Allowance | undefined {
    return this.#young.get(reply) ?? this.#old.get(reply)
  }

  set(reply: string, allowance: Allowance): void {
    if (this.#young.size >= MAX_RESPONSE_ALLOWANCES / 2) {
      this.#old = this.#young
      this.#young = new Map()
    }
    this.#young.set(reply, allowance)
  }

  delete(reply: string): void {
    if (!this.#young.delete(reply)) this.#old.delete(reply)
  }
}

export class Session {
  identity: Identity | null = null
  #permissions: PermissionChecker | null = null
  /** Made on the first request that needs one (most connections never do). */
  #responses: Allowances | null = null
  /**
   * Inbox ids this connection holds: the user it claimed each for (a re-authentication may change the user;
   * a claim is released as it was made) and its subscription count. Made on first use.
   */
  #inboxes: Map<string, { readonly user: string; count: number }> | null = null
  /** The owner key of a nameless identity, made once per connection. */
  #anonymous: string | null = null
  /** Null when authentication is off: then inboxes are not guarded (development mode). */
  readonly #registry: InboxRegistry | null
  /**
   * `_INBOX.<id>.` of an inbox this connection holds, once a reply subject under it was checked: every
   * request of the SDK names one, so the check is one `startsWith` with no substring made (bench C).
   */
  #replyPrefix: string | null = null

  constructor(registry: InboxRegistry | null) {
    this.#registry = registry
  }

  /** True when this connection has permissions to check (false: unrestricted). */
  get restricted(): boolean {
    return this.#permissions !== null
  }

  setIdentity(identity: Identity): void {
    this.identity = identity
    this.#permissions = identity.permissions === null ? null : new PermissionChecker(identity.permissions)
    this.#responses = null
  }

  /** May it publish to `subject`? Uses up one response allowance when that is what admits it. */
  mayPublish(subject: string): boolean {
    const p = this.#permissions
    if (p === null || p.canPublish(subject)) return true
    const allowance = this.#responses?.get(subject)
    if (allowance === undefined) return false
    if (allowance.until < Date.now()) { this.#responses?.delete(subject); return false }
    if (--allowance.left <= 0) this.#responses?.delete(subject)
    return true
  }

  /** The name inboxes are owned under (README "Security": an inbox is its user's). */
  get #user(): string {
    const identity = this.identity
    const principal = identity === null ? '' : (identity.principal ?? identity.user)
    // A nameless identity (a JWT without its user claim, a hook's empty user) shares its inboxes with nobody.
    return principal === '' || principal === 'jwt:' ? (this.#anonymous ??= `\u0000anonymous:${++anonymousCount}`) : principal
  }

  /** Why it may not subscribe to `pattern`, or null; claims the inbox a literal `_INBOX.<id>` pattern names. */
  subscribeRefusal(pattern: string, queue: string | null): string | null {
    const id = this.#registry === null ? null : inboxId(pattern)
    if (id !== null) {
      const user = this.#user
      if (!(this.#registry as InboxRegistry).claim(id, user)) return `inbox ${INBOX_PREFIX}.${id} belongs to another user`
      const mine = (this.#inboxes ??= new Map()).get(id)
      if (mine === undefined) this.#inboxes.set(id, { user, count: 1 })
      else mine.count++
      return null // a connection's own inbox needs no subscribe permission
    }
    return this.#permissions?.subscribeRefusal(pattern, queue) ?? null
  }

  /** Whether a subscription on `pattern` is one of its own inboxes (delivery checks skip those). */
  ownsInbox(pattern: string): boolean {
    const id = inboxId(pattern)
    return id !== null && this.#inboxes !== null && this.#inboxes.has(id)
  }

  /**
   * May a message on `subject` be delivered to it (every delivery path asks)? With its `headers`, a dead
   * letter is also checked against the subject it was first published on.
   */
  mayReceive(subject: string, headers: Readonly<Record<string, string>> | null = null): boolean {
    return this.#permissions === null || this.#permissions.canReceiveMessage(subject, headers)
  }

  /**
   * May it name `reply` as the reply subject of a publish? Only a subject it may itself receive: an inbox of
   * its own user (or one nobody holds, which it could claim), or a subject it may subscribe to. Otherwise the
   * broker (no_responders, publisher confirms, the topic API) or an honest responder would write where the
   * publisher may not (issue 17: reply-subject forgery).
   */
  mayReplyTo(reply: string): boolean {
    const p = this.#permissions
    if (p === null) return true
    const prefix = this.#replyPrefix
    // lastIndexOf from 0 tests position 0 only. With this 29-byte prefix on Node 20 it measured ~70 ns against
    // ~300 ns for startsWith (a loaded 2-core machine; the first row of test/security/measure-permissions.ts).
    if (prefix !== null && reply.lastIndexOf(prefix, 0) === 0) return true
    const id = this.#registry === null ? null : inboxId(reply)
    if (id !== null) {
      if (this.#inboxes?.has(id) === true) {
        this.#replyPrefix = `${INBOX_PREFIX}.${id}.`
        return true
      }
      if ((this.#registry as InboxRegistry).freeFor(id, this.#user)) return true
    }
    return p.canReceive(reply)
  }

  /**
   * Remembers that it received a request, so it may answer on `reply` (unless it may publish there anyway).
   * Only inbox replies earn an allowance: a publisher may name as reply any subject it may read, so an
   * allowance for `prices.eu` would let a user who may only read `prices.eu` publish there by sending itself a
   * request with that reply.
   */
  noteRequest(reply: string): void {
    const permissions = this.#permissions
    if (permissions === null || permissions.responses === null || !reply.startsWith(INBOX_REPLY_PREFIX) || permissions.canPublish(reply)) return
    const rule = permissions.responses
    ;(this.#responses ??= new Allowances()).set(reply, { left: rule.max, until: Date.now() + rule.expiresMs })
  }

  /** Releases the inbox claim of one subscription pattern (the id stays reserved for its user a while). */
  release(pattern: string): void {
    const id = inboxId(pattern)
    if (id === null || this.#registry === null) return
    const mine = this.#inboxes?.get(id)
    if (mine === undefined) return
    if (--mine.count <= 0) {
      this.#inboxes?.delete(id)
      if (this.#replyPrefix === `${INBOX_PREFIX}.${id}.`) this.#replyPrefix = null
    }
    this.#registry.release(id, mine.user)
  }
}
