/**
 * A small msgpack writer for protocol envelopes (PROTOCOL §4), the counterpart of msgpack-reader.ts. User
 * payloads are written as opaque `bin` bytes; the payload codec (payload-codec.ts, msgpackr) encodes them.
 */
import { SubwireError } from './errors.ts'
// The writer bounds nesting by the limit the reader enforces.
import { MAX_DEPTH } from './msgpack-reader.ts'

const utf8Encoder = new TextEncoder()

/** A growable buffer that writes msgpack values; `finish()` hands out the bytes written so far. */
export class MsgpackWriter {
  buf: Uint8Array
  pos = 0
  #view: DataView

  constructor(initialSize = 1024) {
    this.buf = new Uint8Array(initialSize)
    this.#view = new DataView(this.buf.buffer)
  }

  /** Makes room for `n` more bytes, doubling so appends stay amortised O(1). */
  ensure(n: number): void {
    const need = this.pos + n
    if (need <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.#view = new DataView(next.buffer)
  }

  /** Returns a copy of the bytes written and empties the writer. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.pos)
    this.pos = 0
    return out
  }

  arrayHeader(n: number): void {
    this.ensure(5)
    if (n < 16) this.buf[this.pos++] = 0x90 | n
    else if (n < 0x10000) { this.buf[this.pos++] = 0xdc; this.#view.setUint16(this.pos, n); this.pos += 2 }
    else { this.buf[this.pos++] = 0xdd; this.#view.setUint32(this.pos, n); this.pos += 4 }
  }

  mapHeader(n: number): void {
    this.ensure(5)
    if (n < 16) this.buf[this.pos++] = 0x80 | n
    else if (n < 0x10000) { this.buf[this.pos++] = 0xde; this.#view.setUint16(this.pos, n); this.pos += 2 }
    else { this.buf[this.pos++] = 0xdf; this.#view.setUint32(this.pos, n); this.pos += 4 }
  }

  nil(): void {
    this.ensure(1)
    this.buf[this.pos++] = 0xc0
  }

  bool(v: boolean): void {
    this.ensure(1)
    this.buf[this.pos++] = v ? 0xc3 : 0xc2
  }

  /** Writes a non-negative integer in its shortest form. */
  uint(n: number): void {
    this.ensure(9)
    this.pos = writeUint(this.buf, this.pos, n, this.#view)
  }

  /** Writes any number: integers in their shortest form, others as float64. */
  number(n: number): void {
    if (Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER) return this.uint(n)
    this.ensure(9)
    if (Number.isInteger(n) && n >= -32 && n < 0) { this.buf[this.pos++] = n & 0xff; return }
    if (Number.isInteger(n) && n >= -0x80000000 && n < 0) { this.buf[this.pos++] = 0xd2; this.#view.setInt32(this.pos, n); this.pos += 4; return }
    this.buf[this.pos++] = 0xcb
    this.#view.setFloat64(this.pos, n)
    this.pos += 8
  }

  str(s: string): void {
    const n = s.length
    // ASCII fast path: write the characters straight in behind a header sized for n bytes.
    if (n < 32) {
      this.ensure(1 + n)
      const start = this.pos + 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) break
        this.buf[start + i] = c
      }
      if (i === n) { this.buf[this.pos] = 0xa0 | n; this.pos = start + n; return }
    }
    this.strBytes(utf8Encoder.encode(s))
  }

  /** Writes a string whose UTF-8 bytes are already known (cached subjects). */
  strBytes(bytes: Uint8Array): void {
    const n = bytes.length
    this.ensure(5 + n)
    if (n < 32) this.buf[this.pos++] = 0xa0 | n
    else if (n < 0x100) { this.buf[this.pos++] = 0xd9; this.buf[this.pos++] = n }
    else if (n < 0x10000) { this.buf[this.pos++] = 0xda; this.#view.setUint16(this.pos, n); this.pos += 2 }
    else { this.buf[this.pos++] = 0xdb; this.#view.setUint32(this.pos, n); this.pos += 4 }
    this.buf.set(bytes, this.pos)
    this.pos += n
  }

  strOrNil(s: string | null | undefined): void {
    if (s == null) this.nil()
    else this.str(s)
  }

  bin(bytes: Uint8Array): void {
    const n = bytes.length
    this.ensure(5 + n)
    if (n < 0x100) { this.buf[this.pos++] = 0xc4; this.buf[this.pos++] = n }
    else if (n < 0x10000) { this.buf[this.pos++] = 0xc5; this.#view.setUint16(this.pos, n); this.pos += 2 }
    else { this.buf[this.pos++] = 0xc6; this.#view.setUint32(this.pos, n); this.pos += 4 }
    this.buf.set(bytes, this.pos)
    this.pos += n
  }

  /** Writes raw, already-encoded msgpack bytes. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  headers(h: Readonly<Record<string, string>> | null | undefined): void {
    if (h == null) return this.nil()
    const keys = Object.keys(h)
    this.mapHeader(keys.length)
    for (const k of keys) { this.str(k); this.str(h[k]) }
  }

  /** Writes a flat or nested value of the kinds the protocol uses (INFO, CONNECT, ERR bodies). */
  value(v: unknown, depth = 0): void {
    if (depth > MAX_DEPTH) throw new SubwireError('bad_payload', 'value nested too deeply')
    if (v === null || v === undefined) return this.nil()
    switch (typeof v) {
      case 'boolean': return this.bool(v)
      case 'number': return this.number(v)
      case 'string': return this.str(v)
      case 'object': {
        if (v instanceof Uint8Array) return this.bin(v)
        if (Array.isArray(v)) {
          this.arrayHeader(v.length)
          for (const item of v) this.value(item, depth + 1)
          return
        }
        const entries = Object.entries(v).filter(([, x]) => x !== undefined)
        this.mapHeader(entries.length)
        for (const [k, x] of entries) { this.str(k); this.value(x, depth + 1) }
        return
      }
      default: throw new SubwireError('bad_payload', `cannot encode a ${typeof v}`)
    }
  }
}

/** Writes a non-negative integer at `pos` in its shortest msgpack form; returns the new position. */
export function writeUint(buf: Uint8Array, pos: number, n: number, view?: DataView): number {
  if (n < 0x80) { buf[pos] = n; return pos + 1 }
  if (n < 0x100) { buf[pos] = 0xcc; buf[pos + 1] = n; return pos + 2 }
  if (n < 0x10000) { buf[pos] = 0xcd; buf[pos + 1] = n >>> 8; buf[pos + 2] = n & 0xff; return pos + 3 }
  if (n < 0x100000000) {
    buf[pos] = 0xce
    buf[pos + 1] = n >>> 24; buf[pos + 2] = (n >>> 16) & 0xff; buf[pos + 3] = (n >>> 8) & 0xff; buf[pos + 4] = n & 0xff
    return pos + 5
  }
  const dv = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  buf[pos] = 0xcf
  dv.setBigUint64(pos + 1, BigInt(n))
  return pos + 9
}
