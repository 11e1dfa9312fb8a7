/**
 * The payload codec (PROTOCOL §5): the client's side of "encode once, decode lazily". Payloads are opaque to
 * the broker: user data is encoded once by the publishing client (msgpack here) and travels as bytes tagged
 * with an encoding; only the receiving client decodes it.
 *
 * msgpack is encoded by payload-encoder.ts (the same values msgpackr's encoder wrote, in a sixth of its
 * browser bundle bytes) and decoded by msgpackr's decoder. `#msgpackr-unpack` (package.json `imports`) is
 * `msgpackr/unpack` in browsers, so their bundles leave msgpackr's encoder out, and `msgpackr` in Node, whose
 * entry adds the native string extractor when it is installed.
 */
import { C1, Unpackr } from '#msgpackr-unpack'
import { ENCODING, type Encoding } from './protocol.ts'
import { SubwireError } from './errors.ts'
import { plain } from './msgpack-reader.ts'
import { MsgpackWriter } from './msgpack-writer.ts'
import { packPayload } from './payload-encoder.ts'

const textDecoder = new TextDecoder('utf-8', { fatal: true })

// PROTOCOL §5 / HOUSE_STYLE 7: records and structured clone make a frame depend on earlier frames or let a
// peer build arbitrary object graphs, so both are off (the encoder writes neither); one instance each is reused.
/**
 * Payloads are written one after another into one buffer and handed out as views of it, never copied: an
 * ArrayBuffer per payload cost more than encoding it (0.5 µs for 1 KB in Node 20, against 0.1 µs to encode
 * 1 KB of text), which is why msgpackr does the same. A buffer past half full is left to the views into it
 * and a new one started, so nothing handed out is ever written again.
 */
const ARENA_BYTES = 16 * 1024
let writer = new MsgpackWriter(ARENA_BYTES)
const unpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' })

/** An encoded payload: the bytes and how to read them. */
export interface EncodedPayload {
  encoding: Encoding
  bytes: Uint8Array
}

const EMPTY = new Uint8Array(0)

/**
 * A payload encoded already, written as its bytes: a shared tab (client/shared/) encodes its data itself, so
 * the SharedWorker's client publishes exactly what a connection of the tab's own would have (structured clone
 * would drop `toJSON`, refuse a method, and copy the whole buffer under a view).
 */
export class Encoded implements EncodedPayload {
  readonly encoding: Encoding
  readonly bytes: Uint8Array
  constructor(encoding: Encoding, bytes: Uint8Array) {
    this.encoding = encoding
    this.bytes = bytes
  }
}

/** Encodes user data once: `Uint8Array` travels raw, `undefined` as nothing, everything else as msgpack. */
export function encodePayload(data: unknown): EncodedPayload {
  if (data === undefined) return { encoding: ENCODING.msgpack, bytes: EMPTY }
  if (data instanceof Uint8Array) return { encoding: ENCODING.raw, bytes: data }
  if (data instanceof Encoded) return data
  const start = writer.pos
  try {
    packPayload(writer, data)
    const bytes = writer.buf.subarray(start, writer.pos)
    if (writer.pos > ARENA_BYTES / 2) writer = new MsgpackWriter(ARENA_BYTES)
    return { encoding: ENCODING.msgpack, bytes }
  } catch (cause) {
    writer.pos = start // what was half written is overwritten by the next payload
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
