/**
 * Script replies ↔ the store's types. A stream entry comes back as `[id, [t, time, s, subject, z, size, e,
 * encoding, h, headers, p, payload]]` (keys.ts fixes the field order, so fields are read by position); numbers
 * come back as integers or decimal text, headers as JSON text ('' for none), payloads as bytes.
 */
import { SubwireError } from '../../../shared/errors.ts'
import type { GroupInfo, ResolvedGroupConfig, ResolvedTopicConfig, StoredMessage, TopicInfo } from '../topic-store.ts'
import type { Reply } from './redis-link.ts'

/** A reply of an unexpected shape: a script and this file disagree (a bug, never a user error). */
function malformed(what: string): never {
  throw new SubwireError('unavailable', `redis topic store: malformed reply (${what})`)
}

export function asArray(r: Reply, what: string): Reply[] {
  return Array.isArray(r) ? r : malformed(what)
}

export function asNumber(r: Reply, what: string): number {
  if (typeof r === 'number') return r
  if (Buffer.isBuffer(r)) {
    const n = Number(r.toString('latin1'))
    if (Number.isFinite(n)) return n
  }
  return malformed(what)
}

export function asString(r: Reply, what: string): string {
  return Buffer.isBuffer(r) ? r.toString('utf8') : malformed(what)
}

/** The message held in `fields` from position `at` (the entry layout), with sequence `seq`. */
export function messageOf(fields: Reply[], at: number, seq: number): StoredMessage {
  const headers = asString(fields[at + 9], 'headers')
  const payload = fields[at + 11]
  if (!Buffer.isBuffer(payload)) malformed('payload')
  return {
    seq,
    time: asNumber(fields[at + 1], 'time'),
    subject: asString(fields[at + 3], 'subject'),
    size: asNumber(fields[at + 5], 'size'),
    encoding: asNumber(fields[at + 7], 'encoding'),
    headers: headers === '' ? null : Object.freeze(JSON.parse(headers) as Record<string, string>),
    // A copy: the reply parser may hand out a view of its read buffer, which would pin it.
    payload: new Uint8Array(payload),
  }
}

/** A stream entry `[<seq>-0, fields]` as a message. */
export function decodeEntry(r: Reply): StoredMessage {
  const [id, fields] = asArray(r, 'entry')
  const idText = asString(id, 'entry id')
  return messageOf(asArray(fields, 'entry fields'), 0, Number(idText.slice(0, idText.indexOf('-'))))
}

/** Entries, or null for a missing one. */
export function decodeMaybeEntry(r: Reply): StoredMessage | null {
  return r === null ? null : decodeEntry(r)
}

export function decodeGroupInfo(r: Reply): GroupInfo {
  const a = asArray(r, 'group info')
  const config = JSON.parse(asString(a[1], 'group config')) as ResolvedGroupConfig
  return {
    name: asString(a[0], 'group name'),
    config: Object.freeze({ ...config, backoffMs: Object.freeze([...config.backoffMs]) }),
    members: asNumber(a[2], 'members'),
    ackFloor: asNumber(a[3], 'ack floor'),
    nextSeq: asNumber(a[4], 'next seq'),
    inFlight: asNumber(a[5], 'in flight'),
    redeliveries: asNumber(a[6], 'redeliveries'),
    acked: asNumber(a[7], 'acked'),
    terminated: asNumber(a[8], 'terminated'),
    deadLettered: asNumber(a[9], 'dead lettered'),
  }
}

/** `[topicInfo, consumers]` of a script: its state, with the config JSON it holds, and its groups. */
export function decodeTopicInfo(stateReply: Reply, consumersReply: Reply): TopicInfo {
  const s = asArray(stateReply, 'topic info')
  const config = parseTopicConfig(asString(s[6], 'topic config'))
  return {
    name: config.name,
    messages: asNumber(s[3], 'messages'),
    bytes: asNumber(s[2], 'bytes'),
    firstSeq: asNumber(s[4], 'first seq'),
    lastSeq: asNumber(s[0], 'last seq'),
    firstTime: s[5] === null ? null : asNumber(s[5], 'first time'),
    lastTime: s[1] === null ? null : asNumber(s[1], 'last time'),
    config,
    consumers: asArray(consumersReply, 'consumers').map(decodeGroupInfo),
    storage: 'redis',
    diskBytes: 0,
    lost: [],
  }
}

/** A config as the registry holds it (the JSON of a resolved config), frozen like resolveTopicConfig's. */
export function parseTopicConfig(json: string): ResolvedTopicConfig {
  const config = JSON.parse(json) as ResolvedTopicConfig
  return Object.freeze({ ...config, subjects: Object.freeze([...config.subjects]) })
}
