/**
 * Acked work queues over the shared store (cluster mode, issue 14): a group's members may sit on any node.
 * Members are named `<nodeId>/<connection id>/<sid>`; each node pulls for its own members only (memberPrefix
 * `<nodeId>/`), after an append on any node (the store's notice), after its members' acks and naks, at the
 * group's next deadline, and at least every IDLE_PULL_MS while it has members, which is how work another
 * node's member gave back (a nak, a member leaving) reaches a member here. One pull in flight per group.
 *
 * A node taken for dead (`node_gone`) has its members removed by every survivor (`leaveMembers`, idempotent),
 * so what they held is redelivered to members elsewhere. A store that cannot be reached fails the calls with
 * `unavailable`: pulls are retried with a capped backoff and when the link comes back; a member that could not
 * join yet joins then.
 */
import type { Logger } from 'pino'
import { SubwireError } from '../../shared/errors.ts'
import type { GroupConfig, PullResult, ResolvedGroupConfig, StoredMessage } from '../store/topic-store.ts'
import { MAX_TIMER_MS, changesSettings, resolveGroupConfig } from '../store/topic-config.ts'
import { deadLetter, type RouteOwn } from './dead-letters.ts'
import type { SharedTopicStore } from './shared-store.ts'
import type { TopicReceiver } from './topic-receiver.ts'

/** The longest a node waits between pulls of a group it has members in (work given back on another node). */
export const IDLE_PULL_MS = 500
const RETRY_MS = [50, 200, 500, 1000, 2000] as const

interface Member {
  readonly receiver: TopicReceiver
  readonly sid: number
  joined: boolean
  /** A join is on its way to the store. */
  entering: boolean
  /** The settings it joined with (a member that joins again after an outage joins with them). */
  readonly wanted: GroupConfig
  /** True when it may not change an existing group's settings (not a manager of the topic). */
  readonly checked: boolean
  /** Why the SUB is refused after the fact (the store said no): the connection ends the subscription. */
  readonly refuse: (err: SubwireError) => void
}

export class SharedGroup {
  readonly topic: string
  readonly name: string
  readonly members = new Map<string, Member>()
  config: ResolvedGroupConfig
  pulling = false
  again = false
  failures = 0
  timer: NodeJS.Timeout | null = null
  constructor(topic: string, name: string, config: ResolvedGroupConfig) {
    this.topic = topic
    this.name = name
    this.config = config
  }
}

export interface SharedGroupsHost {
  readonly store: SharedTopicStore
  readonly logger: Logger
  readonly nodeId: string
  readonly route: RouteOwn
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code
}

export class SharedGroups {
  readonly #host: SharedGroupsHost
  readonly #prefix: string
  readonly #groups = new Map<string, SharedGroup>()
  /** The groups of each topic: a notice of an append pulls only those. */
  readonly #onTopic = new Map<string, Set<SharedGroup>>()
  /** Store calls on their way (close lets them finish). */
  readonly #inflight = new Set<Promise<void>>()
  /** Dead nodes whose members have not been removed yet (the store was unreachable). */
  readonly #gone = new Set<string>()
  #closed = false

  constructor(host: SharedGroupsHost) {
    this.#host = host
    this.#prefix = `${host.nodeId}/`
  }

  /** This node's name for a connection's membership. */
  memberName(receiver: TopicReceiver, sid: number): string {
    return `${this.#prefix}${receiver.id}/${sid}`
  }

  /**
   * Adds a member; the settings are checked now, the store is told next. `mayConfigure` is false for a
   * joiner that may not change an existing group's settings; `refuse` ends its SUB if the store refuses.
   */
  join(receiver: TopicReceiver, sid: number, topic: string, filter: string, group: string, config: GroupConfig,
    mayConfigure: boolean, refuse: (err: SubwireError) => void): SharedGroup {
    const wanted = { ...config, filter }
    const resolved = resolveGroupConfig(group, wanted) // bad_group_config now, as on a single node
    const key = `${topic}\u0000${group}`
    let g = this.#groups.get(key)
    if (g === undefined) {
      this.#groups.set(key, (g = new SharedGroup(topic, group, resolved)))
      let on = this.#onTopic.get(topic)
      if (on === undefined) this.#onTopic.set(topic, (on = new Set()))
      on.add(g)
    }
    const member: Member = { receiver, sid, joined: false, entering: false, wanted, checked: Object.keys(config).length > 0 && !mayConfigure, refuse }
    const name = this.memberName(receiver, sid)
    g.members.set(name, member)
    void this.#enter(g, name, member)
    return g
  }

  async #enter(g: SharedGroup, name: string, m: Member): Promise<void> {
    if (m.entering) return
    const store = this.#host.store
    m.entering = true
    try {
      if (m.checked) {
        // An existing group's settings are its topic's managers' to change; a joiner without that right takes them.
        const existing = await Promise.resolve(store.groupInfo(g.topic, g.name)).catch((err: unknown) => { if (codeOf(err) === 'no_group') return null; throw err })
        if (existing !== null && changesSettings(existing.config, m.wanted)) throw new SubwireError('permission', `only a manager of topic ${g.topic} may change the settings of its group ${g.name}`)
      }
      g.config = (await store.openGroup(g.topic, g.name, m.wanted)).config
      await store.join(g.topic, g.name, name)
    } catch (err) {
      m.entering = false
      if (g.members.get(name) !== m) return
      if (codeOf(err) === 'unavailable') { this.#schedule(g); return } // joined when the link is back
      g.members.delete(name)
      this.#forget(g)
      m.refuse(err instanceof SubwireError ? err : new SubwireError('bad_group_config', String(err)))
      return
    }
    m.entering = false
    if (g.members.get(name) !== m) { void this.#call(() => store.leave(g.topic, g.name, name), g); return }
    m.joined = true
    this.pull(g)
  }

  /** Settles a message a member of this node holds (ACK op). */
  settle(receiver: TopicReceiver, sid: number, topic: string, group: string, seq: number, kind: number, delayMs: number): void {
    const g = this.#groups.get(`${topic}\u0000${group}`)
    if (g === undefined) return
    const member = this.memberName(receiver, sid)
    const store = this.#host.store
    let done: () => unknown
    if (kind === 0) done = () => store.ack(topic, group, seq, member)
    else if (kind === 1) done = () => store.nak(topic, group, seq, member, delayMs > 0 ? Math.min(delayMs, MAX_TIMER_MS) : undefined)
    else if (kind === 2) done = () => store.working(topic, group, seq, member)
    else if (kind === 3) done = () => store.term(topic, group, seq, member)
    else throw new SubwireError('protocol', `unknown ack kind ${kind}`)
    void this.#call(done, g).then(() => this.pull(g))
  }

  /** A member leaves (UNSUB, connection closed): what it held goes to the other members at once. */
  leave(g: SharedGroup, receiver: TopicReceiver, sid: number): void {
    const name = this.memberName(receiver, sid)
    const m = g.members.get(name)
    if (m === undefined) return
    g.members.delete(name)
    if (m.joined) void this.#call(() => this.#host.store.leave(g.topic, g.name, name), g).then(() => this.pull(g))
    this.#forget(g)
  }

  /** Another node is gone: its members leave, and what they held is pulled again here. */
  async nodeGone(nodeId: string): Promise<void> {
    if (`${nodeId}/` === this.#prefix) return
    this.#gone.add(nodeId)
    await this.#call(async () => {
      await this.#host.store.leaveMembers(`${nodeId}/`)
      this.#gone.delete(nodeId) // a failed call is made again when the link is back
    }, null)
    for (const g of this.#groups.values()) this.pull(g)
  }

  /** The link is back: members that could not join join, every group pulls. */
  relinked(): void {
    for (const nodeId of this.#gone) void this.nodeGone(nodeId)
    for (const g of this.#groups.values()) {
      g.failures = 0
      for (const [name, m] of g.members) if (!m.joined) void this.#enter(g, name, m)
      this.pull(g)
    }
  }

  /** Any node appended to `topic`: its groups pull. */
  appended(topic: string): void {
    const on = this.#onTopic.get(topic)
    if (on !== undefined) for (const g of on) this.pull(g)
  }

  dropTopic(name: string): void {
    for (const [key, g] of this.#groups) {
      if (g.topic !== name) continue
      if (g.timer !== null) clearTimeout(g.timer)
      this.#groups.delete(key)
    }
    this.#onTopic.delete(name)
  }

  /** Pulls for this node's members; again at once if asked meanwhile. */
  pull(g: SharedGroup): void {
    if (this.#closed || this.#groups.get(`${g.topic}\u0000${g.name}`) !== g) return
    if (g.pulling) { g.again = true; return }
    if (![...g.members.values()].some((m) => m.joined)) { this.#schedule(g); return }
    g.pulling = true
    g.again = false
    Promise.resolve(this.#host.store.pull(g.topic, g.name, this.#prefix)).then(async (result) => {
      g.failures = 0
      if (this.#hand(g, result)) g.again = true
      const next = g.again ? null : await this.#host.store.nextDeadline(g.topic, g.name)
      g.pulling = false
      if (g.again) this.pull(g)
      else this.#schedule(g, next)
    }, (err: unknown) => {
      g.pulling = false
      if (codeOf(err) === 'no_topic' || codeOf(err) === 'no_group') { this.#host.logger.debug({ topic: g.topic, group: g.name }, 'work-queue group gone'); return }
      if (g.failures++ === 0) this.#host.logger.warn({ err, topic: g.topic, group: g.name }, 'work-queue pull failed; retrying')
      this.#schedule(g, Date.now() + RETRY_MS[Math.min(g.failures - 1, RETRY_MS.length - 1)])
    }).catch((err: unknown) => {
      g.pulling = false
      this.#host.logger.error({ err, topic: g.topic, group: g.name }, 'work-queue pull failed')
      this.#schedule(g)
    })
  }

  /** Hands a pull's deliveries out; true when a member was handed what it may not read (pull again). */
  #hand(g: SharedGroup, result: PullResult): boolean {
    let refused = false
    for (const d of result.deliveries) {
      const m = g.members.get(d.member)
      // A member that left while the pull was on its way: it leaves in the store too, so the message goes on.
      if (m === undefined || !m.joined) { void this.#call(() => this.#host.store.leave(g.topic, g.name, d.member), g).then(() => this.pull(g)); continue }
      if (m.receiver.session.mayReceive(d.message.subject, d.message.headers)) m.receiver.deliverStored(m.sid, d.message, d.deliveryCount)
      else { this.#refused(g, d.member, d.message); refused = true }
    }
    for (const dl of result.deadLetters) deadLetter(this.#host.logger, this.#host.route, g.topic, dl.message, dl.deliveryCount, dl.reason)
    if (result.gap !== null) for (const m of g.members.values()) m.receiver.event(m.sid, 'gap', { from: result.gap.fromSeq, to: result.gap.toSeq, topic: g.topic })
    return refused
  }

  /**
   * A member was handed what it may not read (README "Security"): a member of this node that may gets it
   * after the ack wait; when none here may, it is settled for the group (as on a single node).
   */
  #refused(g: SharedGroup, member: string, m: StoredMessage): void {
    const store = this.#host.store
    for (const other of g.members.values()) {
      if (other.receiver.session.mayReceive(m.subject, m.headers)) {
        void this.#call(() => store.nak(g.topic, g.name, m.seq, member, g.config.ackWaitMs), g)
        return
      }
    }
    void this.#call(() => store.term(g.topic, g.name, m.seq), g)
  }

  /** One timer per group: at its next deadline, and no later than IDLE_PULL_MS while it has members here. */
  #schedule(g: SharedGroup, at: number | null = null): void {
    if (g.timer !== null) { clearTimeout(g.timer); g.timer = null }
    if (this.#closed || g.members.size === 0) return
    const delay = Math.min(IDLE_PULL_MS, Math.max(0, (at ?? Infinity) - Date.now()))
    g.timer = setTimeout(() => { g.timer = null; this.pull(g) }, delay)
    g.timer.unref()
  }

  /** A group with no members here is no longer pulled by this node. */
  #forget(g: SharedGroup): void {
    if (g.members.size > 0) return
    if (g.timer !== null) { clearTimeout(g.timer); g.timer = null }
    this.#groups.delete(`${g.topic}\u0000${g.name}`)
    const on = this.#onTopic.get(g.topic)
    if (on !== undefined && on.delete(g) && on.size === 0) this.#onTopic.delete(g.topic)
  }

  /** A store call whose failure is logged (the group's next pull retries what is due), never thrown. */
  #call(f: () => unknown, g: SharedGroup | null): Promise<void> {
    const p = (async () => {
      try {
        await f()
      } catch (err) {
        this.#host.logger.debug({ err, topic: g?.topic, group: g?.name }, 'work-queue store call failed')
      }
    })()
    this.#inflight.add(p)
    void p.then(() => this.#inflight.delete(p))
    return p
  }

  /** Store calls on their way. */
  inflight(): Promise<void>[] {
    return [...this.#inflight]
  }

  close(): void {
    this.#closed = true
    for (const g of this.#groups.values()) if (g.timer !== null) clearTimeout(g.timer)
  }
}
