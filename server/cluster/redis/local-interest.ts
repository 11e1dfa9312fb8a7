/**
 * This node's interest as the other nodes should see it: per (pattern, queue group), how many subscriptions it
 * holds. Plain interest is announced as present (1) or gone, queue interest as the group's member count on
 * this node (queue groups are spread by members). Changes are coalesced per tick: a thousand subscriptions made
 * in one frame are one HSET and one PUBLISH.
 */
import type { Redis } from 'ioredis'
import { interestKey, parseInterestKey } from './remote-interest.ts'
import type { Keys } from './node-directory.ts'

export class LocalInterest {
  readonly #keys: Keys
  readonly #self: string
  /** key → subscriptions held here. */
  readonly #counts = new Map<string, number>()
  /** key → what the other nodes were last told. */
  #announced = new Map<string, number>()
  readonly #dirty = new Set<string>()
  #scheduled = false
  #redis: Redis | null = null

  constructor(keys: Keys, self: string) {
    this.#keys = keys
    this.#self = self
  }

  get size(): number {
    return this.#counts.size
  }

  add(subject: string, queue: string | null): void {
    this.#change(interestKey(subject, queue), 1)
  }

  remove(subject: string, queue: string | null): void {
    this.#change(interestKey(subject, queue), -1)
  }

  #change(key: string, delta: number): void {
    const n = (this.#counts.get(key) ?? 0) + delta
    if (n <= 0) this.#counts.delete(key)
    else this.#counts.set(key, n)
    this.#dirty.add(key)
    if (!this.#scheduled && this.#redis !== null) {
      this.#scheduled = true
      setImmediate(() => { this.#scheduled = false; void this.flush() })
    }
  }

  #value(key: string): number {
    const n = this.#counts.get(key) ?? 0
    const parsed = parseInterestKey(key)
    return parsed !== null && parsed.queue === null ? Math.min(n, 1) : n
  }

  /** Where to announce; null while the link is down (changes wait for `announceAll`). */
  use(redis: Redis | null): void {
    this.#redis = redis
  }

  /** Sends what changed since the last announce. */
  async flush(): Promise<void> {
    const redis = this.#redis
    if (redis === null || this.#dirty.size === 0) return
    const changes: Array<[string, number]> = []
    for (const key of this.#dirty) {
      const v = this.#value(key)
      if ((this.#announced.get(key) ?? 0) !== v) changes.push([key, v])
    }
    this.#dirty.clear()
    if (changes.length === 0) return
    for (const [key, v] of changes) {
      if (v === 0) this.#announced.delete(key)
      else this.#announced.set(key, v)
    }
    const tx = redis.multi()
    const sets = changes.filter(([, v]) => v > 0)
    const dels = changes.filter(([, v]) => v === 0).map(([k]) => k)
    if (sets.length > 0) tx.hset(this.#keys.interest(this.#self), Object.fromEntries(sets))
    if (dels.length > 0) tx.hdel(this.#keys.interest(this.#self), ...dels)
    tx.publish(this.#keys.control, JSON.stringify({ n: this.#self, t: 'set', k: changes }))
    await tx.exec().catch(() => {
      // Lost with the link: the next announceAll (on reconnect) sends the whole state.
    })
  }

  /** Replaces this node's hash with everything it holds and tells the others to read it again. */
  async announceAll(redis: Redis): Promise<void> {
    this.#dirty.clear()
    const all = new Map<string, number>()
    for (const key of this.#counts.keys()) {
      const v = this.#value(key)
      if (v > 0) all.set(key, v)
    }
    this.#announced = all
    const tx = redis.multi().del(this.#keys.interest(this.#self))
    if (all.size > 0) tx.hset(this.#keys.interest(this.#self), Object.fromEntries(all))
    tx.publish(this.#keys.control, JSON.stringify({ n: this.#self, t: 'reset' }))
    await tx.exec()
  }
}
