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
import { readWhole, type DiskIo } from './disk-io.ts'
import { DiskMessage, type BodyReader } from './disk-message.ts'
import { mergeRanges, type Mark, type ReplayedJournal } from './journal.ts'
import { resolveTopicConfig } from '../topic-config.ts'
import { crc32c } from './crc.ts'
import { FRAME_HEADER, RecordScanner, SEGMENT_HEADER_BYTES, readSegmentHeader } from './record.ts'
import { Segment, segmentBase, type SegmentFiles } from './segments.ts'

const decoder = new TextDecoder('utf-8', { fatal: true })

function utf8(buf: Uint8Array, start: number, end: number): string | null {
  try { return decoder.decode(buf.subarray(start, end)) } catch { return null }
}

/** Decodes subjects, reusing the last string when the bytes repeat (a topic's few subjects recur). */
class Subjects {
  #bytes = new Uint8Array(0)
  #text = ''

  /** The subject, or null when its bytes are not UTF-8 (damage a checksum missed, or a bug). */
  of(buf: Uint8Array, start: number, end: number): string | null {
    const n = end - start
    const last = this.#bytes
    if (n === last.byteLength) {
      let same = true
      for (let i = 0; i < n; i++) if (buf[start + i] !== last[i]) { same = false; break }
      if (same) return this.#text
    }
    try {
      const text = decoder.decode(buf.subarray(start, end))
      this.#bytes = buf.slice(start, end)
      this.#text = text
      return text
    } catch {
      return null
    }
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

/**
 * Moves `scan` to the next valid message record after `from` with a sequence above `after` and below `upper`
 * (the next segment's first); null if none. O(bytes). The salted checksum keeps it from taking a record a
 * client placed inside a payload.
 */
function resync(scan: RecordScanner, buf: Uint8Array, from: number, after: number, upper: number, salt: number): number | null {
  for (let o = from; o + FRAME_HEADER < buf.byteLength; o++) if (scan.at(buf, o, after, salt) && scan.seq < upper) return o
  return null
}

/**
 * The highest sequence the records of a segment that cannot be checked seem to hold, following their length
 * fields without trusting them: only so that no sequence they may have confirmed is handed out again.
 */
function unverifiedLastSeq(scan: RecordScanner, buf: Uint8Array, after: number): number {
  let last = after
  for (let at = SEGMENT_HEADER_BYTES; at + FRAME_HEADER < buf.byteLength;) {
    const end = at + FRAME_HEADER + new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0, true)
    if (end > buf.byteLength || !scan.fields(buf, at + FRAME_HEADER, end) || scan.seq <= last) break
    last = scan.seq
    at = end
  }
  return last
}

/** Replays segments and journal into `log`; fills `lost`. */
export function recoverTopic(io: DiskIo, dir: string, log: TopicLog, segments: SegmentFiles, reader: BodyReader,
  journal: ReplayedJournal, lost: SeqRange[], now: number, confirmsAfterSync: boolean): RecoveryReport {
  /** Sequences missing between segments with no damaged bytes: a power cut took a sealed segment's unsynced
   * tail. Under fsync 'always' none of them was confirmed: readers get a gap, `lost` does not list them. */
  const unsynced: SeqRange[] = []
  // Counted per segment, so compaction knows what is mostly dead (restoring under limits evicts some now).
  log.onRemove = (m) => { (m as DiskMessage).segment.live-- }
  const covers = mergeRanges(journal.covers)
  const covered = (from: number, to: number): boolean => covers.some((c) => c.fromSeq <= from && to <= c.toSeq)
  const marks = journal.marks
  const latest = log.config
  let nextMark = 0
  const applyMarksBelow = (seq: number): void => {
    while (nextMark < marks.length && marks[nextMark].s < seq) {
      const m: Mark = marks[nextMark++]
      if (m.c === undefined) log.purge(m.f, m.s)
      else {
        let config: ReturnType<typeof resolveTopicConfig> | null = null
        try { config = resolveTopicConfig(m.c) } catch { /* a config the store never wrote: the current one stays */ }
        if (config !== null) log.reconfigure(config, now)
      }
    }
  }
  // A compaction's copy that never replaced its segment (a crash in between): the segment is whole.
  for (const name of io.list(dir)) if (name.endsWith('.compact')) io.remove(join(dir, name))
  const names = io.list(dir).map((name) => ({ name, base: segmentBase(name) })).filter((s): s is { name: string; base: number } => s.base !== null)
  names.sort((a, b) => a.base - b.base)
  let prevSeq = 0
  /** Sequences after `prevSeq` are missing: from damaged bytes ('corrupt'), or a sealed segment's cut tail ('tail'). */
  let lossOpen: 'corrupt' | 'tail' | null = null
  const sink = (): SeqRange[] => (lossOpen === 'corrupt' || !confirmsAfterSync ? lost : unsynced)
  let messages = 0
  let tornBytes = 0
  const subjects = new Subjects()
  const window = log.config.duplicateWindowMs
  const ix = new RecordScanner()
  const restore = (segment: Segment, buf: Uint8Array, offset: number): void => {
    if (lossOpen !== null) {
      if (ix.seq - 1 >= prevSeq + 1) sink().push({ fromSeq: prevSeq + 1, toSeq: ix.seq - 1 })
      lossOpen = null
    }
    prevSeq = ix.seq
    segment.lastSeq = ix.seq
    segment.records++
    applyMarksBelow(ix.seq)
    if (ix.seq < journal.floor) return
    const subject = subjects.of(buf, ix.subjectStart, ix.subjectEnd)
    // A msgId matters only while its de-duplication window lasts.
    const hasId = ix.msgIdEnd > ix.msgIdStart && window > 0 && now - ix.time < window
    const msgId = hasId ? utf8(buf, ix.msgIdStart, ix.msgIdEnd) : undefined
    if (subject === null || msgId === null) { lost.push({ fromSeq: ix.seq, toSeq: ix.seq }); return }
    segment.live++
    log.restore(new DiskMessage(ix.seq, ix.time, log.subjectString(subject), ix.size, segment, offset, reader), msgId, now)
    messages++
  }
  let newestBuf: Uint8Array = new Uint8Array(0)
  let newestUnreadable = false
  for (let i = 0; i < names.length; i++) {
    const newest = i === names.length - 1
    const path = join(dir, names[i].name)
    const fd = io.open(path, false)
    const size = io.size(fd)
    const buf = readWhole(io, fd, size)
    if (newest) newestBuf = buf
    let salt = readSegmentHeader(buf)
    if (salt === null && size >= SEGMENT_HEADER_BYTES) {
      // A damaged header whose salt bytes survived: the first record proves it.
      const guess = new DataView(buf.buffer, buf.byteOffset + 10, 4).getUint32(0, true)
      if (ix.at(buf, SEGMENT_HEADER_BYTES, prevSeq, guess)) salt = guess
    }
    if (salt === null && size < SEGMENT_HEADER_BYTES) {
      // Its header never got written whole: created just before a crash or a power cut, nothing synced in it.
      tornBytes += size
      io.close(fd)
      io.remove(path)
      if (newest) break
      lossOpen = lossOpen ?? 'tail'
      continue
    }
    const segment = new Segment(path, names[i].base, fd, size, salt ?? 0, segments.pool)
    segments.adopt(segment)
    // Unreadable: kept for inspection, never appended to (the next append starts a new segment).
    if (salt === null) {
      segment.unwritable = true
      if (newest) newestUnreadable = true
    }
    const upper = newest ? Number.MAX_SAFE_INTEGER : names[i + 1].base
    // A segment's name is the first sequence written to it: sequences before it that no record shows were
    // assigned and never read back (a damaged tail, or a power cut during a rotation's sync).
    if (segment.baseSeq - 1 > prevSeq && prevSeq > 0 && covered(prevSeq + 1, segment.baseSeq - 1)) prevSeq = segment.baseSeq - 1
    if (segment.baseSeq - 1 > prevSeq && prevSeq > 0) {
      if (lossOpen === null) lossOpen = 'tail'
      sink().push({ fromSeq: prevSeq + 1, toSeq: segment.baseSeq - 1 })
      lossOpen = null
      prevSeq = segment.baseSeq - 1
    }
    // A damaged header (the salt lost with it): corruption.
    if (salt === null) { lossOpen = 'corrupt'; continue }
    // A complete segment whose whole-file checksum matches what was written needs no check per record.
    const seal = newest ? undefined : journal.seals.get(segment.baseSeq)
    const whole = seal !== undefined && seal.n === buf.byteLength && crc32c(buf) === seal.c
    let at = SEGMENT_HEADER_BYTES
    while (at < buf.byteLength) {
      if (ix.at(buf, at, prevSeq, salt, !whole) && ix.seq < upper) {
        restore(segment, buf, at)
        at = ix.end
        continue
      }
      const next = resync(ix, buf, at + 1, prevSeq, upper, salt)
      if (next === null) {
        if (newest) {
          tornBytes = buf.byteLength - at
          io.truncate(fd, at)
          segment.size = at
        } else {
          lossOpen = 'tail'
        }
        break
      }
      lossOpen = 'corrupt'
      restore(segment, buf, next)
      at = ix.end
    }
    // The newest goes on taking appends: its running checksum, for the seal it gets when it is complete.
    if (newest) segment.crc = crc32c(buf.subarray(0, segment.size))
  }
  applyMarksBelow(Number.MAX_SAFE_INTEGER)
  // topic.json holds the config as it is now (a change whose journal entry a crash took is applied last).
  log.reconfigure(latest, now)
  const newestBase = names.length === 0 ? 1 : names[names.length - 1].base
  if (lossOpen !== null && newestBase - 1 > prevSeq) sink().push({ fromSeq: prevSeq + 1, toSeq: newestBase - 1 })
  // The newest segment unreadable: what it held is unknown past its name; the journal may know more.
  if (newestUnreadable) {
    const to = Math.max(newestBase, journal.maxSeq, unverifiedLastSeq(ix, newestBuf, prevSeq))
    lost.push({ fromSeq: Math.max(prevSeq + 1, newestBase), toSeq: to })
    prevSeq = Math.max(prevSeq, to)
  }
  lost.sort((a, b) => a.fromSeq - b.fromSeq)
  // Never reuse a sequence anything may have seen: the journal's, the floor's, the newest segment's name.
  log.assignedThrough(Math.max(prevSeq, journal.maxSeq, journal.floor - 1, newestBase - 1))
  // Corruption among messages evicted before the crash lost nothing anyone can still read.
  const readable = lost.filter((r) => r.toSeq >= journal.floor).map((r) => ({ fromSeq: Math.max(r.fromSeq, journal.floor), toSeq: r.toSeq }))
  lost.length = 0
  lost.push(...readable)
  const all = [...lost.map((r) => ({ r, listed: true })), ...unsynced.filter((r) => r.toSeq >= journal.floor).map((r) => ({ r, listed: false }))]
  all.sort((a, b) => a.r.fromSeq - b.r.fromSeq)
  for (const { r, listed } of all) log.markLost(r, listed)
  // Sequences below the first held were evicted before the restart: a reader from there is told of the gap.
  log.lostThrough(log.firstSeq - 1)
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
