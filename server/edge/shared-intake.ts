/**
 * The publish intake of a broker in a cluster, for what reaches topics (issue 14): a publish a topic covers
 * is appended to the shared store and, once stored, confirmed and routed live; management requests wait for
 * the store too. The publisher's order holds: while one of its topic operations waits for the store, every
 * later publish of that connection (topic or not) waits behind it, in order; with none waiting, a publish no
 * topic covers goes straight to the router as on a single node.
 *
 * A failed append (`unavailable` when Redis is unreachable, or the store's typed errors) goes back to the
 * publisher: on the confirm's reply subject when it asked for one, as ERR otherwise. Nothing is dropped
 * silently and nothing is routed that was not stored.
 */
import { SubwireError } from '../../shared/errors.ts'
import { quoteSubject } from '../../shared/subject.ts'
import { payloadOfTail } from '../outbound/delivery.ts'
import type { Session } from '../security/session.ts'
import { clusterTopicApi } from '../topics/cluster-api.ts'
import type { ClusterTopics } from '../topics/cluster-topics.ts'
import { asSubwireError, isTopicApi, wantsConfirm } from '../topics/topic-intake.ts'
import type { ErrorCode } from '../../shared/errors.ts'
import type { Publisher, Router } from '../routing/router.ts'
import type { BrokerReply } from '../topics/topic-intake.ts'

/** What it needs of the broker (publish-intake.ts PublishHost). */
interface PublishHost {
  readonly router: Router
  reply(subject: string, reply: BrokerReply): void
}

/** The publishing connection (publish-intake.ts PublishingClient). */
interface PublishingClient extends Publisher {
  refusePublish(code: ErrorCode, message: string, subject: string): void
}

/**
 * Operations one publisher may have waiting for the store; past it, publishes are refused with `limit` (a
 * publisher outrunning Redis is told, rather than buffered without bound). Appends are pipelined, so this is
 * reached only when Redis falls behind the publisher.
 */
export const MAX_WAITING_PER_PUBLISHER = 16_384

/**
 * A publisher's operations waiting for the store. Appends are sent at once, in the publisher's order (the
 * store keeps call order per topic: redis-log.ts batches them); their outcomes (confirm, live routing) are
 * handled one after the other in that order on `tail`. An operation that must wait before it can send
 * anything (a management request, a confirmed publish looking up a topic this node does not know yet) is a
 * barrier: later operations start after it.
 */
interface Chain {
  tail: Promise<void>
  barrier: Promise<void> | null
  waiting: number
}

const chains = new WeakMap<PublishingClient, Chain>()
/** Operations waiting on every connection: at 0 (most of the time) a core publish skips the map lookup. */
let waitingTotal = 0

/** One operation: `start` sends it (synchronously, up to its first await); `finish` acts on its outcome. */
function enqueue<R>(from: PublishingClient, start: () => Promise<R>, finish: (r: R) => void, barrier: boolean): boolean {
  let chain = chains.get(from)
  if (chain === undefined) chains.set(from, (chain = { tail: Promise.resolve(), barrier: null, waiting: 0 }))
  if (chain.waiting >= MAX_WAITING_PER_PUBLISHER) return false
  chain.waiting++
  waitingTotal++
  const c = chain
  const sent = c.barrier === null ? start() : c.barrier.then(start)
  if (barrier) {
    const b: Promise<void> = sent.then(() => {}, () => {}).then(() => { if (c.barrier === b) c.barrier = null })
    c.barrier = b
  }
  c.tail = c.tail.then(() => sent).then(finish).catch(() => {}).then(() => { c.waiting--; waitingTotal-- })
  return true
}

function busy(from: PublishingClient): boolean {
  return waitingTotal > 0 && (chains.get(from)?.waiting ?? 0) > 0
}

/**
 * Takes a PUB that passed the payload and permission checks, on a broker in a cluster. Returns true when it
 * took it (answered, queued, or refused), false when it is a plain publish for the caller to route now.
 */
export function intakeShared(host: PublishHost, shared: ClusterTopics, from: PublishingClient, session: Session, flags: number,
  subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number, payload: Uint8Array | null,
  size: number, tail: Uint8Array | null): boolean {
  const api = isTopicApi(subject)
  const confirm = wantsConfirm(flags)
  // The core publish path in a cluster: no topic, no confirm, nothing of this publisher's waiting.
  if (!api && !confirm && !busy(from) && (!shared.active || shared.topicFor(subject) === null)) return false
  if (api && reply === null) { from.refusePublish('bad_option', 'a topic API request needs a reply subject', subject); return true }
  if (confirm && reply === null) { from.refusePublish('bad_option', 'a confirmed publish needs a reply subject', subject); return true }
  const refusal = api ? null : host.router.check(subject, reply)
  if (refusal !== null) { from.refusePublish(refusal.code, refusal.message, subject); return true }
  // The bytes outlive the frame they came in: a copy, once, for publishes that wait.
  const bytes = (payload ?? payloadOfTail(tail as Uint8Array, size)).slice()
  const route = (to: string | null): void => {
    const refused = host.router.publish(from, flags, subject, to, headers, encoding, bytes, null)
    if (refused !== null) from.refusePublish(refused.code, refused.message, subject)
  }
  let queued: boolean
  if (api) {
    queued = enqueue(from, () => clusterTopicApi(shared, session, subject, encoding, bytes), (r) => host.reply(reply as string, r), true)
  } else {
    // Which topic is asked when the append is sent: a management request before it may have made one.
    const outcome = (): Promise<Outcome> => sendAppend(shared, shared.topicFor(subject), confirm, subject, headers, encoding, bytes)
    queued = enqueue(from, outcome, (o) => finish(host, from, o, confirm, subject, reply, route), confirm && shared.topicFor(subject) === null)
  }
  if (!queued) from.refusePublish('limit', `more than ${MAX_WAITING_PER_PUBLISHER} of this connection's publishes are waiting for the topic store`, subject)
  return true
}

/** Where a publish went: stored, not covered by any topic, or refused. */
type Outcome = { topic: string; seq: number; duplicate: boolean } | { topic: null } | { error: SubwireError }

/** Sends the append now (the store queues it in call order); a confirm's unknown subject is looked up first. */
async function sendAppend(shared: ClusterTopics, known: string | null, confirm: boolean, subject: string,
  headers: Record<string, string> | null, encoding: number, bytes: Uint8Array): Promise<Outcome> {
  let topic = known
  try {
    // A confirm never says "not stored" for a topic another node made a moment ago.
    if (topic === null && confirm) topic = await shared.lookup(subject)
    if (topic === null) return { topic: null }
    const r = await shared.append(topic, subject, headers, encoding, bytes)
    return { topic, seq: r.seq, duplicate: r.duplicate }
  } catch (err) {
    const error = asSubwireError(err, 'unavailable')
    // Deleted on another node since this node last looked: not a topic publish any more.
    if (error.code === 'no_topic' && !confirm) { void shared.catalogue.refresh().catch(() => {}); return { topic: null } }
    return { error }
  }
}

function finish(host: PublishHost, from: PublishingClient, o: Outcome, confirm: boolean, subject: string,
  reply: string | null, route: (reply: string | null) => void): void {
  if ('error' in o) {
    if (confirm) host.reply(reply as string, { error: o.error })
    else from.refusePublish(o.error.code, o.error.message, subject)
    return
  }
  if (o.topic === null) {
    if (confirm) host.reply(reply as string, { error: new SubwireError('no_topic', `no topic covers ${quoteSubject(subject)}`) })
    else route(reply)
    return
  }
  if (confirm) host.reply(reply as string, { data: { topic: o.topic, seq: o.seq, duplicate: o.duplicate } })
  // A duplicate was stored, and routed, once already; the reply subject of a confirmed publish was for the confirm.
  if (!o.duplicate) route(confirm ? null : reply)
}
