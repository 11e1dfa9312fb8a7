/**
 * A FIFO of ascending sequence numbers: one per subject in a topic log, so the oldest and newest message of a
 * subject are found in O(1) (`maxMsgsPerSubject`, last value per subject) and a subject's messages from a
 * sequence in O(log n).
 */

/** A FIFO of ascending sequence numbers with a head offset: push and shift O(1) amortised. */
export class SeqQueue {
  #items: number[] = []
  #head = 0
  /** The subject it is for: the one string every message of the subject can share. */
  readonly subject: string

  constructor(subject: string) {
    this.subject = subject
  }

  get size(): number {
    return this.#items.length - this.#head
  }

  first(): number {
    return this.#items[this.#head]
  }

  last(): number {
    return this.#items[this.#items.length - 1]
  }

  at(i: number): number {
    return this.#items[this.#head + i]
  }

  push(seq: number): void {
    this.#items.push(seq)
  }

  shift(): number {
    const seq = this.#items[this.#head++]
    // Same amortisation as the log: copy once the dead prefix is as long as the live part.
    if (this.#head >= 64 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return seq
  }

  /** Index (from the front) of the first sequence ≥ seq, or `size`. O(log n). */
  lowerBound(seq: number): number {
    let lo = this.#head
    let hi = this.#items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#items[mid] < seq) lo = mid + 1
      else hi = mid
    }
    return lo - this.#head
  }
}
