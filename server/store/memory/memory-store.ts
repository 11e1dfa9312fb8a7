/**
 * The in-memory TopicStore: the engine (server/store/engine/) with no disk. Fast, and gone when the process
 * ends. Every method answers synchronously (a MaybePromise may be a value).
 */
import { EngineTopicStore } from '../engine/engine-store.ts'
import type { AppendInput, AppendResult } from '../topic-store.ts'

/** Options of the in-memory store. */
export interface MemoryTopicStoreOptions {
  /**
   * The clock (epoch ms) behind message times, age limits, dedup windows and ack deadlines; tests inject one so
   * nothing sleeps.
   * @default Date.now
   */
  readonly now?: () => number
  /**
   * Most `msgId`s one topic remembers for de-duplication, whatever its window.
   * @default 100000
   */
  readonly maxDuplicateIds?: number
}

/**
 * Topics held in memory.
 * @example
 * const store = new MemoryTopicStore()
 * store.create({ name: 'orders', subjects: ['orders.>'], maxMsgs: 10_000 })
 * const { seq } = await store.append('orders', { subject: 'orders.eu.1', payload: bytes })
 */
export class MemoryTopicStore extends EngineTopicStore {
  constructor(options: MemoryTopicStoreOptions = {}) {
    super(options)
  }

  /** Synchronous here: memory topics have no disk to wait for. */
  override append(topic: string, input: AppendInput): AppendResult {
    return this.appendNow(topic, input) as AppendResult
  }
}
