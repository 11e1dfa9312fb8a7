/**
 * The engine of every local TopicStore: one TopicLog and its ConsumerGroups per topic, in memory, behind the
 * async-capable interface of `server/store/topic-store.ts`. Where a topic persists is its TopicDisk's business
 * (topic-disk.ts): none for memory topics, a directory of segment files for file topics. Every method answers
 * synchronously except appends that wait for a disk; every operation first applies age limits at the store's
 * clock, so what it answers is always within limits.
 */
import { ConsumerGroup } from './consumer-group.ts'
import { reopened, resolveGroupConfig, resolveTopicConfig, subjectsOverlap } from '../topic-config.ts'
import { TopicLog } from './topic-log.ts'
import { SETTLED, type Durable, type TopicDisk } from './topic-disk.ts'
import {
  STORAGE, TOPIC_ERROR, topicStoreError,
  type AppendInput, type AppendResult, type GroupConfig, type GroupInfo, type PullResult, type PurgeOptions,
  type ReadQuery, type ReadResult, type ResolvedTopicConfig, type StoredMessage, type TopicConfig, type TopicInfo,
  type TopicStore,
} from '../topic-store.ts'

/** Makes the disk side of topics of one storage kind (the file store's; more kinds can follow). */
export interface DiskProvider {
  readonly storage: string
  /** Creates the files of a new topic; `groups` is the topic's group table (its disk persists their state). @throws storage errors */
  create(config: ResolvedTopicConfig, log: TopicLog, groups: ReadonlyMap<string, ConsumerGroup>): TopicDisk
}

/** Options of an engine store. */
export interface EngineStoreOptions {
  /**
   * The clock (epoch ms) behind message times, age limits, dedup windows and ack deadlines; tests inject one so
   * nothing sleeps.
   * @default Date.now
   */
  readonly now?: () => number
  /**
   * Most `msgId`s one topic remembers for de-duplication, whatever its window.
   * @default 100000
   */
  readonly maxDuplicateIds?: number
  /** Where topics with another `storage` than 'memory' persist. @default none: only memory topics */
  readonly disks?: DiskProvider
  /** Storage of a topic whose config names none. @default 'memory' */
  readonly defaultStorage?: string
}

/** One topic: its index, its groups, and its disk (null in memory). */
export interface EngineTopic {
  readonly log: TopicLog
  readonly groups: Map<string, ConsumerGroup>
  readonly disk: TopicDisk | null
}

/**
 * Topics indexed in memory, each persisted by its disk (or not at all).
 * @example
 * const store = new EngineTopicStore()
 * store.create({ name: 'orders', subjects: ['orders.>'], maxMsgs: 10_000 })
 * const { seq } = await store.append('orders', { subject: 'orders.eu.1', payload: bytes })
 */
export class EngineTopicStore implements TopicStore {
  readonly #now: () => number
  readonly #maxDuplicateIds: number | undefined
  readonly #disks: DiskProvider | undefined
  readonly #defaultStorage: string
  readonly #topics = new Map<string, EngineTopic>()

  constructor(options: EngineStoreOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#maxDuplicateIds = options.maxDuplicateIds
    this.#disks = options.disks
    this.#defaultStorage = options.defaultStorage ?? STORAGE.memory
  }

  /** A new, empty log for `config` (recovery fills one before `adopt`). */
  newLog(config: ResolvedTopicConfig): TopicLog {
    return new TopicLog(config, this.#maxDuplicateIds === undefined ? {} : { maxDuplicateIds: this.#maxDuplicateIds })
  }

  /** Takes a topic a store recovered from its disk. @throws `topic_exists`, `topic_overlap` */
  adopt(topic: EngineTopic): void {
    const name = topic.log.config.name
    if (this.#topics.has(name)) throw topicStoreError(TOPIC_ERROR.topicExists, `topic ${name} exists already`)
    this.#checkOverlap(topic.log.config)
    this.#topics.set(name, topic)
    topic.log.expire(this.#now())
    topic.disk?.changed(topic.log)
  }

  /** The storage a config asks for, once this store can give it. @throws `bad_option` */
  #storageOf(config: ResolvedTopicConfig): string {
    const storage = config.storage ?? this.#defaultStorage
    if (storage === STORAGE.memory && config.fsync !== undefined) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `topic ${config.name}: fsync applies to storage: 'file' only`)
    if (storage !== STORAGE.memory && this.#disks?.storage !== storage) {
      throw topicStoreError('bad_option', `topic ${config.name}: storage '${storage}' needs the broker option dataDir (a directory for topic files)`)
    }
    return storage
  }

  // --- TopicAdmin ---------------------------------------------------------------------------------------

  create(config: TopicConfig): TopicInfo {
    const resolved = resolveTopicConfig(config)
    if (this.#topics.has(resolved.name)) throw topicStoreError(TOPIC_ERROR.topicExists, `topic ${resolved.name} exists already`)
    this.#checkOverlap(resolved)
    const storage = this.#storageOf(resolved)
    const log = this.newLog(resolved)
    const groups = new Map<string, ConsumerGroup>()
    const disk = storage === STORAGE.memory ? null : (this.#disks as DiskProvider).create(resolved, log, groups)
    const topic: EngineTopic = { log, groups, disk }
    this.#topics.set(resolved.name, topic)
    return this.#info(topic)
  }

  update(name: string, config: TopicConfig): TopicInfo {
    const topic = this.#topic(name)
    const resolved = resolveTopicConfig(config)
    if (resolved.name !== name) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `cannot rename topic ${name} to ${resolved.name}`)
    this.#checkOverlap(resolved)
    const storage = topic.disk?.storage ?? STORAGE.memory
    if ((resolved.storage ?? this.#defaultStorage) !== storage) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `topic ${name} is stored in ${storage}: its storage cannot change`)
    topic.disk?.reconfigured(resolved, topic.log.lastSeq)
    topic.log.reconfigure(resolved, this.#now())
    topic.disk?.changed(topic.log)
    return this.#info(topic)
  }

  delete(name: string): void {
    const topic = this.#topic(name)
    topic.disk?.destroy()
    this.#topics.delete(name)
  }

  info(name: string): TopicInfo {
    const topic = this.#topic(name)
    topic.log.expire(this.#now())
    return this.#info(topic)
  }

  list(): TopicInfo[] {
    const now = this.#now()
    const out: TopicInfo[] = []
    for (const topic of this.#topics.values()) {
      topic.log.expire(now)
      out.push(this.#info(topic))
    }
    return out
  }

  purge(name: string, options: PurgeOptions = {}): number {
    const { log, disk } = this.#topic(name)
    disk?.purged(options.subject, log.lastSeq)
    const purged = log.purge(options.subject)
    disk?.changed(log)
    return purged
  }

  /** O(topics · patterns): topics are few; the broker can index their patterns for its publish path. */
  topicFor(subject: string): string | null {
    for (const [name, topic] of this.#topics) if (topic.log.covers(subject)) return name
    return null
  }

  // --- TopicMessages ------------------------------------------------------------------------------------

  append(topic: string, input: AppendInput): AppendResult | Promise<AppendResult> {
    const r = this.appendNow(topic, input)
    if (!('durable' in r)) return r
    const { result, durable } = r
    return durable === null ? result : durable.then(() => result)
  }

  /**
   * Appends, answering at once where the message went: a memory topic's result (readable now), or a disk
   * topic's result with when it is durable. The broker routes a publish now and confirms it then; readers see
   * the message once `durable` resolves.
   * @throws as `append`
   */
  appendNow(topic: string, input: AppendInput): AppendResult | Durable {
    const { log, disk } = this.#topic(topic)
    if (disk === null) return log.append(input, this.#now())
    const p = log.prepare(input, this.#now())
    return 'duplicate' in p ? { result: p, durable: disk.durableThrough(p.seq) } : disk.append(log, p)
  }

  read(topic: string, query: ReadQuery): ReadResult {
    return this.#topic(topic).log.read(query, this.#now())
  }

  get(topic: string, seq: number): StoredMessage | null {
    const log = this.#topic(topic).log
    log.expire(this.#now())
    return log.get(seq)
  }

  last(topic: string, filter?: string): StoredMessage | null {
    const log = this.#topic(topic).log
    log.expire(this.#now())
    return log.last(filter)
  }

  lastPerSubject(topic: string, filter?: string): StoredMessage[] {
    const log = this.#topic(topic).log
    log.expire(this.#now())
    return log.lastPerSubject(filter)
  }

  sweep(): void {
    const now = this.#now()
    for (const topic of this.#topics.values()) {
      topic.log.expire(now)
      topic.disk?.changed(topic.log)
    }
  }

  // --- ConsumerGroups -----------------------------------------------------------------------------------

  openGroup(topic: string, group: string, config?: GroupConfig): GroupInfo {
    const t = this.#topic(topic)
    const existing = t.groups.get(group)
    const resolved = resolveGroupConfig(group, existing === undefined ? config : reopened(existing.config, config))
    if (existing !== undefined) {
      if (existing.config.filter !== resolved.filter) {
        throw topicStoreError(TOPIC_ERROR.badGroupConfig, `group ${group} consumes ${existing.config.filter}, not ${resolved.filter}`)
      }
      t.disk?.groupOpened(group, resolved, null)
      existing.reconfigure(resolved)
      return existing.info()
    }
    t.log.expire(this.#now())
    // A new group starts at the backlog: messages stored before its first member joined are its work too.
    const startSeq = config?.startSeq ?? t.log.firstSeq
    t.disk?.groupOpened(group, resolved, startSeq)
    const created = new ConsumerGroup(group, resolved, t.log, startSeq)
    t.groups.set(group, created)
    return created.info()
  }

  deleteGroup(topic: string, group: string): void {
    const t = this.#topic(topic)
    this.#group(t, topic, group)
    t.disk?.groupDeleted(group)
    t.groups.delete(group)
  }

  groupInfo(topic: string, group: string): GroupInfo {
    return this.#groupOf(topic, group).info()
  }

  join(topic: string, group: string, member: string): void {
    this.#groupOf(topic, group).join(member)
  }

  leave(topic: string, group: string, member: string): void {
    const now = this.#now()
    this.#groupAt(topic, group, now).g.leave(member, now)
  }

  pull(topic: string, group: string): PullResult {
    const now = this.#now()
    const { t, g } = this.#groupAt(topic, group, now)
    const result = g.pull(now)
    const disk = t.disk
    if (disk !== null) {
      // What the group did, in the order it did it, so a restart finds the same progress.
      for (const dl of result.deadLetters) disk.settled(group, dl.message.seq, SETTLED.deadLettered)
      for (const seq of result.dropped) disk.settled(group, seq, SETTLED.dropped)
      for (const d of result.deliveries) disk.delivered(group, d.message.seq)
    }
    return result
  }

  ack(topic: string, group: string, seq: number, member?: string): boolean {
    const t = this.#topic(topic)
    const acked = this.#group(t, topic, group).ack(seq, member)
    if (acked) t.disk?.settled(group, seq, SETTLED.acked)
    return acked
  }

  nak(topic: string, group: string, seq: number, member: string, delayMs?: number): boolean {
    const now = this.#now()
    return this.#groupAt(topic, group, now).g.nak(seq, member, now, delayMs)
  }

  working(topic: string, group: string, seq: number, member: string): boolean {
    const now = this.#now()
    return this.#groupAt(topic, group, now).g.working(seq, member, now)
  }

  term(topic: string, group: string, seq: number, member?: string): boolean {
    const t = this.#topic(topic)
    const termed = this.#group(t, topic, group).term(seq, member)
    if (termed) t.disk?.settled(group, seq, SETTLED.terminated)
    return termed
  }

  nextDeadline(topic: string, group: string): number | null {
    return this.#groupOf(topic, group).nextDeadline()
  }

  close(): void {
    for (const topic of this.#topics.values()) topic.disk?.close()
    this.#topics.clear()
  }

  // ------------------------------------------------------------------------------------------------------

  #topic(name: string): EngineTopic {
    const topic = this.#topics.get(name)
    if (topic === undefined) throw topicStoreError(TOPIC_ERROR.noTopic, `no topic ${JSON.stringify(name)}`)
    return topic
  }

  #group(t: EngineTopic, topic: string, group: string): ConsumerGroup {
    const g = t.groups.get(group)
    if (g === undefined) throw topicStoreError(TOPIC_ERROR.noGroup, `no group ${JSON.stringify(group)} on topic ${topic}`)
    return g
  }

  #groupOf(topic: string, group: string): ConsumerGroup {
    return this.#group(this.#topic(topic), topic, group)
  }

  /** The group, after applying age limits to its log at `now`, so nothing expired is delivered or dead-lettered. */
  #groupAt(topic: string, group: string, now: number): { t: EngineTopic; g: ConsumerGroup } {
    const t = this.#topic(topic)
    const g = this.#group(t, topic, group)
    t.log.expire(now)
    return { t, g }
  }

  #checkOverlap(config: ResolvedTopicConfig): void {
    for (const [name, other] of this.#topics) {
      if (name === config.name) continue
      const pair = subjectsOverlap(config.subjects, other.log.config.subjects)
      if (pair !== null) {
        throw topicStoreError(TOPIC_ERROR.topicOverlap, `topic ${config.name} (${pair[0]}) overlaps topic ${name} (${pair[1]})`)
      }
    }
  }

  #info(topic: EngineTopic): TopicInfo {
    const log = topic.log
    const consumers: GroupInfo[] = []
    for (const g of topic.groups.values()) consumers.push(g.info())
    return {
      name: log.config.name,
      messages: log.messages,
      bytes: log.bytes,
      firstSeq: log.firstSeq,
      lastSeq: log.lastSeq,
      firstTime: log.firstTime,
      lastTime: log.lastTime,
      config: log.config,
      consumers,
      storage: topic.disk?.storage ?? STORAGE.memory,
      diskBytes: topic.disk?.diskBytes() ?? 0,
      lost: topic.disk === null ? [] : [...topic.disk.lost()],
    }
  }
}
