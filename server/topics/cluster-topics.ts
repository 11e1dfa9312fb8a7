/**
 * Topics of a broker in a cluster (issue 14): every topic lives in the store the nodes share (Redis), so a
 * message stored through one node is the same message, at the same sequence, on every node.
 *
 * The async counterpart of topics.ts: a topic publish is appended (awaited) and only then routed live and
 * confirmed; replays read from the store only (cluster-replays.ts); work queues pull for this node's members
 * (cluster-groups.ts); the node learns of other nodes' topics from the catalogue (topic-catalogue.ts), of their
 * appends from the store's notices, and of dead nodes and its own Redis link from the cluster adapter.
 */
import type { Logger } from 'pino'
import { SubwireError } from '../../shared/errors.ts'
import { HEADER } from '../../shared/protocol.ts'
import type { ClusterAdapter } from '../cluster/cluster-adapter.ts'
import type { ClusterConfig } from '../cluster/cluster-options.ts'
import type { AppendResult, GroupConfig, TopicConfig, TopicInfo } from '../store/topic-store.ts'
import type { RouteOwn } from './dead-letters.ts'
import { SharedGroups, type SharedGroup } from './cluster-groups.ts'
import { SharedCursor, SharedReplays } from './cluster-replays.ts'
import { openRedisTopicStore, type SharedStoreFactory, type SharedTopicStore } from './shared-store.ts'
import { TopicCatalogue, REFRESH_MS } from './topic-catalogue.ts'
import { checkSharedConfig, declaredMatches } from './shared-config.ts'
import type { DeliverPolicy, TopicReceiver } from './topic-receiver.ts'

/** What the broker gives the cluster's topic runtime. */
export interface ClusterTopicsHost {
  readonly logger: Logger
  readonly maxTopics: number
  readonly defaultTopicMaxBytes: number
  /** Stores (if a topic covers it) and routes a publish of the broker's own: dead letters. */
  readonly route: RouteOwn
  readonly cluster: ClusterConfig
  /** The node's cluster adapter: node_gone and link events. */
  readonly adapter: ClusterAdapter
  /** Opens the shared store. @default the Redis Streams store */
  readonly openStore?: SharedStoreFactory
}

/** Age limits are applied by a sweep on every node (the store's sweep is idempotent). */
const SWEEP_MS = 1000
/** Tries at restoring the declared topics after the link comes back (about 20 s of them). */
const REDECLARE_TRIES = 15
/** close() waits this long for store calls on their way (members leaving) before closing the store. */
const CLOSE_WAIT_MS = 2000

export class ClusterTopics {
  readonly nodeId: string
  readonly catalogue: TopicCatalogue
  readonly #host: ClusterTopicsHost
  readonly #declared: readonly TopicConfig[]
  #store: SharedTopicStore | null = null
  #replays: SharedReplays | null = null
  #groups: SharedGroups | null = null
  readonly #mine = new Map<TopicReceiver, Map<number, SharedCursor | SharedGroup>>()
  readonly #timers: NodeJS.Timeout[] = []
  readonly #offs: Array<() => void> = []
  /** Store calls on their way that close() lets finish. */
  readonly #inflight = new Set<Promise<unknown>>()
  #ownChain: Promise<void> = Promise.resolve()
  #closed = false

  constructor(host: ClusterTopicsHost, configs: readonly TopicConfig[]) {
    this.#host = host
    this.nodeId = host.cluster.nodeId
    for (const c of configs) checkSharedConfig(c)
    this.#declared = configs
    this.catalogue = new TopicCatalogue(async () => this.store.list(), (gone) => { for (const name of gone) this.#dropTopic(name) })
  }

  /** The shared store. @throws `unavailable` before start */
  get store(): SharedTopicStore {
    if (this.#store === null) throw new SubwireError('unavailable', 'the topic store is not open')
    return this.#store
  }

  /** Opens the store, creates the declared topics, loads the catalogue. @throws the store's error */
  async start(): Promise<void> {
    const store = await (this.#host.openStore ?? openRedisTopicStore)(this.#host.cluster)
    this.#store = store
    this.#replays = new SharedReplays({ store, failed: (err, topic) => this.#host.logger.error({ err, topic }, 'replay read failed') })
    this.#groups = new SharedGroups({ store, logger: this.#host.logger, nodeId: this.nodeId, route: this.#host.route })
    this.#offs.push(store.onAppended((topic, lastSeq) => this.#appended(topic, lastSeq)))
    this.#offs.push(this.#host.adapter.onEvent((e) => {
      if (e.type === 'node_gone') void this.nodeGone(e.nodeId)
      else if (e.link === 'up') this.#relinked()
    }))
    // Members named after this node are a previous run's (a node restarted with the same nodeId, before the
    // others took it for dead): what they held goes back to the group now rather than at its ack deadline.
    await store.leaveMembers(`${this.nodeId}/`)
    await this.#declareAll()
    await this.catalogue.refresh()
    this.#every(REFRESH_MS, () => this.catalogue.refresh(), 'topic list refresh failed')
    this.#every(SWEEP_MS, () => store.sweep(), 'topic sweep failed')
  }

  #every(ms: number, f: () => unknown, what: string): void {
    let failing = false
    const t = setInterval(() => {
      Promise.resolve().then(f).then(() => { failing = false }, (err: unknown) => {
        // Once per outage: the cause is the link, which the adapter reports.
        if (!failing) this.#host.logger.warn({ err }, what)
        failing = true
      })
    }, ms)
    t.unref()
    this.#timers.push(t)
  }

  async #declareAll(): Promise<void> {
    for (const config of this.#declared) {
      const bounded = this.#bounded(config)
      try {
        this.catalogue.put(await this.store.create(bounded))
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'topic_exists') throw err
        // Another node declared it (or this one, before a restart): the options of the node starting now
        // apply, as a single node applies them to a topic reopened from disk.
        const info = await this.store.info(config.name)
        if (!declaredMatches(info.config, bounded)) this.catalogue.put(await this.store.update(config.name, bounded))
      }
    }
  }

  #relinked(): void {
    if (this.#closed) return
    void this.#track(this.#redeclare())
    this.#replays?.relinked()
    this.#groups?.relinked()
  }

  /**
   * A Redis restarted without its data lost the declared topics too: they come back. The store's own
   * connection may come back a little after the adapter's, so a few tries, spaced out.
   */
  async #redeclare(): Promise<void> {
    for (let attempt = 0; attempt < REDECLARE_TRIES && !this.#closed; attempt++) {
      try {
        await this.#declareAll()
        await this.catalogue.refresh()
        return
      } catch (err) {
        if (attempt === REDECLARE_TRIES - 1) this.#host.logger.warn({ err }, 'declared topics could not be restored')
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)).unref())
      }
    }
  }

  #appended(topic: string, lastSeq: number): void {
    if (this.#closed) return
    if (this.catalogue.get(topic) === undefined) void this.catalogue.refresh().catch(() => {})
    this.#replays?.appended(topic, lastSeq)
    this.#groups?.appended(topic)
  }

  get active(): boolean { return this.catalogue.size > 0 }
  get replays(): number { return this.#replays?.count ?? 0 }

  /** The topic capturing `subject` as this node knows it (no I/O), or null. */
  topicFor(subject: string): string | null { return this.catalogue.topicFor(subject) }

  /** Asks the store which topic captures `subject` (one this node may not know of yet). */
  async lookup(subject: string): Promise<string | null> {
    const topic = await this.store.topicFor(subject)
    if (topic !== null && this.catalogue.get(topic) === undefined) await this.catalogue.refresh()
    return topic
  }

  /**
   * Appends a publish to `topic`; resolves once it is stored, with where. This node's readers are woken at
   * once (the store's notice wakes every node's, this one's too).
   * @throws the store's typed errors, `unavailable`, `bad_option` for a malformed Sw-Expected-Last-Seq
   */
  async append(topic: string, subject: string, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): Promise<AppendResult> {
    const msgId = headers?.[HEADER.msgId]
    const expected = headers?.[HEADER.expectedLastSeq]
    const expectedLastSeq = expected === undefined ? undefined : Number(expected)
    if (expectedLastSeq !== undefined && !(Number.isSafeInteger(expectedLastSeq) && expectedLastSeq >= 0)) {
      throw new SubwireError('bad_option', `${HEADER.expectedLastSeq} must be a non-negative integer`)
    }
    const r = await this.store.append(topic, { subject, payload, headers, encoding, msgId, expectedLastSeq })
    if (!r.duplicate) this.#appended(topic, r.seq)
    return r
  }

  /**
   * A publish of the broker's own (dead letters, `$SYS` events) that a topic covers: appended, then `route`d
   * unless a duplicate, in the order the broker published them. False when no topic covers it (route it now).
   */
  captureOwn(subject: string, headers: Record<string, string> | null, encoding: number, payload: Uint8Array, route: () => unknown): boolean {
    const topic = this.topicFor(subject)
    if (topic === null) return false
    const copy = payload.slice()
    this.#ownChain = this.#ownChain.then(async () => {
      try {
        const r = await this.append(topic, subject, headers, encoding, copy)
        if (!r.duplicate) route()
      } catch (err) {
        // The broker's own publish has no one to answer: logged, never silent.
        this.#host.logger.error({ err, topic, subject }, 'a publish of the broker could not be stored')
      }
    })
    return true
  }

  // ---- replays and work queues ----------------------------------------------------------------------

  subscribe(receiver: TopicReceiver, sid: number, filter: string, deliver: DeliverPolicy): void {
    const topic = this.catalogue.covering(filter)
    this.#own(receiver, sid, this.#replaysOpen().start(receiver, sid, topic, filter, deliver))
  }

  resume(receiver: TopicReceiver): void { this.#replays?.resume(receiver) }

  join(receiver: TopicReceiver, sid: number, filter: string, group: string, config: GroupConfig,
    mayConfigure: (topic: string) => boolean, refuse: (err: SubwireError) => void): string {
    const topic = this.catalogue.covering(filter)
    const groups = this.#groupsOpen()
    const g = groups.join(receiver, sid, topic, filter, group, config, mayConfigure(topic), (err) => {
      this.#disown(receiver, sid)
      refuse(err)
    })
    this.#own(receiver, sid, g)
    return topic
  }

  settle(receiver: TopicReceiver, sid: number, topic: string, group: string, seq: number, kind: number, delayMs: number): void {
    this.#groupsOpen().settle(receiver, sid, topic, group, seq, kind, delayMs)
  }

  unsubscribe(receiver: TopicReceiver, sid: number): void {
    const entry = this.#disown(receiver, sid)
    if (entry === undefined) return
    if (entry instanceof SharedCursor) this.#replays?.end(entry)
    else this.#groups?.leave(entry, receiver, sid)
  }

  /** Another node is gone: its work-queue members leave, so what they held is redelivered (idempotent). */
  async nodeGone(nodeId: string): Promise<void> {
    if (this.#groups === null || this.#closed) return
    await this.#track(this.#groups.nodeGone(nodeId))
  }

  #own(receiver: TopicReceiver, sid: number, entry: SharedCursor | SharedGroup): void {
    let mine = this.#mine.get(receiver)
    if (mine === undefined) this.#mine.set(receiver, (mine = new Map()))
    mine.set(sid, entry)
  }

  #disown(receiver: TopicReceiver, sid: number): SharedCursor | SharedGroup | undefined {
    const mine = this.#mine.get(receiver)
    const entry = mine?.get(sid)
    if (mine === undefined || entry === undefined) return undefined
    mine.delete(sid)
    if (mine.size === 0) this.#mine.delete(receiver)
    return entry
  }

  #replaysOpen(): SharedReplays {
    if (this.#replays === null) throw new SubwireError('unavailable', 'the topic store is not open')
    return this.#replays
  }

  #groupsOpen(): SharedGroups {
    if (this.#groups === null) throw new SubwireError('unavailable', 'the topic store is not open')
    return this.#groups
  }

  // ---- management (the topic API; permissions are checked by the caller) ---------------------------------

  /** Creates a topic in the shared store. @throws `limit`, `bad_topic_config` (storage other than redis), the store's errors */
  async add(config: TopicConfig): Promise<TopicInfo> {
    checkSharedConfig(config)
    if ((await this.store.list()).length >= this.#host.maxTopics) throw new SubwireError('limit', `the cluster holds its maximum of ${this.#host.maxTopics} topics`)
    const info = await this.store.create(this.#bounded(config))
    this.catalogue.put(info)
    return info
  }

  async update(name: string, config: TopicConfig): Promise<TopicInfo> {
    checkSharedConfig(config)
    const info = await this.store.update(name, this.#bounded(config))
    this.catalogue.put(info)
    return info
  }

  info(name: string): Promise<TopicInfo> { return Promise.resolve(this.store.info(name)) }
  list(): Promise<readonly TopicInfo[]> { return Promise.resolve(this.store.list()) }
  purge(name: string, subject?: string): Promise<number> { return Promise.resolve(this.store.purge(name, subject === undefined ? {} : { subject })) }

  async delete(name: string): Promise<void> {
    await this.store.delete(name)
    this.catalogue.remove(name)
    this.#dropTopic(name)
  }

  #dropTopic(name: string): void {
    this.#replays?.dropTopic(name)
    this.#groups?.dropTopic(name)
  }

  #bounded(config: TopicConfig): TopicConfig {
    return typeof config === 'object' && config !== null && config.maxBytes === undefined ? { ...config, maxBytes: this.#host.defaultTopicMaxBytes } : config
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p)
    const done = (): void => { this.#inflight.delete(p) }
    p.then(done, done)
    return p
  }

  /** Stops the runtime, lets store calls on their way finish (bounded), then closes the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) clearInterval(t)
    for (const off of this.#offs) off()
    this.#replays?.close()
    this.#groups?.close()
    const store = this.#store
    if (store === null) return
    let timer: NodeJS.Timeout | undefined
    const wait = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS) })
    await Promise.race([Promise.allSettled([...this.#inflight, this.#ownChain, ...(this.#groups?.inflight() ?? [])]), wait])
    clearTimeout(timer)
    await store.close()
  }
}
