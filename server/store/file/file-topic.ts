/**
 * One file topic on disk (a TopicDisk): appends go to the active segment at once (so a full disk refuses the
 * publish that hit it, before anything counts it), and under `fsync: 'always'` a message becomes readable and
 * confirmed only after the sync that covers it. Syncs are batched (group commit): one fdatasync per flush for
 * everything appended meanwhile, one sync in flight at a time, the next batch starting when it returns.
 *
 * A failed write other than a full disk, or any failed sync, makes the topic read-only until the broker
 * restarts (`storage_failed`): after a failed fsync the kernel may have dropped the dirty pages and reports the
 * error once, so retrying and then confirming could confirm lost data (PostgreSQL's "fsyncgate", 2018).
 */
import { dirname } from 'node:path'
import { SubwireError } from '../../../shared/errors.ts'
import type { Durable, Settled, TopicDisk } from '../engine/topic-disk.ts'
import type { PreparedAppend, TopicLog } from '../engine/topic-log.ts'
import { TOPIC_ERROR, topicStoreError, type FsyncPolicy, type ResolvedGroupConfig, type ResolvedTopicConfig, type SeqRange } from '../topic-store.ts'
import { isNoSpace } from './disk-io.ts'
import { BodyReader, DiskMessage } from './disk-message.ts'
import type { Journal } from './journal.ts'
import { compactNext, wantsCompaction } from './compaction.ts'
import { encodedLength } from './record.ts'
import type { SegmentFiles } from './segments.ts'
import { SyncWaiters } from './sync-waiters.ts'
import { Syncer } from './syncer.ts'
import { configBytes, type FileTopicContext } from './topic-context.ts'
import { WriteBatch, takeBack, type Pending } from './write-batch.ts'

/**
 * Appends after which a batch is synced at once when no sync is running. In the durable benchmark (256
 * confirms in flight) 32 gave 55k confirms/s against 48k syncing whole frames (4 runs each, same sitting;
 * the spread was ±15%).
 */
const EARLY_SYNC = 32

export class FileTopic implements TopicDisk {
  readonly storage = 'file'
  readonly #ctx: FileTopicContext
  readonly #name: string
  readonly #segments: SegmentFiles
  readonly #journal: Journal
  readonly reader: BodyReader
  readonly #lost: readonly SeqRange[]
  #log: TopicLog | null = null
  #fsync: FsyncPolicy
  #floor: number
  /** Appended in this task, not yet written. */
  readonly #batch = new WriteBatch()
  /** Written, waiting for the next sync (fsync 'always'); `#inFlight`: those the running sync covers. */
  #unsynced: Pending[] = []
  /** Resolves once everything written up to now is synced (for duplicates of unsynced messages). */
  #syncedThrough = 0
  readonly #waiters = new SyncWaiters()
  readonly #syncer: Syncer
  #flushQueued = false
  #floorDirty = false
  #compactDue = false
  #inFlight: Pending[] = []
  #failed: SubwireError | null = null
  #closed = false

  constructor(ctx: FileTopicContext, config: ResolvedTopicConfig, segments: SegmentFiles, journal: Journal, recovered: { lost: readonly SeqRange[]; floor: number }) {
    this.#ctx = ctx
    this.#name = config.name
    this.#segments = segments
    this.#journal = journal
    this.reader = new BodyReader(ctx.io, ctx.cacheBytes)
    this.#syncer = new Syncer(ctx.io)
    segments.pool.busy = (s) => s.isOpen && this.#syncer.needs(s.fd)
    for (const dir of ctx.newDirs) this.#syncer.dirChanged(dir)
    segments.onDirChange = () => this.#syncer.dirChanged(ctx.dir)
    segments.onSeal = (s) => {
      journal.seal(s.baseSeq, s.lastSeq, s.size, s.crc)
      // Its messages may all have died while it was active.
      if (wantsCompaction(s)) this.#compactDue = true
    }
    this.#lost = recovered.lost
    this.#floor = recovered.floor
    this.#fsync = config.fsync ?? ctx.defaultFsync
    this.#arm()
  }

  /** The log this disk persists (set once, when the engine has it). */
  attach(log: TopicLog): void {
    this.#log = log
    this.#syncedThrough = log.lastSeq
    log.onRemove = (m) => {
      const segment = (m as DiskMessage).segment
      segment.live--
      if (segment !== this.#segments.active && wantsCompaction(segment)) this.#compactDue = true
    }
  }

  // --- appends ------------------------------------------------------------------------------------------

  append(log: TopicLog, p: PreparedAppend): Durable {
    if (this.#failed !== null) throw this.#failed
    let segment = this.#segments.active
    const next = segment === undefined ? 0 : this.#batch.nextOffset(segment)
    const length = encodedLength(p)
    if (segment === undefined || segment.unwritable || (next > 0 && next + length > this.#ctx.segmentBytes)) {
      // A batch holds one segment's records: the full one is written before the next begins.
      const refusal = this.#write()
      if (refusal !== null) throw refusal
      try {
        segment = this.#segments.create(p.seq)
      } catch (err) {
        throw isNoSpace(err) ? topicStoreError(TOPIC_ERROR.storageFull, `topic ${this.#name}: the disk is full (${(err as Error).message}); nothing of this publish was kept`) : this.#fail(err)
      }
    }
    const prevTime = log.lastTime
    const offset = this.#batch.add(segment, p, length)
    segment.lastSeq = p.seq
    log.assign(p)
    const msg = new DiskMessage(p.seq, p.time, p.subject, p.size, segment, offset, this.reader)
    this.reader.remember(p.seq, { headers: p.headers, encoding: p.encoding, payload: p.payload }, p.size)
    const durable = new Promise<void>((resolve, reject) => { this.#batch.wait({ p, msg, prevTime, resolve, reject }) })
    // While the disk is idle, a large frame of publishes is synced in parts: the first confirms go out while
    // the rest of the frame is read, so publisher and broker overlap instead of taking turns.
    if (this.#batch.size >= EARLY_SYNC && !this.#syncer.running && this.#fsync === 'always') this.#flush()
    else this.#queueFlush()
    return { result: { seq: p.seq, time: p.time, duplicate: false }, durable }
  }

  /**
   * Writes the batch in one call. Under `fsync: 'always'` its messages then wait for the next sync; otherwise
   * they are readable and confirmed now. A failed write takes the batch back whole (nothing of it is kept or
   * assigned) and returns the error its publishers get: `storage_full` for a full disk, else the topic fails.
   */
  #write(): SubwireError | null {
    const { bytes, entries, segment } = this.#batch.take()
    if (entries.length === 0 || segment === null) return null
    try {
      this.#ctx.io.write(segment.fd, bytes, segment.size)
    } catch (err) {
      const refusal = this.#writeFailed(segment.fd, segment.size, err)
      takeBack(entries, this.#log as TopicLog, this.reader, refusal)
      segment.lastSeq = entries[0].p.seq - 1
      this.#waiters.rejectFrom(entries[0].p.seq, refusal)
      return refusal
    }
    segment.wrote(bytes)
    segment.records += entries.length
    // Under 'never' nothing waits for a sync, so nothing is kept dirty (a closed fd's number is reused).
    if (this.#fsync !== 'never') this.#syncer.wrote(segment.fd)
    if (this.#fsync === 'always') {
      for (const e of entries) this.#unsynced.push(e)
      return null
    }
    if (this.#unsynced.length > 0 || this.#inFlight.length > 0) {
      // fsync left 'always' while older messages wait for their sync: these are confirmed now (written, as
      // their policy promises) and become readable after those, in sequence order.
      for (const e of entries) {
        this.#unsynced.push({ ...e, waitOnly: true })
        e.resolve()
      }
      return null
    }
    const log = this.#log as TopicLog
    for (const e of entries) {
      e.msg.segment.live++
      log.commit(e.msg)
    }
    this.#syncedThrough = entries[entries.length - 1].p.seq
    this.changed(log)
    for (const e of entries) e.resolve()
    this.#waiters.settle(this.#syncedThrough)
    return null
  }

  durableThrough(seq: number): Promise<void> | null {
    if (seq <= this.#syncedThrough) return null
    if (this.#failed !== null) return Promise.reject(this.#failed)
    return this.#waiters.wait(seq)
  }

  /** A write failed: cut what it left half-written, and say why (a full disk passes; anything else fails the topic). */
  #writeFailed(fd: number, offset: number, err: unknown): SubwireError {
    try {
      this.#ctx.io.truncate(fd, offset)
    } catch (cutErr) {
      return this.#fail(cutErr)
    }
    if (isNoSpace(err)) return topicStoreError(TOPIC_ERROR.storageFull, `topic ${this.#name}: the disk is full (${(err as Error).message}); nothing of this publish was kept`)
    return this.#fail(err)
  }

  #fail(err: unknown): SubwireError {
    if (this.#failed === null) {
      this.#failed = topicStoreError(TOPIC_ERROR.storageFailed, `topic ${this.#name} is read-only until the broker restarts: ${(err as Error).message ?? String(err)}`)
      this.#ctx.onFailure(this.#name, err)
      for (const u of this.#unsynced) u.reject(this.#failed)
      this.#waiters.end(this.#failed)
      for (const e of this.#batch.take().entries) e.reject(this.#failed)
      this.#unsynced = []
    }
    return this.#failed
  }

  // --- flushing and syncing -----------------------------------------------------------------------------

  #queueFlush(): void {
    if (this.#flushQueued || this.#closed) return
    this.#flushQueued = true
    // Once the current task (one inbound frame) is done: every append and ack of the frame shares one journal
    // write and one sync, and the journal is written before the connection's replies (a PONG after an ack),
    // which the outbound queue flushes in a microtask queued later in the same frame.
    queueMicrotask(() => { this.#flushQueued = false; this.#flush() })
  }

  #flush(): void {
    if (this.#failed !== null || this.#closed) return
    this.#write()
    if (this.#failed !== null) return
    if (this.#floorDirty) {
      this.#floorDirty = false
      this.#journal.add({ k: 'floor', s: this.#floor })
    }
    try {
      if (this.#journal.flush()) this.#syncer.wrote(this.#journal.fd)
    } catch (err) {
      if (!isNoSpace(err)) { this.#fail(err); return }
      // A full disk: the journal entries stay buffered (acks are redelivered at worst) and are tried again.
    }
    if (this.#compactDue) this.#compactOne()
    if (this.#journal.wantsSnapshot) this.#snapshot()
    // Under 'always', and after leaving it, written messages wait for a sync to become readable.
    if (this.#fsync === 'always' || this.#unsynced.some((u) => u.waitOnly !== true)) this.#sync()
  }

  /** One sync at a time over every file written since the last; what it covers becomes readable, in order. */
  #sync(): void {
    if (this.#syncer.running || this.#failed !== null) return
    const batch = this.#unsynced
    if (batch.length === 0 && !this.#syncer.pending && this.#waiters.size === 0) return
    this.#unsynced = []
    this.#inFlight = batch
    const sync = this.#syncer.start() as Promise<void>
    sync.then(() => {
      this.#inFlight = []
      // close() synced and settled this batch itself.
      if (this.#closed) return
      const log = this.#log as TopicLog
      // The batch, then what waited only for it (written after fsync left 'always').
      while (this.#unsynced[0]?.waitOnly === true) batch.push(this.#unsynced.shift() as Pending)
      for (const u of batch) {
        u.msg.segment.live++
        log.commit(u.msg)
        this.#syncedThrough = u.msg.seq
      }
      this.changed(log)
      for (const u of batch) u.resolve()
      this.#waiters.settle(this.#syncedThrough)
      if (this.#unsynced.length > 0 || this.#syncer.pending) this.#queueFlush()
    }, (err: unknown) => {
      this.#inFlight = []
      if (this.#closed) return
      const failed = this.#fail(err)
      for (const u of batch) u.reject(failed)
    })
  }

  /** The periodic sync of `fsync: <ms>`. */
  #arm(): void {
    this.#syncer.every(typeof this.#fsync === 'number' ? this.#fsync : null, () => this.#periodicSync())
  }

  #periodicSync(): void {
    if (this.#failed !== null || this.#syncer.running || this.#closed) return
    this.#flush()
    this.#syncer.start()?.catch((err: unknown) => this.#fail(err))
  }

  /** Rewrites (or deletes) one mostly dead sealed segment; more wait for the next flush (a failure leaves it). */
  #compactOne(): void {
    this.#compactDue = false
    const log = this.#log
    if (log === null) return
    const site = { io: this.#ctx.io, segments: this.#segments, syncer: this.#syncer, dir: this.#ctx.dir, log, journal: this.#journal }
    const more = compactNext({ ...site, failed: (err) => { if (!isNoSpace(err)) this.#ctx.onFailure(this.#name, err, false) } })
    if (more) { this.#compactDue = true; this.#queueFlush() }
  }

  #snapshot(): void {
    const log = this.#log
    if (log === null) return
    // The old journal's fd closes; the snapshot that replaces it is durable already.
    this.#syncer.drop(this.#journal.fd, false)
    try {
      this.#journal.snapshot(log.firstSeq, this.#ctx.groupsState(), (s) => this.#segments.all.some((seg) => seg.baseSeq <= s && seg.live < seg.records))
    } catch (err) {
      if (!isNoSpace(err)) this.#fail(err)
    }
  }

  // --- the engine's changes -----------------------------------------------------------------------------

  #record(entry: Parameters<Journal['add']>[0]): void {
    if (this.#failed !== null) throw this.#failed
    this.#journal.add(entry)
    this.#queueFlush()
  }

  reconfigured(config: ResolvedTopicConfig, through: number): void {
    if (this.#failed !== null) throw this.#failed
    // The journal's mark is the change (recovery takes the last one): where it fell among the messages, so a
    // replay applies the limits each message was stored under. Refused whole when it cannot be written.
    this.#configured(config, through)
    try {
      this.#ctx.io.replace(this.#ctx.configPath, configBytes(config))
    } catch (err) {
      this.#ctx.onFailure(this.#name, err, false)
    }
    this.#fsync = config.fsync ?? this.#ctx.defaultFsync
    this.#arm()
  }

  /** Journals the config in effect after message `through` and writes it now; nothing of it stays if that fails. */
  #configured(config: ResolvedTopicConfig, through: number): void {
    const undo = this.#journal.checkpoint()
    this.#journal.addMark({ s: through, c: config })
    try {
      if (this.#journal.flush()) this.#syncer.wrote(this.#journal.fd)
    } catch (err) {
      this.#journal.rollback(undo)
      throw isNoSpace(err) ? topicStoreError(TOPIC_ERROR.storageFull, `topic ${this.#name}: the disk is full`) : this.#fail(err)
    }
  }

  /** A new topic's first journal entry: its config from the first message on. */
  created(config: ResolvedTopicConfig): void { this.#configured(config, 0) }

  purged(filter: string | undefined, through: number): void {
    if (this.#failed !== null) throw this.#failed
    this.#journal.addMark(filter === undefined ? { s: through } : { f: filter, s: through })
    this.#queueFlush()
  }

  groupOpened(group: string, config: ResolvedGroupConfig, startSeq: number | null): void {
    this.#record(startSeq === null ? { k: 'g', g: group, c: config } : { k: 'g', g: group, c: config, s: startSeq })
  }

  groupDeleted(group: string): void { this.#record({ k: 'gd', g: group }) }

  delivered(group: string, seq: number): void { this.settled(group, seq, 'd') }

  settled(group: string, seq: number, how: Settled | 'd'): void {
    if (this.#failed === null) { this.#journal.addOp(how, group, seq); this.#queueFlush() }
  }

  changed(log: TopicLog): void {
    const first = log.firstSeq
    if (first <= this.#floor || this.#failed !== null) return
    // One floor entry per flush, however many messages the limits evicted meanwhile.
    this.#floor = first
    this.#floorDirty = true
    try {
      for (const fd of this.#segments.dropBelow(first)) this.#syncer.drop(fd, true)
    } catch (err) {
      this.#ctx.onFailure(this.#name, err)
    }
    this.#queueFlush()
  }

  // --- reporting and the end ----------------------------------------------------------------------------

  diskBytes(): number { return this.#segments.bytes + this.#journal.bytes }

  lost(): readonly SeqRange[] { return this.#lost }

  destroy(): void {
    this.close()
    // Renamed aside first: a crash while removing leaves a directory recovery removes, never half a topic.
    const aside = `${this.#ctx.dir}.deleted-${Date.now()}`
    this.#ctx.io.rename(this.#ctx.dir, aside)
    this.#ctx.io.remove(aside)
    // The rename made durable, in the background: a power cut before it brings the topic back, never half of it.
    this.#ctx.io.syncDir(dirname(this.#ctx.dir)).catch((err: unknown) => this.#ctx.onFailure(this.#name, err))
  }

  /** Releases the files of a topic whose recovery failed, writing nothing. */
  abandon(): void {
    this.#closed = true
    this.#syncer.every(null, () => {})
    this.#journal.close()
    this.#segments.closeAll()
  }

  /**
   * Stops: writes what is buffered and syncs every file at once (a clean shutdown loses nothing written, under
   * any fsync policy), then settles every confirm still waiting: resolved when that sync worked.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#syncer.every(null, () => {})
    let failure: SubwireError | null = this.#failed
    if (failure === null) failure = this.#write()
    const waiting = [...this.#inFlight, ...this.#unsynced]
    if (failure === null) {
      try {
        if (this.#floorDirty) this.#journal.add({ k: 'floor', s: this.#floor })
        this.#journal.flush()
        this.#syncer.now([...this.#segments.all.filter((seg) => seg.isOpen).map((seg) => seg.fd), this.#journal.fd])
      } catch (err) {
        failure = topicStoreError(TOPIC_ERROR.storageFailed, `topic ${this.#name}: the last sync at close failed: ${(err as Error).message}`)
        this.#ctx.onFailure(this.#name, err)
      }
    }
    for (const u of waiting) {
      if (failure === null) u.resolve()
      else u.reject(failure)
    }
    this.#waiters.end(failure)
    this.#unsynced = []
    this.#inFlight = []
    this.#log = null
    this.#journal.close()
    this.#segments.closeAll()
    this.#syncer.end()
  }
}
