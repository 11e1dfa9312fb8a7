/**
 * The Redis TopicStore (`storage: 'redis'`): topics shared by every broker node on one Redis. Each topic is a
 * Redis stream (entry ID `<seq>-0`) with its indexes and consumer groups beside it (keys.ts), and every
 * operation that changes anything is one Lua script, so nodes never see half an append or diverge. It keeps the
 * engine's semantics exactly (the one contract suite checks both) and takes time from the caller's clock.
 *
 * Beyond the interface, for the cluster: `pull` for one node's members (`memberPrefix`), `leaveMembers` when a
 * node dies, and `onAppended` to wake replay cursors on every node. When Redis is unreachable every method
 * rejects at once (or within `commandTimeoutMs`) with `unavailable`.
 *
 * @example
 * const store = new RedisTopicStore({ redis: 'redis://127.0.0.1:6379', prefix: 'subwire:eu:' })
 * await store.create({ name: 'orders', subjects: ['orders.>'], maxMsgs: 10_000 })
 * const { seq } = await store.append('orders', { subject: 'orders.eu.1', payload })
 */
import type { Redis } from 'ioredis'
import { SubwireError } from '../../../shared/errors.ts'
import { subjectMatches } from '../../../shared/subject.ts'
import { resolveTopicConfig, subjectsOverlap } from '../topic-config.ts'
import {
  STORAGE, TOPIC_ERROR, topicStoreError,
  type AppendInput, type AppendResult, type GroupConfig, type GroupInfo, type PullResult, type PurgeOptions,
  type ReadQuery, type ReadResult, type ResolvedTopicConfig, type StoredMessage, type TopicConfig, type TopicInfo,
  type TopicStore,
} from '../topic-store.ts'
import { asArray, asString, decodeTopicInfo, parseTopicConfig } from './codec.ts'
import { REGISTRY_VERSION_FIELD, appendedChannel, metaKey, registryKey } from './keys.ts'
import { RedisGroups, type GroupContext, type RedisPullResult } from './redis-groups.ts'
import { RedisLink, type RedisArg, type Reply } from './redis-link.ts'
import { RedisLog } from './redis-log.ts'
import { AppendWatch, type AppendedListener } from './append-watch.ts'
import { SCRIPT, SCRIPTS } from './scripts.ts'

export type { AppendedListener } from './append-watch.ts'
export type { RedisPullResult } from './redis-groups.ts'

/** Options of a Redis topic store. */
export interface RedisTopicStoreOptions {
  /**
   * A `redis://` or `rediss://` URL (the store opens and closes its own connections), several URLs of the same
   * Redis (tried in turn at each reconnect), or an ioredis client (used as it is, left open).
   */
  readonly redis: string | readonly string[] | Redis
  /** Start of every key and channel name. @default 'subwire:default:' */
  readonly prefix?: string
  /** The clock (epoch ms) behind message times, age limits, dedup windows and deadlines. @default Date.now */
  readonly now?: () => number
  /** Most msgIds one topic remembers, whatever its window. @default 100000 */
  readonly maxDuplicateIds?: number
  /** Longest wait for one Redis command before it fails `unavailable`. @default 2000 */
  readonly commandTimeoutMs?: number
}

/** Default key prefix: what a cluster named 'default' would use. */
export const DEFAULT_REDIS_PREFIX = 'subwire:default:'

/** Tries of a create or update that other nodes' registry changes keep invalidating. */
const REGISTRY_ATTEMPTS = 8

interface Registry {
  readonly version: string
  readonly topics: ReadonlyMap<string, ResolvedTopicConfig>
}

export class RedisTopicStore implements TopicStore {
  readonly #prefix: string
  readonly #now: () => number
  readonly #link: Promise<RedisLink>
  /** The link once open: calls then go out synchronously, in call order. */
  #opened: RedisLink | null = null
  readonly #log: RedisLog
  readonly #groups: RedisGroups
  readonly #watch: AppendWatch
  /** Parsed configs by their JSON, so a topicFor on the publish path does not parse the registry each time. */
  readonly #configs = new Map<string, ResolvedTopicConfig>()
  #closed = false

  /** @throws `bad_option` for a prefix, timeout or msgId cap out of range */
  constructor(options: RedisTopicStoreOptions) {
    this.#prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    this.#now = options.now ?? Date.now
    const commandTimeoutMs = options.commandTimeoutMs ?? 2000
    if (typeof this.#prefix !== 'string') throw new SubwireError('bad_option', 'prefix must be a string')
    if (!Number.isSafeInteger(commandTimeoutMs) || commandTimeoutMs < 1) throw new SubwireError('bad_option', 'commandTimeoutMs must be a positive integer')
    if (options.maxDuplicateIds !== undefined && !(Number.isSafeInteger(options.maxDuplicateIds) && options.maxDuplicateIds > 0)) {
      throw new SubwireError('bad_option', 'maxDuplicateIds must be a positive integer')
    }
    if (Array.isArray(options.redis) && options.redis.length === 0) throw new SubwireError('bad_option', 'redis needs at least one URL')
    this.#link = RedisLink.open({ redis: options.redis, commandTimeoutMs }, SCRIPTS)
    // A failed import or a bad URL surfaces as every call's rejection, never as an unhandled one.
    this.#link.then((link) => { this.#opened = link }, () => {})
    const context: GroupContext & { maxDuplicateIds: number; channel: string } = {
      prefix: this.#prefix,
      now: () => this.#now(),
      link: () => this.#linked(),
      run: (script, topic, args) => {
        // Appends, acks and terms still waiting for their batch go first: Redis sees calls in call order.
        this.#flush(topic)
        return this.#run(script, [metaKey(this.#prefix, topic)], args)
      },
      runBatch: (script, topic, args) => this.#run(script, [metaKey(this.#prefix, topic)], args),
      mustExist: (topic) => this.#mustExist(topic),
      maxDuplicateIds: options.maxDuplicateIds ?? 100_000,
      channel: appendedChannel(this.#prefix),
    }
    this.#log = new RedisLog(context)
    this.#groups = new RedisGroups(context)
    this.#watch = new AppendWatch(() => this.#linked(), appendedChannel(this.#prefix))
  }

  // --- TopicAdmin ---------------------------------------------------------------------------------------

  async create(config: TopicConfig): Promise<TopicInfo> {
    const resolved = this.#checkStorage(resolveTopicConfig(config))
    const json = JSON.stringify(resolved)
    for (let attempt = 0; attempt < REGISTRY_ATTEMPTS; attempt++) {
      const registry = await this.#registry()
      if (registry.topics.has(resolved.name)) throw topicStoreError(TOPIC_ERROR.topicExists, `topic ${resolved.name} exists already`)
      this.#checkOverlap(resolved, registry)
      const r = await this.#admin(SCRIPT.create, resolved.name, [resolved.name, json, registry.version])
      if (r !== null) return r
    }
    throw new SubwireError('unavailable', `the topic registry kept changing while topic ${resolved.name} was created`)
  }

  async update(name: string, config: TopicConfig): Promise<TopicInfo> {
    for (let attempt = 0; attempt < REGISTRY_ATTEMPTS; attempt++) {
      const registry = await this.#registry()
      if (!registry.topics.has(name)) throw topicStoreError(TOPIC_ERROR.noTopic, `no topic ${JSON.stringify(name)}`)
      const resolved = resolveTopicConfig(config)
      if (resolved.name !== name) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `cannot rename topic ${name} to ${resolved.name}`)
      this.#checkOverlap(resolved, registry)
      if ((resolved.storage ?? STORAGE.redis) !== STORAGE.redis) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `topic ${name} is stored in redis: its storage cannot change`)
      this.#checkStorage(resolved)
      const r = await this.#admin(SCRIPT.update, name, [name, JSON.stringify(resolved), registry.version, this.#now()])
      if (r !== null) return r
    }
    throw new SubwireError('unavailable', `the topic registry kept changing while topic ${name} was updated`)
  }

  async delete(name: string): Promise<void> {
    this.#flush(name)
    await this.#run(SCRIPT.delete, [metaKey(this.#prefix, name), registryKey(this.#prefix)], [name])
  }

  async info(name: string): Promise<TopicInfo> {
    this.#flush(name)
    const [state, consumers] = asArray(await this.#run(SCRIPT.info, [metaKey(this.#prefix, name)], [this.#now(), '0']), 'info')
    return decodeTopicInfo(state, consumers)
  }

  async list(): Promise<TopicInfo[]> {
    const names = [...(await this.#registry()).topics.keys()]
    const infos = await Promise.all(names.map((name) => this.#unlessGone(() => this.info(name))))
    return infos.filter((info): info is TopicInfo => info !== null)
  }

  purge(name: string, options: PurgeOptions = {}): Promise<number> {
    return this.#log.purge(name, options.subject)
  }

  /** O(topics · patterns), one HGETALL: topics are few; the broker can index their patterns for its publish path. */
  async topicFor(subject: string): Promise<string | null> {
    for (const [name, config] of (await this.#registry()).topics) {
      for (const pattern of config.subjects) if (subjectMatches(pattern, subject)) return name
    }
    return null
  }

  // --- TopicMessages ------------------------------------------------------------------------------------

  append(topic: string, input: AppendInput): Promise<AppendResult> {
    return this.#log.append(topic, input)
  }

  read(topic: string, query: ReadQuery): Promise<ReadResult> {
    return this.#log.read(topic, query)
  }

  get(topic: string, seq: number): Promise<StoredMessage | null> {
    return this.#log.get(topic, seq)
  }

  last(topic: string, filter?: string): Promise<StoredMessage | null> {
    return this.#log.last(topic, filter)
  }

  lastPerSubject(topic: string, filter?: string): Promise<StoredMessage[]> {
    return this.#log.lastPerSubject(topic, filter)
  }

  async sweep(): Promise<void> {
    const names = [...(await this.#registry()).topics.keys()]
    const now = this.#now()
    await Promise.all(names.map((name) => this.#unlessGone(() => this.#run(SCRIPT.info, [metaKey(this.#prefix, name)], [now, '1']))))
  }

  // --- ConsumerGroups -----------------------------------------------------------------------------------

  openGroup(topic: string, group: string, config?: GroupConfig): Promise<GroupInfo> {
    return this.#groups.openGroup(topic, group, config)
  }

  deleteGroup(topic: string, group: string): Promise<void> {
    return this.#groups.deleteGroup(topic, group)
  }

  groupInfo(topic: string, group: string): Promise<GroupInfo> {
    return this.#groups.groupInfo(topic, group)
  }

  join(topic: string, group: string, member: string): Promise<void> {
    return this.#groups.join(topic, group, member)
  }

  leave(topic: string, group: string, member: string): Promise<void> {
    return this.#groups.leave(topic, group, member)
  }

  /**
   * As TopicStore's pull; with `memberPrefix`, only members whose name starts with it get deliveries (a node
   * pulls for its own members, named `<nodeId>/...`). Redeliveries and dead letters are the group's, whoever pulls.
   * The result also says when the group next has something to do by the clock (`nextDeadline`).
   */
  pull(topic: string, group: string, memberPrefix?: string): Promise<RedisPullResult> {
    return this.#groups.pull(topic, group, memberPrefix)
  }

  ack(topic: string, group: string, seq: number, member?: string): Promise<boolean> {
    return this.#groups.ack(topic, group, seq, member)
  }

  nak(topic: string, group: string, seq: number, member: string, delayMs?: number): Promise<boolean> {
    return this.#groups.nak(topic, group, seq, member, delayMs)
  }

  working(topic: string, group: string, seq: number, member: string): Promise<boolean> {
    return this.#groups.working(topic, group, seq, member)
  }

  term(topic: string, group: string, seq: number, member?: string): Promise<boolean> {
    return this.#groups.term(topic, group, seq, member)
  }

  nextDeadline(topic: string, group: string): Promise<number | null> {
    return this.#groups.nextDeadline(topic, group)
  }

  // --- Cluster extensions -------------------------------------------------------------------------------

  /**
   * Every member of every group of every topic whose name starts with `prefix` leaves (a dead node's members):
   * what they held is redeliverable at once. Answers how many members left.
   * @example await store.leaveMembers(`${deadNodeId}/`)
   */
  async leaveMembers(prefix: string): Promise<number> {
    const names = [...(await this.#registry()).topics.keys()]
    const counts = await Promise.all(names.map((name) => this.#unlessGone(() => this.#groups.leaveMembers(name, prefix))))
    return counts.reduce<number>((sum, n) => sum + (n ?? 0), 0)
  }

  /**
   * Calls `listener(topic, lastSeq)` after each append by any node on this Redis (published from the append's
   * script); the subscriber connection opens with the first listener. Returns the unsubscribe function.
   */
  onAppended(listener: AppendedListener): () => void {
    return this.#watch.add(listener)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#watch.close()
    try {
      await (await this.#link).close()
    } catch {
      // It never opened: nothing to close.
    }
  }

  // ------------------------------------------------------------------------------------------------------

  async #linked(): Promise<RedisLink> {
    if (this.#closed) throw new SubwireError('unavailable', 'the Redis topic store is closed')
    try {
      return await this.#link
    } catch (err) {
      throw new SubwireError('unavailable', `redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  /** Sends the appends, acks and terms still waiting for their batch: Redis then sees calls in call order. */
  #flush(topic: string): void {
    this.#log.flushAppends(topic)
    this.#groups.flushSettles(topic)
  }

  /** Sends at once when the link is open (call order is send order), else once it is. */
  #run(script: string, keys: readonly string[], args: readonly RedisArg[]): Promise<Reply> {
    if (this.#closed) return Promise.reject(new SubwireError('unavailable', 'the Redis topic store is closed'))
    if (this.#opened !== null) return this.#opened.run(script, keys, args)
    return this.#linked().then((link) => link.run(script, keys, args))
  }

  /** create/update: the topic's info, or null when the registry changed since it was read (try again). */
  async #admin(script: string, name: string, args: readonly RedisArg[]): Promise<TopicInfo | null> {
    this.#flush(name)
    const r = asArray(await this.#run(script, [metaKey(this.#prefix, name), registryKey(this.#prefix)], args), 'admin')
    if (asString(r[0], 'admin') === 'retry') return null
    return decodeTopicInfo(r[1], r[2])
  }

  async #registry(): Promise<Registry> {
    const link = await this.#linked()
    const flat = await link.command((client) => client.hgetall(registryKey(this.#prefix)))
    const topics = new Map<string, ResolvedTopicConfig>()
    let version = '0'
    for (const [field, json] of Object.entries(flat)) {
      if (field === REGISTRY_VERSION_FIELD) version = json
      else topics.set(field, this.#config(json))
    }
    return { version, topics }
  }

  #config(json: string): ResolvedTopicConfig {
    let config = this.#configs.get(json)
    if (config === undefined) {
      if (this.#configs.size >= 1024) this.#configs.clear()
      config = parseTopicConfig(json)
      this.#configs.set(json, config)
    }
    return config
  }

  async #mustExist(topic: string): Promise<void> {
    const link = await this.#linked()
    const exists = await link.command((client) => client.hexists(metaKey(this.#prefix, topic), 'cfg'))
    if (exists !== 1) throw topicStoreError(TOPIC_ERROR.noTopic, `no topic ${JSON.stringify(topic)}`)
  }

  /** What `fn` answers, or null if its topic was deleted meanwhile (list, sweep: another node deleted it). */
  async #unlessGone<T>(fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof SubwireError && err.code === TOPIC_ERROR.noTopic) return null
      throw err
    }
  }

  /** Only redis topics live here; fsync is a file topic's. @throws `bad_option`, `bad_topic_config` */
  #checkStorage(config: ResolvedTopicConfig): ResolvedTopicConfig {
    const storage = config.storage ?? STORAGE.redis
    if (storage !== STORAGE.redis) throw topicStoreError('bad_option', `topic ${config.name}: storage '${storage}' is not kept by the Redis topic store`)
    if (config.fsync !== undefined) throw topicStoreError(TOPIC_ERROR.badTopicConfig, `topic ${config.name}: fsync applies to storage: 'file' only`)
    return config
  }

  #checkOverlap(config: ResolvedTopicConfig, registry: Registry): void {
    for (const [name, other] of registry.topics) {
      if (name === config.name) continue
      const pair = subjectsOverlap(config.subjects, other.subjects)
      if (pair !== null) throw topicStoreError(TOPIC_ERROR.topicOverlap, `topic ${config.name} (${pair[0]}) overlaps topic ${name} (${pair[1]})`)
    }
  }
}
