/**
 * Inbox ownership across nodes (PROTOCOL §4.8 held cluster-wide): an inbox one user holds or reserves on any
 * node is refused to every other user on every node, and may not be named as someone else's reply subject.
 * Each node tells the others of its claims and releases (owner keys, never user names) on the control channel
 * at once, in the same command stream as everything it publishes after: Redis delivers them to every node in
 * that order, so no node can see a request from an inbox before it knows whose inbox it is. Each node also
 * keeps its claims in a hash (`<prefix>ib:<nodeId>`), read by a node that joins or reconnects.
 *
 * A released inbox stays reserved for INBOX_RESERVE_MS, as on one node; so do the inboxes of a node that
 * died, so its clients reconnecting elsewhere get theirs back before anyone else can take them.
 */
import type { Redis } from 'ioredis'
import { INBOX_RESERVE_MS, type InboxPeers } from '../../security/inbox-registry.ts'
import type { Keys } from './node-directory.ts'

/** Most inbox entries kept for one other node (a hostile control channel cannot grow memory past it). */
const MAX_PER_NODE = 200_000
/** Inbox ids and owner keys are short tokens: anything else on the wire is refused. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/

interface Remote {
  readonly owner: string
  readonly node: string
  /** Epoch ms the reservation ends; Infinity while held. */
  until: number
}

export class ClusterInboxes implements InboxPeers {
  readonly #keys: Keys
  readonly #self: string
  readonly #reserveMs: number
  readonly #remote = new Map<string, Remote>()
  readonly #perNode = new Map<string, number>()
  /** This node's claims: id → owner, held or released at. */
  readonly #mine = new Map<string, { owner: string; held: boolean; at: number }>()
  #redis: Redis | null = null

  constructor(keys: Keys, self: string, reserveMs = INBOX_RESERVE_MS) {
    this.#keys = keys
    this.#self = self
    this.#reserveMs = reserveMs
  }

  use(redis: Redis | null): void {
    this.#redis = redis
  }

  ownerOf(id: string): string | null {
    const r = this.#remote.get(id)
    if (r === undefined) return null
    if (r.until < Date.now()) { this.#forget(id, r); return null }
    return r.owner
  }

  announce(id: string, owner: string, held: boolean): void {
    const at = Date.now()
    this.#mine.set(id, { owner, held, at })
    const redis = this.#redis
    if (redis === null) return // the whole table is written again when the link is back (writeAll)
    const flag = held ? '1' : '0'
    redis.multi()
      .hset(this.#keys.inboxes(this.#self), id, `${owner} ${flag} ${at}`)
      .publish(this.#keys.control, JSON.stringify({ n: this.#self, t: 'inbox', k: [[id, owner, held ? 1 : 0]] }))
      .exec().catch(() => {})
  }

  /** Rewrites this node's hash from what it holds (at join and after a reconnect). */
  writeAll(tx: ReturnType<Redis['multi']>): void {
    tx.del(this.#keys.inboxes(this.#self))
    if (this.#mine.size === 0) return
    const fields: Record<string, string> = {}
    for (const [id, m] of this.#mine) fields[id] = `${m.owner} ${m.held ? 1 : 0} ${m.at}`
    tx.hset(this.#keys.inboxes(this.#self), fields)
  }

  /** A claim or release another node announced. Returns false when the message was malformed. */
  apply(node: string, change: unknown): boolean {
    if (!Array.isArray(change)) return false
    const [id, owner, held] = change as unknown[]
    if (typeof id !== 'string' || typeof owner !== 'string' || !TOKEN.test(id) || !TOKEN.test(owner)) return false
    this.#set(node, id, owner, held === 1 ? Infinity : Date.now() + this.#reserveMs)
    return true
  }

  /** Another node's whole table (its hash), replacing what was known of it. */
  replace(node: string, hash: Record<string, string>): void {
    for (const [id, r] of this.#remote) if (r.node === node) this.#forget(id, r)
    const now = Date.now()
    for (const [id, value] of Object.entries(hash)) {
      const [owner, flag, at] = value.split(' ')
      if (!TOKEN.test(id) || owner === undefined || !TOKEN.test(owner)) continue
      const until = flag === '1' ? Infinity : Number(at) + this.#reserveMs
      if (until > now) this.#set(node, id, owner, until)
    }
  }

  /** A node died or left: what it held stays reserved for its users for a reservation period. */
  reserveNode(node: string): void {
    const until = Date.now() + this.#reserveMs
    for (const r of this.#remote.values()) if (r.node === node && r.until > until) r.until = until
  }

  /** Forgets expired reservations, and this node's released claims past the period (from its hash too). */
  sweep(): void {
    const now = Date.now()
    for (const [id, r] of this.#remote) if (r.until < now) this.#forget(id, r)
    const stale: string[] = []
    for (const [id, m] of this.#mine) if (!m.held && now - m.at > this.#reserveMs) stale.push(id)
    if (stale.length === 0) return
    for (const id of stale) this.#mine.delete(id)
    this.#redis?.hdel(this.#keys.inboxes(this.#self), ...stale).catch(() => {})
  }

  #set(node: string, id: string, owner: string, until: number): void {
    const before = this.#remote.get(id)
    if (before === undefined) {
      const n = this.#perNode.get(node) ?? 0
      if (n >= MAX_PER_NODE) return
      this.#perNode.set(node, n + 1)
    } else if (before.node !== node) {
      this.#perNode.set(before.node, (this.#perNode.get(before.node) ?? 1) - 1)
      this.#perNode.set(node, (this.#perNode.get(node) ?? 0) + 1)
    }
    this.#remote.set(id, { owner, node, until })
  }

  #forget(id: string, r: Remote): void {
    this.#remote.delete(id)
    this.#perNode.set(r.node, (this.#perNode.get(r.node) ?? 1) - 1)
  }
}
