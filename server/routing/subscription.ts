/** A subscription as the broker holds it: one per SUB op, owned by its subscriber, indexed by subject. */
import { msgPrefix } from '../../shared/op-writer.ts'
import type { Delivery } from '../outbound/delivery.ts'
import { policyClass, type Offered, type SlowConsumerState, type SlowPolicy } from '../outbound/slow-consumer.ts'
import type { Indexed, Run } from './subject-index.ts'

/**
 * What routing needs from the owner of a subscription (a client connection implements it). Owned here so the
 * publish path depends on this interface, never on the connection (which depends on routing).
 */
export interface Subscriber {
  /** False: the subscriber's own publishes skip its subscriptions. */
  readonly echo: boolean
  /** Queues one message for one of its subscriptions, or says why not (permission, policy, cap). */
  deliver(sub: ServerSubscription, d: Delivery): Offered
  /**
   * True while it has no socket but keeps its subscriptions (a parked resumable session): a queue group hands a
   * message to it only when no connected member takes it (router.ts deliverGroups). Absent: connected.
   */
  readonly parked?: boolean
}

/** A number per subscriber, so its subscriptions on one pattern share a run (subject-index.ts). */
const serials = new WeakMap<Subscriber, number>()
let nextSerial = 0

export class ServerSubscription implements Indexed, SlowConsumerState {
  readonly conn: Subscriber
  readonly sid: number
  readonly subject: string
  readonly queue: string | null
  /** The MSG bytes before the shared tail, computed once per subscription rather than per delivery. */
  readonly prefix: Uint8Array
  /** Auto-unsubscribe after this many deliveries in all (UNSUB with a max), or null. */
  max: number | null = null
  delivered = 0
  /** False once removed: a publish being routed may still reach it (the router takes it out afterwards). */
  active = true
  /** Clustered: a parked member's queue interest, withdrawn from the other nodes while it is parked (Router#park). */
  interestWithdrawn = false
  /** True for the connection's own reply inbox, which delivery permission checks skip. */
  ownInbox = false
  /** plain: routed through the subject index; replay or group: fed by a topic (topics/topics.ts). */
  kind: 'plain' | 'replay' | 'group' = 'plain'
  /** For a work-queue member: the topic its group consumes (found once, at join). */
  topic: string | null = null
  /** Slow-consumer policy (outbound/slow-consumer.ts); null: the broker's (disconnect). */
  policy: SlowPolicy | null = null
  /** Where the subject index keeps it (subject-index.ts); the drop and held-message counts are the policy's. */
  run: Run<ServerSubscription> | null = null
  slot = -1
  dropped = 0
  dropBase = 0
  droppedReported = 0
  heldFrom = 0

  constructor(conn: Subscriber, sid: number, subject: string, queue: string | null) {
    this.conn = conn
    this.sid = sid
    this.subject = subject
    this.queue = queue
    this.prefix = msgPrefix(sid)
  }

  /** Its owner and slow-consumer policy (read when the index takes it in). */
  get runKey(): number {
    let serial = serials.get(this.conn)
    if (serial === undefined) serials.set(this.conn, (serial = nextSerial++))
    return serial * 4 + policyClass(this.policy)
  }
}
