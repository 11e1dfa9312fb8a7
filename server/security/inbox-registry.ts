/**
 * Who owns which reply inbox (`_INBOX.<id>.…`) while authentication is on. An inbox belongs to a *user* (the
 * authenticated identity's name), not to a socket: the first connection to subscribe under an id claims it
 * for its user, every connection of that user may subscribe there, and nobody else may. When the last of
 * them lets go (unsubscribe, or the socket drops) the id stays reserved for that user for `INBOX_RESERVE_MS`,
 * so a client that reconnects gets its inbox back and its requests in flight their replies, while another
 * user who learnt the id (a responder sees it in every request) cannot claim it in the gap.
 *
 * Snooping on other inboxes needs a wildcard over ids, which only a permission naming `_INBOX` admits
 * (permissions.ts), and inbox ids are never shown to other users (`maskInbox`, for /stats and `$SYS`).
 */
import { createHash } from 'node:crypto'

export const INBOX_PREFIX = '_INBOX'

/**
 * How long an inbox stays reserved for its user after its last subscription went: longer than the client's
 * largest reconnect backoff (10 s) plus a token refresh and a slow handshake, with room for a laptop that
 * changes networks. A reservation lasts between this and twice this long.
 */
export const INBOX_RESERVE_MS = 120_000
/**
 * Most inboxes one user keeps reserved per reservation period (the SDK uses one per connection). Past it that
 * user's released inboxes are free at once, so one user cannot fill the table.
 */
export const MAX_RESERVED_PER_USER = 1000
/** Most reservations held at once (about 100 bytes each); past it the older half expires early. */
export const MAX_RESERVED = 100_000

/** The inbox id a pattern names (`_INBOX.<id>.…` with a literal id), or null. */
export function inboxId(pattern: string): string | null {
  if (!pattern.startsWith(`${INBOX_PREFIX}.`)) return null
  const rest = pattern.slice(INBOX_PREFIX.length + 1)
  const dot = rest.indexOf('.')
  const id = dot < 0 ? rest : rest.slice(0, dot)
  return id === '*' || id === '>' || id === '' ? null : id
}

/** A subject with its inbox id hidden (`_INBOX.<id>.>` → `_INBOX.*.>`), for what other users may read. */
export function maskInbox(subject: string): string {
  const id = inboxId(subject)
  return id === null ? subject : `${INBOX_PREFIX}.*${subject.slice(INBOX_PREFIX.length + 1 + id.length)}`
}

/**
 * The other nodes of a cluster, as far as inboxes go (server/cluster/ implements it): who holds or reserves an
 * id there, and what this node must tell them. Owners cross nodes as `ownerKey(user)`, never as user names.
 */
export interface InboxPeers {
  /** The owner key another node holds or reserves `id` for, or null (answered from memory: no I/O). */
  ownerOf(id: string): string | null
  /**
   * This node's claims: `held` true when `owner` took `id`, false when its last subscription let go (the
   * reservation starts). Sent before anything published after it, so no other node can see a request from an
   * inbox before it knows whose inbox that is.
   */
  announce(id: string, owner: string, held: boolean): void
}

/** What an owner is called outside its node: a digest, so Redis and other nodes never see user names. */
export function ownerKey(user: string): string {
  return createHash('sha256').update(user).digest('base64url').slice(0, 22)
}

/** Options of an inbox registry (the broker uses the defaults; tests pass a clock). */
export interface InboxRegistryOptions {
  /** @default INBOX_RESERVE_MS */
  reserveMs?: number
  /** @default Date.now */
  now?: () => number
  /** The rest of the cluster: an inbox held or reserved on another node is not free here either. @default none */
  peers?: InboxPeers | null
}

export class InboxRegistry {
  /** Ids with subscriptions: the user and how many subscriptions (over all its connections) hold it. */
  readonly #held = new Map<string, { readonly user: string; count: number }>()
  /**
   * Released ids, id → user, in two generations: releases go to `young`; after a reservation period `young`
   * becomes `old` and the previous `old` is dropped whole. Every operation is O(1) (see session.ts Allowances
   * for why a single Map trimmed from the front is not).
   */
  #young = new Map<string, string>()
  #old = new Map<string, string>()
  /** Reservations per user in `young`, for MAX_RESERVED_PER_USER. */
  #youngPerUser = new Map<string, number>()
  #youngSince: number
  readonly #reserveMs: number
  readonly #now: () => number
  readonly #peers: InboxPeers | null
  /** user → ownerKey(user), so a claim hashes each user once. */
  readonly #keys = new Map<string, string>()

  constructor(options: InboxRegistryOptions = {}) {
    this.#reserveMs = options.reserveMs ?? INBOX_RESERVE_MS
    this.#now = options.now ?? Date.now
    this.#youngSince = this.#now()
    this.#peers = options.peers ?? null
  }

  #keyOf(user: string): string {
    let key = this.#keys.get(user)
    if (key === undefined) {
      if (this.#keys.size >= MAX_RESERVED) this.#keys.clear()
      key = ownerKey(user)
      this.#keys.set(user, key)
    }
    return key
  }

  /** True when no other node holds or reserves `id` for someone else. */
  #freeElsewhere(id: string, user: string): boolean {
    if (this.#peers === null) return true
    const remote = this.#peers.ownerOf(id)
    return remote === null || remote === this.#keyOf(user)
  }

  /** Claims `id` for `user` (counting subscriptions); false when another user holds it or has it reserved. */
  claim(id: string, user: string): boolean {
    const held = this.#held.get(id)
    if (held !== undefined) {
      if (held.user !== user) return false
      held.count++
      return true
    }
    if (!this.#freeElsewhere(id, user)) return false
    this.#age()
    const reservedFor = this.#young.get(id) ?? this.#old.get(id)
    if (reservedFor !== undefined) {
      if (reservedFor !== user) return false
      if (this.#young.delete(id)) this.#youngPerUser.set(user, (this.#youngPerUser.get(user) ?? 1) - 1)
      else this.#old.delete(id)
    }
    this.#held.set(id, { user, count: 1 })
    this.#peers?.announce(id, this.#keyOf(user), true)
    return true
  }

  /** Releases one claim of `id` by `user`; the last one leaves it reserved for `user`. */
  release(id: string, user: string): void {
    const held = this.#held.get(id)
    if (held === undefined || held.user !== user) return
    if (--held.count > 0) return
    this.#held.delete(id)
    this.#reserve(id, user)
    this.#peers?.announce(id, this.#keyOf(user), false)
  }

  /** True when `user` may name `id` as a reply inbox: it holds or reserves it, or nobody does, on any node. */
  freeFor(id: string, user: string): boolean {
    const owner = this.ownerOf(id)
    return (owner === null || owner === user) && this.#freeElsewhere(id, user)
  }

  /** The user holding or reserving `id`, or null when anyone may claim it. */
  ownerOf(id: string): string | null {
    const held = this.#held.get(id)
    if (held !== undefined) return held.user
    this.#age()
    return this.#young.get(id) ?? this.#old.get(id) ?? null
  }

  /** Reservations held now (for tests and stats). */
  get reserved(): number {
    return this.#young.size + this.#old.size
  }

  #reserve(id: string, user: string): void {
    this.#age()
    const n = this.#youngPerUser.get(user) ?? 0
    if (n >= MAX_RESERVED_PER_USER) return
    if (this.#young.size >= MAX_RESERVED / 2) this.#shift(this.#now())
    this.#young.set(id, user)
    this.#youngPerUser.set(user, n + 1)
  }

  /** Moves the generations on once a reservation period has passed (both, after two idle periods). */
  #age(): void {
    const now = this.#now()
    const age = now - this.#youngSince
    if (age < this.#reserveMs) return
    // Every id in `young` was put there less than one period after #youngSince: past two, all have expired.
    if (age >= 2 * this.#reserveMs) this.#young = new Map()
    this.#shift(now)
  }

  #shift(now: number): void {
    this.#old = this.#young
    this.#young = new Map()
    this.#youngPerUser = new Map()
    this.#youngSince = now
  }
}
