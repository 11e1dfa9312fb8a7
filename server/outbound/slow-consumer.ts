/**
 * The slow-consumer policy of one subscription (PROTOCOL §8.5), decided in one place: what happens to a
 * message for a subscription whose connection is at its outbound cap. `disconnect` (the broker's default)
 * leaves the decision to the queue, which closes the connection past its cap; `drop_new` drops the message and
 * reports it; `drop_old` and `keep_latest` hold it (held-messages.ts) until the socket drains.
 *
 * Plain functions over the connection's queue and cap, not an object per connection: idle connections are
 * counted in bytes (bench E).
 */
import type { Delivery } from './delivery.ts'
import { HeldMessages } from './held-messages.ts'
import type { Outbound } from './outbound-queue.ts'

/** What a subscriber wants done when it cannot keep up (PROTOCOL §8.5). */
export const SLOW_POLICY = { disconnect: 'disconnect', dropNew: 'drop_new', dropOld: 'drop_old', keepLatest: 'keep_latest' } as const
export type SlowPolicy = (typeof SLOW_POLICY)[keyof typeof SLOW_POLICY]

/** What the policy keeps per subscription (the broker's subscription object carries these fields). */
export interface SlowConsumerState {
  readonly sid: number
  readonly subject: string
  /** The MSG bytes before the shared tail. */
  readonly prefix: Uint8Array
  /** null: the broker's policy (disconnect). */
  policy: SlowPolicy | null
  /** Messages dropped under `drop_new` (or pushed out of a held backlog), and how many were reported. */
  dropped: number
  droppedReported: number
  lastDropReport: number
  /** Messages held back under `drop_old` / `keep_latest` while the connection is over its cap. */
  held: HeldMessages | null
}

/** What became of an offered message. */
export const OFFERED = { sent: 0, held: 1, dropped: 2 } as const
export type Offered = (typeof OFFERED)[keyof typeof OFFERED]

/** Bytes a message adds to the queue, with a fixed allowance for its MSG framing. */
function fits(out: Outbound, maxPendingBytes: number, d: Delivery): boolean {
  return out.pendingBytes + d.payloadLength + d.subject.length + 64 <= maxPendingBytes
}

/** Queues `d` for `sub`, or holds or drops it as the subscription's policy says. */
export function offer(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState, d: Delivery): Offered {
  const policy = sub.policy
  if (policy !== null && policy !== SLOW_POLICY.disconnect && !fits(out, maxPendingBytes, d)) {
    if (policy === SLOW_POLICY.dropNew) {
      sub.dropped++
      reportDrops(out, maxPendingBytes, sub, false)
      return OFFERED.dropped
    }
    hold(out, maxPendingBytes, sub, d)
    return OFFERED.held
  }
  // Behind what is already held: order within a subscription is kept.
  if (sub.held !== null && sub.held.size > 0) { hold(out, maxPendingBytes, sub, d); return OFFERED.held }
  return out.msg(sub.prefix, sub.sid, d) ? OFFERED.sent : OFFERED.dropped
}

function hold(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState, d: Delivery): void {
  // A held backlog gets an eighth of the connection's cap: enough to bridge a hiccup, bounded per subscription.
  sub.held ??= new HeldMessages(sub.policy as 'drop_old' | 'keep_latest', Math.max(64 * 1024, maxPendingBytes >> 3))
  const dropped = sub.held.hold(d)
  if (dropped > 0) { sub.dropped += dropped; reportDrops(out, maxPendingBytes, sub, false) }
}

/** Once the socket has drained: sends held messages while they fit, oldest first, and reports drops. */
export function afterDrain(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState): void {
  const held = sub.held
  if (held !== null && held.size > 0) held.release((d) => fits(out, maxPendingBytes, d) && out.msg(sub.prefix, sub.sid, d))
  if (sub.dropped > sub.droppedReported) reportDrops(out, maxPendingBytes, sub, true)
}

/**
 * Tells the subscriber how many messages it lost, as a `slow_consumer` EVENT: at most once a second unless
 * forced, and only when the event itself fits (it is sent once there is room).
 */
function reportDrops(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState, force: boolean): void {
  const unreported = sub.dropped - sub.droppedReported
  const now = Date.now()
  if (unreported === 0 || (!force && now - sub.lastDropReport < 1000)) return
  if (out.pendingBytes + 512 > maxPendingBytes) return
  sub.droppedReported = sub.dropped
  sub.lastDropReport = now
  out.event(sub.sid, 'slow_consumer', { dropped: unreported, total: sub.dropped, subject: sub.subject })
}
