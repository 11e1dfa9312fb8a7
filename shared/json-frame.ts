/**
 * The JSON subprotocol (`subwire.v1.json`, PROTOCOL §2.2): the same op arrays as binary frames, one per line;
 * payloads are JSON values when their encoding is `json` and base64 strings otherwise. Both directions live
 * here, since they share those rules: decoding text frames into an `OpSink` (op-sink.ts), and writing the MSG
 * tail and control ops a JSON-protocol client receives.
 */
import { ENCODING, OP } from './protocol.ts'
import { SubwireError } from './errors.ts'
import type { WireValue } from './msgpack-reader.ts'
import { utf8Length } from './subject.ts'
import { fromBase64, toBase64 } from './base64.ts'
import { MIN_FIELDS, isEncoding, isRecord, protocolError, type DecodeLimits, type OpSink } from './op-sink.ts'

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

/** Decodes one op; returns false when a CONNECT handler asked to stop. */
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
    case OP.PING: sink.onPing(isRecord(op[1]) ? op[1] as Record<string, WireValue> : null); return
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
