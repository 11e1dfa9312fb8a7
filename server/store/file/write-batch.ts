/**
 * The records a file topic appended in the current task and has not written yet: encoded into one buffer and
 * written with one call at the flush (a write call per message cost a third of the broker's time in the
 * durable benchmark). A batch holds records of one segment; the topic writes it before starting another.
 */
import type { PreparedAppend, TopicLog } from '../engine/topic-log.ts'
import type { BodyReader, DiskMessage } from './disk-message.ts'
import { encodeMessageInto, recordSeed } from './record.ts'
import type { Segment } from './segments.ts'

/** One appended message waiting in the batch, and whom to tell when it is durable. */
export interface Pending {
  readonly p: PreparedAppend
  readonly msg: DiskMessage
  /** The log's last time before this append (restored if the batch cannot be written). */
  readonly prevTime: number | null
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
  /** Confirmed already; it waits only to become readable after older messages (fsync left 'always'). */
  readonly waitOnly?: boolean
}

export class WriteBatch {
  #buf = Buffer.allocUnsafe(64 * 1024)
  #length = 0
  #segment: Segment | null = null
  #entries: Pending[] = []

  /** The segment its records go to, or null when empty. */
  get segment(): Segment | null {
    return this.#segment
  }

  get empty(): boolean {
    return this.#entries.length === 0
  }

  /** Messages waiting. */
  get size(): number {
    return this.#entries.length
  }

  /** Where the next record goes in `segment` (the bytes written there, plus those waiting here). */
  nextOffset(segment: Segment): number {
    return segment.size + (this.#segment === segment ? this.#length : 0)
  }

  /** Encodes the record of `p` (`length` bytes: `encodedLength(p)`) at the end; returns its offset in the segment. */
  add(segment: Segment, p: PreparedAppend, length: number): number {
    const offset = this.nextOffset(segment)
    this.#segment = segment
    const need = this.#length + length
    if (need > this.#buf.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#buf.byteLength * 2))
      this.#buf.copy(grown, 0, 0, this.#length)
      this.#buf = grown
    }
    this.#length += encodeMessageInto(this.#buf, this.#length, p, recordSeed(segment.salt, offset))
    return offset
  }

  /** Registers who waits for the record just added. */
  wait(entry: Pending): void {
    this.#entries.push(entry)
  }

  /** Empties the batch, handing back its bytes (valid until the next `add`) and its messages. */
  take(): { readonly bytes: Uint8Array; readonly entries: Pending[]; readonly segment: Segment | null } {
    const out = { bytes: this.#buf.subarray(0, this.#length), entries: this.#entries, segment: this.#segment }
    this.#length = 0
    this.#entries = []
    this.#segment = null
    // A burst's large buffer is not kept for ever.
    if (this.#buf.byteLength > 4 * 1024 * 1024) this.#buf = Buffer.allocUnsafe(64 * 1024)
    return out
  }
}

/**
 * A batch that could not be written, taken back whole: its sequences and msgIds released (newest first, as
 * they were assigned), its bodies forgotten, and its publishers told `refusal`.
 */
export function takeBack(entries: readonly Pending[], log: TopicLog, reader: BodyReader, refusal: unknown): void {
  for (let i = entries.length - 1; i >= 0; i--) {
    log.unassign(entries[i].p, entries[i].prevTime)
    reader.forget(entries[i].p.seq)
  }
  for (const e of entries) e.reject(refusal)
}
