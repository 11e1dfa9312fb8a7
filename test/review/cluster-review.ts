/**
 * The cluster reviewer's harness: brokers joined on one real redis-server (one per suite), with named
 * restricted users on tokens as test/security/users.ts makes them, so a permission attack can put the victim
 * on one node and the attacker on another. Every broker and client made here is closed after each test.
 */
import { Redis } from 'ioredis'
import type { Test } from 'uvu'
import type { Broker, BrokerOptions, Permissions } from '../../server/index.ts'
import type { ClusterOptions } from '../../server/cluster/cluster-options.ts'
import { startRedis, type TestRedis } from '../cluster/redis-server.ts'
import { startBroker, until } from '../helpers.ts'
import { ADMIN_TOKEN, tokenOf } from '../security/users.ts'

export interface Harness {
  readonly redis: () => TestRedis
  /** `n` brokers of one new cluster (heartbeat 100 ms, node timeout 1 s), each with `users` on tokens. */
  nodes(n: number, users?: Record<string, Permissions>, options?: BrokerOptions, cluster?: Partial<ClusterOptions>): Promise<Broker[]>
  track<T extends { close(): unknown }>(x: T): T
  /** A plain ioredis connection to the suite's Redis (closed after the test). */
  raw(): Redis
  /** A fresh cluster name (keys and channels `subwire:<name>:`). */
  name(): string
}

let clusters = 0

/** Wires a suite: one redis-server for it, everything else closed after each test. */
export function clusterHarness(suite: Test): Harness {
  let redis: TestRedis | null = null
  const open: Array<{ close(): unknown }> = []
  const track = <T extends { close(): unknown }>(x: T): T => { open.push(x); return x }
  suite.before(async () => { redis = await startRedis() })
  suite.after.each(async () => {
    for (const x of open.splice(0).reverse()) {
      try { await x.close() } catch { /* closing what a test broke on purpose */ }
    }
  })
  suite.after(async () => { await redis?.close() })
  const server = (): TestRedis => {
    if (redis === null) throw new Error('no redis-server yet')
    return redis
  }
  const name = (): string => `rv${process.pid}x${++clusters}`
  return {
    redis: server,
    track,
    name,
    raw: () => {
      const r = new Redis(server().url, { lazyConnect: false, maxRetriesPerRequest: 1 })
      r.on('error', () => {})
      track({ close: () => r.disconnect() })
      return r
    },
    async nodes(n, users, options = {}, cluster = {}) {
      const clusterName = cluster.name ?? name()
      const auth = users === undefined ? {} : {
        auth: { tokens: [{ token: ADMIN_TOKEN, user: 'admin' }, ...Object.entries(users).map(([user, permissions]) => ({ token: tokenOf(user), user, permissions }))] },
      }
      const out: Broker[] = []
      for (let i = 0; i < n; i++) {
        out.push(track(await startBroker({ ...options, ...auth, cluster: { redis: server().url, heartbeatMs: 100, nodeTimeoutMs: 1000, ...cluster, name: clusterName } })))
      }
      // Every node sees all the others before a test starts.
      for (const b of out) await until(5000, () => (b.cluster.stats()?.nodes.length ?? 0) >= n, `${n} nodes seen by ${b.cluster.nodeId}`)
      return out
    },
  }
}

/** Waits until `b` knows another node wants `subject`. */
export function remoteInterest(b: Broker, subject: string, ms = 5000): Promise<void> {
  return until(ms, () => b.cluster.hasRemoteInterest(subject), `interest in ${subject} at ${b.cluster.nodeId}`)
}

/** Waits until `b` counts `members` members of `queue` on other nodes for `subject`. */
export async function remoteMembers(b: Broker, subject: string, queue: string, members: number): Promise<void> {
  await until(5000, () => {
    const plan = b.cluster.route(subject) as { targets: { groups: Map<string, Array<{ members: number }>> } } | null
    return (plan?.targets.groups.get(queue) ?? []).reduce((n, s) => n + s.members, 0) === members
  }, `${members} remote members of ${queue}`)
}
