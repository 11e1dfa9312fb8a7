/**
 * Frame and payload codecs (PROTOCOL §4–5).
 *
 * A frame is a batch of ops. In `subwire.v1` a binary frame is the concatenation of msgpack-encoded op
 * arrays; in `subwire.v1.json` a text frame is one JSON op array per line. Both decoders call the same
 * `OpSink`, so the broker and the client each handle one shape of op whatever the subprotocol.
 *
 * Payloads are opaque to the broker: user data is encoded once by the publishing client (msgpackr here) and
 * travels as bytes tagged with an encoding; only the receiving client decodes it.
 */
import { C1, Packr, Unpackr } from 'msgpackr'
import { ENCODING, OP, type Encoding } from './protocol.ts'
import { SubwireError } from './errors.ts'
import { MAX_DEPTH, MsgpackReader, MsgpackWriter, plain, type WireValue } from './msgpack.ts'
import { utf8Length } from './subject.ts'
import { fromBase64, toBase64 } from './base64.ts'



/** Receives decoded ops. Each side implements the ops it accepts and refuses the rest as `protocol`. */
export interface OpSink {
  onInfo(body: Record<string, WireValue>): void
  /** Returning false stops decoding after this op (the broker authenticates asynchronously). */
  onConnect(body: Record<string, WireValue>): boolean | void
  onAuth(body: Record<string, WireValue>): void
  /**
   * @param size payload bytes plus encoded header bytes, for the max-payload check
   * @param tail the PUB's encoded `subject … payload` bytes, which are exactly a MSG's tail (binary frames only)
   */
  /**
   * `size` is the payload's bytes plus the headers' encoded bytes. `payload` is null when the decoder left the
   * view to the sink: a binary PUB without headers, whose payload is the last `size` bytes of `tail`.
   */
  onPub(flags: number, subject: string, reply: string | null, headers: Record<string, string> | null,
    encoding: number, payload: Uint8Array | null, size: number, tail: Uint8Array | null): void
  /** `options` (PROTOCOL §8.3) asks for replay, acks and a slow-consumer policy; null for a plain subscription. */
  onSub(sid: number, subject: string, queue: string | null, options: Record<string, WireValue> | null): void
  onUnsub(sid: number, max: number | null): void
  /**
   * The payload is `frame[payloadStart, payloadEnd)`: a receiver that never reads it makes no view of it.
   * `seq`, `time` and `deliveryCount` are 0 unless the message came from a topic.
   */
  onMsg(sid: number, subject: string, reply: string | null, headers: Record<string, string> | null,
    encoding: number, frame: Uint8Array, payloadStart: number, payloadEnd: number, seq: number, time: number, deliveryCount: number): void
  onAck(sid: number, seq: number, kind: number, delayMs: number): void
  onEvent(sid: number, type: string, data: Record<string, WireValue>): void
  onPing(): void
  onPong(): void
  onErr(code: string, message: string, ref: string | number | null): void
}

/** Limits a decoder enforces while it reads (the rest are the sink's business). */
export interface DecodeLimits {
  maxOpsPerFrame: number
  maxHeaders: number
}

function protocolError(message: string): SubwireError {
  return new SubwireError('protocol', message)
}

function isRecord(v: unknown): v is Record<string, WireValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function isEncoding(n: number): n is Encoding {
  return n === ENCODING.msgpack || n === ENCODING.raw || n === ENCODING.json
}

/** Minimum op-array lengths, indexed by op code. Longer arrays are accepted: extra fields are for later versions. */
/** msgpack fixarray of 7: the header of a PUB or MSG without topic fields (FrameDecoder's fast path). */
const FAST_OP_HEADER = 0x97
const MIN_FIELDS = [2, 2, 7, 3, 2, 7, 1, 1, 3, 2, 4, 4] as const // [op, …fields]: INFO CONNECT PUB SUB UNSUB MSG PING PONG ERR AUTH ACK EVENT

/** Decodes binary frames. One decoder (and its reader) serves every frame of a connection. */
export class FrameDecoder {
  readonly #reader = new MsgpackReader(new Uint8Array(0))
  readonly #limits: DecodeLimits

  constructor(limits: DecodeLimits) {
    this.#limits = limits
  }

  /**
   * Decodes the ops in `frame` into `sink`; throws `SubwireError` (code `protocol` or a field code) on bad
   * input. Returns the byte offset where it stopped: `frame.length`, or the end of a CONNECT whose handler
   * returned false (the rest waits for the handler's async work).
   */
  decode(frame: Uint8Array, sink: OpSink): number {
    const r = this.#reader
    r.reset(frame)
    let ops = 0
    while (!r.done) {
      if (++ops > this.#limits.maxOpsPerFrame) throw protocolError(`more than ${this.#limits.maxOpsPerFrame} ops in one frame`)
      const opStart = r.pos
      if (r.bytes[opStart] === FAST_OP_HEADER && this.#fastPath(r, sink)) continue
      const fields = r.arrayHeader()
      if (fields === 0) throw protocolError('empty op')
      const op = r.uint('op code')
      if (op >= MIN_FIELDS.length) throw protocolError(`unknown op ${op}`)
      if (fields < MIN_FIELDS[op]) throw protocolError(`op ${op} needs ${MIN_FIELDS[op]} fields, got ${fields}`)
      const consumed = this.#decodeOp(op, fields, r, sink)
      // Skip fields a later protocol version may add.
      for (let extra = fields - consumed; extra > 0; extra--) r.skip(1)
      if (r.pos <= opStart) throw protocolError('op made no progress')
      if (this.#stop) { this.#stop = false; return r.pos }
    }
    return r.pos
  }

  /** Set when a sink's onConnect returned false. */
  #stop = false

  /**
   * PUB and MSG in the shape nearly all of them have: seven fields, small integers, short strings, no
   * headers (no reply either, for MSG), a bin8 or bin16 payload. Read with a few byte compares and one bounds
   * check per field; anything else (including anything malformed) returns false having consumed nothing, and
   * the general reader below takes the op and reports what is wrong with it. Measured on a fan-out
   * subscriber's receive loop (decode and Msg): 47 -> 28 ns per MSG; on the broker, the PUB decode had been a
   * quarter of its busy time.
   */
  #fastPath(r: MsgpackReader, sink: OpSink): boolean {
    const b = r.bytes
    const end = r.end
    const op = b[r.pos + 1]
    if (op !== OP.MSG && op !== OP.PUB) return false
    let p = r.pos + 2
    // PUB flags or MSG sid: fixint, uint8 or uint16.
    if (p >= end) return false
    let first = b[p]
    if (first <= 0x7f) p += 1
    else if (first === 0xcc && p + 1 < end) { first = b[p + 1]; p += 2 }
    else if (first === 0xcd && p + 2 < end) { first = (b[p + 1] << 8) | b[p + 2]; p += 3 }
    else return false
    const tailStart = p
    // Subject: fixstr or str8, never empty.
    if (p >= end) return false
    let h = b[p]
    let subjectLength: number
    if (h >= 0xa1 && h <= 0xbf) { subjectLength = h & 0x1f; p += 1 }
    else if (h === 0xd9 && p + 1 < end) { subjectLength = b[p + 1]; p += 2 }
    else return false
    const subjectStart = p
    p += subjectLength
    // Reply: nil, or (PUB only) fixstr or str8.
    if (p >= end) return false
    h = b[p]
    let replyStart = -1
    let replyLength = 0
    if (h === 0xc0) p += 1
    else if (op === OP.MSG) return false
    else if (h >= 0xa1 && h <= 0xbf) { replyLength = h & 0x1f; replyStart = p + 1; p = replyStart + replyLength }
    else if (h === 0xd9 && p + 1 < end) { replyLength = b[p + 1]; replyStart = p + 2; p = replyStart + replyLength }
    else return false
    // Headers nil, encoding a known fixint, payload bin8 or bin16.
    if (p + 3 > end || b[p] !== 0xc0) return false
    const encoding = b[p + 1]
    if (!isEncoding(encoding)) return false
    p += 2
    h = b[p]
    let n: number
    if (h === 0xc4 && p + 1 < end) { n = b[p + 1]; p += 2 }
    else if (h === 0xc5 && p + 2 < end) { n = (b[p + 1] << 8) | b[p + 2]; p += 3 }
    else return false
    if (p + n > end) return false
    const subject = r.strAt(subjectStart, subjectLength)
    if (op === OP.MSG) {
      sink.onMsg(first, subject, null, null, encoding, b, p, p + n, 0, 0, 0)
    } else {
      const reply = replyStart < 0 ? null : r.strAt(replyStart, replyLength)
      sink.onPub(first, subject, reply, null, encoding, null, n, b.subarray(tailStart, p + n))
    }
    r.pos = p + n
    return true
  }

  /** Decodes the fields after the op code; returns how many of the op's `fields` it consumed. */
  #decodeOp(op: number, fields: number, r: MsgpackReader, sink: OpSink): number {
    switch (op) {
      case OP.INFO: case OP.CONNECT: case OP.AUTH: {
        const body = r.value(1)
        if (!isRecord(body)) throw protocolError(`op ${op} body must be a map`)
        if (op === OP.INFO) sink.onInfo(body)
        else if (op === OP.AUTH) sink.onAuth(body)
        else if (sink.onConnect(body) === false) this.#stop = true
        return 2
      }
      case OP.PUB: {
        const flags = r.uint('PUB flags')
        const tailStart = r.pos
        const subject = r.str('subject')
        const reply = r.strOrNil('reply subject')
        const headersStart = r.pos
        const headers = r.headers(this.#limits.maxHeaders)
        const headerBytes = headers === null ? 0 : r.pos - headersStart
        const encoding = r.uint('encoding')
        if (!isEncoding(encoding)) throw new SubwireError('bad_payload', `unknown payload encoding ${encoding}`)
        const payload = r.bin('payload')
        sink.onPub(flags, subject, reply, headers, encoding, payload, payload.length + headerBytes, r.bytes.subarray(tailStart, r.pos))
        return 7
      }
      case OP.SUB: {
        const sid = r.uint('sid')
        const subject = r.str('subject')
        const queue = fields > 3 ? r.strOrNil('queue') : null
        let options: Record<string, WireValue> | null = null
        if (fields > 4 && !r.nil()) {
          const v = r.value(1)
          if (!isRecord(v)) throw protocolError('SUB options must be a map')
          options = v
        }
        sink.onSub(sid, subject, queue, options)
        return Math.min(fields, 5)
      }
      case OP.UNSUB: {
        const sid = r.uint('sid')
        const max = fields > 2 && !r.nil() ? r.uint('max') : null
        sink.onUnsub(sid, max)
        return Math.min(fields, 3)
      }
      case OP.MSG: {
        const sid = r.uint('sid')
        const subject = r.str('subject')
        const reply = r.strOrNil('reply subject')
        const headers = r.headers(this.#limits.maxHeaders)
        const encoding = r.uint('encoding')
        const payloadStart = r.binStart('payload')
        const payloadEnd = r.pos
        // Topic fields; a value of another type is a later version's field: skipped, counted as absent.
        const seq = fields > 7 ? optionalUintField(r) : 0
        const time = fields > 8 ? optionalUintField(r) : 0
        const deliveryCount = fields > 9 ? optionalUintField(r) : 0
        sink.onMsg(sid, subject, reply, headers, encoding, r.bytes, payloadStart, payloadEnd, seq, time, deliveryCount)
        return Math.min(fields, 10)
      }
      case OP.ACK: {
        const sid = r.uint('sid')
        const seq = r.uint('seq')
        const kind = r.uint('ack kind')
        const delayMs = fields > 4 && !r.nil() ? r.uint('delay') : 0
        sink.onAck(sid, seq, kind, delayMs)
        return Math.min(fields, 5)
      }
      case OP.EVENT: {
        const sid = r.uint('sid')
        const type = r.str('event type')
        const data = r.value(1)
        if (!isRecord(data)) throw protocolError('EVENT data must be a map')
        sink.onEvent(sid, type, data)
        return 4
      }
      case OP.PING: sink.onPing(); return 1
      case OP.PONG: sink.onPong(); return 1
      case OP.ERR: {
        const code = r.str('error code')
        const message = r.str('error message')
        const ref = fields > 3 ? r.value(1) : null
        sink.onErr(code, message, typeof ref === 'string' || typeof ref === 'number' ? ref : null)
        return Math.min(fields, 4)
      }
      default: throw protocolError(`unknown op ${op}`)
    }
  }
}

/** Reads a non-negative integer field, or skips a value of any other type and returns 0. */
function optionalUintField(r: MsgpackReader): number {
  const b = r.bytes[r.pos]
  if (r.pos < r.end && (b <= 0x7f || (b >= 0xcc && b <= 0xcf))) return r.uint('field')
  r.skip(1)
  return 0
}

// ---------------------------------------------------------------------------------------------------------
// JSON subprotocol (PROTOCOL §2.2): the same op arrays, one per line; payloads are JSON values when their
// encoding is `json` and base64 strings otherwise.

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

function expectString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw protocolError(`${what} must be a string`)
  return v
}

function expectStringOrNull(v: unknown, what: string): string | null {
  if (v === null || v === undefined) return null
  return expectString(v, what)
}

function expectUint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw protocolError(`${what} must be a non-negative integer`)
  return v
}

function expectHeaders(v: unknown, maxHeaders: number): { headers: Record<string, string> | null; size: number } {
  if (v === null || v === undefined) return { headers: null, size: 0 }
  if (typeof v !== 'object' || Array.isArray(v)) throw protocolError('headers must be an object of strings')
  const keys = Object.keys(v)
  if (keys.length > maxHeaders) throw new SubwireError('bad_payload', `too many headers (${keys.length} > ${maxHeaders})`)
  let size = 0
  const src = v as Record<string, unknown>
  for (const k of keys) {
    const value = src[k]
    if (typeof value !== 'string') throw protocolError(`header ${JSON.stringify(k)} must be a string`)
    size += utf8Length(k) + utf8Length(value) + 2
  }
  return { headers: src as Record<string, string>, size }
}

function optionalUint(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0
}

/** Turns a JSON-protocol payload field into bytes, by its encoding tag. */
function jsonPayloadBytes(encoding: number, value: unknown): Uint8Array {
  if (encoding === ENCODING.json) return value === undefined ? new Uint8Array(0) : textEncoder.encode(JSON.stringify(value))
  if (value === null || value === undefined) return new Uint8Array(0)
  const bytes = typeof value === 'string' ? fromBase64(value) : null
  if (bytes === null) throw new SubwireError('bad_payload', 'a msgpack or raw payload must be a base64 string in the JSON protocol')
  return bytes
}

/**
 * Decodes a JSON text frame (one op per line) into `sink`. Returns the offset where it stopped: the text's
 * length, or the end of a CONNECT line whose handler returned false.
 */
export function decodeJsonFrame(text: string, sink: OpSink, limits: DecodeLimits): number {
  let ops = 0
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    const line = text.slice(start, end).trim()
    start = end + 1
    if (line === '') continue
    if (++ops > limits.maxOpsPerFrame) throw protocolError(`more than ${limits.maxOpsPerFrame} ops in one frame`)
    if (jsonNestsDeeper(line, MAX_JSON_DEPTH)) throw protocolError(`malformed frame: nested deeper than ${MAX_JSON_DEPTH}`)
    let op: unknown
    try {
      op = JSON.parse(line)
    } catch (cause) {
      throw new SubwireError('protocol', 'malformed frame: invalid JSON', { cause })
    }
    if (decodeJsonOp(op, sink, limits) === false) return Math.min(start, text.length)
  }
  return text.length
}

/** Decodes one op; returns false when a CONNECT handler asked to stop. */
/**
 * Deepest nesting of a JSON op line. JSON payloads travel inline, so this is looser than the binary envelope's
 * bound (MAX_DEPTH), yet keeps JSON.parse from building million-deep structures.
 */
const MAX_JSON_DEPTH = 64

/** True when JSON text nests arrays/objects deeper than `max` (strings skipped): the same bound as binary. */
function jsonNestsDeeper(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \\ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) { if (++depth > max) return true }
    else if (c === 93 || c === 125) depth--
  }
  return false
}

function decodeJsonOp(op: unknown, sink: OpSink, limits: DecodeLimits): boolean | void {
  if (!Array.isArray(op) || op.length === 0) throw protocolError('an op must be a non-empty JSON array')
  const code = expectUint(op[0], 'op code')
  if (code >= MIN_FIELDS.length) throw protocolError(`unknown op ${code}`)
  if (op.length < MIN_FIELDS[code]) throw protocolError(`op ${code} needs ${MIN_FIELDS[code]} fields, got ${op.length}`)
  switch (code) {
    case OP.INFO: case OP.CONNECT: case OP.AUTH: {
      const body: unknown = op[1]
      if (!isRecord(body)) throw protocolError('op body must be an object')
      if (code === OP.INFO) sink.onInfo(body)
      else if (code === OP.AUTH) sink.onAuth(body)
      else return sink.onConnect(body)
      return
    }
    case OP.PUB: case OP.MSG: {
      const first = expectUint(op[1], code === OP.PUB ? 'PUB flags' : 'sid')
      const subject = expectString(op[2], 'subject')
      const reply = expectStringOrNull(op[3], 'reply subject')
      const { headers, size } = expectHeaders(op[4], limits.maxHeaders)
      const encoding = expectUint(op[5], 'encoding')
      if (!isEncoding(encoding)) throw new SubwireError('bad_payload', `unknown payload encoding ${encoding}`)
      const payload = jsonPayloadBytes(encoding, op[6])
      if (code === OP.PUB) sink.onPub(first, subject, reply, headers, encoding, payload, payload.length + size, null)
      else sink.onMsg(first, subject, reply, headers, encoding, payload, 0, payload.length, optionalUint(op[7]), optionalUint(op[8]), optionalUint(op[9]))
      return
    }
    case OP.SUB: {
      const options: unknown = op[4]
      if (options !== undefined && options !== null && !isRecord(options)) throw protocolError('SUB options must be an object')
      sink.onSub(expectUint(op[1], 'sid'), expectString(op[2], 'subject'), expectStringOrNull(op[3], 'queue'), (options ?? null) as Record<string, WireValue> | null)
      return
    }
    case OP.ACK:
      sink.onAck(expectUint(op[1], 'sid'), expectUint(op[2], 'seq'), expectUint(op[3], 'ack kind'), op[4] === undefined || op[4] === null ? 0 : expectUint(op[4], 'delay'))
      return
    case OP.EVENT: {
      const data: unknown = op[3]
      if (!isRecord(data)) throw protocolError('EVENT data must be an object')
      sink.onEvent(expectUint(op[1], 'sid'), expectString(op[2], 'event type'), data)
      return
    }
    case OP.UNSUB:
      sink.onUnsub(expectUint(op[1], 'sid'), op[2] === null || op[2] === undefined ? null : expectUint(op[2], 'max'))
      return
    case OP.PING: sink.onPing(); return
    case OP.PONG: sink.onPong(); return
    case OP.ERR: {
      const ref: unknown = op[3]
      sink.onErr(expectString(op[1], 'error code'), expectString(op[2], 'error message'),
        typeof ref === 'string' || typeof ref === 'number' ? ref : null)
      return
    }
    default: throw protocolError(`unknown op ${code}`)
  }
}

/** True when bytes tagged `json` really are JSON text (checked for binary PUBs, which could tag anything). */
export function isJsonText(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return true
  try {
    JSON.parse(textDecoder.decode(bytes))
    return true
  } catch {
    return false
  }
}

/**
 * The JSON text of a MSG's tail (everything after the sid), built once per publish and shared. A `json`
 * payload is re-serialised rather than pasted: JSON text may contain raw newlines between tokens, which would
 * split the op across lines (a subscriber would see forged ops). Bytes that are not JSON (the broker refuses
 * them at PUB, so only a bug gets here) are sent as base64 tagged raw, never pasted.
 */
export function jsonMsgTail(subject: string, reply: string | null, headers: Record<string, string> | null,
  encoding: number, payload: Uint8Array): string {
  let body: string
  if (encoding === ENCODING.json) {
    try {
      body = payload.length === 0 ? 'null' : JSON.stringify(JSON.parse(textDecoder.decode(payload)))
    } catch {
      encoding = ENCODING.raw
      body = JSON.stringify(toBase64(payload))
    }
  } else {
    body = JSON.stringify(toBase64(payload))
  }
  return `${JSON.stringify(subject)},${JSON.stringify(reply)},${JSON.stringify(headers)},${encoding},${body}]`
}

/** One whole op as a JSON line (control ops to JSON-protocol clients). */
export function jsonOp(op: readonly unknown[]): string {
  return JSON.stringify(op)
}

// ---------------------------------------------------------------------------------------------------------
// Binary op writers. PUB and MSG share their tail layout: [op, flags|sid, subject, reply, headers, enc, payload].

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

// ---------------------------------------------------------------------------------------------------------
// Payload codec: the client's side of "encode once, decode lazily".

// PROTOCOL §5 / HOUSE_STYLE 7: records and structured clone make a frame depend on earlier frames or let a
// peer build arbitrary object graphs, so both are off; one instance each is reused.
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false })
const unpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' })

/** An encoded payload: the bytes and how to read them. */
export interface EncodedPayload {
  encoding: Encoding
  bytes: Uint8Array
}

const EMPTY = new Uint8Array(0)

/** Encodes user data once: `Uint8Array` travels raw, `undefined` as nothing, everything else as msgpack. */
export function encodePayload(data: unknown): EncodedPayload {
  if (data === undefined) return { encoding: ENCODING.msgpack, bytes: EMPTY }
  if (data instanceof Uint8Array) return { encoding: ENCODING.raw, bytes: data }
  try {
    return { encoding: ENCODING.msgpack, bytes: packr.pack(data) }
  } catch (cause) {
    throw new SubwireError('bad_payload', 'payload cannot be encoded as msgpack', { cause })
  }
}

/** Decodes a payload by its encoding tag. Throws `bad_payload` when the bytes do not fit the tag. */
export function decodePayload(encoding: number, bytes: Uint8Array): unknown {
  try {
    switch (encoding) {
      // A plain Uint8Array view (not Node's Buffer subclass), so Node and browsers see the same type; no copy.
      case ENCODING.raw: return plain(bytes)
      case ENCODING.json: return bytes.length === 0 ? undefined : JSON.parse(textDecoder.decode(bytes))
      case ENCODING.msgpack: {
        if (bytes.length === 0) return undefined
        const value: unknown = unpackr.unpack(bytes)
        // msgpackr decodes the never-used byte 0xc1 to a placeholder object instead of failing. Only a payload
        // holding that byte at all (a native scan) can contain one, so the walk is rare.
        if (bytes.indexOf(0xc1) >= 0 && containsC1(value, 0)) throw new Error('the never-used msgpack byte 0xc1')
        return value
      }
      default: throw new Error(`unknown encoding ${encoding}`)
    }
  } catch (cause) {
    throw new SubwireError('bad_payload', `payload could not be decoded as encoding ${encoding}`, { cause })
  }
}

function containsC1(value: unknown, depth: number): boolean {
  if (value === C1) return true
  if (typeof value !== 'object' || value === null || depth > 64 || value instanceof Uint8Array) return false
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.keys(), ...value.values()] : Object.values(value)
  for (const item of items) if (containsC1(item, depth + 1)) return true
  return false
}
