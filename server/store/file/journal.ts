/**
 * A file topic's state journal (`state.log`): everything about the topic that is not a message, as framed JSON
 * entries in the order they happened: purges and config changes (where they fell among the messages), the
 * eviction floor, and every consumer group's changes (opened,
 * deleted, a delivery, a settlement). Replaying it after the segments rebuilds each group where it stopped.
 *
 * It is compacted by a snapshot: once it passes a size, the whole state is written as one entry to a new file
 * that atomically replaces the old one (io.replace: write, fsync, rename, fsync the directory), so a crash at
 * any point leaves the old journal or the new one, whole. Entries are buffered and written by the owner's flush
 * (one write call per flush), then synced with the segments.
 */
import type { GroupState } from '../engine/consumer-group.ts'
import type { Settled } from '../engine/topic-disk.ts'
import type { ResolvedGroupConfig, ResolvedTopicConfig, SeqRange } from '../topic-store.ts'
import type { DiskIo } from './disk-io.ts'
import { crc32c } from './crc.ts'
import { FRAME_HEADER, KIND, frame, readFrame } from './record.ts'

/** One entry. Short keys: a busy work queue writes two per message. */
export type JournalEntry =
  | { readonly k: 'floor'; readonly s: number }
  | { readonly k: 'purge'; readonly f?: string; readonly s: number }
  | { readonly k: 'cfg'; readonly c: ResolvedTopicConfig; readonly s: number }
  | { readonly k: 'cover'; readonly f: number; readonly s: number }
  | { readonly k: 'seal'; readonly b: number; readonly l: number; readonly n: number; readonly c: number }
  | { readonly k: 'g'; readonly g: string; readonly c: ResolvedGroupConfig; readonly s?: number }
  | { readonly k: 'gd'; readonly g: string }
  | { readonly k: 'd'; readonly g: string; readonly s: number }
  | { readonly k: Settled; readonly g: string; readonly s: number }
  | { readonly k: 'snap'; readonly state: JournalState }

/**
 * What to apply again when the segments are replayed, after the messages up to `s`: a purge (messages matching
 * `f`, or all, up to `s` are gone) or, with `c`, the config in effect from then on (limits evict as they did).
 */
export interface Mark {
  readonly f?: string
  readonly s: number
  readonly c?: ResolvedTopicConfig
}

/** A complete segment as it was written: recovery checks it whole (one CRC) instead of record by record. */
export interface Seal {
  readonly b: number
  readonly l: number
  readonly n: number
  readonly c: number
}

/** A group as the journal rebuilds it. */
export interface JournalGroup {
  config: ResolvedGroupConfig
  cursor: number
  readonly pending: Map<number, number>
  acked: number
  terminated: number
  deadLettered: number
}

/** The whole state a journal describes. */
export interface JournalState {
  floor: number
  /** Sequence ranges compaction rewrote or deleted segments over: no message of theirs is missing. */
  readonly covers?: SeqRange[]
  /** Complete segments by first sequence: their last sequence, size and CRC32C. */
  readonly seals?: Seal[]
  readonly marks: Mark[]
  readonly groups: Record<string, { config: ResolvedGroupConfig; state: GroupState }>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A group's delivery or settlement: `[KIND.groupOp][op][f64 seq][group]`, binary (two per job of a busy work queue). */
type GroupOp = 'd' | Settled

/** Ranges sorted and merged where they touch or overlap. */
export function mergeRanges(ranges: readonly SeqRange[]): SeqRange[] {
  const out: SeqRange[] = []
  for (const r of [...ranges].sort((a, b) => a.fromSeq - b.fromSeq)) {
    const last = out.at(-1)
    if (last !== undefined && r.fromSeq <= last.toSeq + 1) out[out.length - 1] = { fromSeq: last.fromSeq, toSeq: Math.max(last.toSeq, r.toSeq) }
    else out.push(r)
  }
  return out
}

/** The framed bytes of an entry written as JSON (the rare ones: purges, groups, floors, snapshots). */
function jsonFrame(entry: JournalEntry): Uint8Array {
  const json = encoder.encode(JSON.stringify(entry))
  const body = new Uint8Array(json.byteLength + 1)
  body[0] = KIND.journal
  body.set(json, 1)
  return frame(body)
}

function decodeGroupOp(body: Uint8Array): JournalEntry | null {
  if (body.byteLength < 11) return null
  const k = String.fromCharCode(body[1]) as GroupOp
  const s = new DataView(body.buffer, body.byteOffset + 2, 8).getFloat64(0, true)
  if (!Number.isSafeInteger(s) || !'dattlx'.includes(k)) return null
  return { k, g: decoder.decode(body.subarray(10)), s } as JournalEntry
}

function decodeEntry(body: Uint8Array): JournalEntry | null {
  if (body[0] === KIND.groupOp) return decodeGroupOp(body)
  if (body[0] !== KIND.journal) return null
  try { return JSON.parse(decoder.decode(body.subarray(1))) as JournalEntry } catch { return null }
}

/** What replaying a journal found. */
export interface ReplayedJournal {
  floor: number
  readonly covers: SeqRange[]
  readonly seals: Map<number, Seal>
  readonly marks: Mark[]
  readonly groups: Map<string, JournalGroup>
  /** Highest sequence any entry names (sequences up to it were assigned). */
  maxSeq: number
  /** Bytes of whole entries; what follows them (a torn last write) is cut off. */
  readonly validBytes: number
  readonly tornBytes: number
}

function groupOf(state: GroupState, config: ResolvedGroupConfig): JournalGroup {
  return { config, cursor: state.cursor, pending: new Map(state.pending), acked: state.acked, terminated: state.terminated, deadLettered: state.deadLettered }
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0

function validGroupState(g: unknown): boolean {
  if (g === null || typeof g !== 'object') return false
  const { config, state } = g as { config?: unknown; state?: GroupState }
  if (config === null || typeof config !== 'object' || state === null || typeof state !== 'object') return false
  return isSeq(state.cursor) && isSeq(state.acked) && isSeq(state.terminated) && isSeq(state.deadLettered) &&
    Array.isArray(state.pending) && state.pending.every((p) => Array.isArray(p) && isSeq(p[0]) && isSeq(p[1]))
}

/** True when an entry read back has the shape and the values the store writes (a checksum proves no more). */
function valid(e: JournalEntry): boolean {
  switch (e.k) {
    case 'floor': return isSeq(e.s) && e.s >= 1
    case 'purge': return isSeq(e.s) && (e.f === undefined || typeof e.f === 'string')
    case 'cover': return isSeq(e.f) && isSeq(e.s) && e.f <= e.s
    case 'seal': return isSeq(e.b) && isSeq(e.l) && isSeq(e.n) && isSeq(e.c) && e.c < 2 ** 32
    case 'cfg': return isSeq(e.s) && e.c !== null && typeof e.c === 'object'
    case 'g': return isName(e.g) && e.c !== null && typeof e.c === 'object' && (e.s === undefined || (isSeq(e.s) && e.s >= 1))
    case 'gd': return isName(e.g)
    case 'snap': {
      const st = e.state as Partial<JournalState> | null
      return st !== null && typeof st === 'object' && isSeq(st.floor) && Array.isArray(st.marks) &&
        st.marks.every((m) => isSeq(m?.s)) && st.groups !== null && typeof st.groups === 'object' &&
        Object.values(st.groups).every(validGroupState)
    }
    default: return isName(e.g) && isSeq(e.s) && e.s >= 1
  }
}

/**
 * Replays a journal's bytes. A bad entry ends it (torn, corrupt, or of a shape the store never writes):
 * entries after it are not trusted.
 */
export function replayJournal(bytes: Uint8Array): ReplayedJournal {
  let floor = 1
  let marks: Mark[] = []
  let covers: SeqRange[] = []
  let seals = new Map<number, Seal>()
  let groups = new Map<string, JournalGroup>()
  let maxSeq = 0
  let at = 0
  for (;;) {
    const f = readFrame(bytes, at)
    const e = f === null ? null : decodeEntry(f.body)
    if (f === null || e === null || typeof e !== 'object' || !valid(e)) break
    at = f.end
    if (e.k === 'snap') {
      floor = e.state.floor
      marks = [...e.state.marks]
      covers = Array.isArray(e.state.covers) ? e.state.covers.filter((c) => isSeq(c?.fromSeq) && isSeq(c?.toSeq)) : []
      seals = new Map((Array.isArray(e.state.seals) ? e.state.seals : []).filter((x) => valid({ k: 'seal', ...x })).map((x) => [x.b, x]))
      groups = new Map(Object.entries(e.state.groups).map(([name, g]) => [name, groupOf(g.state, g.config)]))
      for (const g of groups.values()) maxSeq = Math.max(maxSeq, g.cursor - 1)
      continue
    }
    if (e.k === 'floor') { floor = Math.max(floor, e.s); maxSeq = Math.max(maxSeq, e.s - 1); continue }
    if (e.k === 'purge') { marks.push(e.f === undefined ? { s: e.s } : { f: e.f, s: e.s }); maxSeq = Math.max(maxSeq, e.s); continue }
    if (e.k === 'cfg') { marks.push({ s: e.s, c: e.c }); continue }
    if (e.k === 'cover') { covers.push({ fromSeq: e.f, toSeq: e.s }); continue }
    if (e.k === 'seal') { seals.set(e.b, { b: e.b, l: e.l, n: e.n, c: e.c }); continue }
    if (e.k === 'g') {
      const g = groups.get(e.g)
      if (e.s !== undefined || g === undefined) groups.set(e.g, { config: e.c, cursor: e.s ?? 1, pending: new Map(), acked: 0, terminated: 0, deadLettered: 0 })
      else g.config = e.c
      continue
    }
    if (e.k === 'gd') { groups.delete(e.g); continue }
    const g = groups.get(e.g)
    if (g === undefined) continue
    maxSeq = Math.max(maxSeq, e.s)
    if (e.k === 'd') {
      g.pending.set(e.s, (g.pending.get(e.s) ?? 0) + 1)
      if (e.s >= g.cursor) g.cursor = e.s + 1
      continue
    }
    if (!g.pending.delete(e.s)) continue
    if (e.k === 'a') g.acked++
    else if (e.k === 't') g.terminated++
    else if (e.k === 'l') g.deadLettered++
  }
  return { floor, marks, covers, seals, groups, maxSeq, validBytes: at, tornBytes: bytes.byteLength - at }
}

/** The journal file of one topic. */
export class Journal {
  readonly #io: DiskIo
  readonly #path: string
  #fd: number
  #size: number
  /** Entries not yet written, framed, in one growing buffer. */
  #buf = Buffer.allocUnsafe(16 * 1024)
  #bufferedBytes = 0
  /** Size after the last snapshot: the journal is compacted once it is several times that. */
  #snapshotSize = 0
  /** Purges and config changes a replay of the segments still needs (those the floor has not passed). */
  #marks: Mark[]
  /** Ranges compaction covered (kept for the snapshots, merged). */
  #covers: SeqRange[]
  /** Complete segments' checks (kept for the snapshots while the floor has not passed them). */
  #seals: Map<number, Seal>

  /**
   * Opens (or creates) the journal; a torn tail found by `replayJournal` is cut at `validBytes`. `marks` are
   * those the replay found.
   */
  constructor(io: DiskIo, path: string, validBytes?: number, marks: Mark[] = [], covers: SeqRange[] = [], seals: Map<number, Seal> = new Map()) {
    this.#io = io
    this.#path = path
    this.#marks = marks
    this.#covers = covers
    this.#seals = seals
    this.#fd = io.open(path, true)
    this.#size = io.size(this.#fd)
    if (validBytes !== undefined && validBytes < this.#size) {
      io.truncate(this.#fd, validBytes)
      this.#size = validBytes
    }
  }

  get fd(): number {
    return this.#fd
  }

  get bytes(): number {
    return this.#size + this.#bufferedBytes
  }

  /** True when entries wait for `flush`. */
  get dirty(): boolean {
    return this.#bufferedBytes > 0
  }

  #room(bytes: number): number {
    const at = this.#bufferedBytes
    if (at + bytes > this.#buf.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(at + bytes, this.#buf.byteLength * 2))
      this.#buf.copy(grown, 0, 0, at)
      this.#buf = grown
    }
    this.#bufferedBytes += bytes
    return at
  }

  add(entry: JournalEntry): void {
    const framed = jsonFrame(entry)
    this.#buf.set(framed, this.#room(framed.byteLength))
  }

  /** Where the buffer and the marks are now, for `rollback`. */
  checkpoint(): { readonly bytes: number; readonly marks: number } {
    return { bytes: this.#bufferedBytes, marks: this.#marks.length }
  }

  /** Drops what was added since `checkpoint` and is not written yet (a flush that failed wrote nothing). */
  rollback(at: { readonly bytes: number; readonly marks: number }): void {
    this.#bufferedBytes = Math.min(this.#bufferedBytes, at.bytes)
    this.#marks.length = Math.min(this.#marks.length, at.marks)
  }

  /** A purge (`c` absent) or a config change after message `s`: an entry now, and kept for the snapshots. */
  addMark(mark: Mark): void {
    if (mark.c !== undefined) this.add({ k: 'cfg', c: mark.c, s: mark.s })
    else this.add(mark.f === undefined ? { k: 'purge', s: mark.s } : { k: 'purge', f: mark.f, s: mark.s })
    this.#marks.push(mark)
  }

  /** Segment `b` is complete: its last sequence, size and CRC32C. */
  seal(b: number, l: number, n: number, c: number): void {
    this.add({ k: 'seal', b, l, n, c })
    this.#seals.set(b, { b, l, n, c })
  }

  /** Compaction rewrote or deleted a segment over `[from, to]`: written now, before the file changes. */
  cover(from: number, to: number): void {
    this.add({ k: 'cover', f: from, s: to })
    this.#covers.push({ fromSeq: from, toSeq: to })
  }

  /** A delivery or settlement of `group`'s message `seq`, written without JSON or allocation. */
  addOp(k: GroupOp, group: string, seq: number): void {
    const groupBytes = Buffer.byteLength(group)
    const at = this.#room(FRAME_HEADER + 10 + groupBytes)
    const buf = this.#buf
    const body = at + FRAME_HEADER
    buf[body] = KIND.groupOp
    buf[body + 1] = k.charCodeAt(0)
    buf.writeDoubleLE(seq, body + 2)
    buf.write(group, body + 10, 'utf8')
    buf.writeUInt32LE(10 + groupBytes, at)
    buf.writeUInt32LE(crc32c(buf.subarray(body, body + 10 + groupBytes)), at + 4)
  }

  /** Writes buffered entries (one write call); true when it wrote. @throws the I/O error; the entries stay buffered */
  flush(): boolean {
    if (this.#bufferedBytes === 0) return false
    this.#io.write(this.#fd, this.#buf.subarray(0, this.#bufferedBytes), this.#size)
    this.#size += this.#bufferedBytes
    this.#bufferedBytes = 0
    if (this.#buf.byteLength > 1024 * 1024) this.#buf = Buffer.allocUnsafe(16 * 1024)
    return true
  }

  /** True when the journal has grown enough that a snapshot should replace it. */
  get wantsSnapshot(): boolean {
    return this.bytes > Math.max(1024 * 1024, 4 * this.#snapshotSize)
  }

  /**
   * Replaces the journal with one snapshot entry (durable when it returns): the floor, the config in effect at
   * it and the marks after it, and the groups' state.
   */
  snapshot(floor: number, groups: JournalState['groups'], purgeNeeded: (s: number) => boolean = () => true): void {
    const base = this.#marks.filter((m) => m.c !== undefined && m.s < floor).at(-1)
    // A purge mark matters while a segment may still hold a record it removed (one not compacted since).
    this.#marks = [...(base === undefined ? [] : [{ s: floor - 1, c: base.c }]), ...this.#marks.filter((m) => m.s >= floor && (m.c !== undefined || purgeNeeded(m.s)))]
    this.#covers = mergeRanges(this.#covers.filter((c) => c.toSeq >= floor))
    for (const [b, x] of this.#seals) if (x.l < floor) this.#seals.delete(b)
    const bytes = jsonFrame({ k: 'snap', state: { floor, marks: this.#marks, covers: this.#covers, seals: [...this.#seals.values()], groups } })
    this.#io.replace(this.#path, bytes)
    this.#io.close(this.#fd)
    this.#fd = this.#io.open(this.#path, false)
    this.#size = bytes.byteLength
    this.#snapshotSize = bytes.byteLength
    this.#bufferedBytes = 0
  }

  close(): void {
    try { this.#io.close(this.#fd) } catch { /* already closed */ }
  }
}
