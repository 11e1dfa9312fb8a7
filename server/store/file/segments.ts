/**
 * A file topic's segment files: append-only, named by the first sequence they hold (`00000000000000000001.seg`),
 * the newest one active. A segment is sealed once it passes the segment size, and deleted whole once every
 * message in it is gone (evicted by a limit, expired or purged): retention never rewrites a file, and disk use
 * stays within the topic's limits plus one segment.
 */
import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import type { DiskIo } from './disk-io.ts'
import { crc32c } from './crc.ts'
import { SEGMENT_HEADER_BYTES, segmentHeader } from './record.ts'

export const SEGMENT_SUFFIX = '.seg'
/** Descriptors of sealed segments a topic keeps open at most (more are reopened when read). */
const SEALED_FDS = 8

/**
 * Descriptors of a topic's segments, a few at a time: sealed segments are opened when read and closed again
 * beyond `max` (least recently opened first), so a topic of thousands of segments holds a handful of fds (one
 * each would exhaust the process's limit, sockets included). The active segment is never closed, nor one a
 * sync still needs.
 */
export class FdPool {
  readonly #io: DiskIo
  readonly #max: number
  readonly #open: Segment[] = []
  readonly #keep: (s: Segment) => boolean
  /** True for a segment a sync still needs (set by its topic). */
  busy: (s: Segment) => boolean = () => false

  /** @param keep true for a segment whose fd must stay open now */
  constructor(io: DiskIo, max: number, keep: (s: Segment) => boolean) {
    this.#io = io
    this.#max = max
    this.#keep = keep
  }

  open(s: Segment): number {
    const fd = this.#io.open(s.path, false)
    this.#open.push(s)
    this.#evict(s)
    return fd
  }

  /** Tracks a segment created with its fd open (closed later, like the others, once sealed). */
  adopt(s: Segment): void {
    this.#open.push(s)
    this.#evict(s)
  }

  #evict(s: Segment): void {
    for (let i = 0; this.#open.length > this.#max && i < this.#open.length;) {
      const old = this.#open[i]
      if (old === s || this.#keep(old) || this.busy(old)) { i++; continue }
      this.#open.splice(i, 1)
      old.closeFd(this.#io)
    }
  }

  /** `s` closed its fd itself (deleted, replaced, the store closing). */
  forget(s: Segment): void {
    const i = this.#open.indexOf(s)
    if (i >= 0) this.#open.splice(i, 1)
  }
}

/** One segment file. */
export class Segment {
  readonly path: string
  /** The first sequence written to it (its name). */
  readonly baseSeq: number
  #fd: number
  readonly #pool: FdPool | null
  /** Bytes in the file that hold whole records. */
  size: number
  /** Sequence of its last record (baseSeq - 1 while it holds none). */
  lastSeq: number
  /** The random salt its records' checksums are seeded with (record.ts). */
  readonly salt: number
  /** Records written to it, and those of them the log still holds: compaction rewrites a mostly dead one. */
  records = 0
  live = 0
  /** Never appended to again (its header could not be read at recovery). */
  unwritable = false
  /** CRC32C of every byte written to it so far: once it is sealed, recovery checks it in one call. */
  crc = 0

  /** `fd` is -1 for a segment opened when first read (through `pool`). */
  constructor(path: string, baseSeq: number, fd: number, size: number, salt: number, pool: FdPool | null = null) {
    this.path = path
    this.baseSeq = baseSeq
    this.#fd = fd
    this.size = size
    this.lastSeq = baseSeq - 1
    this.salt = salt
    this.#pool = pool
  }

  /** `bytes` were appended. */
  wrote(bytes: Uint8Array): void {
    this.size += bytes.byteLength
    this.crc = crc32c(bytes, this.crc)
  }

  /** Its descriptor, opened now if the pool had closed it. */
  get fd(): number {
    if (this.#fd < 0) this.#fd = (this.#pool as FdPool).open(this)
    return this.#fd
  }

  /** True while it holds a descriptor. */
  get isOpen(): boolean {
    return this.#fd >= 0
  }

  /** The descriptor it held (closing is the caller's), or -1; it is opened anew when read again. */
  releaseFd(): number {
    const fd = this.#fd
    this.#fd = -1
    this.#pool?.forget(this)
    return fd
  }

  closeFd(io: DiskIo): void {
    const fd = this.#fd
    this.#fd = -1
    if (fd >= 0) {
      try { io.close(fd) } catch { /* closed already */ }
    }
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
  /** Told when a file of the directory is created, replaced or deleted (its entry must be synced). */
  onDirChange: () => void = () => {}
  /** Descriptors of sealed segments, a few at a time. */
  readonly pool: FdPool
  /** Told when a segment is complete (a newer one started, or compaction rewrote it). */
  onSeal: (s: Segment) => void = () => {}

  constructor(io: DiskIo, dir: string) {
    this.#io = io
    this.#dir = dir
    this.pool = new FdPool(io, SEALED_FDS, (s) => s === this.active)
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

  /** Adds a segment opened by recovery (in order); its fd is the pool's to close once others need room. */
  adopt(segment: Segment): void {
    this.#segments.push(segment)
    this.pool.adopt(segment)
  }

  /** Starts a new active segment for sequences from `baseSeq`, its header written. @throws the I/O error */
  create(baseSeq: number): Segment {
    const path = join(this.#dir, segmentName(baseSeq))
    const fd = this.#io.open(path, true)
    const salt = randomInt(0, 2 ** 32 - 1)
    const header = segmentHeader(salt)
    try {
      this.#io.truncate(fd, 0)
      this.#io.write(fd, header, 0)
    } catch (err) {
      this.#io.close(fd)
      this.#io.remove(path)
      throw err
    }
    const segment = new Segment(path, baseSeq, fd, SEGMENT_HEADER_BYTES, salt, this.pool)
    segment.crc = crc32c(header)
    const previous = this.active
    if (previous !== undefined && !previous.unwritable) this.onSeal(previous)
    this.#segments.push(segment)
    this.pool.adopt(segment)
    this.onDirChange()
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
      const fd = s.releaseFd()
      if (fd >= 0) dropped.push(fd)
      this.#io.remove(s.path)
      this.onDirChange()
    }
    return dropped
  }

  /** Puts `next` (a compacted rewrite of `old`, or nothing: `old` held no live message) in `old`'s place. */
  replace(old: Segment, next: Segment | null): void {
    const i = this.#segments.indexOf(old)
    if (i < 0) return
    if (next === null) this.#segments.splice(i, 1)
    else {
      this.#segments[i] = next
      this.pool.adopt(next)
      this.onSeal(next)
    }
    this.onDirChange()
  }

  closeAll(): void {
    for (const s of this.#segments) s.closeFd(this.#io)
    this.#segments.length = 0
  }
}
