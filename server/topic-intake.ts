/**
 * Where client ops meet topics: SUB options (replay, acks, slow-consumer policy), publishes captured by a topic
 * (with publisher confirms), and the management API on `$SW.TOPIC.*` request subjects. The connection calls
 * these; the topic runtime (topics.ts) does the work.
 */
import { decodePayload, encodePayload } from '../shared/codec.ts'
import { SubwireError, type ErrorCode } from '../shared/errors.ts'
import type { WireValue } from '../shared/msgpack.ts'
import { HEADER, PUB_FLAG, STATUS_HEADER, TOPIC_API } from '../shared/protocol.ts'
import type { GroupConfig, TopicConfig } from './topic-store.ts'
import type { DeliverPolicy, Topics } from './topics.ts'

/** What a subscriber wants done when it cannot keep up (PROTOCOL §8.5). */
export const SLOW_POLICY = { disconnect: 'disconnect', dropNew: 'drop_new', dropOld: 'drop_old', keepLatest: 'keep_latest' } as const
export type SlowPolicy = (typeof SLOW_POLICY)[keyof typeof SLOW_POLICY]

/** SUB options, checked. */
export interface SubOptions {
  deliver: DeliverPolicy | null
  ack: boolean
  group: GroupConfig
  policy: SlowPolicy | null
}

const PLAIN: SubOptions = Object.freeze({ deliver: null, ack: false, group: Object.freeze({}), policy: null })

function bad(message: string): SubwireError {
  return new SubwireError('bad_option', message)
}

function positive(v: WireValue | undefined, name: string): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw bad(`${name} must be a positive integer`)
  return v
}

function deliverPolicy(v: WireValue | undefined): DeliverPolicy | null {
  if (v === undefined || v === null) return null
  if (v === 'all' || v === 'last' || v === 'last_per_subject' || v === 'new') return v
  if (typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
    const o = v as Record<string, WireValue>
    if (typeof o.startSeq === 'number' && Number.isSafeInteger(o.startSeq) && o.startSeq >= 0) return { startSeq: o.startSeq }
    if (typeof o.startTime === 'number' && Number.isFinite(o.startTime)) return { startTime: o.startTime }
  }
  throw bad("deliver must be 'all', 'last', 'last_per_subject', 'new', { startSeq } or { startTime }")
}

/** Checks the options map of a SUB. @throws SubwireError `bad_option` */
export function parseSubOptions(o: Record<string, WireValue> | null, queue: string | null): SubOptions {
  if (o === null) return PLAIN
  const policy = o.policy ?? null
  if (policy !== null && !(Object.values(SLOW_POLICY) as unknown[]).includes(policy)) {
    throw bad(`policy must be one of ${Object.values(SLOW_POLICY).join(', ')}`)
  }
  const ack = o.ack === true
  if (ack && queue === null) throw bad('an acked subscription needs a queue group name')
  let backoffMs: number[] | undefined
  if (o.backoffMs !== undefined && o.backoffMs !== null) {
    if (!Array.isArray(o.backoffMs) || o.backoffMs.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)) throw bad('backoffMs must be an array of non-negative integers')
    backoffMs = o.backoffMs as number[]
  }
  const group: GroupConfig = {
    ...(positive(o.ackWaitMs, 'ackWaitMs') === undefined ? {} : { ackWaitMs: o.ackWaitMs as number }),
    ...(positive(o.maxDeliver, 'maxDeliver') === undefined ? {} : { maxDeliver: o.maxDeliver as number }),
    ...(positive(o.maxInFlight, 'maxInFlight') === undefined ? {} : { maxInFlight: o.maxInFlight as number }),
    ...(backoffMs === undefined ? {} : { backoffMs }),
  }
  return { deliver: deliverPolicy(o.deliver), ack, group, policy: policy as SlowPolicy | null }
}

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

/** Answers one management request (`c.topics.*` in the client). */
export function topicApi(topics: Topics, subject: string, encoding: number, payload: Uint8Array): BrokerReply {
  try {
    const body = decodePayload(encoding, payload)
    const name = field(body, 'name')
    const needName = (): string => {
      if (typeof name !== 'string') throw bad('the request needs a topic name')
      return name
    }
    switch (subject) {
      case TOPIC_API.add: return { data: topics.add(body as TopicConfig) }
      case TOPIC_API.update: return { data: topics.update(needName(), field(body, 'config') as TopicConfig) }
      case TOPIC_API.info: return { data: topics.info(needName()) }
      case TOPIC_API.list: return { data: topics.list() }
      case TOPIC_API.delete: topics.delete(needName()); return { data: true }
      case TOPIC_API.purge: {
        const only = field(body, 'subject')
        return { data: { purged: topics.purge(needName(), typeof only === 'string' ? only : undefined) } }
      }
      default: throw bad(`unknown topic API ${subject}`)
    }
  } catch (err) {
    return { error: asSubwireError(err) }
  }
}

/** True when a PUB asks for a publisher confirm. */
export function wantsConfirm(flags: number): boolean {
  return (flags & PUB_FLAG.ack) !== 0
}
