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
import { FRAME_HEADER, decodeBody, readFrame, recordSeed, type Body } from './record.ts'

export type { Body } from './record.ts'
import type { Segment } from './segments.ts'

/** Bytes read from a segment at a time: a replay reads each block once and decodes records from it. */
const BLOCK = 256 * 1024
/** Blocks kept, per topic. */
const BLOCKS = 8

interface Block {
  readonly segment: Segment
  readonly start: number
  readonly bytes: Uint8Array
}

/**
 * Reads bodies back: the newest ones written come from memory (bounded in bytes), older ones from blocks read
 * from their segment (a few kept), each record's checksum checked as it is decoded.
 */
export class BodyReader {
  readonly #io: DiskIo
  readonly #maxBytes: number
  readonly #recent = new Map<number, { readonly body: Body; readonly size: number }>()
  /** Sequences in `#recent`, oldest first: eviction takes the front. (Iterating the Map from its start instead
   * walks over every deleted entry until it rehashes: a quarter of all append time when measured.) */
  #order: number[] = []
  #head = 0
  #bytes = 0
  /** Most recently used last. */
  readonly #blocks: Block[] = []
  /** The last body loaded: a message's three getters load it once. */
  #lastSeq = 0
  #last: Body | null = null

  /** @param maxBytes payload bytes of recent bodies kept at most */
  constructor(io: DiskIo, maxBytes: number) {
    this.#io = io
    this.#maxBytes = maxBytes
  }

  /** Keeps a body just written; `size` is what it costs (its message's size: headers count too). */
  remember(seq: number, body: Body, size: number): void {
    if (this.#recent.has(seq)) return
    this.#recent.set(seq, { body, size })
    this.#order.push(seq)
    this.#bytes += size
    while (this.#bytes > this.#maxBytes && this.#head < this.#order.length) {
      const old = this.#order[this.#head++]
      const b = this.#recent.get(old)
      if (b === undefined) continue
      this.#recent.delete(old)
      this.#bytes -= b.size
    }
    if (this.#head > 4096 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head)
      this.#head = 0
    }
  }

  /** Drops the body of `seq` (an append that was never written: its sequence will be reused). */
  forget(seq: number): void {
    if (this.#lastSeq === seq) this.#last = null
    const b = this.#recent.get(seq)
    if (b === undefined) return
    this.#recent.delete(seq)
    this.#bytes -= b.size
  }

  /** The body of `m`, from memory or its segment. @throws `storage_failed` when it does not read back whole */
  load(m: DiskMessage): Body {
    if (this.#lastSeq === m.seq && this.#last !== null) return this.#last
    const body = this.#recent.get(m.seq)?.body ?? this.#fromDisk(m)
    this.#lastSeq = m.seq
    this.#last = body
    return body
  }

  #fromDisk(m: DiskMessage): Body {
    let block = this.#block(m.segment, m.offset, FRAME_HEADER)
    const at = m.offset - block.start
    const length = FRAME_HEADER + new DataView(block.bytes.buffer, block.bytes.byteOffset + at, 4).getUint32(0, true)
    // A record longer than what the block holds of it: read it whole.
    if (at + length > block.bytes.byteLength) block = this.#read(m.segment, m.offset, length)
    const f = readFrame(block.bytes, m.offset - block.start, recordSeed(m.segment.salt, m.offset))
    const body = f === null ? null : decodeBody(f.body)
    if (body === null) throw new SubwireError('storage_failed', `message ${m.seq} in ${m.segment.path} no longer reads back whole`)
    return body
  }

  /** A kept block holding `[offset, offset + need)` of `segment`, or a new one read from there. */
  #block(segment: Segment, offset: number, need: number): Block {
    const blocks = this.#blocks
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i]
      if (b.segment === segment && b.start <= offset && offset + need <= b.start + b.bytes.byteLength) {
        if (i !== blocks.length - 1) { blocks.splice(i, 1); blocks.push(b) }
        return b
      }
    }
    return this.#read(segment, offset, Math.min(BLOCK, Math.max(need, segment.size - offset)))
  }

  #read(segment: Segment, offset: number, length: number): Block {
    const buf = new Uint8Array(Math.max(length, FRAME_HEADER))
    let got: number
    try {
      got = this.#io.read(segment.fd, buf, buf.byteLength, offset)
    } catch (err) {
      throw new SubwireError('storage_failed', `cannot read from ${segment.path}: ${(err as Error).message}`, { cause: err })
    }
    const block = { segment, start: offset, bytes: buf.subarray(0, got) }
    this.#blocks.push(block)
    if (this.#blocks.length > BLOCKS) this.#blocks.shift()
    return block
  }
}

/** A stored message whose body stays on disk until it is read. */
export class DiskMessage implements StoredMessage {
  readonly seq: number
  readonly time: number
  readonly subject: string
  readonly size: number
  /** Its segment, and where its frame starts in it (both change when compaction rewrites the segment). */
  segment: Segment
  offset: number
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
