/**
 * The msgpack encoder of user payloads (PROTOCOL §5), written to decode exactly as msgpackr's `Packr` with
 * the options this project used (`useRecords: false, structuredClone: false, moreTypes: false,
 * bundleStrings: false`): payload-codec.ts decodes with msgpackr's `Unpackr` as before, and
 * test/shared/payload-encoder.test.ts checks, value by value, that what this writes decodes to what
 * msgpackr's own encoder gave. Why not msgpackr's encoder: it took 6.3 KB of a 27.2 KB gzipped browser
 * bundle (most of it records, structured clone and string bundling, all off here); this takes about 1 KB.
 *
 * What each kind of value becomes (as msgpackr writes it): strings, numbers, booleans, null; `undefined` as
 * fixext1 type 0 (msgpackr's convention, decoded as undefined); arrays (array subclasses too) element by element, holes as undefined; plain objects and
 * instances of other classes as maps of their own enumerable keys (`toJSON()` used first on instances that
 * have one); `Map` as a map; `Set` as an array; `Error` as `[name, message, cause]`; `RegExp` as `[source,
 * flags]`; `Date` as the timestamp extension (-1); `ArrayBuffer`, typed arrays and `DataView` as `bin` of
 * their bytes; bigints as int64/uint64; functions as undefined. Symbols and bigints past 64 bits throw.
 * Where this differs from msgpackr, msgpackr lost data: it wrote a typed array other than bytes as its
 * element values cut to bytes (the rest of the `bin` stale), a `DataView` as an empty `bin`, and refused
 * objects of more than 65,535 keys.
 */
import { MsgpackWriter } from './msgpack-writer.ts'

const dateToJSON = Date.prototype.toJSON
/** Node's Buffer#toJSON where Buffer exists (a Buffer is a Uint8Array that must stay bytes). */
const bufferToJSON: unknown = (globalThis as { Buffer?: { prototype: { toJSON?: unknown } } }).Buffer?.prototype.toJSON
const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => ArrayBufferView
const textEncoder = new TextEncoder()

/** Classes with an encoding of their own, in msgpackr's order (instances of subclasses match too). */
const EXTENDED: ReadonlyArray<abstract new (...args: never[]) => object> = [Date, Set, Error, RegExp, ArrayBuffer, TypedArray, DataView]

/** Writes one payload value; `w` is reused from payload to payload. */
export function packPayload(w: MsgpackWriter, value: unknown): void {
  switch (typeof value) {
    case 'string': return packString(w, value)
    // msgpackr wrote integers past 32 bits as float64, this as int64 up to 2^53: both decode to the same number.
    case 'number': return w.number(value)
    case 'boolean': return w.bool(value)
    case 'undefined': return packUndefined(w)
    case 'bigint': return packBigInt(w, value)
    case 'function': return packUndefined(w)
    case 'object': return value === null ? w.nil() : packObject(w, value)
    default: throw new TypeError(`cannot encode a ${typeof value}`)
  }
}

function packUndefined(w: MsgpackWriter): void {
  w.ensure(3)
  w.buf[w.pos++] = 0xd4
  w.buf[w.pos++] = 0
  w.buf[w.pos++] = 0
}

/** A DataView of the writer's buffer with room for `n` more bytes. */
function view(w: MsgpackWriter, n: number): DataView {
  w.ensure(n)
  return new DataView(w.buf.buffer, w.buf.byteOffset, w.buf.byteLength)
}

function packBigInt(w: MsgpackWriter, n: bigint): void {
  if (n < 0x8000000000000000n && n >= -0x8000000000000000n) {
    const v = view(w, 9)
    w.buf[w.pos++] = 0xd3
    v.setBigInt64(w.pos, n)
  } else if (n < 0x10000000000000000n && n > 0n) {
    const v = view(w, 9)
    w.buf[w.pos++] = 0xcf
    v.setBigUint64(w.pos, n)
  } else {
    throw new RangeError(`${n} does not fit in a 64-bit integer`)
  }
  w.pos += 8
}

/**
 * UTF-8. As msgpackr, strings under 64 characters are encoded here (a lone surrogate as its own 3 bytes) and
 * longer ones by TextEncoder (a lone surrogate as U+FFFD), straight into the buffer behind a header sized for
 * the character count (as msgpackr does), moved only when the bytes need a longer one.
 */
function packString(w: MsgpackWriter, s: string): void {
  const n = s.length
  w.ensure(5 + n * 3)
  const buf = w.buf
  const header = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
  const start = w.pos + header
  let p = start
  if (n >= 0x40) {
    p += textEncoder.encodeInto(s, buf.subarray(start)).written
  } else {
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i)
      if (c < 0x80) buf[p++] = c
      else if (c < 0x800) { buf[p++] = (c >> 6) | 0xc0; buf[p++] = (c & 0x3f) | 0x80 }
      else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x03ff) << 10) + (s.charCodeAt(++i) & 0x03ff)
        buf[p++] = (c >> 18) | 0xf0; buf[p++] = ((c >> 12) & 0x3f) | 0x80; buf[p++] = ((c >> 6) & 0x3f) | 0x80; buf[p++] = (c & 0x3f) | 0x80
      } else {
        buf[p++] = (c >> 12) | 0xe0; buf[p++] = ((c >> 6) & 0x3f) | 0x80; buf[p++] = (c & 0x3f) | 0x80
      }
    }
  }
  const length = p - start
  const need = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
  // UTF-8 can need up to three bytes a character, so the header may have to grow (never shrink).
  if (need > header) buf.copyWithin(w.pos + need, start, p)
  const q = w.pos
  if (need === 1) buf[q] = 0xa0 | length
  else if (need === 2) { buf[q] = 0xd9; buf[q + 1] = length }
  else if (need === 3) { buf[q] = 0xda; buf[q + 1] = length >> 8; buf[q + 2] = length & 0xff }
  else { buf[q] = 0xdb; view(w, 0).setUint32(q + 1, length) }
  w.pos = q + need + length
}

function packObject(w: MsgpackWriter, o: object): void {
  const ctor = o.constructor
  if (ctor === Object) return packMap(w, o)
  if (ctor === Array) return packArray(w, o as unknown[])
  if (ctor === Map) {
    const m = o as Map<unknown, unknown>
    w.mapHeader(m.size)
    for (const [k, v] of m) { packPayload(w, k); packPayload(w, v) }
    return
  }
  for (const cls of EXTENDED) {
    if (!(o instanceof cls)) continue
    // A subclass with a toJSON of its own serializes through it (msgpackr's rule); Date and Buffer's built-in
    // toJSON are not such a hook.
    const toJSON = (o as { toJSON?: unknown }).toJSON
    if (ctor !== cls && toJSON !== undefined && toJSON !== dateToJSON && toJSON !== bufferToJSON) break
    return packExtended(w, o, cls)
  }
  if (Array.isArray(o)) return packArray(w, o)
  const toJSON = (o as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    const json: unknown = toJSON.call(o)
    if (json !== o) return packPayload(w, json)
  }
  packMap(w, o)
}

function packExtended(w: MsgpackWriter, o: object, cls: (typeof EXTENDED)[number]): void {
  if (cls === Date) return packDate(w, o as Date)
  if (cls === Set) return packArray(w, Array.from(o as Set<unknown>))
  if (cls === Error) { const e = o as Error; return packArray(w, [e.name, e.message, e.cause]) }
  if (cls === RegExp) { const r = o as RegExp; return packArray(w, [r.source, r.flags]) }
  if (cls === ArrayBuffer) return w.bin(new Uint8Array(o as ArrayBuffer))
  const t = o as ArrayBufferView
  w.bin(new Uint8Array(t.buffer, t.byteOffset, t.byteLength))
}

function packArray(w: MsgpackWriter, a: readonly unknown[]): void {
  const n = a.length
  w.arrayHeader(n)
  for (let i = 0; i < n; i++) packPayload(w, a[i])
}

/**
 * Own enumerable keys (for-in filtered by hasOwnProperty, as msgpackr does), as a map: a map16 header whose
 * count is set once the keys are written (msgpackr's form), or a map32 past 65,535 keys.
 */
function packMap(w: MsgpackWriter, o: object): void {
  w.ensure(5)
  const at = w.pos
  w.buf[at] = 0xde
  w.pos += 3
  let size = 0
  const own = (o as { hasOwnProperty?: unknown }).hasOwnProperty
  for (const key in o) {
    if (typeof own === 'function' && own.call(o, key) !== true) continue
    packString(w, key)
    packPayload(w, (o as Record<string, unknown>)[key])
    size++
  }
  if (size < 0x10000) { w.buf[at + 1] = size >> 8; w.buf[at + 2] = size & 0xff; return }
  // Past a map16: two more header bytes, so everything written moves up by two.
  w.ensure(2)
  w.buf.copyWithin(at + 5, at + 3, w.pos)
  w.buf[at] = 0xdf
  view(w, 0).setUint32(at + 1, size)
  w.pos += 2
}

/** The timestamp extension (type -1) in its 32, 64 or 96-bit form, or msgpackr's marker for an invalid date. */
function packDate(w: MsgpackWriter, d: Date): void {
  const ms = d.getTime()
  const seconds = ms / 1000
  const v = view(w, 15)
  const p = w.pos
  if (d.getMilliseconds() === 0 && seconds >= 0 && seconds < 0x100000000) {
    w.buf[p] = 0xd6; w.buf[p + 1] = 0xff; v.setUint32(p + 2, seconds); w.pos += 6
  } else if (seconds > 0 && seconds < 0x100000000) {
    w.buf[p] = 0xd7; w.buf[p + 1] = 0xff
    v.setUint32(p + 2, d.getMilliseconds() * 4000000 + ((seconds / 1000 / 0x100000000) >> 0))
    v.setUint32(p + 6, seconds)
    w.pos += 10
  } else if (Number.isNaN(seconds)) {
    w.buf[p] = 0xd4; w.buf[p + 1] = 0xff; w.buf[p + 2] = 0xff; w.pos += 3
  } else {
    w.buf[p] = 0xc7; w.buf[p + 1] = 12; w.buf[p + 2] = 0xff
    v.setUint32(p + 3, d.getMilliseconds() * 1000000)
    v.setBigInt64(p + 7, BigInt(Math.floor(seconds)))
    w.pos += 15
  }
}
