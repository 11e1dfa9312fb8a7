/**
 * Messages of a file topic as the engine holds them: their sequence, time, subject and size in the heap, their
 * body (headers, encoding, payload) on disk, read back on first use through a bounded cache. A topic holding
 * gigabytes keeps only these small records in memory.
 *
 * The cache holds the newest bodies written (live readers and work queues take them straight back) and blocks
 * read from disk: a miss reads 64 KiB around the record and decodes every record in it, so a replay costs one
 * read call per block, not per message.
 */
import { SubwireError } from '../../../shared/errors.ts'
import type { StoredMessage } from '../topic-store.ts'
import type { DiskIo } from './disk-io.ts'
import { FRAME_HEADER, decodeMessage, readFrame, type MessageRecord } from './record.ts'
import type { Segment } from './segments.ts'

const BLOCK = 64 * 1024

/** A body as the cache keeps it. */
interface Body {
  readonly headers: Readonly<Record<string, string>> | null
  readonly encoding: number
  readonly payload: Uint8Array
}

/** Reads bodies back, through a cache bounded in bytes. */
export class BodyReader {
  readonly #io: DiskIo
  readonly #maxBytes: number
  readonly #cache = new Map<number, Body>()
  /** Cached sequences, oldest first: eviction takes the front. (Iterating the Map from its start instead walks
   * over every deleted entry until it rehashes: a quarter of all append time when measured.) */
  #order: number[] = []
  #head = 0
  #bytes = 0

  /** @param maxBytes payload bytes the cache holds at most */
  constructor(io: DiskIo, maxBytes: number) {
    this.#io = io
    this.#maxBytes = maxBytes
  }

  /** Keeps a body just written or read. */
  remember(seq: number, body: Body): void {
    if (this.#cache.has(seq)) return
    this.#cache.set(seq, body)
    this.#order.push(seq)
    this.#bytes += body.payload.byteLength + 64
    while (this.#bytes > this.#maxBytes && this.#head < this.#order.length) {
      const old = this.#order[this.#head++]
      const b = this.#cache.get(old)
      if (b === undefined) continue
      this.#cache.delete(old)
      this.#bytes -= b.payload.byteLength + 64
    }
    if (this.#head > 4096 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head)
      this.#head = 0
    }
  }

  /** Drops the body of `seq` (an append that was never written: its sequence will be reused). */
  forget(seq: number): void {
    const b = this.#cache.get(seq)
    if (b === undefined) return
    this.#cache.delete(seq)
    this.#bytes -= b.payload.byteLength + 64
  }

  /** The body of the record of `m`, from the cache or its segment. @throws `storage_failed` when unreadable */
  load(m: DiskMessage): Body {
    const hit = this.#cache.get(m.seq)
    if (hit !== undefined) return hit
    let view = this.#read(m, Math.min(BLOCK, m.segment.size - m.offset))
    // A record longer than a block: its frame header says how long.
    const length = view.byteLength >= FRAME_HEADER ? FRAME_HEADER + new DataView(view.buffer, view.byteOffset, 4).getUint32(0, true) : 0
    if (length > view.byteLength) view = this.#read(m, length)
    let wanted: MessageRecord | null = null
    for (let at = 0; at < view.byteLength;) {
      const f = readFrame(view, at)
      if (f === null) break
      const rec = decodeMessage(f.body)
      if (rec === null) break
      if (rec.seq === m.seq) wanted = rec
      else this.remember(rec.seq, rec)
      at = f.end
    }
    if (wanted === null) throw new SubwireError('storage_failed', `message ${m.seq} in ${m.segment.path} no longer reads back whole`)
    this.remember(m.seq, wanted)
    return wanted
  }

  #read(m: DiskMessage, length: number): Uint8Array {
    const buf = new Uint8Array(Math.max(length, FRAME_HEADER))
    try {
      return buf.subarray(0, this.#io.read(m.segment.fd, buf, buf.byteLength, m.offset))
    } catch (err) {
      throw new SubwireError('storage_failed', `cannot read message ${m.seq} from ${m.segment.path}: ${(err as Error).message}`, { cause: err })
    }
  }
}

/** A stored message whose body stays on disk until it is read. */
export class DiskMessage implements StoredMessage {
  readonly seq: number
  readonly time: number
  readonly subject: string
  readonly size: number
  readonly segment: Segment
  /** Where its frame starts in the segment. */
  readonly offset: number
  readonly #reader: BodyReader

  constructor(seq: number, time: number, subject: string, size: number, segment: Segment, offset: number, reader: BodyReader) {
    this.seq = seq
    this.time = time
    this.subject = subject
    this.size = size
    this.segment = segment
    this.offset = offset
    this.#reader = reader
  }

  get headers(): Readonly<Record<string, string>> | null {
    return this.#reader.load(this).headers
  }

  get encoding(): number {
    return this.#reader.load(this).encoding
  }

  get payload(): Uint8Array {
    return this.#reader.load(this).payload
  }
}
