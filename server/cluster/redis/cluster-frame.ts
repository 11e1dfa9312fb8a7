/**
 * The bytes one node sends another through Redis: a batch of messages, published on the receiving node's
 * channel once per tick (one PUBLISH carries every message of the tick for that node, so a fan-out costs Redis
 * one command per node per tick, not one per message). Order within a batch is publish order, and Redis keeps
 * the order of one connection's PUBLISHes, so per-publisher order holds across nodes.
 *
 *   batch   = version u8 (2) · originLength u8 · origin (utf8) · message*
 *   message = length u32 · flags u8 · queueCount u16 · (queueLength u16 · queue)* · body
 *   body    = subjectLength u32 · subject · replyLength u32 (0xffffffff: none) · reply ·
 *             headersLength u32 (0xffffffff: none) · headers (JSON object of strings) · encoding u8 · payload
 *
 * flags: REROUTED (a node that could not deliver to a group it was chosen for passed the message on: it is
 * not passed on again; the head then ends with the publishing node: originLength u8 · origin, where replies go), GROUPS_ONLY (for the named groups only: the node's plain subscribers had it already).
 *
 * `queue*` names the queue groups the publishing node chose this node's members for (exactly one member
 * cluster-wide). Whatever arrives is checked before it is routed (decodeBatch): a corrupt or hostile batch is
 * dropped and counted, never thrown into the router.
 */
import { ENCODING } from '../../../shared/protocol.ts'
import { subjectProblem } from '../../../shared/subject.ts'

export const FRAME_VERSION = 2
const NONE = 0xffffffff
const MAX_QUEUES = 0xffff

export const FRAME_FLAG = { rerouted: 1, groupsOnly: 2 } as const

/** The limits the receiving node holds every message to (its own, like a local publish's). */
export interface FrameLimits {
  readonly maxSubjectLength: number
  readonly maxHeaders: number
  readonly maxPayload: number
}

const ENCODINGS: ReadonlySet<number> = new Set(Object.values(ENCODING))

/** One message's fields, encoded once per publish and shared by every target node. */
export function encodeBody(subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): Buffer {
  const subjectBytes = Buffer.byteLength(subject)
  const replyBytes = reply === null ? 0 : Buffer.byteLength(reply)
  const headerJson = headers === null ? null : JSON.stringify(headers)
  const headerBytes = headerJson === null ? 0 : Buffer.byteLength(headerJson)
  const body = Buffer.allocUnsafe(4 + subjectBytes + 4 + replyBytes + 4 + headerBytes + 1 + payload.length)
  let o = body.writeUInt32BE(subjectBytes, 0)
  o += body.write(subject, o)
  o = body.writeUInt32BE(reply === null ? NONE : replyBytes, o)
  if (reply !== null) o += body.write(reply, o)
  o = body.writeUInt32BE(headerJson === null ? NONE : headerBytes, o)
  if (headerJson !== null) o += body.write(headerJson, o)
  o = body.writeUInt8(encoding & 0xff, o)
  body.set(payload, o)
  return body
}

/** The per-target part of a message: its length, flags and the queue groups chosen on that node. */
export function encodeHead(bodyLength: number, queues: readonly string[] | null, flags = 0, origin: string | null = null): Buffer {
  const names = queues === null ? [] : queues.slice(0, MAX_QUEUES).map((q) => Buffer.from(q))
  const from = origin === null ? null : Buffer.from(origin)
  let size = 7 + (from === null ? 0 : 1 + from.length)
  for (const n of names) size += 2 + n.length
  const head = Buffer.allocUnsafe(size)
  head.writeUInt32BE(size - 4 + bodyLength, 0)
  head.writeUInt8(flags, 4)
  head.writeUInt16BE(names.length, 5)
  let o = 7
  for (const n of names) {
    o = head.writeUInt16BE(n.length, o)
    o += n.copy(head, o)
  }
  if (from !== null) {
    head[o++] = from.length
    from.copy(head, o)
  }
  return head
}

export function encodeBatchStart(origin: string): Buffer {
  const id = Buffer.from(origin)
  const start = Buffer.allocUnsafe(2 + id.length)
  start.writeUInt8(FRAME_VERSION, 0)
  start.writeUInt8(id.length, 1)
  id.copy(start, 2)
  return start
}

/** A decoded message; `payload` is a view into the batch. */
export interface FrameMessage {
  readonly subject: string
  readonly reply: string | null
  readonly headers: Record<string, string> | null
  readonly encoding: number
  readonly payload: Uint8Array
  readonly queues: readonly string[] | null
  readonly flags: number
  /** The node that published it, when another node passed it on (REROUTED). */
  readonly origin: string | null
}

export interface DecodedBatch {
  readonly origin: string
  readonly messages: readonly FrameMessage[]
  /** Messages that were malformed and skipped. */
  readonly rejected: number
}

/** Decodes a batch, or returns null when its framing is broken (version, origin, lengths). */
export function decodeBatch(b: Buffer, limits: FrameLimits): DecodedBatch | null {
  if (b.length < 2 || b[0] !== FRAME_VERSION) return null
  const originEnd = 2 + b[1]
  if (originEnd > b.length) return null
  const origin = b.toString('utf8', 2, originEnd)
  const messages: FrameMessage[] = []
  let rejected = 0
  let o = originEnd
  while (o < b.length) {
    if (o + 4 > b.length) return null
    const len = b.readUInt32BE(o)
    const end = o + 4 + len
    if (end > b.length || len < 1) return null
    const m = decodeMessage(b, o + 4, end, limits)
    if (m === null) rejected++
    else messages.push(m)
    o = end
  }
  return { origin, messages, rejected }
}

function decodeMessage(b: Buffer, o: number, end: number, limits: FrameLimits): FrameMessage | null {
  if (o + 3 > end) return null
  const flags = b[o]
  const queueCount = b.readUInt16BE(o + 1)
  o += 3
  let queues: string[] | null = null
  for (let i = 0; i < queueCount; i++) {
    if (o + 2 > end) return null
    const qlen = b.readUInt16BE(o); o += 2
    if (o + qlen > end) return null
    ;(queues ??= []).push(b.toString('utf8', o, o + qlen))
    o += qlen
  }
  let origin: string | null = null
  if ((flags & FRAME_FLAG.rerouted) !== 0) {
    if (o >= end || o + 1 + b[o] > end) return null
    origin = b.toString('utf8', o + 1, o + 1 + b[o])
    o += 1 + b[o]
  }
  const subject = readText(b, o, end, false)
  if (subject === undefined || subject === null || subjectProblem(subject.text, false, limits.maxSubjectLength) !== null) return null
  o = subject.next
  const reply = readText(b, o, end, true)
  if (reply === undefined || (reply !== null && subjectProblem(reply.text, false, limits.maxSubjectLength) !== null)) return null
  o = reply === null ? o + 4 : reply.next
  if (o + 4 > end) return null
  const headerLength = b.readUInt32BE(o); o += 4
  let headers: Record<string, string> | null = null
  if (headerLength !== NONE) {
    if (o + headerLength > end) return null
    headers = parseHeaders(b.toString('utf8', o, o + headerLength), limits.maxHeaders)
    if (headers === null) return null
    o += headerLength
  }
  if (o + 1 > end) return null
  const encoding = b[o++]
  // What a local publisher could not send is not taken from Redis either: clients drop a connection that
  // sends them an unknown encoding.
  if (!ENCODINGS.has(encoding) || end - o > limits.maxPayload) return null
  return { subject: subject.text, reply: reply === null ? null : reply.text, headers, encoding, payload: b.subarray(o, end), queues, flags, origin }
}

/** A length-prefixed string: the text and where the next field starts, null for "none", undefined when broken. */
function readText(b: Buffer, o: number, end: number, optional: boolean): { text: string; next: number } | null | undefined {
  if (o + 4 > end) return undefined
  const len = b.readUInt32BE(o)
  if (len === NONE) return optional ? null : undefined
  if (o + 4 + len > end) return undefined
  return { text: b.toString('utf8', o + 4, o + 4 + len), next: o + 4 + len }
}

function parseHeaders(json: string, maxHeaders: number): Record<string, string> | null {
  let v: unknown
  try {
    v = JSON.parse(json)
  } catch {
    return null
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null
  const keys = Object.keys(v)
  if (keys.length > maxHeaders) return null
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const k of keys) {
    const value = (v as Record<string, unknown>)[k]
    if (typeof value !== 'string') return null
    out[k] = value
  }
  return out
}
