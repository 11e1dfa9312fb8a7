/**
 * A node's copy of the cluster's list of topics: which topic captures a subject must be known on the publish
 * path without a round trip to Redis, for every publish (most are not topic publishes at all).
 *
 * Kept fresh by a reload (`store.list()`) every REFRESH_MS, at once after this node's own management calls,
 * and when the Redis link comes back. A topic created on another node therefore captures this node's
 * publishes within REFRESH_MS; a confirmed publish no topic here covers asks the store before it answers
 * `no_topic`, so a confirm never says "not stored" for a topic that exists.
 */
import { SubwireError } from '../../shared/errors.ts'
import { patternCovers } from '../security/permissions.ts'
import { SubjectIndex } from '../routing/subject-index.ts'
import type { TopicInfo } from '../store/topic-store.ts'

/** How often the list is reloaded: the delay before another node's new topic captures publishes here. */
export const REFRESH_MS = 1000

interface TopicEntry { readonly subject: string; readonly queue: null; readonly topic: string }

export class TopicCatalogue {
  readonly #load: () => Promise<readonly TopicInfo[]>
  #index = new SubjectIndex<TopicEntry>({ cacheSize: 4096 })
  #byName = new Map<string, TopicInfo>()
  #list: readonly TopicInfo[] = []
  /** The names and subjects the index was built from. */
  #shape = ''
  /** Bumped by every local change: a reload that started before one is stale and runs again. */
  #epoch = 0
  #running: Promise<void> | null = null
  #next: Promise<void> | null = null
  /** Called with the names of topics that are gone after a reload (deleted on another node). */
  readonly #onGone: (names: readonly string[]) => void

  constructor(load: () => Promise<readonly TopicInfo[]>, onGone: (names: readonly string[]) => void) {
    this.#load = load
    this.#onGone = onGone
  }

  get size(): number { return this.#byName.size }

  /** The topics as last loaded (monitoring reads this: no I/O). */
  list(): readonly TopicInfo[] { return this.#list }

  get(name: string): TopicInfo | undefined { return this.#byName.get(name) }

  /** The topic capturing `subject`, or null. */
  topicFor(subject: string): string | null {
    const hit = this.#index.match(subject).plain
    return hit.length === 0 ? null : hit[0].subs[0].topic
  }

  /** The topic covering the pattern `filter`. @throws `no_topic` */
  covering(filter: string): string {
    for (const t of this.#list) if (t.config.subjects.some((s) => patternCovers(s, filter))) return t.name
    throw new SubwireError('no_topic', `no topic covers ${filter}`)
  }

  /** This node created or changed a topic: known here at once. */
  put(info: TopicInfo): void {
    this.#epoch++
    this.#set([...this.#list.filter((t) => t.name !== info.name), info])
  }

  /** This node deleted a topic. */
  remove(name: string): void {
    this.#epoch++
    this.#set(this.#list.filter((t) => t.name !== name))
  }

  /** Reloads; concurrent calls share one reload that starts after the current one. */
  refresh(): Promise<void> {
    if (this.#running === null) {
      this.#running = this.#reload().finally(() => { this.#running = null })
      return this.#running
    }
    return (this.#next ??= this.#running.then(() => { this.#next = null; return this.refresh() }, () => { this.#next = null; return this.refresh() }))
  }

  async #reload(): Promise<void> {
    for (let tries = 0; tries < 3; tries++) {
      const epoch = this.#epoch
      const list = await this.#load()
      if (epoch !== this.#epoch) continue // a local change landed meanwhile: this list may predate it
      const gone = this.#list.filter((t) => !list.some((n) => n.name === t.name)).map((t) => t.name)
      this.#set(list)
      if (gone.length > 0) this.#onGone(gone)
      return
    }
  }

  #set(list: readonly TopicInfo[]): void {
    const byName = new Map<string, TopicInfo>()
    for (const t of list) byName.set(t.name, t)
    this.#list = list
    this.#byName = byName
    // The index (and its match cache, which the publish path leans on) is rebuilt only when subjects changed.
    const shape = list.map((t) => `${t.name}\u0000${t.config.subjects.join('\u0000')}`).sort().join('\u0001')
    if (shape === this.#shape) return
    this.#shape = shape
    const index = new SubjectIndex<TopicEntry>({ cacheSize: 4096 })
    for (const t of list) for (const subject of t.config.subjects) index.insert({ subject, queue: null, topic: t.name })
    this.#index = index
  }
}
