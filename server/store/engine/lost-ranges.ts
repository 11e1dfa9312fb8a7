/**
 * What a topic log no longer holds and must tell readers about: everything up to `through` that limits or a
 * purge removed from the front, and ranges a store could not read back at recovery (corruption, a power cut's
 * unsynced tail). A read starting in either is answered with its gap; a read never runs into a range.
 */
import type { SeqRange } from '../topic-store.ts'

export class LostRanges {
  /** Highest sequence removed by a limit or a purge. */
  through = 0
  /** Ranges not read back, in order. */
  readonly #ranges: SeqRange[] = []
  /** Those that held messages someone may have been told were stored (what `info().lost` lists). */
  readonly listed: SeqRange[] = []

  /** Sequences up to `seq` are gone. */
  removedThrough(seq: number): void {
    if (seq > this.through) this.through = seq
  }

  add(range: SeqRange, listed: boolean): void {
    this.#ranges.push(range)
    if (listed) this.listed.push(range)
  }

  /** The gap a read starting at `startSeq` must report, given the oldest sequence held, or null. */
  gapFrom(startSeq: number, firstSeq: number): SeqRange | null {
    const lostTo = Math.min(firstSeq - 1, this.through)
    const from = Math.max(startSeq, 1)
    if (from <= lostTo) return { fromSeq: from, toSeq: lostTo }
    for (const range of this.#ranges) if (range.fromSeq <= from && from <= range.toSeq) return { fromSeq: from, toSeq: range.toSeq }
    return null
  }

  /** The first range starting after `seq`, if any: a read from `seq` stops before it. */
  after(seq: number): SeqRange | undefined {
    for (const range of this.#ranges) if (range.fromSeq > seq) return range
    return undefined
  }
}
