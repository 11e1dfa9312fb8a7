/**
 * Topics at run time: which topic captures a publish, replay subscriptions (replays.ts: cursors that hand over
 * from the stored log to live messages without a gap or a duplicate), acked work queues over consumer groups,
 * dead-lettering, and the management API. Storage itself is the TopicStore's (topic-store.ts); this file
 * drives it.
 */
import type { Logger } from 'pino'
import { SubwireError } from '../../shared/errors.ts'
import { HEADER } from '../../shared/protocol.ts'
import { SubjectIndex } from '../routing/subject-index.ts'
import { EngineTopicStore } from '../store/engine/engine-store.ts'
import { openTopicStore, type FileStoreTuning } from '../store/file/file-store.ts'
import type { AppendResult, GroupConfig, PullResult, StoredMessage, TopicConfig, TopicInfo } from '../store/topic-store.ts'
import { MAX_TIMER_MS, changesSettings } from '../store/topic-config.ts'
import { patternCovers } from '../security/permissions.ts'
import { ReplayCursor, Replays } from './replays.ts'
import { deadLetter } from './dead-letters.ts'
import { ClusterTopics } from './cluster-topics.ts'
import { checkLocalConfig } from './shared-config.ts'
import type { ClusterAdapter } from '../cluster/cluster-adapter.ts'
import type { ClusterConfig } from '../cluster/cluster-options.ts'
import type { SharedStoreFactory } from './shared-store.ts'
import type { DeliverPolicy, TopicReceiver } from './topic-receiver.ts'

export type { DeliverPolicy, TopicReceiver } from './topic-receiver.ts'

/** What the broker gives the topic runtime. */
export interface TopicsHost {
  readonly logger: Logger
  readonly maxTopics: number
  readonly defaultTopicMaxBytes: number
  /** Routes a message to live subscribers (used for dead letters). */
  route(subject: string, headers: Record<string, string>, encoding: number, payload: Uint8Array): void
}

interface TopicEntry { readonly subject: string; readonly queue: null; readonly topic: string }

interface GroupMember { readonly receiver: TopicReceiver; readonly sid: number }

class GroupRuntime {
  readonly topic: string
  readonly name: string
  readonly members = new Map<string, GroupMember>()
  timer: NodeJS.Timeout | null = null
  /** A pull waits for the end of the current task (the acks of one frame share it). */
  pullQueued = false
  constructor(topic: string, name: string) {
    this.topic = topic
    this.name = name
  }
}

/** A broker in a cluster: its Redis, its adapter, and (tests) another shared store. */
export interface TopicsCluster {
  readonly config: ClusterConfig
  readonly adapter: ClusterAdapter
  readonly openStore?: SharedStoreFactory
}

export class Topics {
  readonly store: EngineTopicStore
  /**
   * In a cluster, the runtime over the store the nodes share (cluster-topics.ts): the edge hands it topic
   * publishes and management requests, and every call below goes to it. Null for a broker on its own.
   */
  readonly shared: ClusterTopics | null
  readonly #host: TopicsHost
  #index = new SubjectIndex<TopicEntry>({ cacheSize: 4096 })
  readonly #replays: Replays
  readonly #groups = new Map<string, GroupRuntime>()
  /** The groups of each topic, so an append pulls only those. */
  readonly #groupsOn = new Map<string, Set<GroupRuntime>>()
  /** Each receiver's replays and memberships by sid: ending one is O(1) (a scan of all took 10 s+ for 40,000). */
  readonly #mine = new Map<TopicReceiver, Map<number, ReplayCursor | GroupRuntime>>()
  readonly #sweep: NodeJS.Timeout
  /** Set by close: a pull queued before it finds the store closed and is skipped. */
  #closed = false

  /** `store` holds the topics (those recovered from disk too); `configs` are created unless they exist. */
  constructor(host: TopicsHost, configs: readonly TopicConfig[] = [], store: EngineTopicStore = new EngineTopicStore(), shared: ClusterTopics | null = null) {
    this.#host = host
    this.store = store
    this.shared = shared
    this.#replays = new Replays(this.store)
    for (const config of configs) this.#declare(config)
    this.#reindex()
    // Age limits and expired dedup ids are enforced by a sweep, not on every publish.
    this.#sweep = setInterval(() => this.#onSweep(), 1000)
    this.#sweep.unref()
  }

  /**
   * Opens the broker's store (file topics under `files.dataDir` are reopened now) and the runtime over it;
   * the store is closed again if a declared topic is refused.
   */
  static open(host: TopicsHost, configs: readonly TopicConfig[], files: FileStoreTuning & { readonly dataDir?: string }, cluster: TopicsCluster | null = null): Topics {
    if (cluster !== null) {
      const shared = new ClusterTopics({ ...host, route: host.route.bind(host), cluster: cluster.config, adapter: cluster.adapter, openStore: cluster.openStore }, configs)
      return new Topics(host, [], new EngineTopicStore(), shared)
    }
    const { store } = openTopicStore({ dataDir: files.dataDir, io: files.io, segmentBytes: files.segmentBytes, cacheBytes: files.cacheBytes, log: host.logger })
    try {
      return new Topics(host, configs, store)
    } catch (err) {
      store.close()
      throw err
    }
  }

  /** Opens the shared store and declares the topics of a broker in a cluster (nothing to do alone). */
  async start(): Promise<void> {
    await this.shared?.start()
  }

  /** True when at least one topic exists (the publish path skips everything else otherwise). */
  get active(): boolean {
    return this.shared === null ? this.#index.size > 0 : this.shared.active
  }

  /** Replay subscriptions running (for stats and tests). */
  get replays(): number {
    return this.shared === null ? this.#replays.count : this.shared.replays
  }

  /** The topic capturing `subject`, or null. */
  topicFor(subject: string): string | null {
    if (this.shared !== null) return this.shared.topicFor(subject)
    const hit = this.#index.match(subject).plain
    return hit.length === 0 ? null : hit[0].subs[0].topic
  }

  // ---- publishing ---------------------------------------------------------------------------------------

  /**
   * Stores a publish in the topic that covers it. Returns null when no topic does; throws the store's typed
   * error when the topic refuses it. Consumers and work queues of the topic are served once the message is
   * readable: before returning, or (file topics that sync) once `durable` resolves.
   */
  capture(subject: string, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): { topic: string; result: AppendResult; durable: Promise<void> | null } | null {
    const topic = this.topicFor(subject)
    if (topic === null) return null
    const msgId = headers?.[HEADER.msgId]
    const expected = headers?.[HEADER.expectedLastSeq]
    const expectedLastSeq = expected === undefined ? undefined : Number(expected)
    if (expectedLastSeq !== undefined && !(Number.isSafeInteger(expectedLastSeq) && expectedLastSeq >= 0)) {
      throw new SubwireError('bad_option', `${HEADER.expectedLastSeq} must be a non-negative integer`)
    }
    const r = this.store.appendNow(topic, { subject, payload, headers, encoding, msgId, expectedLastSeq })
    if (!('durable' in r)) {
      if (!r.duplicate) this.#onAppend(topic, subject)
      return { topic, result: r, durable: null }
    }
    const { result, durable } = r
    if (!result.duplicate) {
      if (durable === null) this.#onAppend(topic, subject)
      // A failed sync is the confirm's to report; readers simply never see the message.
      else durable.then(() => this.#onAppend(topic, subject), () => {})
    }
    return { topic, result, durable }
  }

  #onAppend(topic: string, subject: string): void {
    this.#replays.appended(topic, subject)
    const groups = this.#groupsOn.get(topic)
    if (groups !== undefined) for (const g of groups) this.#pullSoon(g)
  }

  // ---- replay subscriptions -----------------------------------------------------------------------------

  /** Starts a replay subscription on `filter` (which one topic must cover). */
  subscribe(receiver: TopicReceiver, sid: number, filter: string, deliver: DeliverPolicy): void {
    if (this.shared !== null) { this.shared.subscribe(receiver, sid, filter, deliver); return }
    const topic = this.#topicCovering(filter)
    this.#own(receiver, sid, this.#replays.start(receiver, sid, topic, filter, deliver))
  }

  /** The receiver's socket drained: its replays go on. */
  resume(receiver: TopicReceiver): void {
    if (this.shared !== null) { this.shared.resume(receiver); return }
    this.#replays.resume(receiver)
  }

  // ---- work queues --------------------------------------------------------------------------------------

  /** Adds a member to the acked consumer group `group` on the topic covering `filter`; returns that topic. */
  /** `refuse` ends the SUB when a cluster's store refuses the member after this returned. */
  join(receiver: TopicReceiver, sid: number, filter: string, group: string, config: GroupConfig, mayConfigure = (_topic: string) => true,
    refuse: (err: SubwireError) => void = () => {}): string {
    if (this.shared !== null) return this.shared.join(receiver, sid, filter, group, config, mayConfigure, refuse)
    const topic = this.#topicCovering(filter)
    // An existing group's settings are its topic's managers' to change; a joiner without that right takes them.
    const existing = Object.keys(config).length > 0 && !mayConfigure(topic) ? (this.store.info(topic) as TopicInfo).consumers.find((g) => g.name === group) : undefined
    if (existing !== undefined && changesSettings(existing.config, { ...config, filter })) throw new SubwireError('permission', `only a manager of topic ${topic} may change the settings of its group ${group}`)
    this.store.openGroup(topic, group, { ...config, filter })
    const key = `${topic}\u0000${group}`
    let g = this.#groups.get(key)
    if (g === undefined) {
      this.#groups.set(key, (g = new GroupRuntime(topic, group)))
      let on = this.#groupsOn.get(topic)
      if (on === undefined) this.#groupsOn.set(topic, (on = new Set()))
      on.add(g)
    }
    const member = `${receiver.id}.${sid}`
    g.members.set(member, { receiver, sid })
    this.store.join(topic, group, member)
    this.#own(receiver, sid, g)
    this.#pull(g)
    return topic
  }

  /**
   * Settles a delivered message for the member that holds it (ACK op); `topic` is what `join` returned. A nak
   * delay is a per-message hint: past the longest timer it is clamped to it, not refused (see MAX_TIMER_MS).
   */
  settle(receiver: TopicReceiver, sid: number, topic: string, group: string, seq: number, kind: number, delayMs: number): void {
    if (this.shared !== null) { this.shared.settle(receiver, sid, topic, group, seq, kind, delayMs); return }
    const g = this.#groups.get(`${topic}\u0000${group}`)
    if (g === undefined) return
    const member = `${receiver.id}.${sid}`
    if (kind === 0) this.store.ack(topic, group, seq, member)
    else if (kind === 1) this.store.nak(topic, group, seq, member, delayMs > 0 ? Math.min(delayMs, MAX_TIMER_MS) : undefined)
    else if (kind === 2) this.store.working(topic, group, seq, member)
    else if (kind === 3) this.store.term(topic, group, seq, member)
    else throw new SubwireError('protocol', `unknown ack kind ${kind}`)
    this.#pullSoon(g)
  }

  /**
   * Pulls once the current task is done: the acks of one inbound frame free their slots in one pull (and one
   * timer re-arm), not one each. The file store's journal entries of those acks are queued before it.
   */
  #pullSoon(g: GroupRuntime): void {
    if (g.pullQueued) return
    g.pullQueued = true
    queueMicrotask(() => {
      g.pullQueued = false
      if (!this.#closed && this.#groups.get(`${g.topic}\u0000${g.name}`) === g) this.#pull(g)
    })
  }

  #pull(g: GroupRuntime): void {
    // Pulled again while a member was handed what it may not read: the slots it freed take the next messages.
    // Each round refuses distinct messages (a refused one waits or is settled), so the rounds end.
    for (let refused = true; refused;) {
      let result: PullResult
      try {
        result = this.store.pull(g.topic, g.name)
      } catch (err) {
        this.#host.logger.error({ err, topic: g.topic, group: g.name }, 'work-queue pull failed')
        return
      }
      refused = false
      for (const d of result.deliveries) {
        const m = g.members.get(d.member)
        if (m === undefined) continue
        if (m.receiver.session.mayReceive(d.message.subject, d.message.headers)) m.receiver.deliverStored(m.sid, d.message, d.deliveryCount)
        else { this.#refused(g, d.member, d.message); refused = true }
      }
      for (const dl of result.deadLetters) deadLetter(this.#host.logger, this.#host.route.bind(this.#host), g.topic, dl.message, dl.deliveryCount, dl.reason)
      if (result.gap !== null) for (const m of g.members.values()) m.receiver.event(m.sid, 'gap', { from: result.gap.fromSeq, to: result.gap.toSeq, topic: g.topic })
    }
    this.#arm(g)
  }

  /**
   * A member was handed a message it may not read (a dead letter whose original subject it may not read,
   * README "Security"): another member that may gets it after the ack wait; when no member may, it is settled
   * for this group (counted as terminated) and never delivered. The topic still holds it.
   */
  #refused(g: GroupRuntime, member: string, m: StoredMessage): void {
    for (const other of g.members.values()) {
      if (other.receiver.session.mayReceive(m.subject, m.headers)) {
        this.store.nak(g.topic, g.name, m.seq, member, this.store.groupInfo(g.topic, g.name).config.ackWaitMs)
        return
      }
    }
    this.store.term(g.topic, g.name, m.seq)
  }

  /** One timer per group, at its next ack deadline or redelivery. */
  #arm(g: GroupRuntime): void {
    if (g.timer !== null) { clearTimeout(g.timer); g.timer = null }
    const next = this.store.nextDeadline(g.topic, g.name)
    if (next === null || g.members.size === 0) return
    // Capped at the longest timer (MAX_TIMER_MS); a later deadline is simply re-armed when this one fires.
    g.timer = setTimeout(() => { g.timer = null; this.#pull(g) }, Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now())))
    g.timer.unref()
  }

  // ---- subscriptions ending -----------------------------------------------------------------------------

  /** Ends a connection's replay subscription or group membership for `sid`. */
  unsubscribe(receiver: TopicReceiver, sid: number): void {
    if (this.shared !== null) { this.shared.unsubscribe(receiver, sid); return }
    const mine = this.#mine.get(receiver)
    const entry = mine?.get(sid)
    if (mine === undefined || entry === undefined) return
    mine.delete(sid)
    if (mine.size === 0) this.#mine.delete(receiver)
    if (entry instanceof ReplayCursor) { this.#replays.end(entry); return }
    const member = `${receiver.id}.${sid}`
    // A deleted topic took its groups with it; the member's unacked messages go to the others at once.
    if (this.#groups.get(`${entry.topic}\u0000${entry.name}`) !== entry || !entry.members.delete(member)) return
    this.store.leave(entry.topic, entry.name, member)
    this.#pull(entry)
  }

  #own(receiver: TopicReceiver, sid: number, entry: ReplayCursor | GroupRuntime): void {
    let mine = this.#mine.get(receiver)
    if (mine === undefined) this.#mine.set(receiver, (mine = new Map()))
    mine.set(sid, entry)
  }

  // ---- management ---------------------------------------------------------------------------------------

  /** Creates a topic; one without `maxBytes` gets the broker's default, so none holds memory without bound. */
  add(config: TopicConfig): TopicInfo {
    this.#local()
    if (this.store.list().length >= this.#host.maxTopics) throw new SubwireError('limit', `the broker holds its maximum of ${this.#host.maxTopics} topics`)
    const info = this.store.create(this.#bounded(config))
    this.#reindex()
    return info
  }

  /**
   * A topic of the broker's options: created, or, when it was reopened from disk, updated to the declared
   * config (a changed limit applies; a changed storage is refused).
   */
  #declare(config: TopicConfig): void {
    const name = typeof config === 'object' && config !== null ? config.name : undefined
    if (typeof name === 'string' && this.store.list().some((t) => t.name === name)) this.update(name, config)
    else this.add(config)
  }

  update(name: string, config: TopicConfig): TopicInfo {
    this.#local()
    const info = this.store.update(name, this.#bounded(config))
    this.#reindex()
    return info
  }

  /** The synchronous management calls are a single node's; a cluster's go to `shared` (they wait for Redis). */
  #local(): void {
    if (this.shared !== null) throw new SubwireError('bad_option', "a broker in a cluster manages its topics through broker.topics.shared or the client's c.topics")
  }

  #bounded(config: TopicConfig): TopicConfig {
    checkLocalConfig(config)
    return typeof config === 'object' && config !== null && config.maxBytes === undefined ? { ...config, maxBytes: this.#host.defaultTopicMaxBytes } : config
  }
  /** In a cluster: as of the node's last look at the shared list (at most a second old), for monitoring. */
  info(name: string): TopicInfo {
    if (this.shared === null) return this.store.info(name)
    const info = this.shared.catalogue.get(name)
    if (info === undefined) throw new SubwireError('no_topic', `no topic ${name}`)
    return info
  }

  list(): readonly TopicInfo[] { return this.shared === null ? this.store.list() : this.shared.catalogue.list() }
  purge(name: string, subject?: string): number { this.#local(); return this.store.purge(name, subject === undefined ? {} : { subject }) }

  delete(name: string): void {
    this.#local()
    this.store.delete(name)
    this.#replays.dropTopic(name)
    for (const g of this.#groupsOn.get(name) ?? []) { if (g.timer !== null) clearTimeout(g.timer); this.#groups.delete(`${name}\u0000${g.name}`) }
    this.#groupsOn.delete(name)
    this.#reindex()
  }

  #topicCovering(filter: string): string {
    for (const t of this.store.list()) {
      if (t.config.subjects.some((s) => patternCovers(s, filter))) return t.name
    }
    throw new SubwireError('no_topic', `no topic covers ${filter}`)
  }

  #reindex(): void {
    const index = new SubjectIndex<TopicEntry>({ cacheSize: 4096 })
    for (const t of this.store.list()) for (const subject of t.config.subjects) index.insert({ subject, queue: null, topic: t.name })
    this.#index = index
  }

  #onSweep(): void {
    try {
      this.store.sweep()
    } catch (err) {
      this.#host.logger.error({ err }, 'topic sweep failed')
    }
  }

  /** Closes the store (a cluster's once the calls on their way are done); idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#sweep)
    for (const g of this.#groups.values()) if (g.timer !== null) clearTimeout(g.timer)
    this.store.close()
    await this.shared?.close()
  }
}
