/**
 * A small msgpack reader for protocol envelopes (PROTOCOL §4); msgpack-writer.ts writes them. User payloads
 * never pass through here as values: they travel as opaque `bin` bytes, and the payload codec
 * (payload-codec.ts, msgpackr) handles them.
 *
 * Why hand-written: the reader is the broker's whole attack surface for binary input, so it bounds every
 * declared length against the bytes actually present, caps nesting depth, knows no extension types and cannot
 * pollute prototypes; and it lets the broker find the byte range of a PUB's tail without copying it, so that
 * tail is fanned out as it arrived (PROTOCOL §4.3: the PUB tail and the MSG tail are the same bytes).
 */
import { SubwireError } from './errors.ts'

/** Deepest nesting the generic reader accepts (INFO and CONNECT bodies are flat; 8 leaves room to grow). */
export const MAX_DEPTH = 8

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
/** Longest string the reader remembers as its last one (subjects are short). */
const LAST_MAX = 64

function malformed(what: string): SubwireError {
  return new SubwireError('protocol', `malformed frame: ${what}`)
}

/** A generic msgpack value as the reader returns it. */
export type WireValue = null | boolean | number | string | Uint8Array | WireValue[] | { [key: string]: WireValue }

/** Reads msgpack values from a byte range, refusing anything truncated, oversized, too deep or extended. */
export class MsgpackReader {
  bytes: Uint8Array
  pos: number
  end: number
  #view: DataView
  readonly #lastBytes = new Uint8Array(LAST_MAX)
  #lastLength = -1
  #lastString = ''

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    bytes = plain(bytes)
    this.bytes = bytes
    this.pos = start
    this.end = end
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** Points the reader at new bytes; lets one reader serve every frame of a connection. */
  reset(bytes: Uint8Array, start = 0, end = bytes.length): void {
    bytes = plain(bytes)
    if (bytes.buffer !== this.bytes.buffer || bytes.byteOffset !== this.bytes.byteOffset || bytes.byteLength !== this.bytes.byteLength) {
      this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    }
    this.bytes = bytes
    this.pos = start
    this.end = end
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  #need(n: number, what: string): void {
    if (this.pos + n > this.end) throw malformed(`truncated ${what}`)
  }

  #byte(what: string): number {
    if (this.pos >= this.end) throw malformed(`truncated ${what}`)
    return this.bytes[this.pos++]
  }

  /** Reads an array header and returns its declared length (checked against the bytes left). */
  arrayHeader(): number {
    const b = this.#byte('array')
    let n: number
    if (b >= 0x90 && b <= 0x9f) n = b & 0x0f
    else if (b === 0xdc) { this.#need(2, 'array'); n = this.#view.getUint16(this.pos); this.pos += 2 }
    else if (b === 0xdd) { this.#need(4, 'array'); n = this.#view.getUint32(this.pos); this.pos += 4 }
    else throw malformed('expected an array')
    if (n > this.end - this.pos) throw malformed('array longer than the frame')
    return n
  }

  /** Reads a map header and returns its declared entry count (checked against the bytes left). */
  mapHeader(): number {
    const b = this.#byte('map')
    let n: number
    if (b >= 0x80 && b <= 0x8f) n = b & 0x0f
    else if (b === 0xde) { this.#need(2, 'map'); n = this.#view.getUint16(this.pos); this.pos += 2 }
    else if (b === 0xdf) { this.#need(4, 'map'); n = this.#view.getUint32(this.pos); this.pos += 4 }
    else throw malformed('expected a map')
    if (n * 2 > this.end - this.pos) throw malformed('map longer than the frame')
    return n
  }

  /** True (and consumed) when the next value is nil. */
  nil(): boolean {
    if (this.pos < this.end && this.bytes[this.pos] === 0xc0) { this.pos++; return true }
    return false
  }

  /** Reads a non-negative integer that fits in a JavaScript number exactly. */
  uint(what = 'integer'): number {
    const b = this.#byte(what)
    if (b <= 0x7f) return b
    const v = this.#view
    let n: number
    switch (b) {
      case 0xcc: this.#need(1, what); n = this.bytes[this.pos]; this.pos += 1; return n
      case 0xcd: this.#need(2, what); n = v.getUint16(this.pos); this.pos += 2; return n
      case 0xce: this.#need(4, what); n = v.getUint32(this.pos); this.pos += 4; return n
      case 0xcf: {
        this.#need(8, what)
        const big = v.getBigUint64(this.pos); this.pos += 8
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} too large`)
        return Number(big)
      }
      case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        this.pos--
        const x = this.number(what)
        if (x < 0) throw malformed(`${what} must not be negative`)
        return x
      }
      default: throw malformed(`expected ${what}`)
    }
  }

  /** Reads any number (int or float). */
  number(what = 'number'): number {
    const b = this.#byte(what)
    if (b <= 0x7f) return b
    if (b >= 0xe0) return b - 0x100
    const v = this.#view
    let n: number
    switch (b) {
      case 0xcc: case 0xcd: case 0xce: case 0xcf: this.pos--; return this.uint(what)
      case 0xd0: this.#need(1, what); n = v.getInt8(this.pos); this.pos += 1; return n
      case 0xd1: this.#need(2, what); n = v.getInt16(this.pos); this.pos += 2; return n
      case 0xd2: this.#need(4, what); n = v.getInt32(this.pos); this.pos += 4; return n
      case 0xd3: {
        this.#need(8, what)
        const big = v.getBigInt64(this.pos); this.pos += 8
        if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) throw malformed(`${what} out of range`)
        return Number(big)
      }
      case 0xca: this.#need(4, what); n = v.getFloat32(this.pos); this.pos += 4; return n
      case 0xcb: this.#need(8, what); n = v.getFloat64(this.pos); this.pos += 8; return n
      default: throw malformed(`expected ${what}`)
    }
  }

  /** Reads a string's byte range; the caller decodes it only if it needs the text. */
  #strLength(what: string): number {
    const b = this.#byte(what)
    let n: number
    if (b >= 0xa0 && b <= 0xbf) n = b & 0x1f
    else if (b === 0xd9) { this.#need(1, what); n = this.bytes[this.pos]; this.pos += 1 }
    else if (b === 0xda) { this.#need(2, what); n = this.#view.getUint16(this.pos); this.pos += 2 }
    else if (b === 0xdb) { this.#need(4, what); n = this.#view.getUint32(this.pos); this.pos += 4 }
    else throw malformed(`expected ${what} as a string`)
    this.#need(n, what)
    return n
  }

  /** Reads a UTF-8 string (invalid UTF-8 is a protocol error). */
  str(what = 'string'): string {
    const n = this.#strLength(what)
    const start = this.pos
    this.pos += n
    return this.strAt(start, n)
  }

  /**
   * The string whose `n` UTF-8 bytes start at `start` (the caller has bounds-checked them); does not move
   * `pos`. For decoders that walk a common op shape themselves (frame-decoder.ts).
   */
  strAt(start: number, n: number): string {
    if (n > LAST_MAX || n === 0) return decodeUtf8(this.bytes, start, start + n)
    // Subjects repeat from op to op (a fan-out, a publisher's stream): comparing a few bytes with the last
    // string read is cheaper than building the string again, and hands out the same string instance.
    const bytes = this.bytes
    const last = this.#lastBytes
    if (n === this.#lastLength) {
      let i = 0
      while (i < n && bytes[start + i] === last[i]) i++
      if (i === n) return this.#lastString
    }
    const s = decodeUtf8(bytes, start, start + n)
    last.set(bytes.subarray(start, start + n))
    this.#lastLength = n
    this.#lastString = s
    return s
  }

  /** Reads a string or nil. */
  strOrNil(what = 'string'): string | null {
    return this.nil() ? null : this.str(what)
  }

  /** Reads a `bin` (or, leniently, a `str`) and returns a view of its bytes, not a copy. */
  bin(what = 'binary'): Uint8Array {
    const start = this.binStart(what)
    return this.bytes.subarray(start, this.pos)
  }

  /**
   * Skips a `bin` (or, leniently, a `str`) and returns where its bytes start; they end at `pos`. For callers
   * that may never look at the bytes: a view costs an allocation (about 9 % of a fan-out subscriber's CPU).
   */
  binStart(what = 'binary'): number {
    const b = this.#byte(what)
    let n: number
    if (b === 0xc4) { this.#need(1, what); n = this.bytes[this.pos]; this.pos += 1 }
    else if (b === 0xc5) { this.#need(2, what); n = this.#view.getUint16(this.pos); this.pos += 2 }
    else if (b === 0xc6) { this.#need(4, what); n = this.#view.getUint32(this.pos); this.pos += 4 }
    else { this.pos--; n = this.#strLength(what) }
    this.#need(n, what)
    const start = this.pos
    this.pos += n
    return start
  }

  /**
   * Reads a map of string keys to string values (message headers), or nil.
   * Returns the map and adds its encoded size to nothing: callers measure size from positions.
   */
  headers(maxEntries: number): Record<string, string> | null {
    if (this.nil()) return null
    const n = this.mapHeader()
    if (n > maxEntries) throw new SubwireError('bad_payload', `too many headers (${n} > ${maxEntries})`)
    const out: Record<string, string> = {}
    for (let i = 0; i < n; i++) {
      const key = this.str('header name')
      const value = this.str('header value')
      setOwn(out, key, value)
    }
    return out
  }

  /** Skips one value of any type, bounded by depth. */
  skip(depth = 0): void {
    this.value(depth)
  }

  /** Reads any supported value. Maps become plain objects whose keys can never reach a prototype. */
  value(depth = 0): WireValue {
    if (depth > MAX_DEPTH) throw malformed('nesting too deep')
    const b = this.bytes[this.pos]
    if (this.pos >= this.end) throw malformed('truncated value')
    if (b <= 0x7f || b >= 0xe0) return this.number()
    if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) {
      const n = this.mapHeader()
      const out: { [key: string]: WireValue } = {}
      for (let i = 0; i < n; i++) {
        const key = this.str('map key')
        setOwn(out, key, this.value(depth + 1))
      }
      return out
    }
    if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) {
      const n = this.arrayHeader()
      const out: WireValue[] = new Array(n)
      for (let i = 0; i < n; i++) out[i] = this.value(depth + 1)
      return out
    }
    if ((b >= 0xa0 && b <= 0xbf) || b === 0xd9 || b === 0xda || b === 0xdb) return this.str()
    switch (b) {
      case 0xc0: this.pos++; return null
      case 0xc2: this.pos++; return false
      case 0xc3: this.pos++; return true
      case 0xc4: case 0xc5: case 0xc6: return this.bin()
      default: return this.number()
    }
  }
}

/**
 * The same bytes as a plain Uint8Array (a Node Buffer becomes a view of its memory; no copy). Done once per
 * frame, so every `subarray` after it takes V8's plain-Uint8Array path: about 35 ns a slice, against 50–57 ns
 * for Buffer#subarray (species construction) or a three-argument Uint8Array constructor. It also gives
 * browsers and Node the same type for payloads.
 */
export function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Sets an own property even for keys like `__proto__`, so wire data can never replace a prototype. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** Decodes UTF-8, with a fast path for the short ASCII strings subjects almost always are. */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start
  if (n <= 64) {
    let s = ''
    let i = start
    for (; i < end; i++) {
      const c = bytes[i]
      if (c > 0x7f) break
      s += String.fromCharCode(c)
    }
    if (i === end) return s
  }
  try {
    return utf8Decoder.decode(bytes.subarray(start, end))
  } catch (cause) {
    throw new SubwireError('protocol', 'malformed frame: invalid UTF-8 in a string', { cause })
  }
}
