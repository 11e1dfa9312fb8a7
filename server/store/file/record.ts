/**
 * The framing of everything the file store writes: `[u32 length][u32 CRC32C of the body][body]`, little-endian.
 * A reader trusts a record only when its length fits and its checksum matches, so a torn write (a crash in the
 * middle of one) or a flipped bit is found, never read as data.
 *
 * A message record's checksum is seeded with its segment's random salt and its own offset in the file: the
 * bytes of a record a client places inside its payload (to be "found" when recovery searches past a damaged
 * spot) never check out, because the client knows neither. Journal frames are unseeded: recovery never
 * searches a journal, it stops at the first bad entry.
 *
 * A segment starts with a header `[u8 kind=4][u8 version=1][u32 salt]`. A message body: `u8 kind=1, f64 seq,
 * f64 time, u8 encoding, u32 size (what it counts against maxBytes, so recovery need not parse headers), u32
 * subject length, subject, u32 msgId length, msgId, u32 headers length, headers (pairs of u32 length + UTF-8
 * key, u32 length + value: no escapes, so disk use follows what maxBytes counts), payload (the rest)`. A message
 * of a 3-byte subject and a 128-byte payload takes 8 + 34 + 3 + 128 = 173 bytes on disk.
 */
import { crc32c } from './crc.ts'

/** Bytes before a body: its length and checksum. */
export const FRAME_HEADER = 8
/** A larger length field is corruption, not a record (the broker's largest message is far smaller). */
export const MAX_BODY = 256 * 1024 * 1024

export const KIND = { message: 1, journal: 2, groupOp: 3, segment: 4 } as const

/** Bytes of a message body before its subject's length: kind, seq, time, encoding, size. */
const HEAD = 1 + 8 + 8 + 1 + 4
/** Bytes of a segment's header frame. */
export const SEGMENT_HEADER_BYTES = FRAME_HEADER + 6
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

/** A message's body: what a reader needs beyond its index fields. */
export interface Body {
  readonly headers: Readonly<Record<string, string>> | null
  readonly encoding: number
  readonly payload: Uint8Array
}

/** A frame's body and where the next frame starts. */
export interface Frame {
  readonly body: Uint8Array
  readonly end: number
}

function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000
}

/** The checksum seed of a message record at `offset` of a segment salted `salt`. */
export function recordSeed(salt: number, offset: number): number {
  return (salt ^ offset) >>> 0
}

/** Frames `body` (unseeded: journal entries and segment headers). */
export function frame(body: Uint8Array): Uint8Array {
  const out = Buffer.alloc(FRAME_HEADER + body.byteLength)
  out.writeUInt32LE(body.byteLength, 0)
  out.writeUInt32LE(crc32c(body), 4)
  out.set(body, FRAME_HEADER)
  return out
}

/** The frame at `offset` of `buf` when it is whole and its checksum (seeded with `seed`) matches, else null. */
export function readFrame(buf: Uint8Array, offset: number, seed = 0): Frame | null {
  if (offset + FRAME_HEADER > buf.byteLength) return null
  const length = u32(buf, offset)
  const end = offset + FRAME_HEADER + length
  if (length === 0 || length > MAX_BODY || end > buf.byteLength) return null
  const body = buf.subarray(offset + FRAME_HEADER, end)
  return crc32c(body, seed) === u32(buf, offset + 4) ? { body, end } : null
}

/** The header frame of a new segment. */
export function segmentHeader(salt: number): Uint8Array {
  const body = Buffer.alloc(6)
  body[0] = KIND.segment
  body[1] = 1
  body.writeUInt32LE(salt >>> 0, 2)
  return frame(body)
}

/** The salt of a segment whose bytes start with `buf`, or null when its header is missing or damaged. */
export function readSegmentHeader(buf: Uint8Array): number | null {
  const f = readFrame(buf, 0)
  if (f === null || f.body.byteLength !== 6 || f.body[0] !== KIND.segment || f.body[1] !== 1) return null
  return u32(f.body, 2)
}

function headersLength(headers: Readonly<Record<string, string>> | null): number {
  if (headers === null) return 0
  let n = 0
  for (const k of Object.keys(headers)) n += 8 + Buffer.byteLength(k) + Buffer.byteLength(headers[k])
  return n
}

/** Bytes the framed record of `m` takes. */
export function encodedLength(m: MessageRecord): number {
  return FRAME_HEADER + HEAD + 12 + Buffer.byteLength(m.subject) + (m.msgId === undefined ? 0 : Buffer.byteLength(m.msgId)) + headersLength(m.headers) + m.payload.byteLength
}

function putString(out: Buffer, o: number, text: string): number {
  const n = text.length === 0 ? 0 : out.write(text, o + 4, 'utf8')
  out.writeUInt32LE(n, o)
  return o + 4 + n
}

/**
 * Writes the framed record of `m` into `out` at `at` (which has room for `encodedLength(m)` bytes), its
 * checksum seeded with `seed` (recordSeed); returns its length. Strings go straight into the buffer.
 */
export function encodeMessageInto(out: Buffer, at: number, m: MessageRecord, seed: number): number {
  let o = at + FRAME_HEADER
  out[o] = KIND.message; o += 1
  out.writeDoubleLE(m.seq, o); o += 8
  out.writeDoubleLE(m.time, o); o += 8
  out[o] = m.encoding; o += 1
  out.writeUInt32LE(m.size, o); o += 4
  o = putString(out, o, m.subject)
  o = putString(out, o, m.msgId ?? '')
  const headersAt = o
  o += 4
  if (m.headers !== null) for (const k of Object.keys(m.headers)) o = putString(out, putString(out, o, k), m.headers[k])
  out.writeUInt32LE(o - headersAt - 4, headersAt)
  out.set(m.payload, o)
  o += m.payload.byteLength
  out.writeUInt32LE(o - at - FRAME_HEADER, at)
  out.writeUInt32LE(crc32c(out.subarray(at + FRAME_HEADER, o), seed), at + 4)
  return o - at
}

/** The framed bytes of a message record, its checksum seeded with `seed`. */
export function encodeMessage(m: MessageRecord, seed = 0): Uint8Array {
  const out = Buffer.alloc(encodedLength(m))
  encodeMessageInto(out, 0, m, seed)
  return out
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
  /** Where the headers' pairs start and the payload starts. */
  headersStart = 0
  payloadStart = 0
  /** Where the next frame starts. */
  end = 0
  #view: DataView | null = null

  /**
   * True when a whole, valid message frame with a sequence above `after` starts at `offset` of `buf` (a
   * segment's bytes; its checksum is seeded with `salt` and its offset), the checksum not checked when `check`
   * is false (the whole segment's was).
   */
  at(buf: Uint8Array, offset: number, after: number, salt: number, check = true): boolean {
    if (offset + FRAME_HEADER > buf.byteLength) return false
    const length = u32(buf, offset)
    const end = offset + FRAME_HEADER + length
    if (length < HEAD + 12 || length > MAX_BODY || end > buf.byteLength) return false
    if (check && crc32c(buf.subarray(offset + FRAME_HEADER, end), recordSeed(salt, offset)) !== u32(buf, offset + 4)) return false
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
    if (msgIdEnd + 4 > end) return false
    const payloadStart = msgIdEnd + 4 + u32(buf, msgIdEnd)
    if (payloadStart > end) return false
    this.seq = seq
    this.time = time
    this.size = u32(buf, start + 18)
    this.subjectStart = subjectStart
    this.subjectEnd = subjectEnd
    this.msgIdStart = subjectEnd + 4
    this.msgIdEnd = msgIdEnd
    this.headersStart = msgIdEnd + 4
    this.payloadStart = payloadStart
    return true
  }
}

const bodyScanner = new RecordScanner()

/** The header pairs at `[start, end)`, or undefined when they do not parse. */
function readHeaders(buf: Uint8Array, start: number, end: number): Readonly<Record<string, string>> | null | undefined {
  if (start === end) return null
  const headers: Record<string, string> = Object.create(null) as Record<string, string>
  let o = start
  while (o < end) {
    if (o + 4 > end) return undefined
    const kEnd = o + 4 + u32(buf, o)
    if (kEnd + 4 > end) return undefined
    const vEnd = kEnd + 4 + u32(buf, kEnd)
    if (vEnd > end) return undefined
    headers[decoder.decode(buf.subarray(o + 4, kEnd))] = decoder.decode(buf.subarray(kEnd + 4, vEnd))
    o = vEnd
  }
  return Object.freeze({ ...headers })
}

/** A message body's headers, encoding and payload (a copy), skipping its subject; null when malformed. */
export function decodeBody(body: Uint8Array): Body | null {
  const scan = bodyScanner
  if (!scan.fields(body, 0, body.byteLength)) return null
  try {
    const headers = readHeaders(body, scan.headersStart, scan.payloadStart)
    if (headers === undefined) return null
    return { headers, encoding: body[17], payload: body.slice(scan.payloadStart) }
  } catch {
    return null
  }
}
