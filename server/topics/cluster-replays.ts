/**
 * Replay subscriptions over the shared store (cluster mode, issue 14): every message comes from the store,
 * none from the live publish path, so a message published on any node reaches a replay subscriber on any
 * node exactly once and in sequence order.
 *
 * A cursor pages from its start on its own (one read in flight, PAGE messages at most). Once it reaches the
 * log's end it joins its topic's tail: one reader per topic and node that reads what was appended (woken by
 * the store's `onAppended`, which fires on every node after any node's append, and by a slow poll that covers
 * a lost notice) and hands each page to every live cursor of the topic. A cursor takes only sequences at or
 * past its own `nextSeq`, so joining the tail while it reads, or after reading further on its own, neither
 * skips nor repeats a message. A reader that backs up leaves the tail and pages on its own again when its
 * socket drains. A failed read (Redis unreachable) is retried with a capped backoff and when the link comes
 * back; the cursor keeps its place.
 */
import { subjectMatches } from '../../shared/subject.ts'
import type { ReadResult, StoredMessage } from '../store/topic-store.ts'
import type { SharedTopicStore } from './shared-store.ts'
import type { DeliverPolicy, TopicReceiver } from './topic-receiver.ts'

/** Read page size, as the single-node cursors (replays.ts). */
const PAGE = 256
/** A tail with live cursors reads this often even without a notice (a notice lost in a Redis outage). */
const POLL_MS = 2000
/**
 * Cursors' own page reads in flight at once on a node; the others queue for a slot (10,000 replays starting
 * together would otherwise hold 10,000 pages of up to PAGE messages in flight).
 */
const MAX_READS = 64
/** Retry delays after a failed read; the last repeats. */
const RETRY_MS = [50, 200, 500, 1000, 2000] as const

export class SharedCursor {
  readonly receiver: TopicReceiver
  readonly sid: number
  readonly topic: string
  readonly filter: string
  nextSeq = 1
  active = true
  reading = false
  live = false
  failures = 0
  retry: NodeJS.Timeout | null = null
  /** What a failed read was doing, to do again. */
  again: (() => void) | null = null

  constructor(receiver: TopicReceiver, sid: number, topic: string, filter: string) {
    this.receiver = receiver
    this.sid = sid
    this.topic = topic
    this.filter = filter
  }
}

class Tail {
  readonly topic: string
  next: number
  readonly live = new Set<SharedCursor>()
  reading = false
  again = false
  failures = 0
  timer: NodeJS.Timeout | null = null
  constructor(topic: string, next: number) {
    this.topic = topic
    this.next = next
  }
}

export interface SharedReplaysHost {
  readonly store: SharedTopicStore
  /** A read failed for a reason other than the store being unreachable. */
  failed(err: unknown, topic: string): void
}

export class SharedReplays {
  readonly #host: SharedReplaysHost
  readonly #byTopic = new Map<string, Set<SharedCursor>>()
  readonly #tails = new Map<string, Tail>()
  readonly #waiting = new Map<TopicReceiver, Set<SharedCursor>>()
  /** Page reads in flight, and the cursors waiting for a slot, oldest first. */
  #reads = 0
  readonly #readQueue = new Set<SharedCursor>()
  #closed = false

  constructor(host: SharedReplaysHost) {
    this.#host = host
  }

  get count(): number {
    let n = 0
    for (const set of this.#byTopic.values()) n += set.size
    return n
  }

  /** Starts a cursor; it finds its start in the store, then pages. */
  start(receiver: TopicReceiver, sid: number, topic: string, filter: string, deliver: DeliverPolicy): SharedCursor {
    const c = new SharedCursor(receiver, sid, topic, filter)
    let set = this.#byTopic.get(topic)
    if (set === undefined) this.#byTopic.set(topic, (set = new Set()))
    set.add(c)
    c.reading = true
    this.#position(c, deliver).then(() => { c.reading = false; this.#page(c) }, (err: unknown) => { c.reading = false; this.#failed(c, err, () => this.#restart(c, deliver)) })
    return c
  }

  async #position(c: SharedCursor, deliver: DeliverPolicy): Promise<void> {
    const store = this.#host.store
    if (deliver === 'all') c.nextSeq = (await store.info(c.topic)).firstSeq
    else if (deliver === 'new') c.nextSeq = (await store.info(c.topic)).lastSeq + 1
    else if (deliver === 'last') {
      const info = await store.info(c.topic)
      c.nextSeq = (await store.last(c.topic, c.filter))?.seq ?? info.lastSeq + 1
    } else if (deliver === 'last_per_subject') {
      // The info first: the last message of each subject up to its lastSeq, then everything after it, so an
      // append made between the two calls is delivered once, by the pages.
      const { lastSeq } = await store.info(c.topic)
      for (const m of await store.lastPerSubject(c.topic, c.filter)) if (m.seq <= lastSeq && c.active) deliverTo(c, m)
      c.nextSeq = lastSeq + 1
    } else if ('startSeq' in deliver) c.nextSeq = Math.max(1, deliver.startSeq)
    else {
      const first = await store.read(c.topic, { startTime: deliver.startTime, filter: c.filter, limit: 1 })
      c.nextSeq = first.messages[0]?.seq ?? first.nextSeq
    }
  }

  #restart(c: SharedCursor, deliver: DeliverPolicy): void {
    c.reading = true
    this.#position(c, deliver).then(() => { c.reading = false; this.#page(c) }, (err: unknown) => { c.reading = false; this.#failed(c, err, () => this.#restart(c, deliver)) })
  }

  /** Any node appended to `topic`, up to `lastSeq`: its tail reads on. */
  appended(topic: string, lastSeq: number): void {
    const tail = this.#tails.get(topic)
    if (tail !== undefined && lastSeq >= tail.next) this.#readTail(tail)
  }

  /** The link to the store is back: every tail reads, and stalled cursors try again now. */
  relinked(): void {
    for (const tail of this.#tails.values()) { tail.failures = 0; this.#readTail(tail) }
    for (const set of this.#byTopic.values()) {
      for (const c of set) {
        if (c.retry === null || c.again === null) continue
        clearTimeout(c.retry)
        c.retry = null
        c.failures = 0
        const again = c.again
        c.again = null
        again()
      }
    }
  }

  end(c: SharedCursor): void {
    c.active = false
    this.#readQueue.delete(c)
    if (c.retry !== null) { clearTimeout(c.retry); c.retry = null }
    this.#leaveTail(c)
    this.#byTopic.get(c.topic)?.delete(c)
    const waiting = this.#waiting.get(c.receiver)
    if (waiting !== undefined && waiting.delete(c) && waiting.size === 0) this.#waiting.delete(c.receiver)
  }

  /** The topic is gone: its cursors end, each told so with a gap to the end of time. */
  dropTopic(name: string): void {
    for (const c of [...(this.#byTopic.get(name) ?? [])]) {
      this.end(c)
      c.receiver.event(c.sid, 'gap', { topic: name, from: c.nextSeq, to: Number.MAX_SAFE_INTEGER, deleted: true })
    }
    this.#byTopic.delete(name)
  }

  /** The receiver's socket drained: its waiting cursors page on. */
  resume(receiver: TopicReceiver): void {
    const waiting = this.#waiting.get(receiver)
    if (waiting === undefined) return
    this.#waiting.delete(receiver)
    for (const c of waiting) this.#page(c)
  }

  close(): void {
    this.#closed = true
    for (const tail of this.#tails.values()) if (tail.timer !== null) clearTimeout(tail.timer)
    for (const set of this.#byTopic.values()) for (const c of set) if (c.retry !== null) clearTimeout(c.retry)
  }

  /** Pages from the cursor's own position until it reaches the log's end, then joins the tail. */
  #page(c: SharedCursor): void {
    if (!c.active || c.reading || c.live || this.#closed) return
    if (c.receiver.backedUp) { this.#wait(c); return }
    if (this.#reads >= MAX_READS) { this.#readQueue.add(c); return }
    c.reading = true
    this.#reads++
    const done = (): void => {
      c.reading = false
      this.#reads--
      for (const next of this.#readQueue) {
        if (this.#reads >= MAX_READS) break
        this.#readQueue.delete(next)
        this.#page(next)
      }
    }
    Promise.resolve(this.#host.store.read(c.topic, { startSeq: c.nextSeq, filter: c.filter, limit: PAGE })).then((page) => {
      done()
      c.failures = 0
      if (!c.active) return
      this.#take(c, page)
      if (page.nextSeq > page.lastSeq) this.#joinTail(c)
      else this.#page(c)
    }, (err: unknown) => { done(); this.#failed(c, err, () => this.#page(c)) })
  }

  /** Delivers what of `page` the cursor has not had yet; reports a gap it has not been told of. */
  #take(c: SharedCursor, page: ReadResult): void {
    if (page.gap !== null && page.gap.toSeq >= c.nextSeq) {
      c.receiver.event(c.sid, 'gap', { from: Math.max(page.gap.fromSeq, c.nextSeq), to: page.gap.toSeq, topic: c.topic })
    }
    for (const m of page.messages) {
      if (!c.active) return
      if (m.seq >= c.nextSeq && (c.live ? subjectMatches(c.filter, m.subject) : true)) deliverTo(c, m)
    }
    if (page.nextSeq > c.nextSeq) c.nextSeq = page.nextSeq
  }

  #joinTail(c: SharedCursor): void {
    let tail = this.#tails.get(c.topic)
    if (tail === undefined) this.#tails.set(c.topic, (tail = new Tail(c.topic, c.nextSeq)))
    // The tail has read past this cursor: the messages between are this cursor's to page.
    if (c.nextSeq < tail.next) { this.#page(c); return }
    c.live = true
    tail.live.add(c)
    // An append whose notice came while the cursor was paging is read now rather than at the next notice.
    this.#readTail(tail)
  }

  #leaveTail(c: SharedCursor): void {
    if (!c.live) return
    c.live = false
    const tail = this.#tails.get(c.topic)
    if (tail === undefined) return
    tail.live.delete(c)
    if (tail.live.size === 0 && !tail.reading) this.#dropTail(tail)
  }

  #dropTail(tail: Tail): void {
    if (tail.timer !== null) clearTimeout(tail.timer)
    if (this.#tails.get(tail.topic) === tail) this.#tails.delete(tail.topic)
  }

  #readTail(tail: Tail): void {
    if (this.#closed) return
    if (tail.reading) { tail.again = true; return }
    if (tail.timer !== null) { clearTimeout(tail.timer); tail.timer = null }
    tail.reading = true
    tail.again = false
    Promise.resolve(this.#host.store.read(tail.topic, { startSeq: tail.next, limit: PAGE })).then((page) => {
      tail.reading = false
      tail.failures = 0
      for (const c of tail.live) {
        this.#take(c, page)
        if (c.active && c.receiver.backedUp) { this.#leaveTail(c); this.#wait(c) }
      }
      if (page.nextSeq > tail.next) tail.next = page.nextSeq
      this.#afterTailRead(tail, page.nextSeq <= page.lastSeq || tail.again)
    }, (err: unknown) => {
      tail.reading = false
      if (tail.failures++ === 0) for (const c of tail.live) this.#tellUnavailable(c, err)
      this.#afterTailRead(tail, false, RETRY_MS[Math.min(tail.failures - 1, RETRY_MS.length - 1)])
    })
  }

  #afterTailRead(tail: Tail, more: boolean, delayMs = POLL_MS): void {
    if (this.#tails.get(tail.topic) !== tail) return
    if (tail.live.size === 0) { this.#dropTail(tail); return }
    if (more) { this.#readTail(tail); return }
    tail.timer = setTimeout(() => { tail.timer = null; this.#readTail(tail) }, delayMs)
    tail.timer.unref()
  }

  /** A backed-up reader goes on when its socket drains, or on the next turn when only our queue was full. */
  #wait(c: SharedCursor): void {
    if (c.receiver.congested) {
      let waiting = this.#waiting.get(c.receiver)
      if (waiting === undefined) this.#waiting.set(c.receiver, (waiting = new Set()))
      waiting.add(c)
    } else {
      setImmediate(() => this.#page(c))
    }
  }

  #failed(c: SharedCursor, err: unknown, again: () => void): void {
    if (!c.active || this.#closed) return
    const code = (err as { code?: unknown }).code
    if (code === 'no_topic') { this.dropTopic(c.topic); return }
    if (code !== 'unavailable') this.#host.failed(err, c.topic)
    if (c.failures++ === 0) this.#tellUnavailable(c, err)
    c.again = again
    c.retry = setTimeout(() => { c.retry = null; c.again = null; again() }, RETRY_MS[Math.min(c.failures - 1, RETRY_MS.length - 1)])
    c.retry.unref()
  }

  /** Once per outage, the subscriber hears that its replay waits for the store (never silence). */
  #tellUnavailable(c: SharedCursor, err: unknown): void {
    const code = (err as { code?: unknown }).code
    c.receiver.event(c.sid, 'unavailable', { topic: c.topic, nextSeq: c.nextSeq, code: typeof code === 'string' ? code : 'storage_failed' })
  }
}

function deliverTo(c: SharedCursor, m: StoredMessage): void {
  // Replay obeys the same permissions as live delivery (README "Security").
  if (c.receiver.session.mayReceive(m.subject)) c.receiver.deliverStored(c.sid, m, 0)
}
