/**
 * The bytes one node sends another through Redis: a batch of messages, published on the receiving node's
 * channel once per task (one PUBLISH carries every message a socket read or timer published for that node, so a
 * fan-out costs Redis one command per node per task, not one per message; outbox.ts). Order within a batch is publish order, and Redis keeps
 * the order of one connection's PUBLISHes, so per-publisher order holds across nodes.
 *
 *   batch   = version u8 (3) · originLength u8 · origin (utf8) · message*
 *   message = length u32 · flags u8 · queueCount u16 · (queueLength u16 · queue)* · body
 *   body    = the message's MSG tail, exactly as a subscriber receives it (PROTOCOL §4.3): msgpack
 *             subject · reply | nil · headers | nil · encoding · payload
 *
 * The body being the MSG tail is what makes a message from another node as cheap as a local one: a binary
 * publisher's own bytes leave the publishing node as they came (no re-encoding), and the receiving node fans
 * the body out to its subscribers as it came (no MSG tail built per message: that had been ~38 % of the
 * receiving node's CPU in 1→1 across nodes). The receiving node still reads and checks every field against
 * its own limits, with the reader a local PUB goes through.
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
import { MsgpackReader } from '../../../shared/msgpack-reader.ts'
import { encodeMsgTail } from '../../../shared/op-writer.ts'
import type { ClusterMessage } from '../cluster-adapter.ts'

/** 3: the body is the MSG tail (2 had length-prefixed fields and JSON headers). A batch of another version is rejected. */
export const FRAME_VERSION = 3
const MAX_QUEUES = 0xffff

export const FRAME_FLAG = { rerouted: 1, groupsOnly: 2 } as const

/** The limits the receiving node holds every message to (its own, like a local publish's). */
export interface FrameLimits {
  readonly maxSubjectLength: number
  readonly maxHeaders: number
  readonly maxPayload: number
}

const ENCODINGS: ReadonlySet<number> = new Set(Object.values(ENCODING))

/** One message's body (its MSG tail), encoded once per publish and shared by every target node. */
export function encodeBody(subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): Uint8Array {
  return encodeMsgTail(subject, reply, headers, encoding, payload)
}

/** The body of a message crossing the seam: the tail it carries (a binary publisher's bytes), or one encoded now. */
export function bodyOf(m: ClusterMessage): Uint8Array {
  return m.tail ?? encodeMsgTail(m.subject, m.reply, m.headers, m.encoding, m.payload)
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
  /** The body: the MSG tail, a view into the batch that ends with `payload`. */
  readonly tail: Uint8Array
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
  return decodeBody(b, o, end, limits, queues, flags, origin)
}

/** Decoding is synchronous: one reader serves every batch. */
const reader = new MsgpackReader(new Uint8Array(0))

function decodeBody(b: Buffer, o: number, end: number, limits: FrameLimits, queues: string[] | null, flags: number, origin: string | null): FrameMessage | null {
  const r = reader
  r.reset(b, o, end)
  try {
    const subject = r.str('subject')
    if (subjectProblem(subject, false, limits.maxSubjectLength) !== null) return null
    const reply = r.strOrNil('reply subject')
    if (reply !== null && subjectProblem(reply, false, limits.maxSubjectLength) !== null) return null
    const headers = r.headers(limits.maxHeaders)
    const encoding = r.uint('encoding')
    // What a local publisher could not send is not taken from Redis either: clients drop a connection that
    // sends them an unknown encoding.
    if (!ENCODINGS.has(encoding)) return null
    const payload = r.bin('payload')
    // The payload must be the tail's last field: subscribers read it from the tail's end (payloadOfTail).
    if (r.pos !== end || payload.length > limits.maxPayload) return null
    return { subject, reply, headers, encoding, payload, tail: r.bytes.subarray(o, end), queues, flags, origin }
  } catch {
    return null // malformed msgpack (the reader throws a typed error): dropped and counted like any bad message
  }
}
