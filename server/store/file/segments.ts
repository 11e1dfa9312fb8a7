/**
 * A file topic's segment files: append-only, named by the first sequence they hold (`00000000000000000001.seg`),
 * the newest one active. A segment is sealed once it passes the segment size, and deleted whole once every
 * message in it is gone (evicted by a limit, expired or purged): retention never rewrites a file, and disk use
 * stays within the topic's limits plus one segment.
 */
import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import type { DiskIo } from './disk-io.ts'
import { SEGMENT_HEADER_BYTES, segmentHeader } from './record.ts'

export const SEGMENT_SUFFIX = '.seg'

/** One segment file. */
export class Segment {
  readonly path: string
  /** The first sequence written to it (its name). */
  readonly baseSeq: number
  readonly fd: number
  /** Bytes in the file that hold whole records. */
  size: number
  /** Sequence of its last record (baseSeq - 1 while it holds none). */
  lastSeq: number
  /** The random salt its records' checksums are seeded with (record.ts). */
  readonly salt: number
  /** Records written to it, and those of them the log still holds: compaction rewrites a mostly dead one. */
  records = 0
  live = 0

  constructor(path: string, baseSeq: number, fd: number, size: number, salt: number) {
    this.path = path
    this.baseSeq = baseSeq
    this.fd = fd
    this.size = size
    this.lastSeq = baseSeq - 1
    this.salt = salt
  }
}

/** The file name of the segment starting at `seq`. */
export function segmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}${SEGMENT_SUFFIX}`
}

/** The first sequence of a segment file name, or null when the name is not a segment's. */
export function segmentBase(name: string): number | null {
  if (!name.endsWith(SEGMENT_SUFFIX)) return null
  const seq = Number(name.slice(0, -SEGMENT_SUFFIX.length))
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null
}

/** The segments of one topic, oldest first; the last one is active. */
export class SegmentFiles {
  readonly #io: DiskIo
  readonly #dir: string
  readonly #segments: Segment[] = []
  /** A file was created or deleted since the directory was last synced. */
  dirChanged = false

  constructor(io: DiskIo, dir: string) {
    this.#io = io
    this.#dir = dir
  }

  get all(): readonly Segment[] {
    return this.#segments
  }

  /** The active segment (the newest), or undefined before the first. */
  get active(): Segment | undefined {
    return this.#segments[this.#segments.length - 1]
  }

  /** Bytes of every segment file. */
  get bytes(): number {
    let n = 0
    for (const s of this.#segments) n += s.size
    return n
  }

  /** Adds a segment opened by recovery (in order). */
  adopt(segment: Segment): void {
    this.#segments.push(segment)
  }

  /** Starts a new active segment for sequences from `baseSeq`, its header written. @throws the I/O error */
  create(baseSeq: number): Segment {
    const path = join(this.#dir, segmentName(baseSeq))
    const fd = this.#io.open(path, true)
    const salt = randomInt(0, 2 ** 32 - 1)
    try {
      this.#io.truncate(fd, 0)
      this.#io.write(fd, segmentHeader(salt), 0)
    } catch (err) {
      this.#io.close(fd)
      this.#io.remove(path)
      throw err
    }
    const segment = new Segment(path, baseSeq, fd, SEGMENT_HEADER_BYTES, salt)
    this.#segments.push(segment)
    this.dirChanged = true
    return segment
  }

  /** The segment holding `seq`, or undefined. O(log segments). */
  find(seq: number): Segment | undefined {
    const list = this.#segments
    let lo = 0
    let hi = list.length - 1
    let at = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid].baseSeq <= seq) { at = mid; lo = mid + 1 } else hi = mid - 1
    }
    return at >= 0 && seq <= list[at].lastSeq ? list[at] : undefined
  }

  /**
   * Deletes the files of sealed segments whose every sequence is below `firstLive`; returns their fds, still
   * open, for the caller to close once no sync of them is in flight (a closed fd's number is reused).
   */
  dropBelow(firstLive: number): number[] {
    const dropped: number[] = []
    while (this.#segments.length > 1 && this.#segments[0].lastSeq < firstLive) {
      const s = this.#segments.shift() as Segment
      dropped.push(s.fd)
      this.#io.remove(s.path)
      this.dirChanged = true
    }
    return dropped
  }

  /** Puts `next` (a compacted rewrite of `old`, or nothing: `old` held no live message) in `old`'s place. */
  replace(old: Segment, next: Segment | null): void {
    const i = this.#segments.indexOf(old)
    if (i < 0) return
    if (next === null) this.#segments.splice(i, 1)
    else this.#segments[i] = next
    this.dirChanged = true
  }

  closeAll(): void {
    for (const s of this.#segments) {
      try { this.#io.close(s.fd) } catch { /* already closed: nothing to release */ }
    }
    this.#segments.length = 0
  }
}
