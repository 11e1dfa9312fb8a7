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
 * publisher outrunning Redis is told, rather than buffered without bound).
 */
export const MAX_WAITING_PER_PUBLISHER = 4096

interface Chain {
  tail: Promise<void>
  waiting: number
}

const chains = new WeakMap<PublishingClient, Chain>()

function enqueue(from: PublishingClient, op: () => Promise<void> | void): boolean {
  let chain = chains.get(from)
  if (chain === undefined) chains.set(from, (chain = { tail: Promise.resolve(), waiting: 0 }))
  if (chain.waiting >= MAX_WAITING_PER_PUBLISHER) return false
  chain.waiting++
  const c = chain
  c.tail = c.tail.then(op).catch(() => {}).then(() => { c.waiting-- })
  return true
}

function busy(from: PublishingClient): boolean {
  return (chains.get(from)?.waiting ?? 0) > 0
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
  if (!api && !confirm && !busy(from) && shared.topicFor(subject) === null) return false
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
  const op = api
    ? async () => { host.reply(reply as string, await clusterTopicApi(shared, session, subject, encoding, bytes)) }
    : async () => { await store(host, shared, from, confirm, subject, reply, headers, encoding, bytes, route) }
  if (!enqueue(from, op)) from.refusePublish('limit', `more than ${MAX_WAITING_PER_PUBLISHER} of this connection's publishes are waiting for the topic store`, subject)
  return true
}

async function store(host: PublishHost, shared: ClusterTopics, from: PublishingClient, confirm: boolean, subject: string, reply: string | null,
  headers: Record<string, string> | null, encoding: number, bytes: Uint8Array, route: (reply: string | null) => void): Promise<void> {
  const fail = (error: SubwireError): void => {
    if (confirm) host.reply(reply as string, { error })
    else from.refusePublish(error.code, error.message, subject)
  }
  let topic = shared.topicFor(subject)
  try {
    // A confirm never says "not stored" for a topic another node made a moment ago.
    if (topic === null && confirm) topic = await shared.lookup(subject)
  } catch (err) {
    fail(asSubwireError(err, 'unavailable'))
    return
  }
  if (topic === null) {
    if (confirm) fail(new SubwireError('no_topic', `no topic covers ${quoteSubject(subject)}`))
    else route(reply)
    return
  }
  let result
  try {
    result = await shared.append(topic, subject, headers, encoding, bytes)
  } catch (err) {
    const error = asSubwireError(err, 'unavailable')
    // Deleted on another node since this node last looked: not a topic publish any more.
    if (error.code === 'no_topic' && !confirm) { void shared.catalogue.refresh().catch(() => {}); route(reply); return }
    fail(error)
    return
  }
  if (confirm) host.reply(reply as string, { data: { topic, seq: result.seq, duplicate: result.duplicate } })
  // A duplicate was stored, and routed, once already; the reply subject of a confirmed publish was for the confirm.
  if (!result.duplicate) route(confirm ? null : reply)
}
