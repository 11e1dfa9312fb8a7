/**
 * Which nodes are in the cluster, kept in Redis with no clock shared between machines: each node refreshes a
 * key of its own (`<prefix>node:<id>`, its stats as JSON) that expires after `nodeTimeoutMs`, and lists itself
 * in the set `<prefix>nodes`. A node whose key is gone is dead, whoever looks: a survivor removes it from the
 * set and deletes its interest hash, so a crashed node's subscriptions stop attracting messages once it has
 * been silent for the timeout.
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { SubwireError } from '../../../shared/errors.ts'
import type { ClusterNodeView } from '../cluster-adapter.ts'

/** What a node says about itself with every heartbeat. */
export interface NodeInfo {
  readonly connections: number
  readonly subscriptions: number
}

interface Announced extends NodeInfo {
  readonly pid: number
  readonly host: string
  readonly startedAt: number
  /** Random per process: tells this node's key from another process's under the same nodeId. */
  readonly token: string
}

/** The `/stats` rows: this node first, then its live peers. */
export function nodeViews(self: string, host: string, info: NodeInfo, patterns: number, peers: ReadonlyMap<string, NodeInfo & { pid: number; host: string; startedAt: number }>, patternsOf: (id: string) => number): ClusterNodeView[] {
  const views: ClusterNodeView[] = [{ nodeId: self, self: true, ...info, pid: process.pid, host, startedAt: null, patterns }]
  for (const [id, p] of peers) {
    views.push({ nodeId: id, self: false, connections: p.connections, subscriptions: p.subscriptions, pid: p.pid, host: p.host, startedAt: p.startedAt, patterns: patternsOf(id) })
  }
  return views
}

/** True when a process of this pid runs on this machine. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface Keys {
  readonly nodes: string
  node(id: string): string
  interest(id: string): string
  /** A node's inbox claims (cluster-inboxes.ts). */
  inboxes(id: string): string
  channel(id: string): string
  readonly control: string
}

export function clusterKeys(prefix: string): Keys {
  return {
    nodes: `${prefix}nodes`,
    node: (id) => `${prefix}node:${id}`,
    interest: (id) => `${prefix}i:${id}`,
    inboxes: (id) => `${prefix}ib:${id}`,
    channel: (id) => `${prefix}n:${id}`,
    control: `${prefix}interest`,
  }
}

function parseInfo(raw: string | null): Announced | null {
  if (raw === null) return null
  try {
    const v = JSON.parse(raw) as Partial<Announced>
    return {
      connections: typeof v.connections === 'number' ? v.connections : 0,
      subscriptions: typeof v.subscriptions === 'number' ? v.subscriptions : 0,
      pid: typeof v.pid === 'number' ? v.pid : 0,
      host: typeof v.host === 'string' ? v.host : '',
      startedAt: typeof v.startedAt === 'number' ? v.startedAt : 0,
      token: typeof v.token === 'string' ? v.token : '',
    }
  } catch {
    return null
  }
}

/** What one heartbeat found. */
export interface Beat {
  /** Live nodes other than this one, with what they said. */
  readonly alive: ReadonlyMap<string, NodeInfo & { pid: number; host: string; startedAt: number }>
  /** Nodes listed but silent past the timeout (already removed from the set). */
  readonly dead: readonly string[]
  /**
   * This node was not in the set: its first beat, or another node took it for dead (it was silent past the
   * timeout, e.g. a long pause) and deleted its interest, which it must then announce again.
   */
  readonly listedAgain: boolean
}

export class NodeDirectory {
  readonly #keys: Keys
  readonly #self: string
  readonly #timeoutMs: number
  readonly #startedAt = Date.now()
  readonly #host: string
  readonly #token = randomBytes(8).toString('hex')

  constructor(keys: Keys, self: string, timeoutMs: number, host: string) {
    this.#keys = keys
    this.#self = self
    this.#timeoutMs = timeoutMs
    this.#host = host
  }

  /** Refreshes this node's key and reads everyone else's. */
  async beat(redis: Redis, info: NodeInfo): Promise<Beat> {
    const mine = JSON.stringify({ ...info, pid: process.pid, host: this.#host, startedAt: this.#startedAt, token: this.#token })
    const [, added, members] = await redis.multi()
      .set(this.#keys.node(this.#self), mine, 'PX', this.#timeoutMs)
      .sadd(this.#keys.nodes, this.#self)
      .smembers(this.#keys.nodes)
      .exec() as [unknown, [Error | null, number], [Error | null, string[]]]
    const others = (members[1] ?? []).filter((id) => id !== this.#self)
    const alive = new Map<string, Announced>()
    const dead: string[] = []
    if (others.length > 0) {
      const values = await redis.mget(others.map((id) => this.#keys.node(id)))
      others.forEach((id, i) => {
        const v = parseInfo(values[i] ?? null)
        if (v === null) dead.push(id)
        else alive.set(id, v)
      })
    }
    if (dead.length > 0) {
      const tx = redis.multi()
      for (const id of dead) tx.srem(this.#keys.nodes, id).del(this.#keys.interest(id)).del(this.#keys.inboxes(id))
      await tx.exec()
    }
    return { alive, dead, listedAgain: added[1] === 1 }
  }

  /**
   * Refuses to start under the nodeId of a live node: two nodes sharing one would share a channel and a hash,
   * each ignoring the other's interest. A key left by a crashed process of this machine does not count.
   * @throws SubwireError `bad_option`
   */
  async claim(redis: Redis): Promise<void> {
    const v = parseInfo(await redis.get(this.#keys.node(this.#self)))
    if (v === null || v.token === this.#token) return
    if (v.host === this.#host && v.pid !== process.pid && !pidAlive(v.pid)) return
    throw new SubwireError('bad_option', `option cluster: nodeId ${this.#self} is in use by pid ${v.pid} on ${v.host || 'another host'}; give each node its own (or leave nodeId out)`)
  }

  /** Removes this node from the cluster (a clean leave). */
  async leave(redis: Redis): Promise<void> {
    await redis.multi().srem(this.#keys.nodes, this.#self).del(this.#keys.node(this.#self)).del(this.#keys.interest(this.#self)).del(this.#keys.inboxes(this.#self)).exec()
  }
}
