/**
 * The topic store every node of a cluster shares (issue 14, "Topics in a cluster"): a `TopicStore` whose
 * answers come later (Redis), plus what several nodes need of it: pulls for one node's members only, the
 * departure of a dead node's members, and a notice on every node after any node's append.
 *
 * `RedisTopicStore` (server/store/redis/) is the implementation; it is loaded on first use, so a broker
 * without `cluster` never loads it (nor ioredis).
 */
import type { ClusterConfig } from '../cluster/cluster-options.ts'
import type { MaybePromise, PullResult, TopicStore } from '../store/topic-store.ts'

/** A topic store shared by the nodes of a cluster. */
export interface SharedTopicStore extends TopicStore {
  /**
   * As `TopicStore.pull`, handing messages only to members whose name starts with `memberPrefix` (this node's,
   * `<nodeId>/`); what is due by the clock is applied for every member.
   */
  pull(topic: string, group: string, memberPrefix?: string): MaybePromise<PullResult>
  /** Every member of every group whose name starts with `prefix` leaves (a dead node's); idempotent. */
  leaveMembers(prefix: string): MaybePromise<number>
  /** Calls `listener` on every node after any node's append to `topic`, with the topic's last sequence. */
  onAppended(listener: (topic: string, lastSeq: number) => void): () => void
}

/** Opens the store of `cluster` (keys under its prefix). */
export type SharedStoreFactory = (cluster: ClusterConfig) => Promise<SharedTopicStore>

/** The Redis Streams store of the cluster's Redis, loaded now. */
export const openRedisTopicStore: SharedStoreFactory = async (cluster) => {
  const { RedisTopicStore } = await import('../store/redis/redis-store.ts')
  // Several URLs reach the same Redis by other addresses: the store tries them in turn at each reconnect.
  return new RedisTopicStore({ redis: cluster.redis.length === 1 ? cluster.redis[0] : cluster.redis, prefix: cluster.prefix })
}
