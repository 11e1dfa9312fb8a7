/**
 * One topic's in-memory FIFO log: messages in sequence order, size accounting, retention limits, a
 * per-subject index (last value per subject, `maxMsgsPerSubject`) and the `msgId` de-duplication window.
 *
 * Layout and costs (n = messages held, S = distinct subjects held):
 * - Three parallel arrays `#seqs`, `#times`, `#msgs` with a head offset. Appends push (O(1) amortised);
 *   eviction from the front advances the head. Per-subject eviction and purge-by-subject leave holes
 *   (`#msgs[i] = null`) that keep their sequence and time, so the arrays stay sorted by both.
 * - Dead slots (before the head, or holes) are compacted away once they outnumber the live ones (and at least
 *   COMPACT_MIN): O(n) work paid for by at least n removals, so O(1) amortised; slots stay under 2n + COMPACT_MIN.
 * - Lookup by sequence: O(1) when no holes were compacted (sequences are dense), otherwise a binary search,
 *   O(log n). Lookup by time: binary search, O(log n), valid because stored times never decrease.
 * - Per subject, a queue of its sequences: oldest and newest in O(1), so `maxMsgsPerSubject` eviction is O(1)
 *   amortised and `lastPerSubject` is O(S log S). Every removal takes the oldest of its subject (front
 *   eviction takes the oldest overall), so these queues only ever shift.
 * - Reads scan from the start index, skipping holes; a literal filter walks its subject's queue instead.
 */
import { hasWildcard, subjectMatches, subjectProblem } from '../../../shared/subject.ts'
import { DedupWindow } from './dedup-window.ts'
import { checkedHeaders, checkFilter, ownedPayload, sizeOf } from '../message-intake.ts'
import { SeqQueue } from './seq-queue.ts'
import {
  DEFAULT_READ_LIMIT, DISCARD, TOPIC_ERROR, topicStoreError,
  type AppendInput, type AppendResult, type ReadQuery, type ReadResult, type ResolvedTopicConfig, type SeqRange,
  type StoredMessage,
} from '../topic-store.ts'

/** Dead slots tolerated before a compaction is considered (small logs never compact). */
const COMPACT_MIN = 1024

/** Options of a log. */
export interface TopicLogOptions {
  /**
   * Most `msgId`s remembered at once, whatever the window (HOUSE_STYLE 9: bound every buffer); past it the
   * oldest are forgotten first.
   * @default 100000
   */
  readonly maxDuplicateIds?: number
}

/** One topic's log. Time comes from the caller (`now`), so the store's clock drives every limit. */
export class TopicLog {
  #config: ResolvedTopicConfig
  #seqs: number[] = []
  #times: number[] = []
  #msgs: Array<StoredMessage | null> = []
  /** Index of the oldest live message (invariant: `#msgs[#head]` is live, or the log is empty). */
  #head = 0
  /** Null slots at or after the head. */
  #holes = 0
  #count = 0
  #bytes = 0
  #lastSeq = 0
  #lastTime: number | null = null
  /** Highest sequence removed by a limit or a purge: reads from at or below it report a gap. */
  #lostThrough = 0
  readonly #bySubject = new Map<string, SeqQueue>()
  readonly #dedup: DedupWindow

  constructor(config: ResolvedTopicConfig, options: TopicLogOptions = {}) {
    this.#config = config
    this.#dedup = new DedupWindow(options.maxDuplicateIds ?? 100_000)
  }

  get config(): ResolvedTopicConfig {
    return this.#config
  }

  get messages(): number {
    return this.#count
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Oldest sequence held; `lastSeq + 1` when empty. */
  get firstSeq(): number {
    return this.#count > 0 ? this.#seqs[this.#head] : this.#lastSeq + 1
  }

  get lastSeq(): number {
    return this.#lastSeq
  }

  get firstTime(): number | null {
    return this.#count > 0 ? this.#times[this.#head] : null
  }

  get lastTime(): number | null {
    return this.#lastTime
  }

  /** True when one of the topic's patterns matches the subject. O(patterns · tokens). */
  covers(subject: string): boolean {
    for (const pattern of this.#config.subjects) if (subjectMatches(pattern, subject)) return true
    return false
  }

  /** Applies a new config; shrunk limits evict the oldest at once, whatever the discard policy. */
  reconfigure(config: ResolvedTopicConfig, now: number): void {
    this.#config = config
    const perSubject = config.maxMsgsPerSubject
    if (perSubject !== undefined) {
      for (const [subject, queue] of [...this.#bySubject]) {
        while (queue.size > perSubject) this.#removeOldestOf(subject, queue, false)
      }
    }
    this.#enforceTotals()
    this.expire(now)
  }

  /**
   * Stores a message, or finds it a duplicate, or refuses it. O(1) amortised.
   * @throws `bad_subject`, `bad_payload`, `bad_option`, `wrong_last_seq`, `max_payload`, `topic_full`
   */
  append(input: AppendInput, now: number): AppendResult {
    const subject = input.subject
    const problem = subjectProblem(subject, false)
    if (problem !== null) throw topicStoreError('bad_subject', `invalid subject ${JSON.stringify(subject)}: ${problem}`)
    if (!this.covers(subject)) throw topicStoreError('bad_subject', `topic ${this.#config.name} does not cover ${subject}`)
    const msgId = input.msgId
    if (msgId !== undefined && (typeof msgId !== 'string' || msgId.length === 0)) throw topicStoreError('bad_option', 'msgId must be a non-empty string')
    this.expire(now)
    // De-duplication first: a retried publish must succeed again even though the last sequence has moved.
    const original = msgId === undefined ? undefined : this.#dedup.get(msgId)
    if (original !== undefined) return { seq: original.seq, time: original.time, duplicate: true }
    if (input.expectedLastSeq !== undefined && input.expectedLastSeq !== this.#lastSeq) {
      throw topicStoreError(TOPIC_ERROR.wrongLastSeq, `topic ${this.#config.name}: last sequence is ${this.#lastSeq}, not ${input.expectedLastSeq}`)
    }
    const headers = checkedHeaders(input.headers)
    const payload = ownedPayload(input.payload)
    const size = sizeOf(payload, headers, subject)
    const { maxBytes, discard } = this.#config
    if (maxBytes !== undefined && size > maxBytes) {
      throw topicStoreError('max_payload', `topic ${this.#config.name}: a ${size}-byte message can never fit in maxBytes ${maxBytes}`)
    }
    if (discard === DISCARD.new && this.#wouldOverflow(subject, size)) {
      throw topicStoreError(TOPIC_ERROR.topicFull, `topic ${this.#config.name} is full (discard: 'new')`)
    }
    const time = this.#lastTime === null || now > this.#lastTime ? now : this.#lastTime
    const seq = ++this.#lastSeq
    this.#lastTime = time
    const msg: StoredMessage = { seq, time, subject, headers, encoding: input.encoding ?? 0, payload, size }
    this.#push(msg)
    this.#enforcePerSubject(subject)
    this.#enforceTotals()
    if (msgId !== undefined && this.#config.duplicateWindowMs > 0) this.#dedup.remember(msgId, seq, time)
    return { seq, time, duplicate: false }
  }

  /** Evicts messages past `maxAgeMs` and forgets msgIds past the window. O(1) amortised per removal. */
  expire(now: number): void {
    const maxAge = this.#config.maxAgeMs
    if (maxAge !== undefined) {
      const cutoff = now - maxAge
      while (this.#count > 0 && this.#times[this.#head] < cutoff) this.#removeFront(true)
    }
    this.#dedup.expire(now, this.#config.duplicateWindowMs)
  }

  /** The message with this sequence, or null. O(1), or O(log n) after holes were compacted. */
  get(seq: number): StoredMessage | null {
    const i = this.#indexOf(seq)
    return i < this.#seqs.length && this.#seqs[i] === seq ? this.#msgs[i] : null
  }

  /**
   * Messages from a sequence or a time, in order, up to `limit`. O(log n + slots scanned), or with a literal
   * filter O(log n + messages returned).
   * @throws `bad_subject` (filter), `bad_option` (limit, start)
   */
  read(query: ReadQuery, now: number): ReadResult {
    this.expire(now)
    const filter = query.filter ?? '>'
    checkFilter(filter)
    const limit = query.limit ?? DEFAULT_READ_LIMIT
    if (!Number.isSafeInteger(limit) || limit <= 0) throw topicStoreError('bad_option', 'limit must be a positive integer')
    if (query.toSeq !== undefined && !Number.isSafeInteger(query.toSeq)) throw topicStoreError('bad_option', 'toSeq must be an integer')
    const toSeq = Math.min(query.toSeq ?? Infinity, this.#lastSeq)
    let start: number
    let gap: SeqRange | null = null
    if ('startSeq' in query) {
      if (!Number.isSafeInteger(query.startSeq) || query.startSeq < 0) throw topicStoreError('bad_option', 'startSeq must be a non-negative integer')
      gap = this.#gapFrom(query.startSeq)
      start = Math.max(query.startSeq, this.firstSeq)
    } else {
      if (typeof query.startTime !== 'number' || Number.isNaN(query.startTime)) throw topicStoreError('bad_option', 'startTime must be a number')
      start = this.#seqAtTime(query.startTime)
    }
    const messages: StoredMessage[] = []
    const stoppedAt = hasWildcard(filter)
      ? this.#scan(start, toSeq, filter, limit, messages)
      : this.#scanSubject(start, toSeq, filter, limit, messages)
    const nextSeq = stoppedAt ?? Math.max(start, toSeq + 1)
    return { messages, nextSeq, firstSeq: this.firstSeq, lastSeq: this.#lastSeq, gap }
  }

  /** Newest message matching `filter`. O(1) for a literal or `>`, O(S) for other wildcards. */
  last(filter = '>'): StoredMessage | null {
    checkFilter(filter)
    if (filter === '>') return this.#count > 0 ? this.#newest() : null
    if (!hasWildcard(filter)) {
      const queue = this.#bySubject.get(filter)
      return queue === undefined ? null : this.get(queue.last())
    }
    let best = 0
    for (const [subject, queue] of this.#bySubject) {
      if (queue.last() > best && subjectMatches(filter, subject)) best = queue.last()
    }
    return best === 0 ? null : this.get(best)
  }

  /** Newest message of each subject matching `filter`, in sequence order. O(S log S). */
  lastPerSubject(filter = '>'): StoredMessage[] {
    checkFilter(filter)
    const seqs: number[] = []
    for (const [subject, queue] of this.#bySubject) if (subjectMatches(filter, subject)) seqs.push(queue.last())
    seqs.sort((a, b) => a - b)
    return seqs.map((seq) => this.get(seq) as StoredMessage)
  }

  /** Removes every message, or those whose subject matches `filter`; returns how many. O(removed · log n). */
  purge(filter?: string): number {
    const before = this.#count
    if (filter === undefined) {
      this.#lostThrough = this.#lastSeq
      this.#reset()
      return before
    }
    checkFilter(filter)
    for (const [subject, queue] of [...this.#bySubject]) {
      if (!subjectMatches(filter, subject)) continue
      this.#lostThrough = Math.max(this.#lostThrough, queue.last())
      while (queue.size > 0) this.#removeOldestOf(subject, queue, false)
    }
    return before - this.#count
  }

  // ------------------------------------------------------------------------------------------------------

  #push(msg: StoredMessage): void {
    this.#seqs.push(msg.seq)
    this.#times.push(msg.time)
    this.#msgs.push(msg)
    this.#count++
    this.#bytes += msg.size
    let queue = this.#bySubject.get(msg.subject)
    if (queue === undefined) this.#bySubject.set(msg.subject, (queue = new SeqQueue()))
    queue.push(msg.seq)
  }

  /** Would storing `size` more bytes on `subject` break maxMsgs or maxBytes, given what per-subject eviction frees? */
  #wouldOverflow(subject: string, size: number): boolean {
    const { maxMsgs, maxBytes, maxMsgsPerSubject } = this.#config
    let count = this.#count + 1
    let bytes = this.#bytes + size
    const queue = this.#bySubject.get(subject)
    // reconfigure() keeps every subject within maxMsgsPerSubject, so a full subject frees exactly its oldest.
    if (maxMsgsPerSubject !== undefined && queue !== undefined && queue.size >= maxMsgsPerSubject) {
      count -= 1
      bytes -= (this.get(queue.first()) as StoredMessage).size
    }
    return (maxMsgs !== undefined && count > maxMsgs) || (maxBytes !== undefined && bytes > maxBytes)
  }

  #enforcePerSubject(subject: string): void {
    const perSubject = this.#config.maxMsgsPerSubject
    if (perSubject === undefined) return
    const queue = this.#bySubject.get(subject) as SeqQueue
    while (queue.size > perSubject) this.#removeOldestOf(subject, queue, false)
  }

  #enforceTotals(): void {
    const { maxMsgs, maxBytes } = this.#config
    while ((maxMsgs !== undefined && this.#count > maxMsgs) || (maxBytes !== undefined && this.#bytes > maxBytes)) {
      this.#removeFront(true)
    }
  }

  /** Removes the oldest message held (the log is not empty). */
  #removeFront(lost: boolean): void {
    const msg = this.#msgs[this.#head] as StoredMessage
    const queue = this.#bySubject.get(msg.subject) as SeqQueue
    this.#removeOldestOf(msg.subject, queue, lost)
  }

  /** Removes the oldest message of a subject (the front of its queue). */
  #removeOldestOf(subject: string, queue: SeqQueue, lost: boolean): void {
    const seq = queue.shift()
    if (queue.size === 0) this.#bySubject.delete(subject)
    const i = this.#indexOf(seq)
    const msg = this.#msgs[i] as StoredMessage
    this.#msgs[i] = null
    this.#holes++
    this.#count--
    this.#bytes -= msg.size
    if (lost && seq > this.#lostThrough) this.#lostThrough = seq
    this.#trimFront()
  }

  #trimFront(): void {
    const msgs = this.#msgs
    while (this.#head < msgs.length && msgs[this.#head] === null) {
      this.#head++
      this.#holes--
    }
    if (this.#count === 0) this.#reset()
    else if (this.#head + this.#holes >= COMPACT_MIN && this.#head + this.#holes >= this.#count) this.#compact()
  }

  /** Rewrites the arrays with live messages only. O(n), amortised by the removals that made the dead slots. */
  #compact(): void {
    const seqs: number[] = []
    const times: number[] = []
    const msgs: StoredMessage[] = []
    for (let i = this.#head; i < this.#msgs.length; i++) {
      const msg = this.#msgs[i]
      if (msg === null) continue
      seqs.push(msg.seq)
      times.push(msg.time)
      msgs.push(msg)
    }
    this.#seqs = seqs
    this.#times = times
    this.#msgs = msgs
    this.#head = 0
    this.#holes = 0
  }

  #reset(): void {
    this.#seqs = []
    this.#times = []
    this.#msgs = []
    this.#head = 0
    this.#holes = 0
    this.#count = 0
    this.#bytes = 0
    this.#bySubject.clear()
  }

  /** Index of the first slot at or after the head whose sequence is ≥ seq (dead slots included). */
  #indexOf(seq: number): number {
    const seqs = this.#seqs
    const head = this.#head
    if (head >= seqs.length) return seqs.length
    // Sequences are dense until holes are compacted away: try the direct offset first.
    const guess = head + (seq - seqs[head])
    if (guess >= head && guess < seqs.length && seqs[guess] === seq) return guess
    let lo = head
    let hi = seqs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (seqs[mid] < seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Sequence of the first message stored at or after `time` (lastSeq + 1 if none). O(log n). */
  #seqAtTime(time: number): number {
    const times = this.#times
    let lo = this.#head
    let hi = times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (times[mid] < time) lo = mid + 1
      else hi = mid
    }
    return lo < times.length ? this.#seqs[lo] : this.#lastSeq + 1
  }

  /** The lost range a read starting at `startSeq` must be told about, or null. */
  #gapFrom(startSeq: number): SeqRange | null {
    const lostTo = Math.min(this.firstSeq - 1, this.#lostThrough)
    const from = Math.max(startSeq, 1)
    return from <= lostTo ? { fromSeq: from, toSeq: lostTo } : null
  }

  #newest(): StoredMessage {
    for (let i = this.#msgs.length - 1; ; i--) {
      const msg = this.#msgs[i]
      if (msg !== null) return msg
    }
  }

  /** Collects matches from `start`; returns the next sequence if `limit` stopped it, else undefined. */
  #scan(start: number, toSeq: number, filter: string, limit: number, out: StoredMessage[]): number | undefined {
    const all = filter === '>'
    // Per-read memo: a replay re-tests the same few subjects many times, and subjectMatches splits strings.
    const verdicts = all ? null : new Map<string, boolean>()
    for (let i = this.#indexOf(start); i < this.#seqs.length; i++) {
      const seq = this.#seqs[i]
      if (seq > toSeq) break
      const msg = this.#msgs[i]
      if (msg === null) continue
      if (verdicts !== null) {
        let ok = verdicts.get(msg.subject)
        if (ok === undefined) verdicts.set(msg.subject, (ok = subjectMatches(filter, msg.subject)))
        if (!ok) continue
      }
      out.push(msg)
      if (out.length >= limit) return seq + 1
    }
    return undefined
  }

  #scanSubject(start: number, toSeq: number, subject: string, limit: number, out: StoredMessage[]): number | undefined {
    const queue = this.#bySubject.get(subject)
    if (queue === undefined) return undefined
    for (let j = queue.lowerBound(start); j < queue.size; j++) {
      const seq = queue.at(j)
      if (seq > toSeq) break
      out.push(this.get(seq) as StoredMessage)
      if (out.length >= limit) return seq + 1
    }
    return undefined
  }
}
