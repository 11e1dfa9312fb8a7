/**
 * A shared topic store for tests of the cluster runtime without Redis: the in-memory engine behind answers
 * that all come on a later macrotask (as a remote store's do), with the cluster extensions (`pull` for one
 * node's members, `leaveMembers`, `onAppended` on every node), and an outage switch (`down`) that fails every
 * call with `unavailable` and sends no notices, as a RedisTopicStore does while Redis is unreachable.
 *
 * Each node gets its own view (`node()`): closing a view closes only that node's listeners.
 */
import { SubwireError } from '../../shared/errors.ts'
import { EngineTopicStore } from '../../server/store/engine/engine-store.ts'
import type { GroupDelivery, PullResult, TopicConfig } from '../../server/store/topic-store.ts'
import type { SharedTopicStore } from '../../server/topics/shared-store.ts'

type Listener = (topic: string, lastSeq: number) => void

function later<T>(f: () => T): Promise<T> {
  return new Promise((resolve, reject) => setImmediate(() => { try { resolve(f()) } catch (err) { reject(err) } }))
}

function prefixOf(member: string): string {
  return member.slice(0, member.indexOf('/') + 1)
}

export class AsyncSharedEngine {
  readonly engine = new EngineTopicStore()
  /** While true every call fails with `unavailable` and no notice is sent. */
  down = false
  /** Calls made (all nodes): the tests bound work with it. */
  calls = 0
  /** Reads in flight now, and the most at once. */
  reads = 0
  maxReads = 0
  readonly #listeners = new Set<Listener>()
  readonly #members = new Map<string, Set<string>>()
  /** Deliveries the engine handed to another node's members, kept for that node's next pull. */
  readonly #outbox = new Map<string, GroupDelivery[]>()

  #call<T>(f: () => T): Promise<T> {
    this.calls++
    return later(() => {
      if (this.down) throw new SubwireError('unavailable', 'the test store is down')
      return f()
    })
  }

  #strip(config: TopicConfig): TopicConfig {
    if (typeof config !== 'object' || config === null || config.storage === undefined) return config
    const { storage: _storage, ...rest } = config
    return rest
  }

  #pull(topic: string, group: string, prefix: string): PullResult {
    const r = this.engine.pull(topic, group)
    const key = (p: string): string => `${topic}\u0000${group}\u0000${p}`
    const joined = this.#members.get(`${topic}\u0000${group}`) ?? new Set<string>()
    const mine: GroupDelivery[] = (this.#outbox.get(key(prefix)) ?? []).filter((d) => joined.has(d.member))
    this.#outbox.delete(key(prefix))
    for (const d of r.deliveries) {
      const p = prefixOf(d.member)
      if (p === prefix) mine.push(d)
      else {
        let box = this.#outbox.get(key(p))
        if (box === undefined) this.#outbox.set(key(p), (box = []))
        box.push(d)
      }
    }
    return { ...r, deliveries: mine }
  }

  /** One node's view of the store. */
  node(): SharedTopicStore {
    const e = this.engine
    const mine = new Set<Listener>()
    return {
      create: (c) => this.#call(() => e.create(this.#strip(c))),
      update: (n, c) => this.#call(() => e.update(n, this.#strip(c))),
      delete: (n) => this.#call(() => e.delete(n)),
      info: (n) => this.#call(() => e.info(n)),
      list: () => this.#call(() => e.list()),
      purge: (n, o) => this.#call(() => e.purge(n, o)),
      topicFor: (s) => this.#call(() => e.topicFor(s)),
      append: async (t, input) => {
        const r = await this.#call(() => e.append(t, input))
        if (!r.duplicate) setImmediate(() => { if (!this.down) for (const l of this.#listeners) l(t, r.seq) })
        return r
      },
      read: (t, q) => {
        this.maxReads = Math.max(this.maxReads, ++this.reads)
        return this.#call(() => e.read(t, q)).finally(() => { this.reads-- })
      },
      get: (t, s) => this.#call(() => e.get(t, s)),
      last: (t, f) => this.#call(() => e.last(t, f)),
      lastPerSubject: (t, f) => this.#call(() => e.lastPerSubject(t, f)),
      sweep: () => this.#call(() => e.sweep()),
      openGroup: (t, g, c) => this.#call(() => e.openGroup(t, g, c)),
      deleteGroup: (t, g) => this.#call(() => e.deleteGroup(t, g)),
      groupInfo: (t, g) => this.#call(() => e.groupInfo(t, g)),
      join: (t, g, m) => this.#call(() => {
        e.join(t, g, m)
        const key = `${t}\u0000${g}`
        let set = this.#members.get(key)
        if (set === undefined) this.#members.set(key, (set = new Set()))
        set.add(m)
      }),
      leave: (t, g, m) => this.#call(() => { e.leave(t, g, m); this.#members.get(`${t}\u0000${g}`)?.delete(m) }),
      pull: (t, g, prefix = '') => this.#call(() => this.#pull(t, g, prefix)),
      ack: (t, g, s, m) => this.#call(() => e.ack(t, g, s, m)),
      nak: (t, g, s, m, d) => this.#call(() => e.nak(t, g, s, m, d)),
      working: (t, g, s, m) => this.#call(() => e.working(t, g, s, m)),
      term: (t, g, s, m) => this.#call(() => e.term(t, g, s, m)),
      nextDeadline: (t, g) => this.#call(() => e.nextDeadline(t, g)),
      leaveMembers: (prefix) => this.#call(() => {
        let n = 0
        for (const [key, set] of this.#members) {
          const [t, g] = key.split('\u0000')
          for (const m of [...set]) if (m.startsWith(prefix)) { e.leave(t, g, m); set.delete(m); n++ }
        }
        return n
      }),
      onAppended: (l) => {
        this.#listeners.add(l)
        mine.add(l)
        return () => { this.#listeners.delete(l); mine.delete(l) }
      },
      close: () => { for (const l of mine) this.#listeners.delete(l) },
    }
  }
}
