/**
 * The slots of one topic log: its messages in sequence order, with their sequences and times in parallel arrays
 * (what topic-log.ts builds limits, subjects and de-duplication on).
 *
 * Layout and costs (n = messages held):
 * - Three parallel arrays `#seqs`, `#times`, `#msgs` with a head offset. Appends push (O(1) amortised);
 *   eviction from the front advances the head. Removals elsewhere (per-subject eviction, purge by subject)
 *   leave holes (`#msgs[i] = null`) that keep their sequence and time, so the arrays stay sorted by both.
 * - Dead slots (before the head, or holes) are compacted away once they outnumber the live ones (and at least
 *   COMPACT_MIN): O(n) work paid for by at least n removals, so O(1) amortised; slots stay under 2n + COMPACT_MIN.
 * - Lookup by sequence: O(1) while sequences are dense (the direct offset), otherwise a binary search, O(log n).
 *   Lookup by time: binary search, O(log n), valid because stored times never decrease.
 */
import { subjectMatches } from '../../../shared/subject.ts'
import type { StoredMessage } from '../topic-store.ts'

/** Dead slots tolerated before a compaction is considered (small logs never compact). */
const COMPACT_MIN = 1024

export class LogSlots {
  #seqs: number[] = []
  #times: number[] = []
  #msgs: Array<StoredMessage | null> = []
  /** Index of the oldest live message (invariant: `#msgs[#head]` is live, or no message is held). */
  #head = 0
  /** Null slots at or after the head. */
  #holes = 0
  #count = 0

  /** Messages held. */
  get count(): number {
    return this.#count
  }

  /** The oldest message held, or undefined. */
  first(): StoredMessage | undefined {
    return this.#count > 0 ? (this.#msgs[this.#head] as StoredMessage) : undefined
  }

  /** The newest message held, or undefined. */
  newest(): StoredMessage | undefined {
    if (this.#count === 0) return undefined
    for (let i = this.#msgs.length - 1; ; i--) {
      const msg = this.#msgs[i]
      if (msg !== null) return msg
    }
  }

  /** Appends a message whose sequence and time are not below the newest slot's. */
  push(msg: StoredMessage): void {
    this.#seqs.push(msg.seq)
    this.#times.push(msg.time)
    this.#msgs.push(msg)
    this.#count++
  }

  /** The message with this sequence, or null. */
  get(seq: number): StoredMessage | null {
    const i = this.#indexOf(seq)
    return i < this.#seqs.length && this.#seqs[i] === seq ? this.#msgs[i] : null
  }

  /** Removes the message with this sequence (it is held) and returns it. */
  remove(seq: number): StoredMessage {
    const i = this.#indexOf(seq)
    const msg = this.#msgs[i] as StoredMessage
    this.#msgs[i] = null
    this.#holes++
    this.#count--
    this.#trimFront()
    return msg
  }

  /** Calls `fn` for every message held, oldest first. */
  forEach(fn: (m: StoredMessage) => void): void {
    for (let i = this.#head; i < this.#msgs.length; i++) {
      const m = this.#msgs[i]
      if (m !== null) fn(m)
    }
  }

  /** Drops every message. */
  clear(): void {
    this.#seqs = []
    this.#times = []
    this.#msgs = []
    this.#head = 0
    this.#holes = 0
    this.#count = 0
  }

  /** Sequence of the first message stored at or after `time`, or `fallback` if none. O(log n). */
  seqAtTime(time: number, fallback: number): number {
    const times = this.#times
    let lo = this.#head
    let hi = times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (times[mid] < time) lo = mid + 1
      else hi = mid
    }
    return lo < times.length ? this.#seqs[lo] : fallback
  }

  /**
   * Collects messages from `start` to `toSeq` matching `filter` into `out` until it holds `limit`; returns the
   * next sequence if `limit` stopped it, else undefined. O(log n + slots scanned).
   */
  scan(start: number, toSeq: number, filter: string, limit: number, out: StoredMessage[]): number | undefined {
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

  // ------------------------------------------------------------------------------------------------------

  #trimFront(): void {
    const msgs = this.#msgs
    while (this.#head < msgs.length && msgs[this.#head] === null) {
      this.#head++
      this.#holes--
    }
    if (this.#count === 0) this.clear()
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
}
