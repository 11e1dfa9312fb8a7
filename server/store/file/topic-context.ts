/**
 * What a file topic gets from its store: where its files are, the file system, its tuning, and the few things
 * it asks the store back (its groups' state for a snapshot, where to report a failure).
 */
import type { GroupState } from '../engine/consumer-group.ts'
import type { FsyncPolicy, ResolvedGroupConfig, ResolvedTopicConfig } from '../topic-store.ts'
import type { DiskIo } from './disk-io.ts'

/** What a file topic needs from its store. */
export interface FileTopicContext {
  readonly io: DiskIo
  readonly dir: string
  /** Where topic.json lives (rewritten on reconfigure). */
  readonly configPath: string
  readonly segmentBytes: number
  /** fsync of a topic whose config names none. */
  readonly defaultFsync: FsyncPolicy
  readonly cacheBytes: number
  /** Reports what the topic cannot do any more (a failed sync), loudly; `fatal` false: a problem it survives. */
  readonly onFailure: (topic: string, err: unknown, fatal?: boolean) => void
  /** Directories whose entries changed when the topic was created (its own, and any parent made for it): synced
   * before its first confirm, so a power cut cannot lose the topic a confirmed message is in. */
  readonly newDirs: string[]
  /** The topic's consumer groups' state now, for a journal snapshot. */
  groupsState(): Record<string, { config: ResolvedGroupConfig; state: GroupState }>
}

/** The bytes of a topic's topic.json. */
export function configBytes(config: ResolvedTopicConfig): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify({ version: 1, config }, null, 2)}\n`)
}
