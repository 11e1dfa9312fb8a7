/** A subscription as the broker holds it: one per SUB op, owned by its connection, indexed by subject. */
import { msgPrefix } from '../../shared/codec.ts'
import type { Indexed } from './subject-index.ts'
import type { Connection } from '../edge/connection.ts'
import type { SlowPolicy } from '../topics/sub-options.ts'
import type { HeldMessages } from '../outbound/held-messages.ts'

export class ServerSubscription implements Indexed {
  readonly conn: Connection
  readonly sid: number
  readonly subject: string
  readonly queue: string | null
  /** The MSG bytes before the shared tail, computed once per subscription rather than per delivery. */
  readonly prefix: Uint8Array
  /** Auto-unsubscribe after this many deliveries in all (UNSUB with a max), or null. */
  max: number | null = null
  delivered = 0
  /** False once removed: a cached match result may still list it for the rest of the current publish. */
  active = true
  /** True for the connection's own reply inbox, which delivery permission checks skip. */
  ownInbox = false
  /** plain: routed through the subject index; replay or group: fed by a topic (topics.ts). */
  kind: 'plain' | 'replay' | 'group' = 'plain'
  /** For a work-queue member: the topic its group consumes (found once, at join). */
  topic: string | null = null
  /** Slow-consumer policy; null: the broker's (disconnect). */
  policy: SlowPolicy | null = null
  /** Messages dropped under `drop_new`, and how many of those the client has been told about. */
  dropped = 0
  droppedReported = 0
  lastDropReport = 0
  /** Messages held back under `drop_old` / `keep_latest` while the connection is over its cap. */
  held: HeldMessages | null = null

  constructor(conn: Connection, sid: number, subject: string, queue: string | null) {
    this.conn = conn
    this.sid = sid
    this.subject = subject
    this.queue = queue
    this.prefix = msgPrefix(sid)
  }
}
