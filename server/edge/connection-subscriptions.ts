/**
 * A connection's subscriptions: SUB checked and entered where it belongs (the subject index for plain ones,
 * the topics for replays and acked groups), and taken out again on UNSUB, auto-unsubscribe, a re-auth that
 * narrows the permissions, or close. Functions over the connection's own map rather than an object per
 * connection (idle connections are counted in bytes, bench E).
 */
import { SubwireError, type ErrorCode } from '../../shared/errors.ts'
import type { WireValue } from '../../shared/msgpack-reader.ts'
import { quoteSubject, subjectProblem } from '../../shared/subject.ts'
import type { BrokerConfig } from '../options.ts'
import type { Router } from '../routing/router.ts'
import { ServerSubscription, type Subscriber } from '../routing/subscription.ts'
import { parseSubOptions } from '../topics/sub-options.ts'
import { asSubwireError } from '../topics/topic-intake.ts'
import { mayManageTopic, topicRights } from '../topics/topic-access.ts'
import type { TopicReceiver, Topics } from '../topics/topics.ts'

/** The connection, as its subscriptions see it. */
export interface SubscriptionOwner extends Subscriber, TopicReceiver {
  readonly subscriptions: Map<number, ServerSubscription>
  /** The address its subscriptions are counted against (`maxSubscriptionsPerIp`). */
  readonly remoteAddress: string
  /** Sends an ERR (here: ref a sid whose SUB a cluster's topic store refused after it was taken). */
  refusePublish(code: ErrorCode, message: string, ref: string | number): void
}

/** The broker-wide and per-address subscription budgets (admission.ts keeps them). */
export interface SubscriptionBudget {
  /** Takes one for `ip`; returns why not, or null. */
  takeSubscription(ip: string): string | null
  releaseSubscriptions(ip: string, n: number): void
}

/** What subscribing needs from the broker. */
export interface SubscriptionHost {
  readonly config: BrokerConfig
  readonly router: Router
  readonly topics: Topics
  readonly subscriptionBudget: SubscriptionBudget
}

const QUEUE_NAME_PROBLEM = /[\s\x00-\x1f\x7f]/

/**
 * SUB (PROTOCOL §4.4, §8.3–8.5): checks the subject, queue name, the per-connection cap, permissions, and the
 * broker-wide and per-address budgets (a subscription holds about 900 bytes: 5 connections × 100,000 from one
 * address took the heap from 8 to 440 MiB), then enters the subscription. Returns the error to send as ERR
 * (ref: the sid), or null when subscribed.
 */
export function addSubscription(host: SubscriptionHost, owner: SubscriptionOwner, sid: number, subject: string,
  queue: string | null, options: Record<string, WireValue> | null): SubwireError | null {
  const config = host.config
  const problem = subjectProblem(subject, true, config.maxSubjectLength)
  if (problem !== null) return new SubwireError('bad_subject', `invalid subscription subject ${quoteSubject(subject)}: ${problem}`)
  if (queue !== null && (queue.length === 0 || queue.length > config.maxSubjectLength || QUEUE_NAME_PROBLEM.test(queue))) {
    return new SubwireError('bad_option', `invalid queue group name ${quoteSubject(queue)}: it must be non-empty with no white space`)
  }
  if (owner.subscriptions.size >= config.maxSubscriptionsPerConnection) {
    return new SubwireError('max_subscriptions', `a connection may hold at most ${config.maxSubscriptionsPerConnection} subscriptions`)
  }
  const session = owner.session
  const refusal = session.subscribeRefusal(subject, queue)
  if (refusal !== null) return new SubwireError('permission', refusal)
  const spent = host.subscriptionBudget.takeSubscription(owner.remoteAddress)
  if (spent !== null) return new SubwireError('max_subscriptions', spent)
  const sub = new ServerSubscription(owner, sid, subject, queue)
  sub.ownInbox = session.ownsInbox(subject)
  try {
    const opts = parseSubOptions(options, queue)
    sub.policy = opts.policy
    if (opts.ack) {
      sub.kind = 'group'
      owner.subscriptions.set(sid, sub) // before the group starts delivering
      const rights = topicRights(session)
      sub.topic = host.topics.join(owner, sid, subject, queue as string, opts.group, (topic) => rights === null || mayManageTopic(rights, topic), (err) => {
        if (owner.subscriptions.get(sid) !== sub) return
        removeSubscription(host, owner, sub)
        owner.refusePublish(err.code, err.message, sid)
      })
    } else if (opts.deliver !== null) {
      sub.kind = 'replay'
      owner.subscriptions.set(sid, sub) // before the replay starts delivering
      host.topics.subscribe(owner, sid, subject, opts.deliver)
    }
  } catch (err) {
    owner.subscriptions.delete(sid)
    session.release(subject)
    host.subscriptionBudget.releaseSubscriptions(owner.remoteAddress, 1)
    return asSubwireError(err)
  }
  owner.subscriptions.set(sid, sub)
  if (sub.kind === 'plain') host.router.subscribe(sub)
  return null
}

/** Takes one subscription out of wherever it was entered. */
export function removeSubscription(host: SubscriptionHost, owner: SubscriptionOwner, sub: ServerSubscription): void {
  owner.subscriptions.delete(sub.sid)
  withdraw(host, owner, sub)
  host.subscriptionBudget.releaseSubscriptions(owner.remoteAddress, 1)
}

function withdraw(host: SubscriptionHost, owner: SubscriptionOwner, sub: ServerSubscription): void {
  sub.active = false
  if (sub.kind === 'plain') host.router.unsubscribe(sub)
  else host.topics.unsubscribe(owner, sub.sid)
  owner.session.release(sub.subject)
}

/**
 * On close: every subscription goes. The map itself is left for the caller to clear, after the disconnect
 * event has reported what the connection held.
 */
export function withdrawAllSubscriptions(host: SubscriptionHost, owner: SubscriptionOwner): void {
  for (const sub of owner.subscriptions.values()) withdraw(host, owner, sub)
  host.subscriptionBudget.releaseSubscriptions(owner.remoteAddress, owner.subscriptions.size)
}

/**
 * After a re-authentication: removes the subscriptions the new permissions no longer allow (the connection's
 * own inbox always stays) and returns them with the reason, for the ERRs the client is sent.
 */
export function narrowSubscriptions(host: SubscriptionHost, owner: SubscriptionOwner): Array<{ sid: number; refusal: string }> {
  const removed: Array<{ sid: number; refusal: string }> = []
  for (const sub of [...owner.subscriptions.values()]) {
    if (owner.session.ownsInbox(sub.subject)) continue
    const refusal = owner.session.subscribeRefusal(sub.subject, sub.queue)
    if (refusal !== null) {
      removeSubscription(host, owner, sub)
      removed.push({ sid: sub.sid, refusal })
    }
  }
  return removed
}
