/**
 * What a topic config may say in a cluster: its messages live in the cluster's Redis (`storage: 'redis'`,
 * the default there). A per-node topic (`'memory'`, `'file'`) would hold different messages on each node and
 * answer replays differently depending on which node a client reached, so it is refused, not kept quietly.
 */
import { SubwireError } from '../../shared/errors.ts'
import { resolveTopicConfig } from '../store/topic-config.ts'
import type { ResolvedTopicConfig, TopicConfig } from '../store/topic-store.ts'

/** The storage of topics in a cluster. */
export const SHARED_STORAGE = 'redis'

/** @throws `bad_topic_config` for a storage other than the cluster's, or `fsync` (file topics only) */
export function checkSharedConfig(config: TopicConfig): void {
  if (typeof config !== 'object' || config === null) return // the store says what is wrong with it
  const storage: unknown = config.storage
  const name = JSON.stringify(config.name)
  if (storage !== undefined && storage !== SHARED_STORAGE) {
    throw new SubwireError('bad_topic_config', `topic ${name}: storage ${JSON.stringify(storage)} is per node, and a broker in a cluster keeps every topic in the cluster's Redis so that all nodes see the same messages: leave storage out or use storage: 'redis'`)
  }
  if (config.fsync !== undefined) throw new SubwireError('bad_topic_config', `topic ${name}: fsync applies to storage: 'file' only (a cluster's topics are in Redis)`)
}

/** @throws `bad_topic_config` for `storage: 'redis'` on a broker without `cluster` */
export function checkLocalConfig(config: TopicConfig): void {
  if (typeof config === 'object' && config !== null && (config.storage as unknown) === SHARED_STORAGE) {
    throw new SubwireError('bad_topic_config', `topic ${JSON.stringify(config.name)}: storage: 'redis' needs the broker option cluster (the Redis the nodes share)`)
  }
}

const COMPARED = ['maxMsgs', 'maxBytes', 'maxAgeMs', 'maxMsgsPerSubject', 'discard', 'duplicateWindowMs'] as const

/** True when a declared config is what `current` has already (no update needed). @throws `bad_topic_config` */
export function declaredMatches(current: ResolvedTopicConfig, declared: TopicConfig): boolean {
  const wanted = resolveTopicConfig({ ...declared, storage: undefined })
  return current.subjects.join('\u0000') === wanted.subjects.join('\u0000') && COMPARED.every((key) => wanted[key] === current[key])
}
