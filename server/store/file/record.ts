/**
 * The framing of everything the file store writes: `[u32 length][u32 CRC32C of the body][body]`, little-endian.
 * A reader trusts a record only when its length fits and its checksum matches, so a torn write (a crash in the
 * middle of one) or a flipped bit is found, never read as data. Message bodies and journal entries are two
 * kinds of body in the same frame.
 *
 * A message body: `u8 kind=1, f64 seq, f64 time, u8 encoding, u32 subject length, subject, u32 msgId length,
 * msgId, u32 headers length, headers (JSON), payload (the rest)`. A message of a 3-byte subject and a 128-byte
 * payload takes 8 + 30 + 3 + 128 = 169 bytes on disk.
 */
import { crc32c } from '@node-rs/crc32'

/** Bytes before a body: its length and checksum. */
export const FRAME_HEADER = 8
/** A larger length field is corruption, not a record (the broker's largest message is far smaller). */
export const MAX_BODY = 256 * 1024 * 1024

export const KIND = { message: 1, journal: 2 } as const

const EMPTY = new Uint8Array(0)
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A message as a segment holds it. */
export interface MessageRecord {
  readonly seq: number
  readonly time: number
  readonly encoding: number
  readonly subject: string
  readonly msgId: string | undefined
  readonly headers: Readonly<Record<string, string>> | null
  readonly payload: Uint8Array
}

/** A message read back: also the length of its payload (recovery decodes without copying the payload). */
export interface DecodedMessage extends MessageRecord {
  readonly payloadLength: number
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
  const view = new DataView(buf.buffer, buf.byteOffset + offset, FRAME_HEADER)
  const length = view.getUint32(0, true)
  const end = offset + FRAME_HEADER + length
  if (length === 0 || length > MAX_BODY || end > buf.byteLength) return null
  const body = buf.subarray(offset + FRAME_HEADER, end)
  return crc32c(body) === view.getUint32(4, true) ? { body, end } : null
}

/** The framed bytes of a message record. */
export function encodeMessage(m: MessageRecord): Uint8Array {
  const subject = encoder.encode(m.subject)
  const msgId = m.msgId === undefined ? new Uint8Array(0) : encoder.encode(m.msgId)
  const headers = m.headers === null ? new Uint8Array(0) : encoder.encode(JSON.stringify(m.headers))
  const bodyLength = 1 + 8 + 8 + 1 + 4 + subject.byteLength + 4 + msgId.byteLength + 4 + headers.byteLength + m.payload.byteLength
  const out = new Uint8Array(FRAME_HEADER + bodyLength)
  const view = new DataView(out.buffer)
  let o = FRAME_HEADER
  view.setUint8(o, KIND.message); o += 1
  view.setFloat64(o, m.seq, true); o += 8
  view.setFloat64(o, m.time, true); o += 8
  view.setUint8(o, m.encoding); o += 1
  o = putBytes(out, view, o, subject)
  o = putBytes(out, view, o, msgId)
  o = putBytes(out, view, o, headers)
  out.set(m.payload, o)
  const body = out.subarray(FRAME_HEADER)
  view.setUint32(0, bodyLength, true)
  view.setUint32(4, crc32c(body), true)
  return out
}

function putBytes(out: Uint8Array, view: DataView, o: number, bytes: Uint8Array): number {
  view.setUint32(o, bytes.byteLength, true)
  out.set(bytes, o + 4)
  return o + 4 + bytes.byteLength
}

/** The sequence of a message body, read without decoding the rest (recovery's resync), or null. */
export function messageSeq(body: Uint8Array): number | null {
  if (body.byteLength < 17 || body[0] !== KIND.message) return null
  const seq = new DataView(body.buffer, body.byteOffset + 1, 8).getFloat64(0, true)
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null
}

/**
 * Decodes a message body (its checksum already matched); the payload is a copy, so the caller's buffer can be
 * reused (recovery, which needs no payload, passes `withPayload` false and gets an empty one). Null when the
 * body is not a well-formed message (a checksum collision, or a bug: never trusted).
 */
export function decodeMessage(body: Uint8Array, withPayload = true): DecodedMessage | null {
  try {
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
    if (body.byteLength < 30 || view.getUint8(0) !== KIND.message) return null
    const seq = view.getFloat64(1, true)
    const time = view.getFloat64(9, true)
    const encoding = view.getUint8(17)
    let o = 18
    const take = (): Uint8Array => {
      const length = view.getUint32(o, true)
      const bytes = body.subarray(o + 4, o + 4 + length)
      if (bytes.byteLength !== length) throw new RangeError('truncated field')
      o += 4 + length
      return bytes
    }
    const subject = decoder.decode(take())
    const msgIdBytes = take()
    const headerBytes = take()
    if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isFinite(time) || subject.length === 0) return null
    const headers = headerBytes.byteLength === 0 ? null : parseHeaders(decoder.decode(headerBytes))
    if (headers === undefined) return null
    return {
      seq, time, encoding, subject,
      msgId: msgIdBytes.byteLength === 0 ? undefined : decoder.decode(msgIdBytes),
      headers,
      payload: withPayload ? body.slice(o) : EMPTY,
      payloadLength: body.byteLength - o,
    }
  } catch {
    return null
  }
}

function parseHeaders(text: string): Readonly<Record<string, string>> | undefined {
  const value: unknown = JSON.parse(text)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  for (const v of Object.values(value)) if (typeof v !== 'string') return undefined
  return Object.freeze(value as Record<string, string>)
}
