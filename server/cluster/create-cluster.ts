/** Picks the broker's cluster adapter: a cluster of one, or the Redis cluster the `cluster` option names. */
import type { Logger } from 'pino'
import type { ClusterAdapter } from './cluster-adapter.ts'
import type { ClusterConfig } from './cluster-options.ts'
import { LocalCluster } from './local-cluster.ts'
import type { NodeInfo } from './redis/node-directory.ts'
import { RedisCluster } from './redis/redis-cluster.ts'

export interface ClusterHost {
  readonly logger: Logger
  readonly maxSubjectLength: number
  readonly maxHeaders: number
  readonly maxPayload: number
  readonly info: () => NodeInfo
  readonly beforeWrites?: (task: () => void) => void
}

export function createClusterAdapter(config: ClusterConfig | null, host: ClusterHost): ClusterAdapter {
  if (config === null) return new LocalCluster()
  return new RedisCluster({ config, logger: host.logger.child({ component: 'cluster' }), maxSubjectLength: host.maxSubjectLength, maxHeaders: host.maxHeaders, maxPayload: host.maxPayload, info: host.info, beforeWrites: host.beforeWrites })
}
