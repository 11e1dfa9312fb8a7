/**
 * The file store: topics with `storage: 'file'` kept under a data directory, one directory per topic:
 *
 *   <dataDir>/topics/<name>/topic.json                   its config (replaced atomically on update)
 *   <dataDir>/topics/<name>/state.log                    the journal: purges, eviction floor, consumer groups
 *   <dataDir>/topics/<name>/00000000000000000001.seg     segments of CRC32C-framed message records
 *
 * `openFileStore` reopens every topic found there (recovery.ts) into an engine store (server/store/engine/),
 * which also holds the broker's memory topics; `FileDisks` creates the files of topics made at run time.
 * A deleted topic's directory is renamed aside first, so a crash in the middle of deleting it never leaves
 * half a topic to reopen.
 */
import { dirname, join } from 'node:path'
import { EngineTopicStore, type DiskProvider } from '../engine/engine-store.ts'
import type { ConsumerGroup } from '../engine/consumer-group.ts'
import type { TopicLog } from '../engine/topic-log.ts'
import { resolveTopicConfig } from '../topic-config.ts'
import { STORAGE, TOPIC_ERROR, topicStoreError, type FsyncPolicy, type ResolvedTopicConfig, type SeqRange } from '../topic-store.ts'
import { isNoSpace, nodeDiskIo, type DiskIo } from './disk-io.ts'
import { FileTopic } from './file-topic.ts'
import { configBytes, type FileTopicContext } from './topic-context.ts'
import { Journal, replayJournal } from './journal.ts'
import { recoverGroups, recoverTopic, type RecoveryReport } from './recovery.ts'
import { SegmentFiles } from './segments.ts'

/** Tuning of the file store (README "Durable topics"). */
export interface FileStoreTuning {
  /** The file system. @default node:fs */
  readonly io?: DiskIo
  /** A segment is sealed past this size. @default 16 MiB (maxBytes / 4 for smaller topics, at least 64 KiB) */
  readonly segmentBytes?: number
  /** Payload bytes of recent messages each file topic keeps in memory. @default 4 MiB */
  readonly cacheBytes?: number
}

/** Where the store reports what it found and what failed. */
export interface StoreLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** Options of the file store. */
export interface FileStoreOptions {
  /** The directory holding every file topic (created when the first one is). */
  readonly dataDir: string
  /** The file system; tests pass a fault layer. @default node:fs */
  readonly io?: DiskIo
  /** A segment is sealed past this size. @default 16 MiB, or maxBytes / 4 for a smaller topic (at least 64 KiB) */
  readonly segmentBytes?: number
  /** Payload bytes of recently written or read messages each topic keeps in memory. @default 4 MiB */
  readonly cacheBytes?: number
  readonly log?: StoreLog
  /** @default Date.now */
  readonly now?: () => number
  /** Most `msgId`s a topic remembers. @default 100000 */
  readonly maxDuplicateIds?: number
  /** Storage of topics whose config names none. @default 'memory' */
  readonly defaultStorage?: string
  /** fsync of file topics whose config names none. @default 'always' */
  readonly defaultFsync?: FsyncPolicy
}

const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
const MIN_SEGMENT_BYTES = 64 * 1024
const SILENT: StoreLog = { info: () => {}, warn: () => {}, error: () => {} }

/** A topic's directory name: its name, escaped (topic names are one subject token, never `.`-containing). */
function dirName(topic: string): string {
  return encodeURIComponent(topic)
}

/** Makes and reopens the files of file topics. */
export class FileDisks implements DiskProvider {
  readonly storage = STORAGE.file
  readonly #io: DiskIo
  readonly #root: string
  readonly #options: FileStoreOptions
  readonly #log: StoreLog

  constructor(options: FileStoreOptions) {
    this.#options = options
    this.#io = options.io ?? nodeDiskIo
    this.#root = join(options.dataDir, 'topics')
    this.#log = options.log ?? SILENT
  }

  #segmentBytes(config: ResolvedTopicConfig): number {
    if (this.#options.segmentBytes !== undefined) return this.#options.segmentBytes
    return config.maxBytes === undefined ? DEFAULT_SEGMENT_BYTES : Math.min(DEFAULT_SEGMENT_BYTES, Math.max(MIN_SEGMENT_BYTES, Math.floor(config.maxBytes / 4)))
  }

  #context(config: ResolvedTopicConfig, groups: ReadonlyMap<string, ConsumerGroup>): FileTopicContext {
    const dir = join(this.#root, dirName(config.name))
    return {
      io: this.#io,
      dir,
      configPath: join(dir, 'topic.json'),
      segmentBytes: this.#segmentBytes(config),
      defaultFsync: this.#options.defaultFsync ?? 'always',
      cacheBytes: this.#options.cacheBytes ?? 4 * 1024 * 1024,
      newDirs: [],
      onFailure: (topic, err, fatal = true) => {
        if (fatal) this.#log.error({ topic, err }, 'file topic storage failed: the topic is read-only until the broker restarts')
        else this.#log.warn({ topic, err }, 'file topic: a background write failed (retried later; the topic goes on)')
      },
      groupsState: () => {
        const out: ReturnType<FileTopicContext['groupsState']> = {}
        for (const [name, g] of groups) out[name] = { config: g.config, state: g.state() }
        return out
      },
    }
  }

  create(config: ResolvedTopicConfig, log: TopicLog, groups: ReadonlyMap<string, ConsumerGroup>): FileTopic {
    const ctx = this.#context(config, groups)
    const io = this.#io
    try {
      // Leftovers of a topic of this name deleted before (or half-created) go first.
      io.remove(ctx.dir)
      // Every directory made here (the data directory too, on the first file topic) has its entry in a parent.
      for (let d = ctx.dir; !io.exists(d) && dirname(d) !== d; d = dirname(d)) ctx.newDirs.push(dirname(d))
      ctx.newDirs.push(ctx.dir)
      io.mkdirp(ctx.dir)
      const journal = new Journal(io, join(ctx.dir, 'state.log'))
      // topic.json last: a directory without one is a topic whose creation never finished.
      io.replace(ctx.configPath, configBytes(config))
      const topic = new FileTopic(ctx, config, new SegmentFiles(io, ctx.dir), journal, { lost: [], floor: 1 })
      topic.created(config)
      topic.attach(log)
      return topic
    } catch (err) {
      try { io.remove(ctx.dir) } catch { /* nothing more to undo */ }
      if (isNoSpace(err)) throw topicStoreError(TOPIC_ERROR.storageFull, `topic ${config.name}: the disk is full`)
      throw topicStoreError(TOPIC_ERROR.storageFailed, `topic ${config.name}: cannot create its files in ${ctx.dir}: ${(err as Error).message}`)
    }
  }

  /** Reopens every file topic under the data directory into `engine`. */
  recover(engine: EngineTopicStore, now: number): RecoveryReport[] {
    const io = this.#io
    const reports: RecoveryReport[] = []
    for (const entry of io.list(this.#root)) {
      const dir = join(this.#root, entry)
      if (entry.endsWith('.tmp') || entry.includes('.deleted')) { io.remove(dir); continue }
      if (entry.includes('.unreadable-')) { this.#log.error({ dir }, 'a file topic set aside as unreadable at an earlier start is still on disk'); continue }
      const configPath = join(dir, 'topic.json')
      if (!io.exists(configPath)) {
        this.#log.warn({ dir }, 'a topic directory without topic.json (its creation never finished) was removed')
        io.remove(dir)
        continue
      }
      let config: ResolvedTopicConfig
      try {
        const parsed = JSON.parse(new TextDecoder().decode(io.readFile(configPath))) as { config: ResolvedTopicConfig }
        config = resolveTopicConfig(parsed.config)
        if (dirName(config.name) !== entry) throw new Error(`it names topic ${JSON.stringify(config.name)}, not the one of its directory`)
      } catch (err) {
        this.#setAside(dir, err, 'its topic.json is unreadable')
        continue
      }
      try {
        reports.push(this.#recoverOne(engine, config, now))
      } catch (err) {
        // One damaged topic must not keep the broker, and every other topic, from starting.
        this.#setAside(dir, err, 'it could not be reopened')
      }
    }
    return reports
  }

  /**
   * Moves a topic directory that cannot be opened out of the way, kept for inspection: a topic of the same name
   * created later starts empty beside it instead of deleting what it held.
   */
  #setAside(dir: string, err: unknown, why: string): void {
    const aside = `${dir}.unreadable-${Date.now()}`
    try {
      this.#io.rename(dir, aside)
      this.#log.error({ dir: aside, err }, `CORRUPTION: a file topic is not opened: ${why}; its files are kept in ${aside}`)
    } catch (renameErr) {
      this.#log.error({ dir, err, renameErr }, `CORRUPTION: a file topic is not opened: ${why}; it could not be set aside`)
    }
  }

  #recoverOne(engine: EngineTopicStore, declared: ResolvedTopicConfig, now: number): RecoveryReport {
    let config = declared
    const io = this.#io
    const started = performance.now()
    const groups = new Map<string, ConsumerGroup>()
    const ctx = this.#context(config, groups)
    const journalPath = join(ctx.dir, 'state.log')
    const replayed = replayJournal(io.exists(journalPath) ? io.readFile(journalPath) : new Uint8Array(0))
    if (replayed.tornBytes > 0) this.#log.warn({ topic: config.name, bytes: replayed.tornBytes }, 'the journal had a torn last entry: cut off (acks in it may be redelivered)')
    const journal = new Journal(io, journalPath, replayed.validBytes, replayed.marks, replayed.covers, replayed.seals)
    // The journal's last config change is the topic's config (topic.json may lag it after a failed write).
    const lastChange = [...replayed.marks].reverse().find((m) => m.c !== undefined)
    if (lastChange?.c !== undefined) {
      try { config = resolveTopicConfig(lastChange.c) } catch { /* a mark the store never wrote: topic.json's stands */ }
    }
    const segments = new SegmentFiles(io, ctx.dir)
    const lost: SeqRange[] = []
    const topic = new FileTopic(ctx, config, segments, journal, { lost, floor: replayed.floor })
    const log = engine.newLog(config)
    let report: RecoveryReport
    try {
      report = recoverTopic(io, ctx.dir, log, segments, topic.reader, replayed, lost, now, (config.fsync ?? ctx.defaultFsync) === 'always')
      for (const [name, g] of recoverGroups(replayed, log)) groups.set(name, g)
      topic.attach(log)
      engine.adopt({ log, groups, disk: topic })
    } catch (err) {
      topic.abandon()
      throw err
    }
    const fields = { topic: config.name, messages: report.messages, segments: report.segments, ms: Math.round(performance.now() - started) }
    if (report.tornBytes > 0) this.#log.warn({ ...fields, bytes: report.tornBytes }, 'a file topic had a torn last write (never confirmed): cut off')
    if (report.lost.length > 0) this.#log.error({ ...fields, lost: report.lost }, 'CORRUPTION: a file topic has unreadable records; their sequences are reported in lost and to readers as gaps')
    else this.#log.info(fields, 'file topic reopened')
    return report
  }
}

/**
 * A store for the broker: memory topics, and file topics under `dataDir` (reopened now) when it is given.
 * @example const store = openTopicStore({ dataDir: './data' })
 */
export function openTopicStore(options: Omit<FileStoreOptions, 'dataDir'> & { readonly dataDir?: string }): { store: EngineTopicStore; reports: RecoveryReport[] } {
  const common = { now: options.now, maxDuplicateIds: options.maxDuplicateIds, defaultStorage: options.defaultStorage }
  if (options.dataDir === undefined) return { store: new EngineTopicStore(common), reports: [] }
  const disks = new FileDisks({ ...options, dataDir: options.dataDir })
  const store = new EngineTopicStore({ ...common, disks })
  const reports = disks.recover(store, (options.now ?? Date.now)())
  return { store, reports }
}
