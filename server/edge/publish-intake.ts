/**
 * What one PUB goes through between the decoder and the router (PROTOCOL §4.3, §8.1–8.2): the payload limit,
 * the JSON tag check, the reply subject and publish permissions, the topic management API, capture by a topic
 * (with publisher confirms), and then the router. Refusals go back to the publisher as ERR with the subject as
 * ref.
 */
import type { ErrorCode } from '../../shared/errors.ts'
import { isJsonText } from '../../shared/json-frame.ts'
import { ENCODING } from '../../shared/protocol.ts'
import { quoteSubject } from '../../shared/subject.ts'
import type { BrokerConfig } from '../options.ts'
import { payloadOfTail } from '../outbound/delivery.ts'
import type { Publisher, Router } from '../routing/router.ts'
import type { Session } from '../security/session.ts'
import { intakeShared } from './shared-intake.ts'
import { STORED, isTopicApi, storeInTopic, topicApi, wantsConfirm, type TopicIntakeHost } from '../topics/topic-intake.ts'

/** What a publish needs from the broker. */
export interface PublishHost extends TopicIntakeHost {
  readonly config: BrokerConfig
  readonly router: Router
}

/** The publishing connection: who it is, and where its ERRs go. */
export interface PublishingClient extends Publisher {
  readonly session: Session
  refusePublish(code: ErrorCode, message: string, subject: string): void
}

/**
 * Takes one PUB. `tail` is the publisher's encoded `subject … payload` bytes for a binary PUB (fanned out as
 * they are), `payload` a view of the payload when the decoder made one; a binary PUB without headers comes
 * with its tail alone (the payload is its last `size` bytes) and keeps that shape to the router.
 */
export function intakePublish(host: PublishHost, from: PublishingClient, flags: number, subject: string, reply: string | null,
  headers: Record<string, string> | null, encoding: number, payload: Uint8Array | null, size: number, tail: Uint8Array | null): void {
  if (size > host.config.maxPayload) {
    from.refusePublish('max_payload', `payload of ${size} bytes exceeds the maximum of ${host.config.maxPayload}`, subject)
    return
  }
  // Only binary PUBs can mislabel bytes as JSON (JSON-protocol payloads were just parsed); the SDK never
  // sends this encoding in binary, so the parse costs nothing on the fast path.
  if (encoding === ENCODING.json && tail !== null && !isJsonText(payload ??= payloadOfTail(tail, size))) {
    from.refusePublish('bad_payload', 'a payload tagged json is not JSON text', subject)
    return
  }
  const session = from.session
  // Unrestricted sessions skip both checks on one boolean. The reply is checked first: a refused publish must
  // not use up the response allowance that would have admitted it.
  if (session.restricted) {
    if (reply !== null && !session.mayReplyTo(reply)) {
      from.refusePublish('permission', `not allowed to use ${quoteSubject(reply)} as a reply subject: it may not receive there`, subject)
      return
    }
    // The topic API is governed by `topics.manage` alone (topic-access.ts): publish rules neither grant nor
    // refuse it, so `publish: { allow: ['>'] }` manages no topic. Asked only of a refused publish.
    if (!session.mayPublish(subject) && !isTopicApi(subject)) {
      from.refusePublish('permission', `not allowed to publish to ${quoteSubject(subject)}`, subject)
      return
    }
  }
  // In a cluster, topics are in Redis: what reaches them waits for it (shared-intake.ts).
  const shared = host.topics.shared
  if (shared !== null && intakeShared(host, shared, from, session, flags, subject, reply, headers, encoding, payload, size, tail)) return
  if (isTopicApi(subject)) {
    if (reply === null) from.refusePublish('bad_option', 'a topic API request needs a reply subject', subject)
    else host.reply(reply, topicApi(host.topics, session, subject, encoding, payload ?? payloadOfTail(tail as Uint8Array, size)))
    return
  }
  // Most publishes fall under no topic and ask no confirm: they skip the store, and the payload view.
  if (wantsConfirm(flags) || (host.topics.active && host.topics.topicFor(subject) !== null)) {
    payload ??= payloadOfTail(tail as Uint8Array, size)
    const refusal = host.router.check(subject, reply)
    if (refusal !== null) { from.refusePublish(refusal.code, refusal.message, subject); return }
    const stored = storeInTopic(host, flags, subject, reply, headers, encoding, payload)
    if (stored !== STORED.route) {
      if (stored !== STORED.skip) from.refusePublish(stored.code, stored.message, subject)
      return
    }
    if (wantsConfirm(flags)) { reply = null; tail = null } // the reply subject was for the confirm only
  }
  const refusal = payload === null
    ? host.router.publishTail(from, flags, subject, reply, encoding, tail as Uint8Array, size)
    : host.router.publish(from, flags, subject, reply, headers, encoding, payload, tail)
  if (refusal !== null) from.refusePublish(refusal.code, refusal.message, subject)
}
