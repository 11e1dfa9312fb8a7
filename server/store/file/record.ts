/**
 * The framing of everything the file store writes: `[u32 length][u32 CRC32C of the body][body]`, little-endian.
 * A reader trusts a record only when its length fits and its checksum matches, so a torn write (a crash in the
 * middle of one) or a flipped bit is found, never read as data. Message bodies and journal entries are two
 * kinds of body in the same frame.
 *
 * A message body: `u8 kind=1, f64 seq, f64 time, u8 encoding, u32 size (what it counts against maxBytes, so
 * recovery need not parse its headers), u32 subject length, subject, u32 msgId length, msgId, u32 headers
 * length, headers (JSON), payload (the rest)`. A message of a 3-byte subject and a 128-byte payload takes
 * 8 + 34 + 3 + 128 = 173 bytes on disk.
 */
import { crc32c } from '@node-rs/crc32'

/** Bytes before a body: its length and checksum. */
export const FRAME_HEADER = 8
/** A larger length field is corruption, not a record (the broker's largest message is far smaller). */
export const MAX_BODY = 256 * 1024 * 1024

export const KIND = { message: 1, journal: 2, groupOp: 3 } as const

/** Bytes of a message body before its subject's length: kind, seq, time, encoding, size. */
const HEAD = 1 + 8 + 8 + 1 + 4
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A message as a segment holds it. */
export interface MessageRecord {
  readonly seq: number
  readonly time: number
  readonly encoding: number
  /** What it counts against maxBytes. */
  readonly size: number
  readonly subject: string
  readonly msgId: string | undefined
  readonly headers: Readonly<Record<string, string>> | null
  readonly payload: Uint8Array
}

/** A frame's body and where the next frame starts. */
export interface Frame {
  readonly body: Uint8Array
  readonly end: number
}

/** Frames `body`: the bytes to append to a file. */
export function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + body.byteLength)
  const view = new DataView(out.buffer)
  view.setUint32(0, body.byteLength, true)
  view.setUint32(4, crc32c(body), true)
  out.set(body, FRAME_HEADER)
  return out
}

/** The frame at `offset` of `buf` when it is whole and its checksum matches, else null. */
export function readFrame(buf: Uint8Array, offset: number): Frame | null {
  if (offset + FRAME_HEADER > buf.byteLength) return null
  const length = u32(buf, offset)
  const end = offset + FRAME_HEADER + length
  if (length === 0 || length > MAX_BODY || end > buf.byteLength) return null
  const body = buf.subarray(offset + FRAME_HEADER, end)
  return crc32c(body) === u32(buf, offset + 4) ? { body, end } : null
}

/** Bytes the framed record of `m` takes. */
export function encodedLength(m: MessageRecord): number {
  const headers = m.headers === null ? 0 : Buffer.byteLength(JSON.stringify(m.headers))
  return FRAME_HEADER + HEAD + 12 + Buffer.byteLength(m.subject) + (m.msgId === undefined ? 0 : Buffer.byteLength(m.msgId)) + headers + m.payload.byteLength
}

/**
 * Writes the framed record of `m` into `out` at `at` (which has room for `encodedLength(m)` bytes); returns
 * its length. Strings go straight into the buffer: no intermediate copies on the append path.
 */
export function encodeMessageInto(out: Buffer, at: number, m: MessageRecord): number {
  let o = at + FRAME_HEADER
  out[o] = KIND.message; o += 1
  out.writeDoubleLE(m.seq, o); o += 8
  out.writeDoubleLE(m.time, o); o += 8
  out[o] = m.encoding; o += 1
  out.writeUInt32LE(m.size, o); o += 4
  o = putString(out, o, m.subject)
  o = putString(out, o, m.msgId ?? '')
  o = putString(out, o, m.headers === null ? '' : JSON.stringify(m.headers))
  out.set(m.payload, o)
  o += m.payload.byteLength
  out.writeUInt32LE(o - at - FRAME_HEADER, at)
  out.writeUInt32LE(crc32c(out.subarray(at + FRAME_HEADER, o)), at + 4)
  return o - at
}

function putString(out: Buffer, o: number, text: string): number {
  const n = text.length === 0 ? 0 : out.write(text, o + 4, 'utf8')
  out.writeUInt32LE(n, o)
  return o + 4 + n
}

/** The framed bytes of a message record. */
export function encodeMessage(m: MessageRecord): Uint8Array {
  const out = Buffer.alloc(encodedLength(m))
  encodeMessageInto(out, 0, m)
  return out
}

/** The sequence of a message body, read without decoding the rest (recovery's resync), or null. */
export function messageSeq(body: Uint8Array): number | null {
  if (body.byteLength < HEAD || body[0] !== KIND.message) return null
  const seq = new DataView(body.buffer, body.byteOffset + 1, 8).getFloat64(0, true)
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null
}

function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000
}

/** What recovery needs of a record: no headers, no payload. */
export interface IndexRecord {
  readonly seq: number
  readonly time: number
  readonly size: number
  /** Offsets in the body of the subject's and the msgId's bytes. */
  readonly subjectStart: number
  readonly subjectEnd: number
  readonly msgIdStart: number
  readonly msgIdEnd: number
}

/** Reads a message body's index fields (its checksum already matched), or null when malformed. */
export function indexOf(body: Uint8Array): IndexRecord | null {
  const scan = new RecordScanner()
  return scan.fields(body, 0, body.byteLength) ? { ...scan, subjectStart: scan.subjectStart, subjectEnd: scan.subjectEnd } : null
}

/**
 * Walks the records of a segment with no allocation per record but the checksum's view (recovery reads
 * millions): `at` checks the frame at an offset and, when it holds a valid message, fills the fields.
 * Offsets it sets are absolute in the buffer.
 */
export class RecordScanner {
  seq = 0
  time = 0
  size = 0
  subjectStart = 0
  subjectEnd = 0
  msgIdStart = 0
  msgIdEnd = 0
  /** Where the next frame starts. */
  end = 0
  #view: DataView | null = null

  /** True when a whole, valid message frame with a sequence above `after` starts at `offset` of `buf`. */
  at(buf: Uint8Array, offset: number, after: number): boolean {
    if (offset + FRAME_HEADER > buf.byteLength) return false
    const length = u32(buf, offset)
    const end = offset + FRAME_HEADER + length
    if (length < HEAD + 12 || length > MAX_BODY || end > buf.byteLength) return false
    if (crc32c(buf.subarray(offset + FRAME_HEADER, end)) !== u32(buf, offset + 4)) return false
    if (!this.fields(buf, offset + FRAME_HEADER, end) || this.seq <= after) return false
    this.end = end
    return true
  }

  /** Parses the index fields of the body at `[start, end)` of `buf`. */
  fields(buf: Uint8Array, start: number, end: number): boolean {
    if (buf[start] !== KIND.message || end - start < HEAD + 12) return false
    const cached = this.#view
    if (cached === null || cached.buffer !== buf.buffer || cached.byteOffset !== buf.byteOffset || cached.byteLength !== buf.byteLength) this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    const view = this.#view as DataView
    const seq = view.getFloat64(start + 1, true)
    const time = view.getFloat64(start + 9, true)
    if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isFinite(time)) return false
    const subjectStart = start + HEAD + 4
    const subjectEnd = subjectStart + u32(buf, start + HEAD)
    if (subjectEnd + 8 > end || subjectEnd === subjectStart) return false
    const msgIdEnd = subjectEnd + 4 + u32(buf, subjectEnd)
    if (msgIdEnd + 4 > end || msgIdEnd + 4 + u32(buf, msgIdEnd) > end) return false
    this.seq = seq
    this.time = time
    this.size = u32(buf, start + 18)
    this.subjectStart = subjectStart
    this.subjectEnd = subjectEnd
    this.msgIdStart = subjectEnd + 4
    this.msgIdEnd = msgIdEnd
    return true
  }
}

/**
 * Decodes a message body (its checksum already matched); the payload is a copy, so the caller's buffer can be
 * reused. Null when the body is not a well-formed message (a checksum collision, or a bug: never trusted).
 */
export function decodeMessage(body: Uint8Array): MessageRecord | null {
  try {
    const ix = indexOf(body)
    if (ix === null) return null
    const headersStart = ix.msgIdEnd + 4
    const headersEnd = headersStart + u32(body, ix.msgIdEnd)
    const subject = decoder.decode(body.subarray(ix.subjectStart, ix.subjectEnd))
    const headers = headersEnd === headersStart ? null : parseHeaders(decoder.decode(body.subarray(headersStart, headersEnd)))
    if (headers === undefined) return null
    return {
      seq: ix.seq, time: ix.time, encoding: body[17], size: ix.size, subject,
      msgId: ix.msgIdEnd === ix.msgIdStart ? undefined : decoder.decode(body.subarray(ix.msgIdStart, ix.msgIdEnd)),
      headers,
      payload: body.slice(headersEnd),
    }
  } catch {
    return null
  }
}
/** A message body's headers, encoding and payload (a copy), skipping its subject; null when malformed. */
export function decodeBody(body: Uint8Array): { headers: Readonly<Record<string, string>> | null; encoding: number; payload: Uint8Array } | null {
  const scan = bodyScanner
  if (!scan.fields(body, 0, body.byteLength)) return null
  const headersStart = scan.msgIdEnd + 4
  const headersEnd = headersStart + u32(body, scan.msgIdEnd)
  try {
    const headers = headersEnd === headersStart ? null : parseHeaders(decoder.decode(body.subarray(headersStart, headersEnd)))
    if (headers === undefined) return null
    return { headers, encoding: body[17], payload: body.slice(headersEnd) }
  } catch {
    return null
  }
}

const bodyScanner = new RecordScanner()

function parseHeaders(text: string): Readonly<Record<string, string>> | undefined {
  const value: unknown = JSON.parse(text)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  for (const v of Object.values(value)) if (typeof v !== 'string') return undefined
  return Object.freeze(value as Record<string, string>)
}
