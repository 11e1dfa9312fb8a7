/**
 * The payload codec (PROTOCOL §5): the client's side of "encode once, decode lazily". Payloads are opaque to
 * the broker: user data is encoded once by the publishing client (msgpackr here) and travels as bytes tagged
 * with an encoding; only the receiving client decodes it.
 */
import { C1, Packr, Unpackr } from 'msgpackr'
import { ENCODING, type Encoding } from './protocol.ts'
import { SubwireError } from './errors.ts'
import { plain } from './msgpack-reader.ts'

const textDecoder = new TextDecoder('utf-8', { fatal: true })

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
