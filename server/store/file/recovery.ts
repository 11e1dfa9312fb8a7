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
import { sizeOf } from '../message-intake.ts'
import type { SeqRange } from '../topic-store.ts'
import type { DiskIo } from './disk-io.ts'
import { DiskMessage, type BodyReader } from './disk-message.ts'
import type { PurgeMark, ReplayedJournal } from './journal.ts'
import { FRAME_HEADER, decodeMessage, readFrame, type DecodedMessage } from './record.ts'
import { Segment, segmentBase, type SegmentFiles } from './segments.ts'

const EMPTY = new Uint8Array(0)

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

/** The next valid message record after `from`, with a sequence above `after`, or null. O(bytes). */
function resync(buf: Uint8Array, from: number, after: number): { offset: number; rec: DecodedMessage; end: number } | null {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  for (let o = from; o + FRAME_HEADER < buf.byteLength; o++) {
    const length = view.getUint32(o, true)
    if (length < 30 || o + FRAME_HEADER + length > buf.byteLength) continue
    const f = readFrame(buf, o)
    if (f === null) continue
    const rec = decodeMessage(f.body, false)
    if (rec !== null && rec.seq > after) return { offset: o, rec, end: f.end }
  }
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
  const restore = (segment: Segment, rec: DecodedMessage, offset: number, end: number): void => {
    if (lossOpen) {
      if (rec.seq - 1 >= prevSeq + 1) lost.push({ fromSeq: prevSeq + 1, toSeq: rec.seq - 1 })
      lossOpen = false
    }
    prevSeq = rec.seq
    segment.lastSeq = rec.seq
    applyPurgesBelow(rec.seq)
    if (rec.seq < journal.floor) return
    const size = sizeOf(EMPTY, rec.headers, rec.subject) + rec.payloadLength
    log.restore(new DiskMessage(rec.seq, rec.time, rec.subject, size, segment, offset, end - offset, reader), rec.msgId, now)
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
      const f = readFrame(buf, at)
      const rec = f === null ? null : decodeMessage(f.body, false)
      if (f !== null && rec !== null && rec.seq > prevSeq) {
        restore(segment, rec, at, f.end)
        at = f.end
        continue
      }
      const next = resync(buf, at + 1, prevSeq)
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
      restore(segment, next.rec, next.offset, next.end)
      at = next.end
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
