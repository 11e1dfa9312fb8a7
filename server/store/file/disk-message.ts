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
import { decodeMessage, readFrame, type MessageRecord } from './record.ts'
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
  /** seq → body, oldest first (a Map iterates in insertion order: eviction takes the front). */
  readonly #cache = new Map<number, Body>()
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
    this.#bytes += body.payload.byteLength + 64
    for (const [old, b] of this.#cache) {
      if (this.#bytes <= this.#maxBytes) break
      this.#cache.delete(old)
      this.#bytes -= b.payload.byteLength + 64
    }
  }

  /** The body of the record of `m`, from the cache or its segment. @throws `storage_failed` when unreadable */
  load(m: DiskMessage): Body {
    const hit = this.#cache.get(m.seq)
    if (hit !== undefined) return hit
    const length = Math.max(BLOCK, m.length)
    const buf = new Uint8Array(Math.min(length, Math.max(m.length, m.segment.size - m.offset)))
    let got: number
    try {
      got = this.#io.read(m.segment.fd, buf, buf.byteLength, m.offset)
    } catch (err) {
      throw new SubwireError('storage_failed', `cannot read message ${m.seq} from ${m.segment.path}: ${(err as Error).message}`, { cause: err })
    }
    const view = buf.subarray(0, got)
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
}

/** A stored message whose body stays on disk until it is read. */
export class DiskMessage implements StoredMessage {
  readonly seq: number
  readonly time: number
  readonly subject: string
  readonly size: number
  readonly segment: Segment
  /** Where its frame starts in the segment, and its length. */
  readonly offset: number
  readonly length: number
  readonly #reader: BodyReader

  constructor(seq: number, time: number, subject: string, size: number, segment: Segment, offset: number, length: number, reader: BodyReader) {
    this.seq = seq
    this.time = time
    this.subject = subject
    this.size = size
    this.segment = segment
    this.offset = offset
    this.length = length
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
