/**
 * The hand-over of a resumable session (PROTOCOL §4.10), apart from the link that drives it (session-resume.ts):
 * which subscriptions and held messages move to the connection that resumes it (checked as a SUB and a delivery
 * are), which leave with the socket, and the answer's loss fields.
 */
import type { ErrorCode } from '../../shared/errors.ts'
import { ServerSubscription } from '../routing/subscription.ts'
import { removeSubscription, type SubscriptionHost, type SubscriptionOwner } from './connection-subscriptions.ts'
import type { SessionLog } from './session-log.ts'

/** The connection, as its session sees it. */
export interface SessionConn extends SubscriptionOwner {
  closeWith(code: ErrorCode, message: string): void
}

export type Host = SubscriptionHost & { readonly auth: { readonly required: boolean } }

/** Most sids a resume answer lists as lost; past it `lostPartial` says the list is cut. */
const MAX_LOST_LISTED = 1024

/**
 * Tells routing that `conn` is parked or not (Subscriber#parked: queue groups pass parked members over, and
 * other nodes of a cluster stop counting them, Router#park).
 */
export function markParked(host: Host, conn: SessionConn, parked: boolean): void {
  (conn as { parked?: boolean }).parked = parked
  host.router.park(conn.subscriptions.values(), parked)
}

/** A resume answer's loss fields: `[sid, count]` pairs, at most MAX_LOST_LISTED of them. */
export function lostFields(lost: Map<number, number>, partial: boolean): { lost: number[][]; lostPartial?: true } {
  const pairs: number[][] = []
  for (const [sid, n] of lost) {
    if (pairs.length === MAX_LOST_LISTED) return { lost: pairs, lostPartial: true }
    if (n > 0) pairs.push([sid, n])
  }
  return partial ? { lost: pairs, lostPartial: true } : { lost: pairs }
}

/**
 * Replay and work-queue subscriptions are fed by topics, which resume by sequence on their own: they leave
 * with the socket (an acked member's messages go to other members), and the client subscribes them again.
 */
export function withdrawFeeds(host: Host, conn: SessionConn): void {
  for (const sub of [...conn.subscriptions.values()]) if (sub.kind !== 'plain') removeSubscription(host, conn, sub)
}

/**
 * Moves every plain subscription of `from` to `to`, as new subscriptions with the same sid, subject, queue,
 * policy and auto-unsubscribe count, checked against `to`'s permissions and budgets as a SUB is (one refused
 * there is left out: its client subscribes it again and hears why). Returns the sids moved.
 */
export function transplant(host: Host, from: SessionConn, to: SessionConn): number[] {
  const sids: number[] = []
  const budget = host.subscriptionBudget
  for (const old of from.subscriptions.values()) {
    old.active = false
    host.router.unsubscribe(old)
    budget.releaseSubscriptions(from.remoteAddress, 1)
    const refused = to.session.subscribeRefusal(old.subject, old.queue)
    from.session.release(old.subject)
    if (refused !== null) continue
    if (budget.takeSubscription(to.remoteAddress) !== null) { to.session.release(old.subject); continue }
    const sub = new ServerSubscription(to, old.sid, old.subject, old.queue)
    sub.ownInbox = to.session.ownsInbox(old.subject)
    sub.policy = old.policy
    sub.max = old.max
    sub.delivered = old.delivered
    to.subscriptions.set(sub.sid, sub)
    host.router.subscribe(sub)
    sids.push(sub.sid)
  }
  from.subscriptions.clear()
  return sids
}

/**
 * A replay is a delivery like any other: a held message of a subscription that did not move to `conn`, or on a
 * subject `conn`'s credentials may not receive (the same user may resume with narrower ones), is not replayed
 * but counted lost, as the live check in Connection#deliver would have refused it.
 */
export function onlyReceivable(log: SessionLog, conn: SessionConn, lost: Map<number, number>): void {
  const session = conn.session
  log.keep((sid, subject, reply, headers) => {
    const sub = conn.subscriptions.get(sid)
    if (sub === undefined) return false
    if (!session.restricted || sub.ownInbox) return true
    if (!session.mayReceive(subject, headers)) return false
    if (reply !== null) session.noteRequest(reply)
    return true
  }, (sid) => { lost.set(sid, (lost.get(sid) ?? 0) + 1) })
}
