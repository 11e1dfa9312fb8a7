/**
 * The cluster adapter on Redis (issue 14): nodes joined through one Redis act as one broker, with no sticky
 * sessions. What crosses Redis:
 * - interest: each node's subscription patterns (a hash per node, changes on one control channel), so a node
 *   receives only messages some subscription of its own wants (as the Socket.IO Redis adapter's rooms and
 *   Centrifugo's channels do it);
 * - messages: batched per target node per task on that node's own channel (cluster-frame.ts, outbox.ts), so
 *   per-publisher order holds and a fan-out to 100 subscribers on another node costs one PUBLISH, not 100;
 * - liveness: node keys that expire (node-directory.ts).
 * Queue groups are exactly one member cluster-wide: the publishing node picks, weighted by members on each node
 * (a counter per group, so members share evenly), and names the group in the message to the chosen node only.
 * Replies go back to the requester's node through the request's origin, before its inbox interest arrives.
 * Cross-node delivery is at most once: what is dropped (link down, past the bounds) is counted and told to
 * clients when the link is back, never retried late.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { SubwireError } from '../../../shared/errors.ts'
import type { ClusterAdapter, ClusterEvent, ClusterLink, ClusterMessage, ClusterReceiver, ClusterStats, RoutePlan } from '../cluster-adapter.ts'
import type { ClusterConfig } from '../cluster-options.ts'
import { FRAME_FLAG, bodyOf, decodeBatch, encodeHead, type FrameMessage } from './cluster-frame.ts'
import { GroupTurns, Plan, rerouteChoice } from './group-routing.ts'
import { ClusterInboxes } from './cluster-inboxes.ts'
import { LocalInterest } from './local-interest.ts'
import { NodeDirectory, clusterKeys, nodeViews, type Keys, type NodeInfo } from './node-directory.ts'
import { controlMessage, parseControl } from './control-channel.ts'
import { EventListeners } from './event-listeners.ts'
import { Outbox } from './outbox.ts'
import { NO_TARGETS, RemoteInterest, isNodeLocal } from './remote-interest.ts'
import { RedisLink, maskUrl } from './redis-link.ts'
import { ReplyRoutes } from './reply-routes.ts'

export interface RedisClusterOptions {
  readonly config: ClusterConfig
  readonly logger: Logger
  readonly maxSubjectLength: number
  readonly maxHeaders: number
  readonly maxPayload: number
  /** What this node says about itself in its heartbeat (connections, subscriptions). */
  readonly info: () => NodeInfo
  readonly beforeWrites?: (task: () => void) => void // FlushScheduler.beforeWrites: the outbox goes first
}

export class RedisCluster implements ClusterAdapter {
  readonly kind = 'redis'
  readonly clustered = true
  readonly nodeId: string
  readonly #config: ClusterConfig
  readonly #log: Logger
  readonly #options: RedisClusterOptions
  readonly #keys: Keys
  #link: RedisLink
  /** The URL this node reached Redis at (the first of `redis` that answered at start). */
  #url: string
  readonly #remote = new RemoteInterest()
  readonly #local: LocalInterest
  readonly inboxPeers: ClusterInboxes
  readonly #outbox: Outbox
  readonly #directory: NodeDirectory
  readonly #replies = new ReplyRoutes()
  readonly #events: EventListeners
  /** Live peers and what they said in their last heartbeat. */
  #peers = new Map<string, NodeInfo & { pid: number; host: string; startedAt: number }>()
  /** Changes of a node whose snapshot is being read: applied after it, in order. */
  readonly #syncing = new Map<string, Array<() => void>>()
  readonly #turns = new GroupTurns()
  /** Nodes with interest but missing from the last heartbeats (#dropGhosts). */
  readonly #ghosts = new Map<string, number>()
  /** Bumped when a node is forgotten, so a snapshot of it answered later is not applied. */
  readonly #generation = new Map<string, number>()
  #receiver: ClusterReceiver | null = null
  #heartbeat: NodeJS.Timeout | null = null
  /** When a heartbeat was last answered (or the link came up): past unavailableAfterMs the link is made again. */
  #lastBeat = Date.now()
  #beating = false
  #started = false
  #closed = false
  #downSince: number | null = null
  #received = 0
  #rejected = 0
  #groupMisses = 0
  /** Messages for other nodes dropped since the link went down (told to clients when it is back). */
  #droppedSinceDown = 0
  #logId: string | null = null

  constructor(options: RedisClusterOptions) {
    this.#options = options
    this.#config = options.config
    this.nodeId = options.config.nodeId
    this.#log = options.logger
    this.#events = new EventListeners(options.logger)
    this.#keys = clusterKeys(options.config.prefix)
    this.#local = new LocalInterest(this.#keys, this.nodeId)
    this.inboxPeers = new ClusterInboxes(this.#keys, this.nodeId)
    this.#outbox = new Outbox(this.nodeId, (n) => { this.#droppedSinceDown += n }, options.beforeWrites)
    this.#directory = new NodeDirectory(this.#keys, this.nodeId, options.config.nodeTimeoutMs, hostname())
    this.#url = options.config.redis[0]
    this.#link = this.#makeLink(this.#url)
  }

  #makeLink(url: string): RedisLink {
    return new RedisLink(url, `subwire:${this.#config.name}:${this.nodeId}`, {
      onUp: () => void this.#onUp(),
      onDown: (reason) => this.#onDown(reason),
      onMessage: (channel, message) => this.#onMessage(channel, message),
    })
  }

  get logId(): string | null {
    return this.#logId
  }

  get link(): ClusterLink {
    return this.#downSince === null && this.#link.up ? 'up' : 'down'
  }

  onEvent(listener: (e: ClusterEvent) => void): () => void {
    return this.#events.on(listener)
  }

  async start(receiver: ClusterReceiver): Promise<void> {
    if (this.#started) throw new SubwireError('bad_option', 'a cluster adapter is started once, by one broker')
    this.#started = true
    this.#receiver = receiver
    let failure: unknown = null
    for (const url of this.#config.redis) {
      this.#url = url
      this.#link = this.#makeLink(url)
      try {
        await this.#link.start([this.#keys.control, this.#keys.channel(this.nodeId)])
        failure = null
        break
      } catch (err) {
        failure = err
      }
    }
    if (failure !== null) throw failure
    try {
      await this.#directory.claim(this.#link.cmd)
      await this.#join()
    } catch (err) {
      await this.#link.close()
      if (err instanceof SubwireError && err.code === 'bad_option') throw err
      throw new SubwireError('unavailable', `could not join cluster ${this.#config.name} at ${maskUrl(this.#url)}: ${err instanceof Error ? err.message : String(err)}`)
    }
    this.#heartbeat = setInterval(() => void this.#beat(), this.#config.heartbeatMs)
    this.#heartbeat.unref()
    this.#log.info({ nodeId: this.nodeId, cluster: this.#config.name, redis: maskUrl(this.#url), peers: this.#peers.size }, 'joined the cluster')
  }

  /** Announces this node and reads every other's interest (at start and after every reconnect). */
  async #join(): Promise<void> {
    const redis = this.#link.cmd
    // The data's epoch: made by the first node on an empty Redis, new again if Redis loses its data.
    const epochKey = `${this.#config.prefix}epoch`
    const [, [, epoch]] = await redis.multi().set(epochKey, randomBytes(8).toString('hex'), 'NX').get(epochKey).exec() as [unknown, [Error | null, string]]
    this.#logId = `redis:${this.#config.name}:${epoch}`
    const beat = await this.#directory.beat(redis, this.#options.info())
    this.inboxPeers.use(redis)
    const inboxes = redis.multi()
    this.inboxPeers.writeAll(inboxes)
    await inboxes.exec()
    await this.#local.announceAll(redis)
    this.#local.use(redis)
    this.#outbox.use(redis)
    for (const id of beat.dead) this.#forget(id)
    for (const id of [...this.#peers.keys()]) if (!beat.alive.has(id)) this.#forget(id)
    this.#peers = new Map(beat.alive)
    await Promise.all([...beat.alive.keys()].map((id) => this.#snapshot(id)))
  }

  /** Reads one node's whole interest hash, applying its changes that arrive meanwhile afterwards. */
  async #snapshot(nodeId: string, drop = false): Promise<void> {
    if (drop) this.#remote.drop(nodeId)
    if (this.#syncing.has(nodeId)) return
    this.#syncing.set(nodeId, [])
    const generation = this.#generation.get(nodeId) ?? 0
    try {
      const [[, hash], [, inboxes]] = await this.#link.cmd.multi().hgetall(this.#keys.interest(nodeId)).hgetall(this.#keys.inboxes(nodeId)).exec() as Array<[Error | null, Record<string, string>]>
      if ((this.#generation.get(nodeId) ?? 0) !== generation) return
      this.#remote.replace(nodeId, new Map(Object.entries(hash).map(([k, v]) => [k, Number(v)])))
      this.inboxPeers.replace(nodeId, inboxes)
    } catch (err) {
      this.#log.warn({ err, nodeId }, 'could not read a node\'s interest; it is read again at the next reconnect')
    } finally {
      const later = this.#syncing.get(nodeId) ?? []
      this.#syncing.delete(nodeId)
      if ((this.#generation.get(nodeId) ?? 0) === generation) for (const apply of later) apply()
    }
  }

  async #beat(): Promise<void> {
    if (this.#closed || !this.#link.up) { this.#lastBeat = Date.now(); return }
    // A Redis that hangs (stopped, a partition that never closes the socket) fails no command quickly and
    // closes nothing: past unavailableAfterMs without a heartbeat answered, the link is taken for down and made
    // again, so /readyz, clients and topic publishes are told rather than left waiting.
    if (Date.now() - this.#lastBeat > this.#config.unavailableAfterMs + this.#config.heartbeatMs) {
      this.#log.error({ silentMs: Date.now() - this.#lastBeat }, 'Redis has not answered a heartbeat within unavailableAfterMs: reconnecting')
      this.#lastBeat = Date.now()
      this.#link.reset()
      return
    }
    if (this.#beating) return
    this.#beating = true
    try {
      const beat = await this.#directory.beat(this.#link.cmd, this.#options.info())
      this.#lastBeat = Date.now()
      this.inboxPeers.sweep()
      if (beat.listedAgain) {
        this.#log.warn({ nodeId: this.nodeId }, 'the cluster took this node for dead (silent past nodeTimeoutMs): announcing its interest again')
        await this.#local.announceAll(this.#link.cmd)
      }
      for (const id of beat.dead) this.#forget(id)
      for (const id of this.#peers.keys()) if (!beat.alive.has(id)) this.#forget(id)
      for (const id of beat.alive.keys()) if (!this.#peers.has(id) && this.#remote.patternsOf(id) === 0) void this.#snapshot(id)
      this.#peers = new Map(beat.alive)
      this.#dropGhosts(beat.alive)
    } catch (err) {
      this.#log.debug({ err }, 'cluster heartbeat failed')
    } finally {
      this.#beating = false
    }
  }

  /**
   * Interest of a node that is not live (a forged `set`, or a snapshot answered after the node's `bye`): it
   * would draw messages to a channel nobody reads. Dropped once two heartbeats in a row did not find the node.
   */
  #dropGhosts(alive: ReadonlyMap<string, unknown>): void {
    for (const id of this.#remote.nodes) {
      if (alive.has(id)) { this.#ghosts.delete(id); continue }
      const seen = (this.#ghosts.get(id) ?? 0) + 1
      if (seen < 2) { this.#ghosts.set(id, seen); continue }
      this.#ghosts.delete(id)
      this.#forget(id)
    }
  }

  #forget(nodeId: string): void {
    if (this.#generation.size > 10_000) this.#generation.clear()
    this.#generation.set(nodeId, (this.#generation.get(nodeId) ?? 0) + 1)
    const known = this.#peers.delete(nodeId) || this.#remote.patternsOf(nodeId) > 0
    this.#remote.drop(nodeId)
    this.inboxPeers.reserveNode(nodeId)
    if (known) {
      this.#log.warn({ nodeId }, 'a cluster node left or went silent past nodeTimeoutMs')
      this.#events.emit({ type: 'node_gone', nodeId })
    }
  }

  #onDown(reason: string): void {
    if (this.#closed) return
    this.#downSince = Date.now()
    this.#local.use(null)
    this.#outbox.use(null)
    this.inboxPeers.use(null)
    this.#log.error({ reason }, 'lost the Redis link: delivering locally only until it is back')
    this.#events.emit({ type: 'link', link: 'down', downMs: 0, dropped: 0 })
  }

  async #onUp(): Promise<void> {
    if (this.#closed) return
    try {
      await this.#join()
    } catch (err) {
      this.#log.warn({ err }, 'rejoining the cluster failed; retrying at the next reconnect')
      return
    }
    this.#lastBeat = Date.now()
    const since = this.#downSince ?? Date.now()
    const dropped = this.#droppedSinceDown
    this.#downSince = null
    this.#droppedSinceDown = 0
    this.#log.info({ downMs: Date.now() - since, dropped }, 'the Redis link is back: interest announced again')
    this.#events.emit({ type: 'link', link: 'up', downMs: Date.now() - since, dropped })
  }

  #onMessage(channel: string, message: Buffer): void {
    if (this.#closed) return
    if (channel === this.#keys.control) this.#onControl(message.toString())
    else this.#onBatch(message)
  }

  #onControl(text: string): void {
    const c = parseControl(text)
    if (c === null) { this.#rejected++; return }
    const nodeId = c.node
    if (nodeId === this.nodeId) return
    // reset: the node rewrote its hashes (joined, or back after an outage); bye: it left.
    if (!('changes' in c)) { if (c.type === 'reset') void this.#snapshot(nodeId, true); else this.#forget(nodeId); return }
    const kind = c.type
    const pending = this.#syncing.get(nodeId)
    for (const change of c.changes) {
      const apply = kind === 'inbox'
        ? () => { if (!this.inboxPeers.apply(nodeId, change)) this.#rejected++ }
        : () => {
            if (!Array.isArray(change) || typeof change[0] !== 'string' || typeof change[1] !== 'number' || !this.#remote.set(nodeId, change[0], change[1])) this.#rejected++
          }
      if (pending !== undefined) pending.push(apply)
      else apply()
    }
  }

  #onBatch(message: Buffer): void {
    const batch = decodeBatch(message, this.#options)
    if (batch === null) { this.#rejected++; return }
    this.#rejected += batch.rejected
    const receiver = this.#receiver
    if (receiver === null) return
    for (const m of batch.messages) {
      this.#received++
      if (m.reply !== null) this.#replies.remember(m.reply, m.origin ?? batch.origin)
      const missed = receiver.receive(m)
      if (missed !== null) this.#reroute(m, missed, batch.origin)
    }
  }

  /** Groups chosen here that no member here took: passed once to another node's members (group-routing.ts). */
  #reroute(m: FrameMessage, missed: readonly string[], origin: string): void {
    if ((m.flags & FRAME_FLAG.rerouted) !== 0 || this.link === 'down') { this.#groupMisses += missed.length; return }
    const { chosen, misses } = rerouteChoice(this.#turns, this.#remote.targets(m.subject), missed, this.nodeId)
    this.#groupMisses += misses
    if (chosen.size === 0) return
    const body = m.tail
    // The requester's node goes with it, so a reply from the third node goes straight back there.
    for (const [node, queues] of chosen) this.#outbox.add(this.#keys.channel(node), encodeHead(body.length, queues, FRAME_FLAG.rerouted | FRAME_FLAG.groupsOnly, origin), body)
  }

  // --- the publish path ---------------------------------------------------------------------------------

  route(subject: string): RoutePlan | null {
    if (this.#closed || isNodeLocal(subject)) return null
    const targets = this.#remote.targets(subject)
    const replyNode = this.#replies.lookup(subject)
    if (targets === NO_TARGETS && replyNode === undefined) return null
    return new Plan(targets, replyNode)
  }

  hasRemoteInterest(subject: string): boolean {
    return !this.#closed && !isNodeLocal(subject) && (this.#remote.targets(subject) !== NO_TARGETS || this.#replies.lookup(subject) !== undefined)
  }

  takeLocal(plan: RoutePlan, queue: string, localMembers: number): boolean {
    const p = plan as Plan
    const shares = p.targets.groups.get(queue)
    if (shares === undefined) return true
    ;(p.decided ??= new Set()).add(queue)
    // Cut off from the other nodes, a local member takes what theirs would have lost.
    if (localMembers > 0 && this.link === 'down') return true
    const chosen = this.#turns.pick(queue, shares, localMembers)
    if (chosen === null) return true
    p.choose(chosen, queue)
    return false
  }

  takeElsewhere(plan: RoutePlan, queue: string): boolean {
    const p = plan as Plan
    const shares = p.targets.groups.get(queue)
    const node = shares === undefined ? null : this.#turns.elsewhere(queue, shares, this.nodeId)
    if (node === null) return false
    p.choose(node, queue)
    return true
  }

  publish(m: ClusterMessage, plan?: RoutePlan | null): void {
    if (this.#closed) return
    const p = (plan ?? this.route(m.subject)) as Plan | null
    if (p === null) return
    for (const [queue, shares] of p.targets.groups) {
      const chosen = p.decided?.has(queue) === true ? null : this.#turns.pick(queue, shares, 0)
      if (chosen !== null) p.choose(chosen, queue)
    }
    const nodes = p.nodes(this.nodeId)
    if (nodes.length === 0) return
    const body = bodyOf(m)
    let plainHead: Buffer | null = null // the same bytes for every node with no group chosen: encoded once
    for (const id of nodes) {
      const queues = p.chosen?.get(id)
      this.#outbox.add(this.#keys.channel(id), queues === undefined ? (plainHead ??= encodeHead(body.length, null)) : encodeHead(body.length, queues), body)
    }
  }

  addInterest(subject: string, queue: string | null): void {
    if (!this.#closed && !isNodeLocal(subject)) this.#local.add(subject, queue)
  }

  removeInterest(subject: string, queue: string | null): void {
    if (!this.#closed && !isNodeLocal(subject)) this.#local.remove(subject, queue)
  }

  stats(): ClusterStats {
    const out = this.#outbox.stats
    return {
      kind: 'redis', name: this.#config.name, nodeId: this.nodeId, redis: maskUrl(this.#url), link: this.link,
      downSince: this.#downSince, nodes: nodeViews(this.nodeId, hostname(), this.#options.info(), this.#local.size, this.#peers, (id) => this.#remote.patternsOf(id)),
      sent: out.sent, received: this.#received, dropped: out.dropped, rejected: this.#rejected, groupMisses: this.#groupMisses,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat)
    this.#receiver = null
    if (this.#link.up) {
      try {
        const redis = this.#link.cmd
        // Bounded: a Redis that hangs must not hold a shutdown (the others time this node out anyway).
        await Promise.race([
          this.#directory.leave(redis).then(() => redis.publish(this.#keys.control, controlMessage(this.nodeId, 'bye'))),
          new Promise((resolve) => setTimeout(resolve, 500).unref()),
        ])
      } catch (err) {
        this.#log.debug({ err }, 'could not say goodbye to the cluster')
      }
    }
    await this.#link.close()
  }
}
