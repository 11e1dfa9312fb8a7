/**
 * Byte builders for hostile frames: valid pieces come from the shared writers, malformed ones are written by
 * hand so each row shows exactly which bytes it sends. Also the two sockets `RawClient` cannot make: a
 * WebSocket that negotiated permessage-deflate and writes hand-built (compressed) frames, and nothing else.
 */
import { createDeflateRaw, constants as zlibConstants } from 'node:zlib'
import { writePub } from '../../shared/op-writer.ts'
import type { OpSink } from '../../shared/op-sink.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { ENCODING, OP, SUBPROTOCOL } from '../../shared/protocol.ts'
import { RawClient, type RawOp } from '../helpers.ts'

/** Bytes from numbers (single bytes) and byte arrays, concatenated. */
export function bytes(...parts: Array<number | Uint8Array | readonly number[]>): Uint8Array {
  const out: number[] = []
  for (const p of parts) {
    if (typeof p === 'number') out.push(p)
    else out.push(...p)
  }
  return Uint8Array.from(out)
}

/** Concatenates byte arrays (without spreading: some are megabytes long). */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) { out.set(p, pos); pos += p.length }
  return out
}

/** Encodes with a fresh writer. */
export function written(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(64)
  build(w)
  return w.finish()
}

/** One msgpack value, encoded by the shared writer. */
export function mp(value: unknown): Uint8Array {
  return written((w) => w.value(value))
}

/** A msgpack string (fixstr/str8/16/32 as its length needs). */
export function mpStr(s: string): Uint8Array {
  return written((w) => w.str(s))
}

/** A msgpack string header with a declared length and no bytes after it (a lie about the length). */
export function str32Header(length: number): Uint8Array {
  return bytes(0xdb, (length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff)
}

/** A msgpack bin header with a declared length and no bytes after it. */
export function bin32Header(length: number): Uint8Array {
  return bytes(0xc6, (length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff)
}

/** float64 1.5, int8 -1, and uint64 2^53 + 1: numbers that are not valid unsigned fields. */
export const FLOAT_1_5 = bytes(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)
export const INT8_MINUS_1 = bytes(0xd0, 0xff)
export const NEG_FIXINT_MINUS_1 = bytes(0xff)
export const UINT64_2_53_PLUS_1 = bytes(0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0x01)
export const NIL = bytes(0xc0)

/** A map of `{ key: value }` pairs written in order, values already encoded (so keys like `__proto__` stay). */
export function mapOf(entries: Array<[string, Uint8Array]>): Uint8Array {
  return written((w) => {
    w.mapHeader(entries.length)
    for (const [k, v] of entries) { w.str(k); w.raw(v) }
  })
}

/** The fields of a PUB, each as encoded bytes; any may be replaced by hostile bytes. */
export interface PubFields {
  flags: Uint8Array
  subject: Uint8Array
  reply: Uint8Array
  headers: Uint8Array
  encoding: Uint8Array
  payload: Uint8Array
}

/** `[PUB, flags, subject, reply, headers, encoding, payload]` with valid defaults and `fields` swapped in. */
export function pubWith(fields: Partial<PubFields>, subject = 'hostile.pub'): Uint8Array {
  const f: PubFields = {
    flags: mp(0), subject: mpStr(subject), reply: NIL, headers: NIL, encoding: mp(ENCODING.raw),
    payload: written((w) => w.bin(Uint8Array.of(1, 2, 3))), ...fields,
  }
  return concat(bytes(0x97, OP.PUB), f.flags, f.subject, f.reply, f.headers, f.encoding, f.payload)
}

/** `[SUB, sid, subject, queue]` with fields swapped in. */
export function subWith(fields: { sid?: Uint8Array; subject?: Uint8Array; queue?: Uint8Array }): Uint8Array {
  return concat(bytes(0x94, OP.SUB), fields.sid ?? mp(1), fields.subject ?? mpStr('hostile.sub'), fields.queue ?? NIL)
}

/** `[UNSUB, sid, max]` with fields swapped in. */
export function unsubWith(fields: { sid?: Uint8Array; max?: Uint8Array }): Uint8Array {
  return concat(bytes(0x93, OP.UNSUB), fields.sid ?? mp(1), fields.max ?? mp(5))
}

/** `[CONNECT, body]` with the body as given bytes. */
export function connectWith(body: Uint8Array): Uint8Array {
  return concat(bytes(0x92, OP.CONNECT), body)
}

/** A valid binary PUB. */
export function pub(subject: string, payload: Uint8Array, headers: Record<string, string> | null = null): Uint8Array {
  return written((w) => writePub(w, 0, subject, null, headers, ENCODING.raw, payload))
}

/** `n` PING ops in one frame. */
export function pings(n: number): Uint8Array {
  const out = new Uint8Array(2 * n)
  for (let i = 0; i < out.length; i += 2) { out[i] = 0x91; out[i + 1] = OP.PING }
  return out
}

/** A value nested `depth` arrays deep: `[[[...nil...]]]`. */
export function nestedArrays(depth: number): Uint8Array {
  const out = new Uint8Array(depth + 1).fill(0x91)
  out[depth] = 0xc0
  return out
}

// ---------------------------------------------------------------------------------------------------------
// permessage-deflate by hand

/**
 * A raw-deflate stream of `total` zero bytes, ending in a sync flush with its `00 00 ff ff` tail removed, as
 * permessage-deflate sends a message (RFC 7692 §7.2.1). Built from a 1 MiB chunk, so the test never holds the
 * inflated size: 64 MiB of zeros compresses to about 64 KiB.
 */
export async function deflatedZeros(total: number): Promise<Uint8Array> {
  return deflated(async (d) => {
    const chunk = Buffer.alloc(Math.min(total, 1 << 20))
    for (let n = 0; n < total; n += chunk.length) {
      if (!d.write(chunk)) await new Promise((resolve) => d.once('drain', resolve))
    }
  })
}

/** `data` compressed as one permessage-deflate message. */
export function deflatedBytes(data: Uint8Array): Promise<Uint8Array> {
  return deflated(async (d) => { d.write(data) })
}

async function deflated(feed: (d: ReturnType<typeof createDeflateRaw>) => Promise<void>): Promise<Uint8Array> {
  const d = createDeflateRaw({ level: 9 })
  const out: Buffer[] = []
  d.on('data', (c: Buffer) => out.push(c))
  await feed(d)
  await new Promise<void>((resolve) => d.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()))
  d.close()
  const all = Buffer.concat(out)
  return new Uint8Array(all.subarray(0, all.length - 4))
}

/**
 * One client-to-server WebSocket frame (RFC 6455 §5.2): FIN, RSV1 when compressed, masked with the all-zero
 * key (allowed, and the payload then travels as is).
 */
export function clientFrame(opcode: number, payload: Uint8Array, compressed: boolean): Uint8Array {
  const n = payload.length
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10
  const f = Buffer.alloc(head + 4 + n)
  f[0] = 0x80 | (compressed ? 0x40 : 0) | opcode
  if (n < 126) f[1] = 0x80 | n
  else if (n < 65536) { f[1] = 0x80 | 126; f.writeUInt16BE(n, 2) }
  else { f[1] = 0x80 | 127; f.writeBigUInt64BE(BigInt(n), 2) }
  f.set(payload, head + 4)
  return f
}

/**
 * An `OpSink` from the handlers given; every other op is ignored. Ops are being added to the protocol, and a
 * test decoder only cares about a few.
 */
export function sinkWith(handlers: Partial<OpSink>): OpSink {
  const ignore = (): void => undefined
  return new Proxy(handlers, { get: (target, key) => (target as Record<PropertyKey, unknown>)[key] ?? ignore }) as OpSink
}

/** The part of `RawClient` the table's expectations read. */
export interface Probe {
  readonly ops: RawOp[]
  readonly closeCode: number | null
  waitFor(match: (op: RawOp) => boolean, ms?: number, what?: string): Promise<RawOp>
  waitClose(ms?: number): Promise<number>
  close(): void
}

/**
 * A `subwire.v1` socket that negotiated permessage-deflate and writes hand-built frames straight to its TCP
 * socket, so it can send a compressed message whose inflated size it never holds.
 */
export class DeflateSocket extends RawClient implements Probe {
  constructor(url: string) {
    super(url, SUBPROTOCOL.msgpack, { perMessageDeflate: true })
  }

  /** True when the server agreed to permessage-deflate. */
  get deflating(): boolean {
    return this.ws.extensions.includes('permessage-deflate')
  }

  /** Writes a compressed binary message: `deflated` is its permessage-deflate payload. */
  writeCompressed(deflated: Uint8Array): void {
    const socket = (this.ws as unknown as { _socket: { write(b: Uint8Array): boolean } })._socket
    socket.write(clientFrame(0x2, deflated, true))
  }

  /** Sends an uncompressed frame through ws. */
  override send(data: Uint8Array | string): void {
    this.ws.send(data, { compress: false })
  }
}
