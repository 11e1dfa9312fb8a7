/**
 * Reopening a file topic: every segment is read and every record checked (length, CRC32C, sequence order), the
 * valid ones restored into a fresh log in order, with the journal's purges applied where they happened, its
 * eviction floor skipped, and its consumer groups rebuilt.
 *
 * What it does with bad bytes:
 * - at the end of the newest segment, with no valid record after them: a torn last write (the process died in
 *   the middle of it, so it was never confirmed). The file is cut there and the cut reported.
 * - anywhere else: corruption. The records after it are found again (the next offset where a whole record with
 *   a valid checksum and a later sequence starts) and stay readable; the sequences in between are reported in
 *   `lost`, readers get a gap for them, and the file is left as it is for inspection. Never silently cut.
 */
import { join } from 'node:path'
import { ConsumerGroup } from '../engine/consumer-group.ts'
import type { TopicLog } from '../engine/topic-log.ts'
import type { SeqRange } from '../topic-store.ts'
import type { DiskIo } from './disk-io.ts'
import { DiskMessage, type BodyReader } from './disk-message.ts'
import type { PurgeMark, ReplayedJournal } from './journal.ts'
import { FRAME_HEADER, RecordScanner } from './record.ts'
import { Segment, segmentBase, type SegmentFiles } from './segments.ts'

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Decodes subjects, reusing the last string when the bytes repeat (a topic's few subjects recur). */
class Subjects {
  #bytes = new Uint8Array(0)
  #text = ''

  of(buf: Uint8Array, start: number, end: number): string {
    const n = end - start
    const last = this.#bytes
    if (n === last.byteLength) {
      let same = true
      for (let i = 0; i < n; i++) if (buf[start + i] !== last[i]) { same = false; break }
      if (same) return this.#text
    }
    this.#bytes = buf.slice(start, end)
    this.#text = decoder.decode(this.#bytes)
    return this.#text
  }
}

/** What recovery found wrong, for the log and for `info().lost`. */
export interface RecoveryReport {
  readonly messages: number
  readonly lost: SeqRange[]
  /** Bytes cut off the newest segment's torn tail. */
  readonly tornBytes: number
  readonly segments: number
}

/** Reads a whole file through `io`. */
function readAll(io: DiskIo, fd: number, size: number): Uint8Array {
  const buf = new Uint8Array(size)
  let at = 0
  while (at < size) {
    const n = io.read(fd, buf.subarray(at), size - at, at)
    if (n <= 0) break
    at += n
  }
  return at === size ? buf : buf.subarray(0, at)
}

/** Moves `scan` to the next valid message record after `from` with a sequence above `after`; false if none. O(bytes). */
function resync(scan: RecordScanner, buf: Uint8Array, from: number, after: number): number | null {
  for (let o = from; o + FRAME_HEADER < buf.byteLength; o++) if (scan.at(buf, o, after)) return o
  return null
}

/** Replays segments and journal into `log`; fills `lost`. */
export function recoverTopic(io: DiskIo, dir: string, log: TopicLog, segments: SegmentFiles, reader: BodyReader,
  journal: ReplayedJournal, lost: SeqRange[], now: number): RecoveryReport {
  const purges = journal.purges
  let nextPurge = 0
  const applyPurgesBelow = (seq: number): void => {
    while (nextPurge < purges.length && purges[nextPurge].s < seq) {
      const p: PurgeMark = purges[nextPurge++]
      log.purge(p.f, p.s)
    }
  }
  const names = io.list(dir).map((name) => ({ name, base: segmentBase(name) })).filter((s): s is { name: string; base: number } => s.base !== null)
  names.sort((a, b) => a.base - b.base)
  let prevSeq = 0
  let lossOpen = false
  let messages = 0
  let tornBytes = 0
  const subjects = new Subjects()
  const window = log.config.duplicateWindowMs
  const ix = new RecordScanner()
  const restore = (segment: Segment, buf: Uint8Array, offset: number): void => {
    if (lossOpen) {
      if (ix.seq - 1 >= prevSeq + 1) lost.push({ fromSeq: prevSeq + 1, toSeq: ix.seq - 1 })
      lossOpen = false
    }
    prevSeq = ix.seq
    segment.lastSeq = ix.seq
    applyPurgesBelow(ix.seq)
    if (ix.seq < journal.floor) return
    const subject = subjects.of(buf, ix.subjectStart, ix.subjectEnd)
    // A msgId matters only while its de-duplication window lasts.
    const hasId = ix.msgIdEnd > ix.msgIdStart && window > 0 && now - ix.time < window
    const msgId = hasId ? decoder.decode(buf.subarray(ix.msgIdStart, ix.msgIdEnd)) : undefined
    log.restore(new DiskMessage(ix.seq, ix.time, subject, ix.size, segment, offset, reader), msgId, now)
    messages++
  }
  for (let i = 0; i < names.length; i++) {
    const newest = i === names.length - 1
    const path = join(dir, names[i].name)
    const fd = io.open(path, false)
    const size = io.size(fd)
    const segment = new Segment(path, names[i].base, fd, size)
    segments.adopt(segment)
    // A segment's name is the first sequence written to it: sequences skipped before it were assigned.
    if (segment.baseSeq - 1 > prevSeq && lossOpen) { lost.push({ fromSeq: prevSeq + 1, toSeq: segment.baseSeq - 1 }); lossOpen = false; prevSeq = segment.baseSeq - 1 }
    const buf = readAll(io, fd, size)
    let at = 0
    while (at < buf.byteLength) {
      if (ix.at(buf, at, prevSeq)) {
        restore(segment, buf, at)
        at = ix.end
        continue
      }
      const next = resync(ix, buf, at + 1, prevSeq)
      if (next === null) {
        if (newest) {
          tornBytes = buf.byteLength - at
          io.truncate(fd, at)
          segment.size = at
        } else {
          lossOpen = true
        }
        break
      }
      lossOpen = true
      restore(segment, buf, next)
      at = ix.end
    }
  }
  applyPurgesBelow(Number.MAX_SAFE_INTEGER)
  const newestBase = names.length === 0 ? 1 : names[names.length - 1].base
  if (lossOpen && newestBase - 1 > prevSeq) lost.push({ fromSeq: prevSeq + 1, toSeq: newestBase - 1 })
  // Never reuse a sequence anything may have seen: the journal's, the floor's, the newest segment's name.
  log.assignedThrough(Math.max(prevSeq, journal.maxSeq, journal.floor - 1, newestBase - 1))
  // Corruption among messages evicted before the crash lost nothing anyone can still read.
  const readable = lost.filter((r) => r.toSeq >= journal.floor).map((r) => ({ fromSeq: Math.max(r.fromSeq, journal.floor), toSeq: r.toSeq }))
  lost.length = 0
  lost.push(...readable)
  for (const range of lost) log.markLost(range)
  return { messages, lost, tornBytes, segments: names.length }
}

/** The consumer groups a journal describes, restored over `log`. */
export function recoverGroups(journal: ReplayedJournal, log: TopicLog): Map<string, ConsumerGroup> {
  const groups = new Map<string, ConsumerGroup>()
  for (const [name, g] of journal.groups) {
    const group = new ConsumerGroup(name, g.config, log, g.cursor)
    const pending = [...g.pending].sort((a, b) => a[0] - b[0])
    group.restore({ cursor: g.cursor, pending, acked: g.acked, terminated: g.terminated, deadLettered: g.deadLettered })
    groups.set(name, group)
  }
  return groups
}
