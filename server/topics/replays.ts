/**
 * Replay subscriptions (PROTOCOL §8.3): cursors into a topic's log that hand over from the stored messages to
 * live ones without a gap or a duplicate.
 *
 * The hand-over: a cursor (`nextSeq`) reads pages while its connection is not backed up; once it passes the
 * log's end it is live, and each append it matches is delivered to it at once, still through the same cursor.
 * Reads are synchronous and a message becomes readable in one step (a file topic's once it is synced, in
 * sequence order, with `appended` called then), so nothing can slip between the last page and the first live
 * message.
 *
 * Costs: live cursors sit in a subject index by filter, so an append pumps only the live cursors it matches:
 * 40,000 cursors on another subject made each append read the log 40,000 times (300 appends, 4.7 s); a
 * cursor that backs up leaves the index until it catches up again. Ending a cursor is O(1) (issue 17 §3).
 */
import { SubjectIndex, type Run } from '../routing/subject-index.ts'
import type { EngineTopicStore } from '../store/engine/engine-store.ts'
import type { StoredMessage } from '../store/topic-store.ts'
import type { DeliverPolicy, TopicReceiver } from './topic-receiver.ts'

/** Read page size: large enough to amortise, small enough to stop soon when the reader backs up. */
const PAGE = 256

export class ReplayCursor {
  readonly receiver: TopicReceiver
  readonly sid: number
  readonly topic: string
  readonly filter: string
  nextSeq = 1
  live = false
  active = true
  pumping = false
  /** Its place in the index of live cursors (kept by the index). */
  readonly queue = null
  run: Run<ReplayCursor> | null = null
  slot = -1

  constructor(receiver: TopicReceiver, sid: number, topic: string, filter: string) {
    this.receiver = receiver
    this.sid = sid
    this.topic = topic
    this.filter = filter
  }

  /** The index's name for its pattern. */
  get subject(): string {
    return this.filter
  }
}

export class Replays {
  readonly #store: EngineTopicStore
  /** Every running cursor, by topic. */
  readonly #byTopic = new Map<string, Set<ReplayCursor>>()
  /** Live cursors by filter: an append pumps the ones it matches. */
  readonly #live = new SubjectIndex<ReplayCursor>({ cacheSize: 4096 })
  /** Cursors waiting for their receiver's socket to drain. */
  readonly #waiting = new Map<TopicReceiver, Set<ReplayCursor>>()

  constructor(store: EngineTopicStore) {
    this.#store = store
  }

  /** Cursors running. */
  get count(): number {
    let n = 0
    for (const set of this.#byTopic.values()) n += set.size
    return n
  }

  /** Starts a cursor on `filter` in `topic` (which covers it). */
  start(receiver: TopicReceiver, sid: number, topic: string, filter: string, deliver: DeliverPolicy): ReplayCursor {
    const c = new ReplayCursor(receiver, sid, topic, filter)
    const info = this.#store.info(topic)
    if (deliver === 'all') c.nextSeq = info.firstSeq
    else if (deliver === 'new') c.nextSeq = info.lastSeq + 1
    else if (deliver === 'last') c.nextSeq = this.#store.last(topic, filter)?.seq ?? info.lastSeq + 1
    else if (deliver === 'last_per_subject') {
      for (const m of this.#store.lastPerSubject(topic, filter)) deliverTo(c, m)
      c.nextSeq = info.lastSeq + 1
    } else if ('startSeq' in deliver) c.nextSeq = Math.max(1, deliver.startSeq)
    else {
      const first = this.#store.read(topic, { startTime: deliver.startTime, filter, limit: 1 })
      c.nextSeq = first.messages[0]?.seq ?? first.nextSeq
    }
    let set = this.#byTopic.get(topic)
    if (set === undefined) this.#byTopic.set(topic, (set = new Set()))
    set.add(c)
    this.#pump(c)
    return c
  }

  /** `subject` was appended to `topic`: the live cursors it matches read on. */
  appended(topic: string, subject: string): void {
    const runs = this.#live.match(subject).plain
    if (runs.length === 0) return
    // Pumping takes a cursor out of the index when it backs up: go over a copy.
    const due: ReplayCursor[] = []
    for (const run of runs) for (const c of run.subs) if (c.topic === topic) due.push(c)
    for (const c of due) if (c.live) this.#pump(c)
  }

  /** Ends a cursor. */
  end(c: ReplayCursor): void {
    c.active = false
    this.#setLive(c, false)
    this.#byTopic.get(c.topic)?.delete(c)
    const waiting = this.#waiting.get(c.receiver)
    if (waiting !== undefined && waiting.delete(c) && waiting.size === 0) this.#waiting.delete(c.receiver)
  }

  /** The topic is gone: its cursors end, each told so with a gap to the end of time. */
  dropTopic(name: string): void {
    for (const c of this.#byTopic.get(name) ?? []) {
      c.active = false
      this.#setLive(c, false)
      c.receiver.event(c.sid, 'gap', { topic: name, from: c.nextSeq, to: Number.MAX_SAFE_INTEGER, deleted: true })
    }
    this.#byTopic.delete(name)
  }

  /**
   * The receiver's socket drained: its cursors go on, oldest waiting first, until it is backed up again; the
   * rest wait for the next drain where they are (a slow reader of 40,000 replays would otherwise cost a pass
   * over all of them per drain). A cursor that backs up again goes to the back of the same set.
   */
  resume(receiver: TopicReceiver): void {
    const waiting = this.#waiting.get(receiver)
    if (waiting === undefined) return
    for (const c of waiting) {
      if (receiver.backedUp) return
      waiting.delete(c)
      this.#pump(c)
    }
    if (waiting.size === 0 && this.#waiting.get(receiver) === waiting) this.#waiting.delete(receiver)
  }

  #setLive(c: ReplayCursor, live: boolean): void {
    if (live === c.live) return
    c.live = live
    if (live) this.#live.insert(c)
    else this.#live.remove(c)
  }

  /** Delivers from the cursor while the receiver keeps up; live once the cursor reaches the log's end. */
  #pump(c: ReplayCursor): void {
    if (!c.active || c.pumping) return
    c.pumping = true
    try {
      while (c.active) {
        if (c.receiver.backedUp) { this.#setLive(c, false); this.#retryLater(c); return }
        const page = this.#store.read(c.topic, { startSeq: c.nextSeq, filter: c.filter, limit: PAGE })
        if (page.gap !== null) c.receiver.event(c.sid, 'gap', { from: page.gap.fromSeq, to: page.gap.toSeq, topic: c.topic })
        for (const m of page.messages) deliverTo(c, m)
        c.nextSeq = page.nextSeq
        if (page.nextSeq > page.lastSeq) { if (c.active) this.#setLive(c, true); return }
      }
    } finally {
      c.pumping = false
    }
  }

  /**
   * A backed-up reader continues when its socket drains (`resume`), or, when only our own queue was full and
   * the socket is keeping up, on the next turn of the event loop. A 1 ms timer here capped replay at ~64 KiB
   * a millisecond (about 340k msg/s in the benchmark, with the broker mostly idle).
   */
  #retryLater(c: ReplayCursor): void {
    if (c.receiver.congested) {
      let waiting = this.#waiting.get(c.receiver)
      if (waiting === undefined) this.#waiting.set(c.receiver, (waiting = new Set()))
      waiting.add(c)
    } else {
      setImmediate(() => this.#pump(c))
    }
  }
}

function deliverTo(c: ReplayCursor, m: StoredMessage): void {
  // Replay obeys the same permissions as live delivery (README "Security").
  if (c.receiver.session.mayReceive(m.subject)) c.receiver.deliverStored(c.sid, m, 0)
}
