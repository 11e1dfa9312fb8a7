/**
 * Compaction: a sealed segment whose messages are mostly gone (superseded under `maxMsgsPerSubject`, purged by
 * subject) while older ones still hold the front is rewritten with only its live records, or deleted when none
 * is left. Without it one never-updated subject of a last-value topic pins every later segment, and disk use
 * grows with everything ever written, not with what the topic holds.
 *
 * Crash safety: the live records are copied to `<segment>.compact` and synced, the journal records that
 * `[base, lastSeq]` is covered (no message of that range is missing, whatever the files show), then the copy
 * is renamed over the segment (atomic). A crash before the rename leaves the old segment whole; after it, the
 * new one, whole and synced. Records keep their bytes; only their checksums are seeded anew (record.ts).
 */
import type { TopicLog } from '../engine/topic-log.ts'
import { readWhole, type DiskIo } from './disk-io.ts'
import { DiskMessage } from './disk-message.ts'
import { FRAME_HEADER, SEGMENT_HEADER_BYTES, readFrame, recordSeed, segmentHeader } from './record.ts'
import { Segment, type FdPool, type SegmentFiles } from './segments.ts'
import type { Journal } from './journal.ts'
import type { Syncer } from './syncer.ts'
import { crc32c } from './crc.ts'
import { randomInt } from 'node:crypto'

/** A segment is compacted once at most this share of its records is live. */
export const COMPACT_LIVE_SHARE = 0.25

/** True when `s` (sealed) is dead enough to rewrite. */
export function wantsCompaction(s: Segment): boolean {
  return s.records > 0 && s.live <= s.records * COMPACT_LIVE_SHARE
}

/** The live messages of `s`, in order. O(sequences the segment spans). */
function liveOf(s: Segment, log: TopicLog): DiskMessage[] {
  const out: DiskMessage[] = []
  for (let seq = s.baseSeq; seq <= s.lastSeq; seq++) {
    const m = log.get(seq)
    if (m instanceof DiskMessage && m.segment === s) out.push(m)
  }
  return out
}

/**
 * Rewrites `s` with its live records, or (none left) deletes it; `cover` journals `[base, lastSeq]` before the
 * file changes. Returns the segment that replaces it (null when deleted), or undefined when it was left as it
 * is (a record that no longer reads back whole: recovery will report it, compaction must not hide it).
 */
export function compact(io: DiskIo, s: Segment, log: TopicLog, cover: (from: number, to: number) => void, pool: FdPool): Segment | null | undefined {
  const live = liveOf(s, log)
  if (live.length === 0) {
    cover(s.baseSeq, s.lastSeq)
    io.remove(s.path)
    return null
  }
  const old = readWhole(io, s.fd, s.size)
  const salt = randomInt(0, 2 ** 32 - 1)
  const parts: Uint8Array[] = [segmentHeader(salt)]
  const offsets: number[] = []
  let size = SEGMENT_HEADER_BYTES
  for (const m of live) {
    const f = readFrame(old, m.offset, recordSeed(s.salt, m.offset))
    if (f === null) return undefined
    const framed = Buffer.alloc(FRAME_HEADER + f.body.byteLength)
    framed.writeUInt32LE(f.body.byteLength, 0)
    framed.writeUInt32LE(crc32c(f.body, recordSeed(salt, size)), 4)
    framed.set(f.body, FRAME_HEADER)
    offsets.push(size)
    parts.push(framed)
    size += framed.byteLength
  }
  const content = Buffer.concat(parts)
  const tmp = `${s.path}.compact`
  const fd = io.open(tmp, true)
  try {
    io.truncate(fd, 0)
    io.write(fd, content, 0)
    io.datasyncNow(fd)
    cover(s.baseSeq, s.lastSeq)
    io.rename(tmp, s.path)
  } catch (err) {
    io.close(fd)
    io.remove(tmp)
    throw err
  }
  const next = new Segment(s.path, s.baseSeq, fd, size, salt, pool)
  next.crc = crc32c(content)
  next.lastSeq = live[live.length - 1].seq
  next.records = live.length
  next.live = live.length
  for (let i = 0; i < live.length; i++) {
    live[i].segment = next
    live[i].offset = offsets[i]
  }
  return next
}

/** What compacting a topic's segments needs. */
export interface CompactionSite {
  readonly io: DiskIo
  readonly segments: SegmentFiles
  readonly syncer: Syncer
  readonly dir: string
  readonly log: TopicLog
  /** Where `[from, to]` is journaled as covered, durably, before the file changes. */
  readonly journal: Journal
  readonly failed: (err: unknown) => void
}

/**
 * Compacts the first sealed segment dead enough, of those whose every message is committed (a sync in flight
 * covers none of them); returns true when another waits. One per call, so the pause stays one segment's copy.
 */
export function compactNext(site: CompactionSite): boolean {
  const { segments, log } = site
  const candidate = (s: Segment): boolean => s !== segments.active && s.lastSeq >= log.firstSeq && s.lastSeq <= log.lastSeq && wantsCompaction(s)
  const seg = segments.all.find(candidate)
  if (seg === undefined) return false
  let next: Segment | null | undefined
  try {
    // Durable before the file changes: a purge (or a limit) the copy applies must not outlive its journal entry.
    const cover = (from: number, to: number): void => {
      site.journal.cover(from, to)
      site.journal.flush()
      site.io.datasyncNow(site.journal.fd)
    }
    next = compact(site.io, seg, log, cover, segments.pool)
  } catch (err) {
    // A full disk: tried again at a later flush (the next removal or seal asks); anything else is reported.
    site.failed(err)
    return false
  }
  if (next === undefined) {
    // A record that no longer reads back whole: left as it is for recovery to report, not tried again.
    seg.records = 0
  } else {
    segments.replace(seg, next)
    const fd = seg.releaseFd()
    if (fd >= 0) site.syncer.drop(fd, true)
  }
  return segments.all.some(candidate)
}
