/**
 * Where client ops meet topics: publishes captured by a topic (with publisher confirms) and the management API
 * on `$SW.TOPIC.*` request subjects. The connection calls these; the topic runtime (topics.ts) does the work.
 */
import { decodePayload, encodePayload } from '../../shared/payload-codec.ts'
import { SubwireError, type ErrorCode } from '../../shared/errors.ts'
import { HEADER, PUB_FLAG, STATUS_HEADER, TOPIC_API } from '../../shared/protocol.ts'
import { quoteSubject } from '../../shared/subject.ts'
import type { Session } from '../security/session.ts'
import type { TopicConfig } from '../store/topic-store.ts'
import type { Permissions } from '../security/permissions.ts'
import { checkConfig, checkManage, topicRights, visibleInfo, visibleList } from './topic-access.ts'
import type { Topics } from './topics.ts'

/** A reply the broker publishes to a request's reply subject: data, or an error status. */
export type BrokerReply = { data: unknown } | { error: SubwireError }

/** Headers and payload of a broker reply (PROTOCOL §8.1: errors carry `$status: error` and `$error: <code>`). */
export function encodeReply(reply: BrokerReply): { headers: Record<string, string> | null; encoding: number; bytes: Uint8Array } {
  if ('data' in reply) {
    const { encoding, bytes } = encodePayload(reply.data)
    return { headers: null, encoding, bytes }
  }
  const { encoding, bytes } = encodePayload(reply.error.message)
  return { headers: { [STATUS_HEADER]: 'error', [HEADER.error]: reply.error.code }, encoding, bytes }
}

/** The typed error of a failure, whatever was thrown. */
export function asSubwireError(err: unknown, fallback: ErrorCode = 'bad_option'): SubwireError {
  return err instanceof SubwireError ? err : new SubwireError(fallback, err instanceof Error ? err.message : String(err))
}

/** True for subjects of the topic management API. */
export function isTopicApi(subject: string): boolean {
  return subject.startsWith('$SW.TOPIC.')
}

function field(body: unknown, key: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined
}

/**
 * One management request, decoded and checked against the caller's rights (topic-access.ts; PROTOCOL §8.1):
 * what a broker alone and a node of a cluster both answer, so the checks live in one place. `info` and `list`
 * carry the rights: what a restricted caller may see is known only with the topics in hand.
 */
export type TopicRequest =
  | { readonly op: 'add'; readonly config: TopicConfig }
  | { readonly op: 'update'; readonly name: string; readonly config: TopicConfig }
  | { readonly op: 'info'; readonly name: string; readonly rights: Permissions | null }
  | { readonly op: 'list'; readonly rights: Permissions | null }
  | { readonly op: 'delete'; readonly name: string }
  | { readonly op: 'purge'; readonly name: string; readonly subject: string | undefined }

/** @throws SubwireError `bad_option` (malformed or unknown request), `permission` */
export function topicRequest(session: Session, subject: string, encoding: number, payload: Uint8Array): TopicRequest {
  const rights = topicRights(session)
  const body = decodePayload(encoding, payload)
  const name = field(body, 'name')
  const needName = (): string => {
    if (typeof name !== 'string') throw new SubwireError('bad_option', 'the request needs a topic name')
    return name
  }
  /** The topic named in the request, once the caller may manage it. */
  const managed = (): string => {
    const n = needName()
    if (rights !== null) checkManage(rights, n)
    return n
  }
  switch (subject) {
    case TOPIC_API.add:
      if (rights !== null) checkConfig(rights, body as TopicConfig)
      return { op: 'add', config: body as TopicConfig }
    case TOPIC_API.update: {
      const n = managed()
      const config = field(body, 'config') as TopicConfig
      if (rights !== null) checkConfig(rights, config)
      return { op: 'update', name: n, config }
    }
    case TOPIC_API.info: return { op: 'info', name: needName(), rights }
    case TOPIC_API.list: return { op: 'list', rights }
    case TOPIC_API.delete: return { op: 'delete', name: managed() }
    case TOPIC_API.purge: {
      const n = managed()
      const only = field(body, 'subject')
      return { op: 'purge', name: n, subject: typeof only === 'string' ? only : undefined }
    }
    default: throw new SubwireError('bad_option', `unknown topic API ${quoteSubject(subject)}`)
  }
}

/**
 * Answers one management request (`c.topics.*` in the client) from `session`, whose permissions it checks
 * (topic-access.ts; PROTOCOL §8.1). Called only for `$SW.TOPIC.*` subjects, so ordinary publishes never pay.
 */
export function topicApi(topics: Topics, session: Session, subject: string, encoding: number, payload: Uint8Array): BrokerReply {
  try {
    const r = topicRequest(session, subject, encoding, payload)
    switch (r.op) {
      case 'add': return { data: topics.add(r.config) }
      case 'update': return { data: topics.update(r.name, r.config) }
      case 'info': return { data: r.rights === null ? topics.info(r.name) : visibleInfo(r.rights, topics, r.name) }
      case 'list': return { data: r.rights === null ? topics.list() : visibleList(r.rights, topics) }
      case 'delete': topics.delete(r.name); return { data: true }
      case 'purge': return { data: { purged: topics.purge(r.name, r.subject) } }
    }
  } catch (err) {
    return { error: asSubwireError(err) }
  }
}

/** True when a PUB asks for a publisher confirm. */
export function wantsConfirm(flags: number): boolean {
  return (flags & PUB_FLAG.ack) !== 0
}

/** What storing a publish needs from the broker: the topics, and a way to answer on a reply subject. */
export interface TopicIntakeHost {
  readonly topics: Topics
  /** Publishes the broker's answer to a request (topic API, publisher confirms) on its reply subject. */
  reply(subject: string, reply: BrokerReply): void
}

/** What became of a publish offered to the topics (besides an error for the publisher). */
export const STORED = {
  /** Route it live too: stored, or no topic covers it and no confirm was asked. */
  route: 0,
  /** Do not route it: a duplicate (stored once, delivered once), or refused and answered on its reply subject. */
  skip: 1,
} as const
export type Stored = (typeof STORED)[keyof typeof STORED]

/**
 * Stores a publish in the topic covering it and answers a publisher confirm on `reply`. Returns what the
 * publisher's connection does next, or the error to send the publisher as ERR (and not route the message).
 * The subject and reply subject were validated by the caller.
 */
export function storeInTopic(host: TopicIntakeHost, flags: number, subject: string, reply: string | null,
  headers: Record<string, string> | null, encoding: number, payload: Uint8Array): Stored | SubwireError {
  const confirm = wantsConfirm(flags)
  if (confirm && reply === null) return new SubwireError('bad_option', 'a confirmed publish needs a reply subject')
  let captured: ReturnType<Topics['capture']>
  try {
    captured = host.topics.active ? host.topics.capture(subject, headers, encoding, payload) : null
  } catch (err) {
    const error = asSubwireError(err)
    if (!confirm) return error
    host.reply(reply as string, { error })
    return STORED.skip
  }
  if (confirm) {
    if (captured === null) {
      host.reply(reply as string, { error: new SubwireError('no_topic', `no topic covers ${quoteSubject(subject)}`) })
      return STORED.skip
    }
    const { topic, result, durable } = captured
    const confirmed = { data: { topic, seq: result.seq, duplicate: result.duplicate } }
    // A file topic confirms once the message is on stable storage, never before (README "Guarantees").
    if (durable === null) host.reply(reply as string, confirmed)
    else durable.then(() => host.reply(reply as string, confirmed), (err: unknown) => host.reply(reply as string, { error: asSubwireError(err, 'storage_failed') }))
  }
  return captured === null || !captured.result.duplicate ? STORED.route : STORED.skip
}
