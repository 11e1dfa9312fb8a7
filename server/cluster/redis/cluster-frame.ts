/**
 * The bytes one node sends another through Redis: a batch of messages, published on the receiving node's
 * channel once per tick (one PUBLISH carries every message of the tick for that node, so a fan-out costs Redis
 * one command per node per tick, not one per message). Order within a batch is publish order, and Redis keeps
 * the order of one connection's PUBLISHes, so per-publisher order holds across nodes.
 *
 *   batch   = version u8 (1) · originLength u8 · origin (utf8) · message*
 *   message = length u32 · queueCount u8 · (queueLength u8 · queue)* · body
 *   body    = subjectLength u16 · subject · replyLength u16 (0xffff: none) · reply ·
 *             headersLength u32 (0xffffffff: none) · headers (JSON object of strings) · encoding u8 · payload
 *
 * `queue*` names the queue groups the publishing node chose this node's members for (exactly one member
 * cluster-wide). Whatever arrives is checked before it is routed (decodeBatch): a corrupt or hostile batch is
 * dropped and counted, never thrown into the router.
 */
import { subjectProblem } from '../../../shared/subject.ts'

export const FRAME_VERSION = 1
const NO_REPLY = 0xffff
const NO_HEADERS = 0xffffffff
const MAX_QUEUES = 255

/** One message's fields, encoded once per publish and shared by every target node. */
export function encodeBody(subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): Buffer {
  const subjectBytes = Buffer.byteLength(subject)
  const replyBytes = reply === null ? 0 : Buffer.byteLength(reply)
  const headerJson = headers === null ? null : JSON.stringify(headers)
  const headerBytes = headerJson === null ? 0 : Buffer.byteLength(headerJson)
  const body = Buffer.allocUnsafe(2 + subjectBytes + 2 + replyBytes + 4 + headerBytes + 1 + payload.length)
  let o = body.writeUInt16BE(subjectBytes, 0)
  o += body.write(subject, o)
  o = body.writeUInt16BE(reply === null ? NO_REPLY : replyBytes, o)
  if (reply !== null) o += body.write(reply, o)
  o = body.writeUInt32BE(headerJson === null ? NO_HEADERS : headerBytes, o)
  if (headerJson !== null) o += body.write(headerJson, o)
  o = body.writeUInt8(encoding & 0xff, o)
  body.set(payload, o)
  return body
}

/** The per-target part of a message: its length and the queue groups chosen on that node. */
export function encodeHead(bodyLength: number, queues: readonly string[] | null): Buffer {
  const names = queues === null ? [] : queues.slice(0, MAX_QUEUES).map((q) => Buffer.from(q))
  let size = 5
  for (const n of names) size += 1 + Math.min(n.length, 255)
  const head = Buffer.allocUnsafe(size)
  head.writeUInt32BE(size - 4 + bodyLength, 0)
  head.writeUInt8(names.length, 4)
  let o = 5
  for (const n of names) {
    const len = Math.min(n.length, 255)
    head.writeUInt8(len, o++)
    n.copy(head, o, 0, len)
    o += len
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
}

export interface DecodedBatch {
  readonly origin: string
  readonly messages: readonly FrameMessage[]
  /** Messages that were malformed and skipped. */
  readonly rejected: number
}

/** Decodes a batch, or returns null when its framing is broken (version, origin, lengths). */
export function decodeBatch(b: Buffer, maxSubjectLength: number, maxHeaders: number): DecodedBatch | null {
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
    const m = decodeMessage(b, o + 4, end, maxSubjectLength, maxHeaders)
    if (m === null) rejected++
    else messages.push(m)
    o = end
  }
  return { origin, messages, rejected }
}

function decodeMessage(b: Buffer, o: number, end: number, maxSubjectLength: number, maxHeaders: number): FrameMessage | null {
  const queueCount = b[o++]
  let queues: string[] | null = null
  for (let i = 0; i < queueCount; i++) {
    if (o >= end) return null
    const qlen = b[o++]
    if (o + qlen > end) return null
    ;(queues ??= []).push(b.toString('utf8', o, o + qlen))
    o += qlen
  }
  if (o + 2 > end) return null
  const subjectLength = b.readUInt16BE(o); o += 2
  if (o + subjectLength > end) return null
  const subject = b.toString('utf8', o, o + subjectLength); o += subjectLength
  if (subjectProblem(subject, false, maxSubjectLength) !== null) return null
  if (o + 2 > end) return null
  const replyLength = b.readUInt16BE(o); o += 2
  let reply: string | null = null
  if (replyLength !== NO_REPLY) {
    if (o + replyLength > end) return null
    reply = b.toString('utf8', o, o + replyLength); o += replyLength
    if (subjectProblem(reply, false, maxSubjectLength) !== null) return null
  }
  if (o + 4 > end) return null
  const headerLength = b.readUInt32BE(o); o += 4
  let headers: Record<string, string> | null = null
  if (headerLength !== NO_HEADERS) {
    if (o + headerLength > end) return null
    headers = parseHeaders(b.toString('utf8', o, o + headerLength), maxHeaders)
    if (headers === null) return null
    o += headerLength
  }
  if (o + 1 > end) return null
  const encoding = b[o++]
  return { subject, reply, headers, encoding, payload: b.subarray(o, end), queues }
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
