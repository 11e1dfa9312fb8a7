/**
 * Binary op writers (`subwire.v1`, PROTOCOL §4): each appends one op array to a MsgpackWriter, so a frame is
 * the ops written before it is sent. PUB and MSG share their tail layout:
 * [op, flags|sid, subject, reply, headers, enc, payload].
 */
import { OP } from './protocol.ts'
import { MsgpackWriter } from './msgpack-writer.ts'

const PUB_HEADER = 0x97 // fixarray of 7
/** Longest MSG prefix: fixarray byte, op byte, and a sid as uint64. */
export const MSG_PREFIX_MAX = 11

/** Writes `[PUB, flags, subject, reply, headers, encoding, payload]`. */
export function writePub(w: MsgpackWriter, flags: number, subject: string, reply: string | null | undefined,
  headers: Readonly<Record<string, string>> | null | undefined, encoding: number, payload: Uint8Array): void {
  w.ensure(2)
  w.buf[w.pos++] = PUB_HEADER
  w.buf[w.pos++] = OP.PUB
  w.uint(flags)
  w.str(subject)
  w.strOrNil(reply)
  w.headers(headers)
  w.uint(encoding)
  w.bin(payload)
}

/** The bytes that start a MSG for subscription `sid`; a subscription computes them once. */
export function msgPrefix(sid: number): Uint8Array {
  // The bytes depend on the sid alone: subscriptions of every connection with one sid share one view (a view is
  // ~100 B of heap: 15,000 idle connections with a subscription each held 1.5 MB of identical ones).
  if (sid < SHARED_PREFIXES) {
    const shared = sharedPrefixes[sid]
    if (shared !== undefined) return shared
    return (sharedPrefixes[sid] = newPrefix(sid))
  }
  return newPrefix(sid)
}

/** Sids below this get one prefix for every connection (the low sids every client numbers from 1). */
const SHARED_PREFIXES = 4096
const sharedPrefixes: Uint8Array[] = []

function newPrefix(sid: number): Uint8Array {
  const w = prefixWriter
  w.pos = 0
  w.arrayHeader(7)
  w.uint(OP.MSG)
  w.uint(sid)
  const n = w.pos
  if (prefixSlabPos + n > prefixSlab.length) { prefixSlab = new Uint8Array(PREFIX_SLAB_BYTES); prefixSlabPos = 0 }
  const prefix = prefixSlab.subarray(prefixSlabPos, prefixSlabPos + n)
  prefix.set(w.buf.subarray(0, n))
  prefixSlabPos += n
  return prefix
}

/**
 * Prefixes are 3 to 7 bytes and every subscription keeps one: they are views into shared slabs rather than an
 * ArrayBuffer each, which cost an idle subscription about 190 bytes of heap (benchmark E). A slab stays
 * alive while any of its prefixes does, so at worst a few KiB are pinned.
 */
const PREFIX_SLAB_BYTES = 4096
let prefixSlab = new Uint8Array(PREFIX_SLAB_BYTES)
let prefixSlabPos = 0
const prefixWriter = new MsgpackWriter(MSG_PREFIX_MAX)

/**
 * Writes a whole MSG, where no PUB tail exists to reuse. With `topic`, the three topic fields follow
 * (PROTOCOL §8.3): `seq`, `time`, `deliveryCount`.
 */
export function writeMsg(w: MsgpackWriter, sid: number, subject: string, reply: string | null,
  headers: Readonly<Record<string, string>> | null, encoding: number, payload: Uint8Array,
  topic?: { seq: number; time: number; deliveryCount: number }): void {
  w.arrayHeader(topic === undefined ? 7 : 10)
  w.uint(OP.MSG)
  w.uint(sid)
  w.str(subject)
  w.strOrNil(reply)
  w.headers(headers)
  w.uint(encoding)
  w.bin(payload)
  if (topic === undefined) return
  w.uint(topic.seq)
  w.uint(topic.time)
  w.uint(topic.deliveryCount)
}

/** The encoded MSG tail (`subject … payload`) for a message that did not arrive as a binary PUB. */
export function encodeMsgTail(subject: string, reply: string | null, headers: Readonly<Record<string, string>> | null,
  encoding: number, payload: Uint8Array): Uint8Array {
  const w = new MsgpackWriter(32 + payload.length)
  w.str(subject)
  w.strOrNil(reply)
  w.headers(headers)
  w.uint(encoding)
  w.bin(payload)
  return w.finish()
}

export function writeSub(w: MsgpackWriter, sid: number, subject: string, queue: string | null | undefined, options?: object | null): void {
  w.arrayHeader(options == null ? 4 : 5)
  w.uint(OP.SUB)
  w.uint(sid)
  w.str(subject)
  w.strOrNil(queue)
  if (options != null) w.value(options)
}

export function writeAck(w: MsgpackWriter, sid: number, seq: number, kind: number, delayMs?: number): void {
  w.arrayHeader(delayMs === undefined ? 4 : 5)
  w.uint(OP.ACK)
  w.uint(sid)
  w.uint(seq)
  w.uint(kind)
  if (delayMs !== undefined) w.uint(delayMs)
}

export function writeEvent(w: MsgpackWriter, sid: number, type: string, data: object): void {
  w.arrayHeader(4)
  w.uint(OP.EVENT)
  w.uint(sid)
  w.str(type)
  w.value(data)
}

export function writeUnsub(w: MsgpackWriter, sid: number, max?: number): void {
  w.arrayHeader(max === undefined ? 2 : 3)
  w.uint(OP.UNSUB)
  w.uint(sid)
  if (max !== undefined) w.uint(max)
}

/** Writes an op whose only field is a body map (INFO, CONNECT, AUTH). */
export function writeBodyOp(w: MsgpackWriter, op: typeof OP.INFO | typeof OP.CONNECT | typeof OP.AUTH, body: object): void {
  w.arrayHeader(2)
  w.uint(op)
  w.value(body)
}

export function writeErr(w: MsgpackWriter, code: string, message: string, ref: string | number | null): void {
  w.arrayHeader(4)
  w.uint(OP.ERR)
  w.str(code)
  w.str(message)
  if (typeof ref === 'number') w.uint(ref)
  else w.strOrNil(ref)
}

/** PING and PONG are constant: `[6]` and `[7]`. */
export const PING_BYTES: Uint8Array = Uint8Array.of(0x91, OP.PING)
export const PONG_BYTES: Uint8Array = Uint8Array.of(0x91, OP.PONG)
