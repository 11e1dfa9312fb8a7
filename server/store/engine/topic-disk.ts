/**
 * The seam between the engine (an in-memory index of every topic: topic-log.ts, consumer-group.ts) and where a
 * topic persists. The memory store has no disk; the file store (server/store/file/) gives each file topic a
 * TopicDisk that writes what the engine does and reads message bodies back. The engine calls it after each
 * change it makes, so a store that persists sees every change in order.
 */
import type { AppendResult, GroupConfig, ResolvedGroupConfig, ResolvedTopicConfig, SeqRange } from '../topic-store.ts'
import type { PreparedAppend, TopicLog } from './topic-log.ts'

/** How a pending message left a consumer group without a redelivery. */
export const SETTLED = {
  acked: 'a',
  terminated: 't',
  deadLettered: 'l',
  /** Evicted from the log before it was settled. */
  dropped: 'x',
} as const
export type Settled = (typeof SETTLED)[keyof typeof SETTLED]

/** Where an append went, and when it is on stable storage (null: already). */
export interface Durable {
  readonly result: AppendResult
  /** Resolves once the message is durable and readable; rejects with `storage_failed` if it never will be. */
  readonly durable: Promise<void> | null
}

/** A topic's persistence. Every method may throw a typed storage error (`storage_full`, `storage_failed`). */
export interface TopicDisk {
  /** 'file', or another kind a store defines. */
  readonly storage: string
  /**
   * Writes a checked append and `log.assign`s it, then commits it to `log` (makes it readable) now or once it
   * is on stable storage: `durable` settles then (null when that is now). Nothing is assigned when the write
   * fails.
   */
  append(log: TopicLog, p: PreparedAppend): Durable
  /** A duplicate of `seq` was published: when the original is durable (null when it is). */
  durableThrough(seq: number): Promise<void> | null
  reconfigured(config: ResolvedTopicConfig, through: number): void
  purged(filter: string | undefined, through: number): void
  groupOpened(group: string, config: ResolvedGroupConfig, startSeq: GroupConfig['startSeq'] | null): void
  groupDeleted(group: string): void
  /** A pending message was handed to a member (its delivery count grew by one). */
  delivered(group: string, seq: number): void
  settled(group: string, seq: number, how: Settled): void
  /** The log may have evicted messages: space held by them can go. */
  changed(log: TopicLog): void
  /** Bytes the topic holds on disk. */
  diskBytes(): number
  /** Ranges lost to corruption found at recovery. */
  lost(): readonly SeqRange[]
  /** The topic is deleted: its files go. */
  destroy(): void
  /** Stops writing (pending confirms settle first where they can); idempotent. */
  close(): void
}
