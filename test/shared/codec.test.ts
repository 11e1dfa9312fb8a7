/**
 * Specification of the wire codecs (shared/frame-decoder.ts, json-frame.ts, op-writer.ts, payload-codec.ts,
 * msgpack-reader.ts, msgpack-writer.ts, base64.ts; PROTOCOL §4–5):
 * every op survives writer → decoder, the PUB tail is exactly the MSG tail (encode once), optional and
 * unknown trailing fields are skipped, and hostile input is refused as a SubwireError, never a crash.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { codeOf } from '../helpers.ts'
import fc from 'fast-check'
import type { DecodeLimits, OpSink } from '../../shared/op-sink.ts'
import { FrameDecoder } from '../../shared/frame-decoder.ts'
import { decodeJsonFrame, jsonMsgTail } from '../../shared/json-frame.ts'
import {
  PING_BYTES, PONG_BYTES, encodeMsgTail, msgPrefix, writeBodyOp, writeErr, writeMsg, writePub, writeSub, writeUnsub,
} from '../../shared/op-writer.ts'
import { decodePayload, encodePayload } from '../../shared/payload-codec.ts'
import { MAX_DEPTH, MsgpackReader, type WireValue } from '../../shared/msgpack-reader.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { fromBase64, toBase64 } from '../../shared/base64.ts'
import { ENCODING, OP } from '../../shared/protocol.ts'
import { SubwireError } from '../../shared/errors.ts'
import { utf8Length } from '../../shared/subject.ts'

// ---------------------------------------------------------------------------------------------------------
// Helpers: a sink that records every op, byte builders, and the code a call throws.

/** One decoded op, with bytes copied into plain arrays so results compare and print clearly. */
type Rec =
  | { op: 'INFO'; body: Record<string, WireValue> }
  | { op: 'CONNECT'; body: Record<string, WireValue> }
  | { op: 'AUTH'; body: Record<string, WireValue> }
  | { op: 'ACK'; sid: number; seq: number; kind: number; delayMs: number }
  | { op: 'EVENT'; sid: number; type: string; data: Record<string, WireValue> }
  | { op: 'PUB'; flags: number; subject: string; reply: string | null; headers: Record<string, string> | null; encoding: number; payload: number[]; size: number; tail: number[] | null }
  | { op: 'SUB'; sid: number; subject: string; queue: string | null }
  | { op: 'UNSUB'; sid: number; max: number | null }
  | { op: 'MSG'; sid: number; subject: string; reply: string | null; headers: Record<string, string> | null; encoding: number; payload: number[] }
  | { op: 'PING' }
  | { op: 'PONG' }
  | { op: 'ERR'; code: string; message: string; ref: string | number | null }

class Recorder implements OpSink {
  readonly ops: Rec[] = []
  onInfo(body: Record<string, WireValue>): void { this.ops.push({ op: 'INFO', body }) }
  onConnect(body: Record<string, WireValue>): void { this.ops.push({ op: 'CONNECT', body }) }
  onAuth(body: Record<string, WireValue>): void { this.ops.push({ op: 'AUTH', body }) }
  onAck(sid: number, seq: number, kind: number, delayMs: number): void { this.ops.push({ op: 'ACK', sid, seq, kind, delayMs }) }
  onEvent(sid: number, type: string, data: Record<string, WireValue>): void { this.ops.push({ op: 'EVENT', sid, type, data }) }
  onPub(flags: number, subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number,
    payload: Uint8Array | null, size: number, tail: Uint8Array | null): void {
    // A null payload is the last `size` bytes of the tail (the decoder's fast path); anything else is a bug.
    if (payload === null && (tail === null || headers !== null)) throw new Error('PUB with neither a payload nor a headerless tail')
    const bytes = payload ?? (tail as Uint8Array).subarray((tail as Uint8Array).length - size)
    this.ops.push({ op: 'PUB', flags, subject, reply, headers, encoding, payload: [...bytes], size, tail: tail === null ? null : [...tail] })
  }
  onSub(sid: number, subject: string, queue: string | null): void { this.ops.push({ op: 'SUB', sid, subject, queue }) }
  onUnsub(sid: number, max: number | null): void { this.ops.push({ op: 'UNSUB', sid, max }) }
  onMsg(sid: number, subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number,
    frame: Uint8Array, payloadStart: number, payloadEnd: number): void {
    this.ops.push({ op: 'MSG', sid, subject, reply, headers, encoding, payload: [...frame.subarray(payloadStart, payloadEnd)] })
  }
  onPing(): void { this.ops.push({ op: 'PING' }) }
  onPong(): void { this.ops.push({ op: 'PONG' }) }
  onErr(code: string, message: string, ref: string | number | null): void { this.ops.push({ op: 'ERR', code, message, ref }) }
}

const LIMITS: DecodeLimits = { maxOpsPerFrame: 1000, maxHeaders: 64 }

function decode(bytes: Uint8Array, limits: DecodeLimits = LIMITS): Rec[] {
  const sink = new Recorder()
  new FrameDecoder(limits).decode(bytes, sink)
  return sink.ops
}

function decodeJson(text: string, limits: DecodeLimits = LIMITS): Rec[] {
  const sink = new Recorder()
  decodeJsonFrame(text, sink, limits)
  return sink.ops
}


/** Bytes written by `build` with a fresh writer (deliberately tiny, so every write exercises growth). */
function written(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(1)
  build(w)
  return w.finish()
}

const utf8 = new TextEncoder()

/** Raw bytes from numbers (bytes), strings (their UTF-8) and byte arrays, for hand-built hostile frames. */
function raw(...parts: (number | string | readonly number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = []
  for (const p of parts) {
    if (typeof p === 'number') out.push(p)
    else if (typeof p === 'string') out.push(...utf8.encode(p))
    else out.push(...p)
  }
  return Uint8Array.from(out)
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

function bytesOf(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17) & 0xff
  return out
}

/** Encoded size of a header map, as the decoder counts it in a PUB's size. */
function headerBytes(headers: Record<string, string> | null): number {
  return headers === null ? 0 : written((w) => w.headers(headers)).length
}

// ---------------------------------------------------------------------------------------------------------
// Round trips: every op through its writer and the decoder.

interface PubFields {
  flags: number
  subject: string
  reply: string | null
  headers: Record<string, string> | null
  encoding: number
  payload: Uint8Array
}

const PUBS: { name: string; pub: PubFields }[] = [
  { name: 'a minimal PUB', pub: { flags: 0, subject: 'a', reply: null, headers: null, encoding: ENCODING.msgpack, payload: new Uint8Array(0) } },
  {
    name: 'a request PUB with reply, headers and a 300-byte raw payload',
    pub: { flags: 1, subject: 'orders.new', reply: '_INBOX.abc.1', headers: { trace: 'x1', 'ñ': '日本' }, encoding: ENCODING.raw, payload: bytesOf(300) },
  },
  {
    name: 'a PUB with a 40-byte subject, 20 headers and a 70,000-byte JSON payload',
    pub: {
      flags: 0, subject: 's'.repeat(40), reply: null,
      headers: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`h${i}`, `v${i}`])),
      encoding: ENCODING.json, payload: utf8.encode(JSON.stringify({ text: 'x'.repeat(70_000) })),
    },
  },
  { name: 'a PUB with a unicode subject and empty headers', pub: { flags: 0, subject: 'ñ.日本.😀', reply: 'r', headers: {}, encoding: ENCODING.msgpack, payload: Uint8Array.of(0xa1, 0x61) } },
  { name: 'a PUB with a 300-byte subject', pub: { flags: 0, subject: 'a.'.repeat(150).slice(0, 299) + 'z', reply: null, headers: null, encoding: ENCODING.raw, payload: bytesOf(5) } },
]

function expectedPub(p: PubFields): Rec {
  return {
    op: 'PUB', flags: p.flags, subject: p.subject, reply: p.reply, headers: p.headers, encoding: p.encoding, payload: [...p.payload],
    size: p.payload.length + headerBytes(p.headers),
    tail: [...encodeMsgTail(p.subject, p.reply, p.headers, p.encoding, p.payload)],
  }
}

const SIDS = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]

interface RoundTripRow {
  name: string
  write: (w: MsgpackWriter) => void
  expect: Rec
}

const INFO_BODY = {
  serverId: 'srv-1', protocol: 1, maxPayload: 1_048_576, ok: true, off: false, none: null, neg: -7, negative32: -70_000,
  quarter: 0.25, large: 2 ** 40, list: [1, 'two', [3]], nested: { a: { b: 'c' } }, bytes: Uint8Array.of(1, 2, 3), unicode: 'ñ日😀',
}
const CONNECT_BODY = {
  protocol: 1, name: 'c', echo: false, token: 't'.repeat(300), big: 'y'.repeat(70_000),
  many: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])), long: Array.from({ length: 20 }, (_, i) => i * 1000),
}

const ROUND_TRIPS: RoundTripRow[] = [
  { name: 'INFO with every kind of body value', write: (w) => writeBodyOp(w, OP.INFO, INFO_BODY), expect: { op: 'INFO', body: INFO_BODY } },
  { name: 'CONNECT with long strings, a 20-entry map and a 20-element array', write: (w) => writeBodyOp(w, OP.CONNECT, CONNECT_BODY), expect: { op: 'CONNECT', body: CONNECT_BODY } },
  {
    name: 'CONNECT drops undefined values',
    write: (w) => writeBodyOp(w, OP.CONNECT, { protocol: 1, name: undefined }),
    expect: { op: 'CONNECT', body: { protocol: 1 } },
  },
  ...PUBS.map(({ name, pub }): RoundTripRow => ({
    name, write: (w) => writePub(w, pub.flags, pub.subject, pub.reply, pub.headers, pub.encoding, pub.payload), expect: expectedPub(pub),
  })),
  { name: 'PUB with undefined reply and headers', write: (w) => writePub(w, 0, 'a', undefined, undefined, 0, Uint8Array.of(1)), expect: expectedPub({ flags: 0, subject: 'a', reply: null, headers: null, encoding: 0, payload: Uint8Array.of(1) }) },
  { name: 'SUB with a queue group', write: (w) => writeSub(w, 1, 'a.*', 'workers'), expect: { op: 'SUB', sid: 1, subject: 'a.*', queue: 'workers' } },
  { name: 'SUB with a null queue', write: (w) => writeSub(w, 2, '>', null), expect: { op: 'SUB', sid: 2, subject: '>', queue: null } },
  { name: 'SUB with an undefined queue', write: (w) => writeSub(w, 3, 'b', undefined), expect: { op: 'SUB', sid: 3, subject: 'b', queue: null } },
  { name: 'UNSUB without max', write: (w) => writeUnsub(w, 7), expect: { op: 'UNSUB', sid: 7, max: null } },
  { name: 'UNSUB with max 0', write: (w) => writeUnsub(w, 7, 0), expect: { op: 'UNSUB', sid: 7, max: 0 } },
  { name: 'UNSUB with max 10', write: (w) => writeUnsub(w, 2 ** 40, 10), expect: { op: 'UNSUB', sid: 2 ** 40, max: 10 } },
  {
    name: 'MSG with every field',
    write: (w) => writeMsg(w, 9, 'a.b', '_INBOX.x', { k: 'v' }, ENCODING.raw, bytesOf(20)),
    expect: { op: 'MSG', sid: 9, subject: 'a.b', reply: '_INBOX.x', headers: { k: 'v' }, encoding: ENCODING.raw, payload: [...bytesOf(20)] },
  },
  {
    name: 'MSG with no reply, no headers and an empty payload',
    write: (w) => writeMsg(w, 2 ** 32, 'a', null, null, ENCODING.msgpack, new Uint8Array(0)),
    expect: { op: 'MSG', sid: 2 ** 32, subject: 'a', reply: null, headers: null, encoding: ENCODING.msgpack, payload: [] },
  },
  { name: 'PING', write: (w) => w.raw(PING_BYTES), expect: { op: 'PING' } },
  { name: 'PONG', write: (w) => w.raw(PONG_BYTES), expect: { op: 'PONG' } },
  { name: 'ERR with a subject ref', write: (w) => writeErr(w, 'bad_subject', 'no', 'a.b'), expect: { op: 'ERR', code: 'bad_subject', message: 'no', ref: 'a.b' } },
  { name: 'ERR with a sid ref', write: (w) => writeErr(w, 'max_payload', 'too big', 42), expect: { op: 'ERR', code: 'max_payload', message: 'too big', ref: 42 } },
  { name: 'ERR with a large sid ref', write: (w) => writeErr(w, 'bad_subject', 'm', 2 ** 32), expect: { op: 'ERR', code: 'bad_subject', message: 'm', ref: 2 ** 32 } },
  { name: 'ERR with a null ref', write: (w) => writeErr(w, 'protocol', 'ñ 日本', null), expect: { op: 'ERR', code: 'protocol', message: 'ñ 日本', ref: null } },
]

for (const row of ROUND_TRIPS) {
  test(`round-trips ${row.name} through writer and decoder`, () => {
    assert.equal(decode(written(row.write)), [row.expect])
  })
}

test('decodes a frame of several ops in the order they were written', () => {
  const frame = written((w) => { for (const row of ROUND_TRIPS) row.write(w) })
  assert.equal(decode(frame), ROUND_TRIPS.map((r) => r.expect))
})

test('one decoder decodes frame after frame, including frames that are views into a larger buffer', () => {
  const decoder = new FrameDecoder(LIMITS)
  const sink = new Recorder()
  const a = written((w) => writeSub(w, 1, 'a', null))
  const b = written((w) => writeUnsub(w, 70_000, 3))
  const big = concat(Uint8Array.of(0xff, 0xff), b, Uint8Array.of(0xff))
  decoder.decode(a, sink)
  decoder.decode(big.subarray(2, 2 + b.length), sink)
  decoder.decode(new Uint8Array(0), sink)
  assert.equal(sink.ops, [{ op: 'SUB', sid: 1, subject: 'a', queue: null }, { op: 'UNSUB', sid: 70_000, max: 3 }])
})

for (const sid of SIDS) {
  test(`carries sid ${sid} through SUB, UNSUB, MSG and msgPrefix`, () => {
    const frame = written((w) => {
      writeSub(w, sid, 'a', null)
      writeUnsub(w, sid, sid)
      writeMsg(w, sid, 'a', null, null, 0, new Uint8Array(0))
    })
    assert.equal(decode(frame), [
      { op: 'SUB', sid, subject: 'a', queue: null },
      { op: 'UNSUB', sid, max: sid },
      { op: 'MSG', sid, subject: 'a', reply: null, headers: null, encoding: 0, payload: [] },
    ])
    assert.equal(decode(concat(msgPrefix(sid), encodeMsgTail('a', null, null, 0, new Uint8Array(0))))[0], {
      op: 'MSG', sid, subject: 'a', reply: null, headers: null, encoding: 0, payload: [],
    })
  })
}

// ---------------------------------------------------------------------------------------------------------
// Encode once: the PUB tail is byte for byte the MSG tail.

for (const { name, pub } of PUBS) {
  test(`the tail of ${name} is exactly encodeMsgTail of its fields, and msgPrefix + tail is a MSG`, () => {
    const [rec] = decode(written((w) => writePub(w, pub.flags, pub.subject, pub.reply, pub.headers, pub.encoding, pub.payload)))
    assert.ok(rec.op === 'PUB' && rec.tail !== null, 'a binary PUB carries its tail')
    const tail = encodeMsgTail(pub.subject, pub.reply, pub.headers, pub.encoding, pub.payload)
    assert.equal(rec.tail, [...tail])
    for (const sid of [1, 300, 2 ** 32 - 1]) {
      const msg = concat(msgPrefix(sid), Uint8Array.from(rec.tail))
      assert.equal(msg, written((w) => writeMsg(w, sid, pub.subject, pub.reply, pub.headers, pub.encoding, pub.payload)), 'the same bytes as writeMsg')
      assert.equal(decode(msg), [{ op: 'MSG', sid, subject: pub.subject, reply: pub.reply, headers: pub.headers, encoding: pub.encoding, payload: [...pub.payload] }])
    }
  })
}

const ANY_STRING = fc.string({ unit: 'binary', maxLength: 40 })
const HEADERS = fc.option(fc.dictionary(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 20 }), { maxKeys: 6, noNullPrototype: true }), { nil: null })
const PUB_FIELDS: fc.Arbitrary<PubFields> = fc.record({
  flags: fc.oneof(fc.nat({ max: 3 }), fc.nat()),
  subject: ANY_STRING,
  reply: fc.option(ANY_STRING, { nil: null }),
  headers: HEADERS,
  encoding: fc.constantFrom(ENCODING.msgpack, ENCODING.raw, ENCODING.json),
  payload: fc.uint8Array({ maxLength: 300 }),
})

test('for any fields, a decoded PUB has the same fields, its size and the tail encodeMsgTail builds', () => {
  fc.assert(fc.property(PUB_FIELDS, fc.nat(), (pub, sid) => {
    const [rec] = decode(written((w) => writePub(w, pub.flags, pub.subject, pub.reply, pub.headers, pub.encoding, pub.payload)))
    assert.equal(rec, expectedPub(pub))
    assert.ok(rec.op === 'PUB' && rec.tail !== null)
    assert.equal(decode(concat(msgPrefix(sid), Uint8Array.from(rec.tail))), [
      { op: 'MSG', sid, subject: pub.subject, reply: pub.reply, headers: pub.headers, encoding: pub.encoding, payload: [...pub.payload] },
    ])
  }), { numRuns: 400 })
})

// ---------------------------------------------------------------------------------------------------------
// Optional and unknown trailing fields.

/** A frame whose first op is hand-written, followed by a PING that must survive. */
function thenPing(build: (w: MsgpackWriter) => void): Uint8Array {
  return written((w) => { build(w); w.raw(PING_BYTES) })
}

const TRAILING: { name: string; frame: Uint8Array; expect: Rec }[] = [
  {
    name: 'SUB without its optional queue field',
    frame: thenPing((w) => { w.arrayHeader(3); w.uint(OP.SUB); w.uint(5); w.str('a.b') }),
    expect: { op: 'SUB', sid: 5, subject: 'a.b', queue: null },
  },
  {
    name: 'SUB with two extra unknown fields',
    frame: thenPing((w) => { w.arrayHeader(6); w.uint(OP.SUB); w.uint(5); w.str('a'); w.str('q'); w.value({ x: [1, { y: 'z' }] }); w.str('more') }),
    expect: { op: 'SUB', sid: 5, subject: 'a', queue: 'q' },
  },
  {
    name: 'UNSUB with a nil max',
    frame: thenPing((w) => { w.arrayHeader(3); w.uint(OP.UNSUB); w.uint(5); w.nil() }),
    expect: { op: 'UNSUB', sid: 5, max: null },
  },
  {
    name: 'UNSUB with a nil max and an extra field',
    frame: thenPing((w) => { w.arrayHeader(4); w.uint(OP.UNSUB); w.uint(5); w.nil(); w.bin(bytesOf(10)) }),
    expect: { op: 'UNSUB', sid: 5, max: null },
  },
  {
    name: 'UNSUB with a max and two extra fields',
    frame: thenPing((w) => { w.arrayHeader(5); w.uint(OP.UNSUB); w.uint(5); w.uint(3); w.str('x'); w.value([1, [2, [3]]]) }),
    expect: { op: 'UNSUB', sid: 5, max: 3 },
  },
  {
    name: 'ERR without its optional ref',
    frame: thenPing((w) => { w.arrayHeader(3); w.uint(OP.ERR); w.str('timeout'); w.str('m') }),
    expect: { op: 'ERR', code: 'timeout', message: 'm', ref: null },
  },
  {
    name: 'ERR with a ref that is neither string nor number, and an extra field',
    frame: thenPing((w) => { w.arrayHeader(5); w.uint(OP.ERR); w.str('timeout'); w.str('m'); w.value({ a: 1 }); w.value(true) }),
    expect: { op: 'ERR', code: 'timeout', message: 'm', ref: null },
  },
  {
    name: 'PUB with extra fields (which are not part of its tail)',
    frame: thenPing((w) => {
      w.arrayHeader(9); w.uint(OP.PUB); w.uint(0); w.str('a'); w.nil(); w.nil(); w.uint(1); w.bin(Uint8Array.of(7)); w.str('x'); w.value({ y: [1] })
    }),
    expect: expectedPub({ flags: 0, subject: 'a', reply: null, headers: null, encoding: 1, payload: Uint8Array.of(7) }),
  },
  {
    name: 'MSG with an extra field',
    frame: thenPing((w) => { w.arrayHeader(8); w.uint(OP.MSG); w.uint(1); w.str('a'); w.nil(); w.nil(); w.uint(1); w.bin(Uint8Array.of(7)); w.nil() }),
    expect: { op: 'MSG', sid: 1, subject: 'a', reply: null, headers: null, encoding: 1, payload: [7] },
  },
  {
    name: 'INFO with an extra field',
    frame: thenPing((w) => { w.arrayHeader(3); w.uint(OP.INFO); w.value({ a: 1 }); w.value([1, 2]) }),
    expect: { op: 'INFO', body: { a: 1 } },
  },
  {
    name: 'PONG with extra fields',
    frame: thenPing((w) => { w.arrayHeader(3); w.uint(OP.PONG); w.str('x'); w.value({ a: [true, null] }) }),
    expect: { op: 'PONG' },
  },
]

for (const row of TRAILING) {
  test(`decodes ${row.name} without eating the next op`, () => {
    assert.equal(decode(row.frame), [row.expect, { op: 'PING' }])
  })
}

test('a PUB payload may arrive as a str (read leniently as bytes)', () => {
  const frame = written((w) => { w.arrayHeader(7); w.uint(OP.PUB); w.uint(0); w.str('a'); w.nil(); w.nil(); w.uint(ENCODING.json); w.str('"hi"') })
  const [rec] = decode(frame)
  assert.ok(rec.op === 'PUB')
  assert.equal(rec.payload, [...utf8.encode('"hi"')])
})

// ---------------------------------------------------------------------------------------------------------
// Hostile input: refused as SubwireError, never a RangeError, TypeError or hang.

const FF4 = [0xff, 0xff, 0xff, 0xff]
const nested = (levels: number, open: readonly number[]): number[] => Array.from({ length: levels }, () => open).flat()

const HOSTILE: { name: string; frame: Uint8Array; code?: string }[] = [
  { name: 'an op array declaring 4 billion elements', frame: raw(0xdd, 0xee, 0x6b, 0x28, 0x00, 0x06) },
  { name: 'an op array16 declaring more elements than bytes', frame: raw(0xdc, 0x01, 0x00, 0x06) },
  { name: 'an array of 4 billion elements inside a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xdd, FF4, 0xc0) },
  { name: 'a CONNECT body map declaring 4 billion entries', frame: raw(0x92, 0x01, 0xdf, FF4, 0xa1, 'a', 0xc0) },
  { name: 'PUB headers declaring 4 billion entries', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xdf, FF4, 0x00, 0xc4, 0x00) },
  { name: 'a str32 subject declaring 4 GiB', frame: raw(0x93, 0x03, 0x01, 0xdb, FF4, 'a') },
  { name: 'a str8 subject longer than the frame', frame: raw(0x93, 0x03, 0x01, 0xd9, 0x20, 'abc') },
  { name: 'a str16 subject longer than the frame', frame: raw(0x93, 0x03, 0x01, 0xda, 0x01, 0x00, 'abc') },
  { name: 'a fixstr subject longer than the frame', frame: raw(0x93, 0x03, 0x01, 0xa5, 'ab') },
  { name: 'a bin32 payload declaring 4 GiB', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0x01, 0xc6, FF4, 1, 2, 3) },
  { name: 'a bin8 payload one byte short', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0x01, 0xc4, 0x04, 1, 2, 3) },
  { name: 'a bin16 payload longer than the frame', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0x01, 0xc5, 0x10, 0x00, 1, 2, 3) },
  { name: 'a str map key in a CONNECT body longer than the frame', frame: raw(0x92, 0x01, 0x81, 0xdb, FF4, 'a') },
  { name: `arrays nested ${MAX_DEPTH + 42} deep inside a CONNECT body`, frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', nested(MAX_DEPTH + 42, [0x91]), 0xc0) },
  { name: 'arrays nested 100,000 deep inside a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', nested(100_000, [0x91]), 0xc0) },
  { name: 'maps nested 50 deep as a CONNECT body', frame: raw(0x92, 0x01, nested(50, [0x81, 0xa1, 0x61]), 0xc0) },
  { name: 'arrays nested 50 deep in an extra field of PING', frame: raw(0x92, 0x06, nested(50, [0x91]), 0xc0) },
  { name: 'arrays nested 50 deep as an ERR ref', frame: raw(0x94, 0x08, 0xa1, 'c', 0xa1, 'm', nested(50, [0x91]), 0xc0) },
  { name: 'an ext8 (0xc7) value in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xc7, 0x01, 0x05, 0x00) },
  { name: 'an ext16 (0xc8) value in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xc8, 0x00, 0x01, 0x05, 0x00) },
  { name: 'an ext32 (0xc9) value in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00) },
  { name: 'a fixext1 (0xd4) value in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xd4, 0x01, 0x00) },
  { name: 'a fixext4 timestamp (0xd6 -1) in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xd6, 0xff, 0, 0, 0, 0) },
  { name: 'a fixext16 (0xd8) value in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xd8, 0x01, new Uint8Array(16)) },
  { name: 'the never-used byte 0xc1 in a CONNECT body', frame: raw(0x92, 0x01, 0x81, 0xa1, 'a', 0xc1) },
  { name: 'an ext value as an ERR ref', frame: raw(0x94, 0x08, 0xa1, 'c', 0xa1, 'm', 0xd4, 0x01, 0x00) },
  { name: 'an ext value in an extra field of SUB', frame: raw(0x95, 0x03, 0x01, 0xa1, 'a', 0xc0, 0xd4, 0x01, 0x00) },
  { name: 'unknown op code 9', frame: raw(0x91, 0x09) },
  { name: 'unknown op code 127', frame: raw(0x91, 0x7f) },
  { name: 'an op code beyond 2^53', frame: raw(0x91, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) },
  { name: 'a negative op code', frame: raw(0x91, 0xff) },
  { name: 'an op code that is a string', frame: raw(0x91, 0xa1, 'a') },
  { name: 'an op code that is a float', frame: raw(0x91, 0xcb, 0x40, 0x18, 0, 0, 0, 0, 0, 0) },
  { name: 'an empty op array', frame: raw(0x90) },
  { name: 'an op that is not an array', frame: raw(0x06) },
  { name: 'an op that is a map', frame: raw(0x81, 0xa1, 'a', 0x06) },
  { name: 'a PUB with six fields', frame: raw(0x96, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0x00) },
  { name: 'a SUB with two fields', frame: raw(0x92, 0x03, 0x01) },
  { name: 'an ERR with two fields', frame: raw(0x92, 0x08, 0xa1, 'c') },
  { name: 'a CONNECT without a body', frame: raw(0x91, 0x01) },
  { name: 'a CONNECT whose body is an array', frame: raw(0x92, 0x01, 0x91, 0xc0) },
  { name: 'an INFO whose body is nil', frame: raw(0x92, 0x00, 0xc0) },
  { name: 'a CONNECT body with a non-string map key', frame: raw(0x92, 0x01, 0x81, 0x01, 0x02) },
  { name: 'invalid UTF-8 (0xff 0xfe) in a SUB subject', frame: raw(0x93, 0x03, 0x01, 0xa2, 0xff, 0xfe) },
  { name: 'a truncated UTF-8 sequence in a SUB subject', frame: raw(0x93, 0x03, 0x01, 0xa1, 0xc3) },
  { name: 'an overlong UTF-8 encoding of / in a SUB subject', frame: raw(0x93, 0x03, 0x01, 0xa2, 0xc0, 0xaf) },
  { name: 'a UTF-8-encoded surrogate in a SUB subject', frame: raw(0x93, 0x03, 0x01, 0xa3, 0xed, 0xa0, 0x80) },
  { name: 'invalid UTF-8 at the end of a 70-byte SUB subject', frame: raw(0x93, 0x03, 0x01, 0xd9, 70, 'a'.repeat(69), 0xff) },
  { name: 'invalid UTF-8 in a PUB subject', frame: raw(0x97, 0x02, 0x00, 0xa1, 0xff, 0xc0, 0xc0, 0x00, 0xc4, 0x00) },
  { name: 'invalid UTF-8 in a PUB reply', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xa1, 0xfe, 0xc0, 0x00, 0xc4, 0x00) },
  { name: 'invalid UTF-8 in a header name', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0x81, 0xa1, 0xff, 0xa1, 'v', 0x00, 0xc4, 0x00) },
  { name: 'invalid UTF-8 in a CONNECT map key', frame: raw(0x92, 0x01, 0x81, 0xa1, 0xff, 0xc0) },
  { name: 'a header value that is not a string', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0x81, 0xa1, 'k', 0x01, 0x00, 0xc4, 0x00) },
  { name: 'headers that are an array', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0x91, 0xc0, 0x00, 0xc4, 0x00) },
  { name: 'a negative fixint sid (-1) in SUB', frame: raw(0x93, 0x03, 0xff, 0xa1, 'a') },
  { name: 'a negative int8 sid (-128) in SUB', frame: raw(0x93, 0x03, 0xd0, 0x80, 0xa1, 'a') },
  { name: 'a negative int16 sid in SUB', frame: raw(0x93, 0x03, 0xd1, 0xff, 0xfe, 0xa1, 'a') },
  { name: 'a negative int32 sid in SUB', frame: raw(0x93, 0x03, 0xd2, FF4, 0xa1, 'a') },
  { name: 'a negative int64 sid in SUB', frame: raw(0x93, 0x03, 0xd3, FF4, FF4, 0xa1, 'a') },
  { name: 'a negative sid in UNSUB', frame: raw(0x92, 0x04, 0xff) },
  { name: 'a negative max in UNSUB', frame: raw(0x93, 0x04, 0x01, 0xff) },
  { name: 'a negative sid in MSG', frame: raw(0x97, 0x05, 0xff, 0xa1, 'a', 0xc0, 0xc0, 0x00, 0xc4, 0x00) },
  { name: 'negative PUB flags', frame: raw(0x97, 0x02, 0xff, 0xa1, 'a', 0xc0, 0xc0, 0x00, 0xc4, 0x00) },
  { name: 'a negative PUB encoding', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0xff, 0xc4, 0x00) },
  { name: 'a float sid in SUB', frame: raw(0x93, 0x03, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, 'a') },
  { name: 'a nil sid in SUB', frame: raw(0x93, 0x03, 0xc0, 0xa1, 'a') },
  { name: 'a sid of 2^53 in SUB', frame: raw(0x93, 0x03, 0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0xa1, 'a') },
  { name: 'a subject that is a number', frame: raw(0x93, 0x03, 0x01, 0x01) },
  { name: 'a PUB payload that is a number', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0x00, 0x05) },
  { name: 'a truncated uint16 sid', frame: raw(0x93, 0x03, 0xcd, 0x01) },
  { name: 'a valid PING followed by a lone byte', frame: raw(0x91, 0x06, 0x91) },
  { name: 'a PUB with an unknown payload encoding', frame: raw(0x97, 0x02, 0x00, 0xa1, 'a', 0xc0, 0xc0, 0x03, 0xc4, 0x00), code: 'bad_payload' },
  {
    name: 'a PUB with more headers than maxHeaders',
    frame: written((w) => writePub(w, 0, 'a', null, Object.fromEntries(Array.from({ length: LIMITS.maxHeaders + 1 }, (_, i) => [`h${i}`, 'v'])), 0, new Uint8Array(0))),
    code: 'bad_payload',
  },
]

for (const row of HOSTILE) {
  test(`refuses ${row.name} as ${row.code ?? 'protocol'}`, () => {
    assert.is(codeOf(() => decode(row.frame)), row.code ?? 'protocol')
  })
}

test(`accepts nesting up to MAX_DEPTH (${MAX_DEPTH}) in a CONNECT body and refuses one level more`, () => {
  // The body map is read at depth 1 and its value at depth 2, so k arrays put the innermost nil at depth k + 2.
  const deepest = MAX_DEPTH - 2
  let value: WireValue = null
  for (let i = 0; i < deepest; i++) value = [value]
  assert.equal(decode(written((w) => writeBodyOp(w, OP.CONNECT, { a: value }))), [{ op: 'CONNECT', body: { a: value } }])
  const frame = raw(0x92, 0x01, 0x81, 0xa1, 'a', nested(deepest + 1, [0x91]), 0xc0)
  assert.is(codeOf(() => decode(frame)), 'protocol')
})

test('refuses more ops than maxOpsPerFrame as protocol, and accepts exactly the maximum', () => {
  const limits: DecodeLimits = { maxOpsPerFrame: 3, maxHeaders: 8 }
  assert.equal(decode(concat(PING_BYTES, PONG_BYTES, PING_BYTES), limits), [{ op: 'PING' }, { op: 'PONG' }, { op: 'PING' }])
  assert.is(codeOf(() => decode(concat(PING_BYTES, PONG_BYTES, PING_BYTES, PONG_BYTES), limits)), 'protocol')
})

/** A compact frame of one of each op, and the byte offsets where its ops end. */
function compactFrame(): { frame: Uint8Array; ends: number[]; ops: Rec[] } {
  const rows: RoundTripRow[] = [
    { name: 'INFO', write: (w) => writeBodyOp(w, OP.INFO, { id: 's', n: 300, list: [1, -2, 0.5], ok: true }), expect: { op: 'INFO', body: { id: 's', n: 300, list: [1, -2, 0.5], ok: true } } },
    { name: 'CONNECT', write: (w) => writeBodyOp(w, OP.CONNECT, { protocol: 1, name: 'ñ' }), expect: { op: 'CONNECT', body: { protocol: 1, name: 'ñ' } } },
    ...[PUBS[0], PUBS[3]].map(({ name, pub }): RoundTripRow => ({ name, write: (w) => writePub(w, pub.flags, pub.subject, pub.reply, pub.headers, pub.encoding, pub.payload), expect: expectedPub(pub) })),
    {
      name: 'PUB',
      write: (w) => writePub(w, 1, 'a.b', 'r', { k: 'v' }, 1, bytesOf(10)),
      expect: expectedPub({ flags: 1, subject: 'a.b', reply: 'r', headers: { k: 'v' }, encoding: 1, payload: bytesOf(10) }),
    },
    { name: 'SUB', write: (w) => writeSub(w, 300, 'a.*', 'q'), expect: { op: 'SUB', sid: 300, subject: 'a.*', queue: 'q' } },
    { name: 'UNSUB', write: (w) => writeUnsub(w, 70_000, 2), expect: { op: 'UNSUB', sid: 70_000, max: 2 } },
    { name: 'MSG', write: (w) => writeMsg(w, 2 ** 32, 'x', null, { a: 'b' }, 2, utf8.encode('{}')), expect: { op: 'MSG', sid: 2 ** 32, subject: 'x', reply: null, headers: { a: 'b' }, encoding: 2, payload: [...utf8.encode('{}')] } },
    { name: 'PING', write: (w) => w.raw(PING_BYTES), expect: { op: 'PING' } },
    { name: 'ERR', write: (w) => writeErr(w, 'timeout', 'late', 7), expect: { op: 'ERR', code: 'timeout', message: 'late', ref: 7 } },
    { name: 'PONG', write: (w) => w.raw(PONG_BYTES), expect: { op: 'PONG' } },
  ]
  const w = new MsgpackWriter(16)
  const ends: number[] = []
  for (const row of rows) { row.write(w); ends.push(w.pos) }
  return { frame: w.finish(), ends, ops: rows.map((r) => r.expect) }
}

test('every truncation of a valid frame either decodes the whole ops before it or throws protocol', () => {
  const { frame, ends, ops } = compactFrame()
  assert.equal(decode(frame), ops, 'the whole frame decodes')
  for (let k = 0; k < frame.length; k++) {
    const sink = new Recorder()
    let code = 'no error'
    try {
      new FrameDecoder(LIMITS).decode(frame.subarray(0, k), sink)
    } catch (err) {
      code = err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}`
    }
    const whole = ends.filter((end) => end <= k).length
    assert.equal(sink.ops, ops.slice(0, whole), `ops decoded from the first ${k} bytes`)
    assert.is(code, k === 0 || ends.includes(k) ? 'no error' : 'protocol', `prefix of ${k} bytes`)
  }
})

test('every truncation of a frame copied into a larger buffer behaves the same (the decoder reads only its view)', () => {
  const { frame, ends } = compactFrame()
  const padded = new Uint8Array(frame.length + 8)
  padded.set(frame, 4)
  for (let k = 0; k < frame.length; k++) {
    const expected = k === 0 || ends.includes(k) ? 'no error' : 'protocol'
    assert.is(codeOf(() => decode(padded.subarray(4, 4 + k))), expected, `prefix of ${k} bytes`)
  }
})

/** The outcome of decoding arbitrary bytes: success, or one of the codes a decoder may throw. */
function outcome(bytes: Uint8Array): string {
  const code = codeOf(() => decode(bytes))
  return code === 'no error' || code === 'protocol' || code === 'bad_payload' ? 'ok' : code
}

test('random bytes decode or throw protocol/bad_payload, nothing else', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => outcome(bytes) === 'ok'), { numRuns: 5000 })
})

test('a valid frame with random bytes overwritten decodes or throws protocol/bad_payload, nothing else', () => {
  const { frame } = compactFrame()
  const EDIT = fc.tuple(fc.nat({ max: frame.length - 1 }), fc.nat({ max: 255 }))
  fc.assert(fc.property(fc.array(EDIT, { minLength: 1, maxLength: 4 }), (edits) => {
    const copy = frame.slice()
    for (const [at, value] of edits) copy[at] = value
    return outcome(copy) === 'ok'
  }), { numRuns: 5000 })
})

// ---------------------------------------------------------------------------------------------------------
// Prototype pollution.

test('a __proto__ key in a CONNECT body is an own property and pollutes nothing', () => {
  const body = JSON.parse('{"protocol":1,"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}') as Record<string, unknown>
  const [rec] = decode(written((w) => writeBodyOp(w, OP.CONNECT, body)))
  assert.ok(rec.op === 'CONNECT')
  assert.ok(Object.hasOwn(rec.body, '__proto__'), 'own __proto__ on the body')
  assert.is(Object.getPrototypeOf(rec.body), Object.prototype, 'the body keeps its prototype')
  assert.equal(rec.body['__proto__'], { polluted: true })
  const nestedBody = rec.body.nested
  assert.ok(typeof nestedBody === 'object' && nestedBody !== null && Object.hasOwn(nestedBody, '__proto__'), 'own __proto__ on a nested map')
  assert.is(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched')
  assert.not.ok('polluted' in rec.body, 'the body inherits nothing from the key')
})

test('a __proto__ header is an own property and pollutes nothing', () => {
  const headers = JSON.parse('{"__proto__":"x","k":"v"}') as Record<string, string>
  const [rec] = decode(written((w) => writePub(w, 0, 'a', null, headers, 0, new Uint8Array(0))))
  assert.ok(rec.op === 'PUB' && rec.headers !== null)
  assert.ok(Object.hasOwn(rec.headers, '__proto__'))
  assert.is(rec.headers['__proto__'], 'x')
  assert.is(Object.getPrototypeOf(rec.headers), Object.prototype)
  assert.equal(Object.keys(rec.headers).sort(), ['__proto__', 'k'])
  assert.is(({} as Record<string, unknown>).x, undefined)
})

test('JSON frames with __proto__ in a CONNECT body or headers pollute nothing', () => {
  const ops = decodeJson('[1,{"protocol":1,"__proto__":{"polluted":true}}]\n[2,0,"a",null,{"__proto__":"x"},1,null]')
  const [connect, pub] = ops
  assert.ok(connect.op === 'CONNECT' && Object.hasOwn(connect.body, '__proto__'))
  assert.ok(pub.op === 'PUB' && pub.headers !== null && Object.hasOwn(pub.headers, '__proto__'))
  assert.is(({} as Record<string, unknown>).polluted, undefined)
})

// ---------------------------------------------------------------------------------------------------------
// JSON frames.

test('decodes several JSON ops separated by newlines, ignoring blank and white-space lines', () => {
  const text = [
    '[0,{"serverId":"s","protocol":1}]',
    '',
    '[1,{"protocol":1,"name":"c"}]',
    '   ',
    '[3,1,"a.*","q"]\r',
    '[3,2,"b"]',
    '[4,1]',
    '[4,2,null]',
    '[4,3,5]',
    '[6]',
    '\t[7]\t',
    '[8,"timeout","late",4]',
    '[8,"timeout","late","a.b"]',
    '[8,"timeout","late"]',
    '[8,"timeout","late",{"x":1}]',
    '[5,9,"a",null,null,1,"AQID"]',
    '',
    '',
  ].join('\n')
  assert.equal(decodeJson(text), [
    { op: 'INFO', body: { serverId: 's', protocol: 1 } },
    { op: 'CONNECT', body: { protocol: 1, name: 'c' } },
    { op: 'SUB', sid: 1, subject: 'a.*', queue: 'q' },
    { op: 'SUB', sid: 2, subject: 'b', queue: null },
    { op: 'UNSUB', sid: 1, max: null },
    { op: 'UNSUB', sid: 2, max: null },
    { op: 'UNSUB', sid: 3, max: 5 },
    { op: 'PING' },
    { op: 'PONG' },
    { op: 'ERR', code: 'timeout', message: 'late', ref: 4 },
    { op: 'ERR', code: 'timeout', message: 'late', ref: 'a.b' },
    { op: 'ERR', code: 'timeout', message: 'late', ref: null },
    { op: 'ERR', code: 'timeout', message: 'late', ref: null },
    { op: 'MSG', sid: 9, subject: 'a', reply: null, headers: null, encoding: 1, payload: [1, 2, 3] },
  ])
})

test('an empty or blank JSON frame decodes to nothing', () => {
  for (const text of ['', '\n', '\n\n  \n', '\r\n']) assert.equal(decodeJson(text), [], JSON.stringify(text))
})

interface JsonPubRow {
  name: string
  line: string
  expect: Omit<Extract<Rec, { op: 'PUB' }>, 'op' | 'size' | 'tail'>
}

const JSON_PUBS: JsonPubRow[] = [
  {
    name: 'a json (2) PUB carries its JSON value as UTF-8 JSON bytes',
    line: '[2,0,"a",null,null,2,{"n":[1,"ñ",null],"t":true}]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 2, payload: [...utf8.encode('{"n":[1,"ñ",null],"t":true}')] },
  },
  {
    name: 'a json (2) PUB carrying a string',
    line: '[2,1,"a","r",{"k":"v"},2,"日本"]',
    expect: { flags: 1, subject: 'a', reply: 'r', headers: { k: 'v' }, encoding: 2, payload: [...utf8.encode('"日本"')] },
  },
  {
    name: 'a json (2) PUB carrying null',
    line: '[2,0,"a",null,null,2,null]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 2, payload: [...utf8.encode('null')] },
  },
  {
    name: 'a raw (1) PUB carries base64-decoded bytes',
    line: '[2,0,"a",null,null,1,"AAEC/w=="]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 1, payload: [0, 1, 2, 255] },
  },
  {
    name: 'a msgpack (0) PUB carries base64-decoded bytes',
    line: '[2,0,"a",null,null,0,"oWE="]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 0, payload: [0xa1, 0x61] },
  },
  {
    name: 'a msgpack (0) PUB with a null payload carries no bytes',
    line: '[2,0,"a",null,null,0,null]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 0, payload: [] },
  },
  {
    name: 'a raw (1) PUB with an empty base64 string carries no bytes',
    line: '[2,0,"a",null,null,1,""]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 1, payload: [] },
  },
  {
    name: 'a PUB with extra trailing fields',
    line: '[2,0,"a",null,null,1,"AQ==","extra",{"x":1}]',
    expect: { flags: 0, subject: 'a', reply: null, headers: null, encoding: 1, payload: [1] },
  },
]

for (const row of JSON_PUBS) {
  test(`JSON: ${row.name}`, () => {
    const [rec] = decodeJson(row.line)
    assert.ok(rec.op === 'PUB')
    const { size, tail, op, ...fields } = rec
    assert.is(op, 'PUB')
    assert.equal(fields, row.expect)
    assert.is(tail, null, 'a JSON PUB has no binary tail')
    const headerSize = Object.entries(row.expect.headers ?? {}).reduce((n, [k, v]) => n + utf8Length(k) + utf8Length(v) + 2, 0)
    assert.is(size, row.expect.payload.length + headerSize, 'size counts payload and headers')
  })
}

const JSON_REFUSALS: { name: string; text: string; code: string }[] = [
  { name: 'invalid JSON', text: '[6', code: 'protocol' },
  { name: 'invalid JSON after a valid op', text: '[6]\n{oops}', code: 'protocol' },
  { name: 'a bare string', text: '"hi"', code: 'protocol' },
  { name: 'an object instead of an op array', text: '{"op":6}', code: 'protocol' },
  { name: 'an empty op array', text: '[]', code: 'protocol' },
  { name: 'an unknown op code', text: '[9]', code: 'protocol' },
  { name: 'a negative op code', text: '[-1]', code: 'protocol' },
  { name: 'a fractional op code', text: '[6.5]', code: 'protocol' },
  { name: 'an op code as a string', text: '["6"]', code: 'protocol' },
  { name: 'a SUB with a negative sid', text: '[3,-1,"a"]', code: 'protocol' },
  { name: 'a SUB with a fractional sid', text: '[3,1.5,"a"]', code: 'protocol' },
  { name: 'a SUB with a sid beyond 2^53', text: '[3,9007199254740993,"a"]', code: 'protocol' },
  { name: 'a SUB with too few fields', text: '[3,1]', code: 'protocol' },
  { name: 'a SUB with a numeric subject', text: '[3,1,2]', code: 'protocol' },
  { name: 'a SUB with a numeric queue', text: '[3,1,"a",2]', code: 'protocol' },
  { name: 'an UNSUB with a negative max', text: '[4,1,-1]', code: 'protocol' },
  { name: 'a CONNECT whose body is an array', text: '[1,[1]]', code: 'protocol' },
  { name: 'a CONNECT whose body is null', text: '[1,null]', code: 'protocol' },
  { name: 'an ERR with a numeric code', text: '[8,1,"m"]', code: 'protocol' },
  { name: 'a PUB with six fields', text: '[2,0,"a",null,null,1]', code: 'protocol' },
  { name: 'a PUB with headers that are an array', text: '[2,0,"a",null,["k"],1,null]', code: 'protocol' },
  { name: 'a PUB with a numeric header value', text: '[2,0,"a",null,{"k":1},1,null]', code: 'protocol' },
  { name: 'a PUB with a numeric reply', text: '[2,0,"a",5,null,1,null]', code: 'protocol' },
  { name: 'a PUB with an unknown encoding', text: '[2,0,"a",null,null,3,null]', code: 'bad_payload' },
  { name: 'a raw (1) PUB whose payload is a number', text: '[2,0,"a",null,null,1,5]', code: 'bad_payload' },
  { name: 'a msgpack (0) PUB whose payload is an object', text: '[2,0,"a",null,null,0,{"a":1}]', code: 'bad_payload' },
  { name: 'a msgpack (0) PUB whose payload is an array', text: '[2,0,"a",null,null,0,[1,2]]', code: 'bad_payload' },
  { name: 'a raw (1) PUB whose payload is true', text: '[2,0,"a",null,null,1,true]', code: 'bad_payload' },
  { name: 'a raw (1) PUB whose payload is not base64', text: '[2,0,"a",null,null,1,"@@@@"]', code: 'bad_payload' },
  { name: 'a raw (1) PUB whose base64 has an impossible length', text: '[2,0,"a",null,null,1,"abcde"]', code: 'bad_payload' },
  { name: 'a msgpack (0) MSG whose payload is a number', text: '[5,1,"a",null,null,0,7]', code: 'bad_payload' },
  {
    name: 'a PUB with more headers than maxHeaders',
    text: `[2,0,"a",null,${JSON.stringify(Object.fromEntries(Array.from({ length: LIMITS.maxHeaders + 1 }, (_, i) => [`h${i}`, 'v'])))},1,null]`,
    code: 'bad_payload',
  },
]

for (const row of JSON_REFUSALS) {
  test(`JSON: refuses ${row.name} as ${row.code}`, () => {
    assert.is(codeOf(() => decodeJson(row.text)), row.code)
  })
}

test('JSON: refuses more ops than maxOpsPerFrame as protocol, not counting blank lines', () => {
  const limits: DecodeLimits = { maxOpsPerFrame: 2, maxHeaders: 8 }
  assert.equal(decodeJson('[6]\n\n\n[7]\n', limits), [{ op: 'PING' }, { op: 'PONG' }])
  assert.is(codeOf(() => decodeJson('[6]\n[7]\n[6]', limits)), 'protocol')
})

// ---------------------------------------------------------------------------------------------------------
// jsonMsgTail: the JSON MSG built once per publish.

interface JsonTailRow {
  name: string
  subject: string
  reply: string | null
  headers: Record<string, string> | null
  encoding: number
  payload: Uint8Array
  /** The payload field as it must appear in the JSON array. */
  body: unknown
}

const JSON_TAILS: JsonTailRow[] = [
  { name: 'a msgpack payload as base64', subject: 'a.b', reply: null, headers: null, encoding: 0, payload: Uint8Array.of(0xa1, 0x61), body: 'oWE=' },
  { name: 'a raw payload as base64, with reply and headers', subject: 'a', reply: '_INBOX.1', headers: { k: 'v', 'ñ': '日' }, encoding: 1, payload: Uint8Array.of(0, 1, 2, 255), body: 'AAEC/w==' },
  { name: 'an empty raw payload as an empty base64 string', subject: 'a', reply: null, headers: null, encoding: 1, payload: new Uint8Array(0), body: '' },
  { name: 'a json payload as its JSON value', subject: 'a', reply: null, headers: {}, encoding: 2, payload: utf8.encode('{"n":[1,"ñ"]}'), body: { n: [1, 'ñ'] } },
  { name: 'an empty json payload as null', subject: 'a', reply: null, headers: null, encoding: 2, payload: new Uint8Array(0), body: null },
  { name: 'a subject with quotes, backslashes and a line separator', subject: 'a"b\\c\u2028', reply: 'r\n', headers: { '"': '\n' }, encoding: 1, payload: Uint8Array.of(9), body: 'CQ==' },
]

for (const row of JSON_TAILS) {
  test(`jsonMsgTail prefixed with [5,<sid>, is one JSON MSG line: ${row.name}`, () => {
    const tail = jsonMsgTail(row.subject, row.reply, row.headers, row.encoding, row.payload)
    for (const sid of [0, 7, 2 ** 32]) {
      const line = `[5,${sid},${tail}`
      assert.not.ok(line.includes('\n'), 'a JSON op is one line')
      assert.equal(JSON.parse(line), [5, sid, row.subject, row.reply, row.headers, row.encoding, row.body])
      const decoded = decodeJson(line)
      assert.is(decoded.length, 1)
      const [msg] = decoded
      assert.ok(msg.op === 'MSG')
      assert.equal([msg.sid, msg.subject, msg.reply, msg.headers, msg.encoding], [sid, row.subject, row.reply, row.headers, row.encoding])
      // Non-JSON encodings survive exactly; a JSON value survives as its canonical JSON text.
      if (row.encoding !== ENCODING.json) assert.equal(msg.payload, [...row.payload])
      else if (row.payload.length > 0) assert.equal(msg.payload, [...utf8.encode(JSON.stringify(row.body))])
    }
  })
}

test('jsonMsgTail round-trips any msgpack or raw message through the JSON decoder', () => {
  fc.assert(fc.property(ANY_STRING, fc.option(ANY_STRING, { nil: null }), HEADERS, fc.constantFrom(0, 1), fc.uint8Array({ maxLength: 100 }), fc.nat(),
    (subject, reply, headers, encoding, payload, sid) => {
      const ops = decodeJson(`[5,${sid},${jsonMsgTail(subject, reply, headers, encoding, payload)}`)
      assert.equal(ops, [{ op: 'MSG', sid, subject, reply, headers, encoding, payload: [...payload] }])
    }), { numRuns: 300 })
})

// A binary publisher chooses the payload bytes and may tag any bytes as json (the broker does not parse
// payloads), so jsonMsgTail sees bytes that are not JSON, or not even UTF-8. Whatever it does with them, a JSON
// subscriber must receive exactly one well-formed MSG line (or the broker must refuse the message as
// bad_payload), never a broken line, extra ops or a TypeError.
const NOT_JSON: { name: string; payload: Uint8Array }[] = [
  { name: 'text that closes the array and injects an ERR op on a new line', payload: utf8.encode('1]\n[8,"auth_failed","injected",null') },
  { name: 'text that adds extra array fields', payload: utf8.encode('1,2') },
  { name: 'plain words', payload: utf8.encode('not json') },
  { name: 'an unterminated object', payload: utf8.encode('{"a":') },
  { name: 'invalid UTF-8', payload: Uint8Array.of(0xff, 0xfe, 0x7b) },
]

for (const row of NOT_JSON) {
  test(`jsonMsgTail never lets a json-tagged payload of ${row.name} break out of its MSG line`, () => {
    let tail: string
    try {
      tail = jsonMsgTail('a', null, null, ENCODING.json, row.payload)
    } catch (err) {
      assert.ok(err instanceof SubwireError, `throws only a SubwireError (got ${String(err)})`)
      assert.is(err.code, 'bad_payload')
      return
    }
    const line = `[5,1,${tail}`
    assert.not.ok(line.includes('\n'), 'one line')
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      assert.unreachable(`the MSG line is not JSON: ${line}`)
    }
    assert.ok(Array.isArray(parsed) && parsed.length === 7, `exactly the 7 MSG fields: ${line}`)
    assert.is(decodeJson(line).length, 1, 'exactly one op')
  })
}

// ---------------------------------------------------------------------------------------------------------
// Payload codec.

test('encodePayload(undefined) is empty msgpack bytes that decode to undefined', () => {
  const p = encodePayload(undefined)
  assert.is(p.encoding, ENCODING.msgpack)
  assert.is(p.bytes.length, 0)
  assert.is(decodePayload(p.encoding, p.bytes), undefined)
})

test('encodePayload(Uint8Array) travels raw: the same bytes, decoded back as they are', () => {
  const bytes = bytesOf(50)
  const p = encodePayload(bytes)
  assert.is(p.encoding, ENCODING.raw)
  assert.equal([...p.bytes], [...bytes])
  const back = decodePayload(p.encoding, p.bytes)
  assert.ok(back instanceof Uint8Array)
  assert.equal([...back], [...bytes])
})

const VALUES: { name: string; value: unknown }[] = [
  { name: 'a string', value: 'hello' },
  { name: 'an empty string', value: '' },
  { name: 'a unicode string', value: 'ñ 日本 😀' },
  { name: 'zero', value: 0 },
  { name: 'a negative integer', value: -12345 },
  { name: 'a float', value: 1.5 },
  { name: 'a large integer', value: 2 ** 40 },
  { name: 'the largest safe integer', value: Number.MAX_SAFE_INTEGER },
  { name: 'true', value: true },
  { name: 'false', value: false },
  { name: 'null', value: null },
  { name: 'an empty array', value: [] },
  { name: 'a mixed array', value: [1, 'a', null, true, [2, [3]]] },
  { name: 'an empty object', value: {} },
  { name: 'a nested object', value: { a: { b: [1, { c: 'd' }] }, e: null, f: 'ñ' } },
  { name: 'an object with 100 keys', value: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])) },
  { name: 'a long string', value: 'x'.repeat(100_000) },
]

for (const row of VALUES) {
  test(`encodePayload round-trips ${row.name} through msgpack`, () => {
    const p = encodePayload(row.value)
    assert.is(p.encoding, ENCODING.msgpack)
    assert.ok(p.bytes.length > 0)
    assert.equal(decodePayload(p.encoding, p.bytes), row.value)
  })
}

// msgpackr renames a `__proto__` key to `__proto_` when it decodes (its guard against prototype pollution), so
// such keys are left out here and covered by the next test.
const JSON_VALUE = fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes('"__proto__"'))

test('encodePayload round-trips any JSON value (without __proto__ keys) through msgpack', () => {
  fc.assert(fc.property(JSON_VALUE, (value) => {
    const p = encodePayload(value)
    assert.equal(decodePayload(p.encoding, p.bytes), value)
  }), { numRuns: 500 })
})

test('a __proto__ key in a msgpack payload pollutes nothing', () => {
  const p = encodePayload(JSON.parse('{"__proto__":{"polluted":true},"a":1}'))
  const back = decodePayload(p.encoding, p.bytes)
  assert.ok(typeof back === 'object' && back !== null)
  assert.is(Object.getPrototypeOf(back), Object.prototype)
  assert.not.ok('polluted' in back)
  assert.is(({} as Record<string, unknown>).polluted, undefined)
})

test('an encoded payload is not disturbed by later encodes (msgpackr reuses its buffer)', () => {
  const first = encodePayload({ a: 'first' })
  const copy = [...first.bytes]
  for (let i = 0; i < 2000; i++) encodePayload({ i, pad: 'p'.repeat(i % 50) })
  assert.equal([...first.bytes], copy)
  assert.equal(decodePayload(first.encoding, first.bytes), { a: 'first' })
})

test('json payloads decode from UTF-8 JSON text, and an empty one is undefined', () => {
  assert.equal(decodePayload(ENCODING.json, utf8.encode('{"a":[1,"ñ"]}')), { a: [1, 'ñ'] })
  assert.is(decodePayload(ENCODING.json, new Uint8Array(0)), undefined)
})

const GARBAGE: { name: string; encoding: number; bytes: Uint8Array }[] = [
  { name: 'a truncated msgpack array', encoding: ENCODING.msgpack, bytes: raw(0x92, 0x01) },
  { name: 'a truncated msgpack str8', encoding: ENCODING.msgpack, bytes: raw(0xd9, 0x10, 'a') },
  { name: 'a msgpack array declaring 4 billion elements', encoding: ENCODING.msgpack, bytes: raw(0xdd, FF4) },
  { name: 'two msgpack values where one is expected', encoding: ENCODING.msgpack, bytes: raw(0x01, 0x02) },
  { name: 'an unknown msgpack extension', encoding: ENCODING.msgpack, bytes: raw(0xc7, 0x01, 0x05, 0x00) },
  { name: 'the never-used msgpack byte 0xc1', encoding: ENCODING.msgpack, bytes: raw(0xc1) },
  { name: 'the never-used msgpack byte 0xc1 inside an array', encoding: ENCODING.msgpack, bytes: raw(0x91, 0xc1) },
  { name: 'text that is not JSON', encoding: ENCODING.json, bytes: utf8.encode('not json') },
  { name: 'invalid UTF-8 as JSON', encoding: ENCODING.json, bytes: raw(0x22, 0xff, 0x22) },
  { name: 'an unknown encoding', encoding: 3, bytes: raw(0x01) },
]

for (const row of GARBAGE) {
  test(`decodePayload refuses ${row.name} as bad_payload`, () => {
    assert.is(codeOf(() => decodePayload(row.encoding, row.bytes)), 'bad_payload')
  })
}

test('encodePayload refuses a value msgpack cannot encode as bad_payload', () => {
  assert.is(codeOf(() => encodePayload(Symbol('s'))), 'bad_payload')
})

// ---------------------------------------------------------------------------------------------------------
// MsgpackReader and MsgpackWriter directly.

test('MsgpackWriter.value and MsgpackReader.value round-trip every integer width and both float sizes', () => {
  const values = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
    -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER, 0.1, -2.5, 1e300]
  for (const v of values) {
    const r = new MsgpackReader(written((w) => w.value(v)))
    assert.is(r.value(), v, String(v))
    assert.ok(r.done, `${v} consumed exactly`)
  }
  // int8/int16/float32 forms the writer never produces, read as numbers.
  assert.is(new MsgpackReader(raw(0xd0, 0x80)).number(), -128)
  assert.is(new MsgpackReader(raw(0xd1, 0x80, 0x00)).number(), -32_768)
  assert.is(new MsgpackReader(raw(0xca, 0x3f, 0xc0, 0, 0)).number(), 1.5)
  assert.is(new MsgpackReader(raw(0xd0, 0x05)).uint(), 5)
})

test('MsgpackReader refuses int64 values outside the safe integer range as protocol', () => {
  assert.is(codeOf(() => new MsgpackReader(raw(0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0)).uint()), 'protocol')
  assert.is(codeOf(() => new MsgpackReader(raw(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0)).number()), 'protocol')
  assert.is(codeOf(() => new MsgpackReader(raw(0xd3, 0x00, 0x20, 0, 0, 0, 0, 0, 0)).number()), 'protocol')
})

test('MsgpackReader reads only between its start and end', () => {
  const bytes = raw(0xa1, 'x', 0xa1, 'y', 0xa1, 'z')
  const r = new MsgpackReader(bytes, 2, 4)
  assert.is(r.str(), 'y')
  assert.ok(r.done)
  assert.is(codeOf(() => r.str()), 'protocol')
  r.reset(bytes, 0, 1)
  assert.is(codeOf(() => r.str()), 'protocol', 'a string cut by the end bound is truncated')
})

test('MsgpackWriter refuses values nested deeper than MAX_DEPTH as bad_payload', () => {
  let value: unknown = 1
  for (let i = 0; i <= MAX_DEPTH + 1; i++) value = [value]
  assert.is(codeOf(() => written((w) => w.value(value))), 'bad_payload')
  assert.is(codeOf(() => written((w) => w.value(() => 1))), 'bad_payload')
})

// ---------------------------------------------------------------------------------------------------------
// Base64.

function webBase64(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

test('base64 round-trips every length from 0 to 20 and matches btoa', () => {
  for (let n = 0; n <= 20; n++) {
    const bytes = bytesOf(n, n)
    const text = toBase64(bytes)
    assert.is(text, webBase64(bytes), `toBase64 of ${n} bytes`)
    const back = fromBase64(text)
    assert.ok(back !== null, `fromBase64 of ${n} bytes`)
    assert.equal([...back], [...bytes])
    const unpadded = fromBase64(text.replace(/=+$/, ''))
    assert.ok(unpadded !== null, `unpadded ${n} bytes`)
    assert.equal([...unpadded], [...bytes], 'padding is optional')
  }
})

test('base64 round-trips random bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const text = toBase64(bytes)
    const back = fromBase64(text)
    return text === webBase64(bytes) && back !== null && back.length === bytes.length && back.every((b, i) => b === bytes[i])
  }), { numRuns: 1000 })
})

const NOT_BASE64 = ['@@@@', 'abcde', 'a', 'ab=c', 'ab===', '====', 'QUJD\n', ' QUJD', 'QU JD', 'QUJD-_', 'ñañá', '日本語!', 'QQ==QQ==']

test('fromBase64 returns null for input that is not base64', () => {
  for (const text of NOT_BASE64) assert.is(fromBase64(text), null, JSON.stringify(text))
})

test.run()
