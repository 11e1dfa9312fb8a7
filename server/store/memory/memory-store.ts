/**
 * The in-memory TopicStore: one TopicLog and its ConsumerGroups per topic, behind the async-capable
 * interface of `server/store/topic-store.ts`. Every method answers synchronously (a MaybePromise may be a value);
 * every operation first applies age limits at the store's clock, so what it answers is always within limits.
 */
import { ConsumerGroup } from './consumer-group.ts'
import { reopened, resolveGroupConfig, resolveTopicConfig, subjectsOverlap } from '../topic-config.ts'
import { TopicLog } from './topic-log.ts'
import {
  TOPIC_ERROR, topicStoreError,
  type AppendInput, type AppendResult, type GroupConfig, type GroupInfo, type PullResult, type PurgeOptions,
  type ReadQuery, type ReadResult, type ResolvedTopicConfig, type StoredMessage, type TopicConfig, type TopicInfo,
  type TopicStore,
} from '../topic-store.ts'

/** Options of the in-memory store. */
export interface MemoryTopicStoreOptions {
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
}

interface Topic {
  readonly log: TopicLog
  readonly groups: Map<string, ConsumerGroup>
}

/**
 * Topics held in memory: fast, and gone when the process ends.
 * @example
 * const store = new MemoryTopicStore()
 * store.create({ name: 'orders', subjects: ['orders.>'], maxMsgs: 10_000 })
 * const { seq } = await store.append('orders', { subject: 'orders.eu.1', payload: bytes })
 */
export class MemoryTopicStore implements TopicStore {
  readonly #now: () => number
  readonly #maxDuplicateIds: number | undefined
  readonly #topics = new Map<string, Topic>()

  constructor(options: MemoryTopicStoreOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#maxDuplicateIds = options.maxDuplicateIds
  }

  // --- TopicAdmin ---------------------------------------------------------------------------------------

  create(config: TopicConfig): TopicInfo {
    const resolved = resolveTopicConfig(config)
    if (this.#topics.has(resolved.name)) throw topicStoreError(TOPIC_ERROR.topicExists, `topic ${resolved.name} exists already`)
    this.#checkOverlap(resolved)
    const log = new TopicLog(resolved, this.#maxDuplicateIds === undefined ? {} : { maxDuplicateIds: this.#maxDuplicateIds })
    const topic: Topic = { log, groups: new Map() }
    this.#topics.set(resolved.name, topic)
    return this.#info(topic)
  }

  update(name: string, config: TopicConfig): TopicInfo {
    const topic = this.#topic(name)
    const resolved = resolveTopicConfig(config)
    if (resolved.name !== name) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `cannot rename topic ${name} to ${resolved.name}`)
    this.#checkOverlap(resolved)
    topic.log.reconfigure(resolved, this.#now())
    return this.#info(topic)
  }

  delete(name: string): void {
    this.#topic(name)
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
    return this.#topic(name).log.purge(options.subject)
  }

  /** O(topics · patterns): topics are few; the broker can index their patterns for its publish path. */
  topicFor(subject: string): string | null {
    for (const [name, topic] of this.#topics) if (topic.log.covers(subject)) return name
    return null
  }

  // --- TopicMessages ------------------------------------------------------------------------------------

  append(topic: string, input: AppendInput): AppendResult {
    return this.#topic(topic).log.append(input, this.#now())
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
    for (const topic of this.#topics.values()) topic.log.expire(now)
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
      existing.reconfigure(resolved)
      return existing.info()
    }
    t.log.expire(this.#now())
    // A new group starts at the backlog: messages stored before its first member joined are its work too.
    const created = new ConsumerGroup(group, resolved, t.log, config?.startSeq ?? t.log.firstSeq)
    t.groups.set(group, created)
    return created.info()
  }

  deleteGroup(topic: string, group: string): void {
    const t = this.#topic(topic)
    this.#group(t, topic, group)
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
    this.#groupAt(topic, group, now).leave(member, now)
  }

  pull(topic: string, group: string): PullResult {
    const now = this.#now()
    return this.#groupAt(topic, group, now).pull(now)
  }

  ack(topic: string, group: string, seq: number, member?: string): boolean {
    return this.#groupOf(topic, group).ack(seq, member)
  }

  nak(topic: string, group: string, seq: number, member: string, delayMs?: number): boolean {
    const now = this.#now()
    return this.#groupAt(topic, group, now).nak(seq, member, now, delayMs)
  }

  working(topic: string, group: string, seq: number, member: string): boolean {
    const now = this.#now()
    return this.#groupAt(topic, group, now).working(seq, member, now)
  }

  term(topic: string, group: string, seq: number, member?: string): boolean {
    return this.#groupOf(topic, group).term(seq, member)
  }

  nextDeadline(topic: string, group: string): number | null {
    return this.#groupOf(topic, group).nextDeadline()
  }

  close(): void {
    this.#topics.clear()
  }

  // ------------------------------------------------------------------------------------------------------

  #topic(name: string): Topic {
    const topic = this.#topics.get(name)
    if (topic === undefined) throw topicStoreError(TOPIC_ERROR.noTopic, `no topic ${JSON.stringify(name)}`)
    return topic
  }

  #group(t: Topic, topic: string, group: string): ConsumerGroup {
    const g = t.groups.get(group)
    if (g === undefined) throw topicStoreError(TOPIC_ERROR.noGroup, `no group ${JSON.stringify(group)} on topic ${topic}`)
    return g
  }

  #groupOf(topic: string, group: string): ConsumerGroup {
    return this.#group(this.#topic(topic), topic, group)
  }

  /** The group, after applying age limits to its log at `now`, so nothing expired is delivered or dead-lettered. */
  #groupAt(topic: string, group: string, now: number): ConsumerGroup {
    const t = this.#topic(topic)
    const g = this.#group(t, topic, group)
    t.log.expire(now)
    return g
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

  #info(topic: Topic): TopicInfo {
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
    }
  }
}
