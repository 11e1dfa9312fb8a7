/**
 * One topic's FIFO log: messages in sequence order (log-slots.ts), size accounting, retention limits, a
 * per-subject index (last value per subject, `maxMsgsPerSubject`) and the `msgId` de-duplication window.
 * Every store runs it; they differ in where a message's body lives (the heap, or a file behind a
 * `StoredMessage` that reads it back).
 *
 * An append has two steps, so a durable store can write a message before anyone reads it: `prepare` checks it
 * and assigns its sequence (later appends see it: de-duplication, `expectedLastSeq`, limits), then `commit`
 * makes it readable. The memory store does both at once (`append`); the file store commits once the message
 * is on stable storage, so reads, `info().lastSeq` and consumers never see what a crash could take back.
 *
 * Costs (n = messages held, S = distinct subjects held): append O(1) amortised; per subject, a queue of its
 * sequences gives its oldest and newest in O(1), so `maxMsgsPerSubject` eviction is O(1) amortised and
 * `lastPerSubject` is O(S log S). Every removal takes the oldest of its subject (front eviction takes the
 * oldest overall), so these queues only ever shift. Reads scan from the start slot, skipping holes; a literal
 * filter walks its subject's queue instead.
 */
import { hasWildcard, subjectMatches, subjectProblem } from '../../../shared/subject.ts'
import { DedupWindow } from './dedup-window.ts'
import { LogSlots } from './log-slots.ts'
import { LostRanges } from './lost-ranges.ts'
import { checkedHeaders, checkFilter, ownedPayload, sizeOf } from '../message-intake.ts'
import { SeqQueue } from './seq-queue.ts'
import {
  DEFAULT_READ_LIMIT, DISCARD, TOPIC_ERROR, topicStoreError,
  type AppendInput, type AppendResult, type ReadQuery, type ReadResult, type ResolvedTopicConfig, type SeqRange,
  type StoredMessage,
} from '../topic-store.ts'

/** Options of a log. */
export interface TopicLogOptions {
  /**
   * Most `msgId`s remembered at once, whatever the window (HOUSE_STYLE 9: bound every buffer); past it the
   * oldest are forgotten first.
   * @default 100000
   */
  readonly maxDuplicateIds?: number
}

/** A checked append with its sequence and time, not yet readable: the message to store, and its msgId. */
export interface PreparedAppend extends StoredMessage {
  readonly msgId: string | undefined
}

/** One topic's log. Time comes from the caller (`now`), so the store's clock drives every limit. */
export class TopicLog {
  #config: ResolvedTopicConfig
  readonly #slots = new LogSlots()
  #bytes = 0
  /** Last sequence readable (committed). */
  #lastSeq = 0
  /** Last sequence assigned (prepared): ahead of `#lastSeq` while a durable store waits for its disk. */
  #assigned = 0
  #lastTime: number | null = null
  /** Prepared and not yet committed: counted by the limits of `discard: 'new'`. */
  #pendingCount = 0
  #pendingBytes = 0
  /** What readers must be told the log no longer holds. */
  readonly #gone = new LostRanges()
  /** Told of every message removed (evicted, superseded, purged): a store that keeps bodies elsewhere frees them. */
  onRemove: ((m: StoredMessage) => void) | null = null
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
    return this.#slots.count
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Oldest sequence held; `lastSeq + 1` when empty. */
  get firstSeq(): number {
    return this.#slots.first()?.seq ?? this.#lastSeq + 1
  }

  get lastSeq(): number {
    return this.#lastSeq
  }

  get firstTime(): number | null {
    return this.#slots.first()?.time ?? null
  }

  get lastTime(): number | null {
    return this.#lastTime
  }

  /** The ranges lost to corruption, as `info().lost` shows them. */
  get lost(): readonly SeqRange[] {
    return this.#gone.listed
  }

  /**
   * The string of `subject` the log already holds, or `subject`: a store that builds its own message objects
   * shares one string per subject instead of one per message (a decoded publish's subject is a new string).
   */
  subjectString(subject: string): string {
    return this.#bySubject.get(subject)?.subject ?? subject
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
    const p = this.prepare(input, now)
    if ('duplicate' in p) return p
    this.assign(p)
    // A prepared append has every field of a stored message: it is stored as it is (one object per append).
    return this.commit(p)
  }

  /**
   * Checks an append and computes its sequence and time, changing nothing; a duplicate by `msgId` answers with
   * the original. `assign` then reserves the sequence.
   * @throws as `append`
   */
  prepare(input: AppendInput, now: number): PreparedAppend | AppendResult {
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
    if (input.expectedLastSeq !== undefined && input.expectedLastSeq !== this.#assigned) {
      throw topicStoreError(TOPIC_ERROR.wrongLastSeq, `topic ${this.#config.name}: last sequence is ${this.#assigned}, not ${input.expectedLastSeq}`)
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
    // Past 2^53 - 1 a sequence is no longer an exact number: refused rather than reused.
    if (this.#assigned >= Number.MAX_SAFE_INTEGER - 1) throw topicStoreError(TOPIC_ERROR.topicFull, `topic ${this.#config.name} has used every sequence number`)
    const time = this.#lastTime === null || now > this.#lastTime ? now : this.#lastTime
    return { seq: this.#assigned + 1, time, subject: this.subjectString(subject), headers, encoding: input.encoding ?? 0, payload, size, msgId }
  }

  /** Reserves a prepared append's sequence (the next one): later appends see it. */
  assign(p: PreparedAppend): void {
    this.#assigned = p.seq
    this.#lastTime = p.time
    this.#pendingCount++
    this.#pendingBytes += p.size
    if (p.msgId !== undefined && this.#config.duplicateWindowMs > 0) this.#dedup.remember(p.msgId, p.seq, p.time)
  }

  /**
   * Takes back the newest assigned append, which its store could not write: its sequence is free again.
   * `prevTime` is `lastTime` as it was before `assign`.
   */
  unassign(p: PreparedAppend, prevTime: number | null): void {
    this.#assigned = p.seq - 1
    this.#lastTime = prevTime
    this.#pendingCount--
    this.#pendingBytes -= p.size
    if (p.msgId !== undefined) this.#dedup.forget(p.msgId, p.seq)
  }

  /** Makes an assigned message readable, in sequence order, and applies the limits. */
  commit(msg: StoredMessage): AppendResult {
    this.#pendingCount--
    this.#pendingBytes -= msg.size
    this.#lastSeq = msg.seq
    this.#push(msg)
    this.#enforcePerSubject(msg.subject)
    this.#enforceTotals()
    return { seq: msg.seq, time: msg.time, duplicate: false }
  }

  /**
   * Puts back a message read from storage at recovery, in sequence order, with no checks; limits apply as
   * they did when it was appended, and its `msgId` is remembered again while its window lasts.
   */
  restore(msg: StoredMessage, msgId: string | undefined, now: number): void {
    this.#assigned = Math.max(this.#assigned, msg.seq)
    this.#lastTime = this.#lastTime === null || msg.time > this.#lastTime ? msg.time : this.#lastTime
    this.#lastSeq = this.#assigned
    this.#push(msg)
    this.#enforcePerSubject(msg.subject)
    this.#enforceTotals()
    if (msgId !== undefined && this.#config.duplicateWindowMs > 0 && now - msg.time < this.#config.duplicateWindowMs) this.#dedup.remember(msgId, msg.seq, msg.time)
  }

  /**
   * At recovery: sequences up to `seq` were assigned (what a store's own records say), so they are never
   * reused; those not held read as a gap.
   */
  assignedThrough(seq: number): void {
    if (seq <= this.#assigned) return
    this.#assigned = seq
    this.#lastSeq = seq
    this.#gone.removedThrough(seq)
  }

  /** At recovery: sequences up to `seq` are gone (evicted or purged before the restart); reads report the gap. */
  lostThrough(seq: number): void {
    this.#gone.removedThrough(seq)
  }

  /**
   * At recovery: a range the store could not read back, in order. Reads report it as a gap; `lost` lists it
   * unless `listed` is false (sequences assigned and never confirmed, such as a power cut's unsynced tail).
   */
  markLost(range: SeqRange, listed = true): void {
    this.#gone.add(range, listed)
  }

  /** Evicts messages past `maxAgeMs` and forgets msgIds past the window. O(1) amortised per removal. */
  expire(now: number): void {
    const maxAge = this.#config.maxAgeMs
    if (maxAge !== undefined) {
      const cutoff = now - maxAge
      for (let first = this.#slots.first(); first !== undefined && first.time < cutoff; first = this.#slots.first()) this.#removeFront(true)
    }
    this.#dedup.expire(now, this.#config.duplicateWindowMs)
  }

  /** The message with this sequence, or null. O(1), or O(log n) after holes were compacted. */
  get(seq: number): StoredMessage | null {
    return this.#slots.get(seq)
  }

  /**
   * Messages from a sequence or a time, in order, up to `limit`. O(log n + slots scanned), or with a literal
   * filter O(log n + messages returned). A read never runs into a lost range: it stops before it, and the
   * read starting in it reports it as its gap.
   * @throws `bad_subject` (filter), `bad_option` (limit, start)
   */
  read(query: ReadQuery, now: number): ReadResult {
    this.expire(now)
    const filter = query.filter ?? '>'
    checkFilter(filter)
    const limit = query.limit ?? DEFAULT_READ_LIMIT
    if (!Number.isSafeInteger(limit) || limit <= 0) throw topicStoreError('bad_option', 'limit must be a positive integer')
    if (query.toSeq !== undefined && !Number.isSafeInteger(query.toSeq)) throw topicStoreError('bad_option', 'toSeq must be an integer')
    let toSeq = Math.min(query.toSeq ?? Infinity, this.#lastSeq)
    let start: number
    let gap: SeqRange | null = null
    if ('startSeq' in query) {
      if (!Number.isSafeInteger(query.startSeq) || query.startSeq < 0) throw topicStoreError('bad_option', 'startSeq must be a non-negative integer')
      gap = this.#gone.gapFrom(query.startSeq, this.firstSeq)
      start = Math.max(query.startSeq, this.firstSeq, gap === null ? 0 : gap.toSeq + 1)
    } else {
      if (typeof query.startTime !== 'number' || Number.isNaN(query.startTime)) throw topicStoreError('bad_option', 'startTime must be a number')
      start = this.#slots.seqAtTime(query.startTime, this.#lastSeq + 1)
    }
    const next = this.#gone.after(start)
    if (next !== undefined) toSeq = Math.min(toSeq, next.fromSeq - 1)
    const messages: StoredMessage[] = []
    const stoppedAt = hasWildcard(filter)
      ? this.#slots.scan(start, toSeq, filter, limit, messages)
      : this.#scanSubject(start, toSeq, filter, limit, messages)
    const nextSeq = stoppedAt ?? Math.max(start, toSeq + 1)
    return { messages, nextSeq, firstSeq: this.firstSeq, lastSeq: this.#lastSeq, gap }
  }

  /** Newest message matching `filter`. O(1) for a literal or `>`, O(S) for other wildcards. */
  last(filter = '>'): StoredMessage | null {
    checkFilter(filter)
    if (filter === '>') return this.#slots.newest() ?? null
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

  /**
   * Removes every message, or those whose subject matches `filter`, up to sequence `through` (everything held
   * by default); returns how many. O(removed · log n).
   */
  purge(filter?: string, through = this.#lastSeq): number {
    const before = this.#slots.count
    if (filter === undefined && through >= this.#lastSeq) {
      this.#gone.removedThrough(this.#lastSeq)
      this.#reset()
      return before
    }
    if (filter !== undefined) checkFilter(filter)
    for (const [subject, queue] of [...this.#bySubject]) {
      if (filter !== undefined && !subjectMatches(filter, subject)) continue
      while (queue.size > 0 && queue.first() <= through) {
        this.#gone.removedThrough(queue.first())
        this.#removeOldestOf(subject, queue, false)
      }
    }
    return before - this.#slots.count
  }

  // ------------------------------------------------------------------------------------------------------

  #push(msg: StoredMessage): void {
    this.#slots.push(msg)
    this.#bytes += msg.size
    let queue = this.#bySubject.get(msg.subject)
    if (queue === undefined) this.#bySubject.set(msg.subject, (queue = new SeqQueue(msg.subject)))
    queue.push(msg.seq)
  }

  /** Would storing `size` more bytes on `subject` break maxMsgs or maxBytes, given what per-subject eviction frees? */
  #wouldOverflow(subject: string, size: number): boolean {
    const { maxMsgs, maxBytes, maxMsgsPerSubject } = this.#config
    let count = this.#slots.count + this.#pendingCount + 1
    let bytes = this.#bytes + this.#pendingBytes + size
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
    while ((maxMsgs !== undefined && this.#slots.count > maxMsgs) || (maxBytes !== undefined && this.#bytes > maxBytes)) {
      this.#removeFront(true)
    }
  }

  /** Removes the oldest message held (the log is not empty). */
  #removeFront(lost: boolean): void {
    const msg = this.#slots.first() as StoredMessage
    this.#removeOldestOf(msg.subject, this.#bySubject.get(msg.subject) as SeqQueue, lost)
  }

  /** Removes the oldest message of a subject (the front of its queue). */
  #removeOldestOf(subject: string, queue: SeqQueue, lost: boolean): void {
    const seq = queue.shift()
    if (queue.size === 0) this.#bySubject.delete(subject)
    const msg = this.#slots.remove(seq)
    this.#bytes -= msg.size
    if (lost) this.#gone.removedThrough(seq)
    this.onRemove?.(msg)
    if (this.#slots.count === 0) this.#reset()
  }

  #reset(): void {
    if (this.onRemove !== null) this.#slots.forEach(this.onRemove)
    this.#slots.clear()
    this.#bytes = 0
    this.#bySubject.clear()
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
