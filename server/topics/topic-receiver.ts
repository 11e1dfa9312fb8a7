/** What the topic runtime (topics.ts, replays.ts) needs from a consumer's connection, and how a replay starts. */
import type { Session } from '../security/session.ts'
import type { StoredMessage } from '../store/topic-store.ts'

/** What a topic consumer's connection offers. */
export interface TopicReceiver {
  readonly id: string
  readonly session: Session
  /** True while the connection's unsent bytes are over its high-water mark. */
  readonly backedUp: boolean
  /** True while the socket itself is behind; the topic runtime's `resume` is called when it drains. */
  readonly congested: boolean
  deliverStored(sid: number, m: StoredMessage, deliveryCount: number): void
  event(sid: number, type: string, data: Record<string, unknown>): void
}

/** How a replay subscription starts (PROTOCOL §8.3). */
export type DeliverPolicy = 'all' | 'last' | 'last_per_subject' | 'new' | { startSeq: number } | { startTime: number }
