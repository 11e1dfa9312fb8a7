/**
 * fast-check arbitraries for the fuzz test: valid frames of random ops, the same frames mutated (bit flips,
 * truncation, duplication, inserted and overwritten bytes), random bytes, random msgpack values shaped like
 * ops (wrong types in every field), and their JSON counterparts for `subwire.v1.json`.
 */
import fc from 'fast-check'
import { PING_BYTES, PONG_BYTES, writeBodyOp, writePub, writeSub, writeUnsub } from '../../shared/op-writer.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { OP } from '../../shared/protocol.ts'

/** One fuzz input: the frame and the WebSocket frame kind it is sent as. */
export interface FuzzFrame {
  /** binary or text frame; sent on a socket of the matching subprotocol unless `crossed`. */
  kind: 'binary' | 'text'
  data: Uint8Array | string
  /** Sent on the other subprotocol's socket (text on binary, binary on JSON). */
  crossed: boolean
  /** What produced it, for failure messages and the coverage check. */
  source: string
}

// ---- building blocks ----------------------------------------------------------------------------------

/** Subjects: mostly valid under `fuzz.`, sometimes with wildcards, empty tokens, spaces, controls, prototype keys. */
const token = fc.constantFrom('fuzz', 'a', 'b', 'orders', 'eu', '*', '>', '', 'x y', '\u0000', '\n', '€', '__proto__', 'constructor')
const anySubject = fc.array(token, { minLength: 0, maxLength: 5 }).map((t) => t.join('.'))
const fuzzSubject = fc.array(fc.constantFrom('a', 'b', 'c', '*', '>'), { minLength: 1, maxLength: 3 }).map((t) => `fuzz.${t.join('.')}`)
const subject = fc.oneof({ weight: 3, arbitrary: fuzzSubject }, { weight: 1, arbitrary: anySubject })
const headers = fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 }), { nil: null })
const payload = fc.uint8Array({ maxLength: 64 })
/** Sids from a small range, so UNSUBs hit live subscriptions and some SUBs reuse a live sid. */
const sid = fc.nat(200)

type Writer = (w: MsgpackWriter) => void

const pubOp = fc.record({ flags: fc.nat(3), subject, reply: fc.option(subject, { nil: null }), headers, encoding: fc.nat(3), payload })
  .map((p): Writer => (w) => writePub(w, p.flags, p.subject, p.reply, p.headers, p.encoding, p.payload))
const subOp = fc.record({ sid, subject, queue: fc.option(fc.constantFrom('q', 'w', '', 'a b'), { nil: null }) })
  .map((s): Writer => (w) => writeSub(w, s.sid, s.subject, s.queue))
const unsubOp = fc.record({ sid, max: fc.option(fc.nat(5), { nil: undefined }) }).map((u): Writer => (w) => writeUnsub(w, u.sid, u.max))
const pingOp = fc.constant<Writer>((w) => w.raw(PING_BYTES))
const pongOp = fc.constant<Writer>((w) => w.raw(PONG_BYTES))
const connectOp = fc.constant<Writer>((w) => writeBodyOp(w, OP.CONNECT, { protocol: 1 }))

const validOp = fc.oneof(
  { weight: 8, arbitrary: pubOp }, { weight: 4, arbitrary: subOp }, { weight: 2, arbitrary: unsubOp },
  { weight: 2, arbitrary: pingOp }, { weight: 1, arbitrary: pongOp }, { weight: 1, arbitrary: connectOp },
)

/** A frame of 1 to 6 valid ops (a CONNECT among them is a second CONNECT, itself an error). */
const validFrame = fc.array(validOp, { minLength: 1, maxLength: 6 }).map((ops) => {
  const w = new MsgpackWriter(256)
  for (const op of ops) op(w)
  return w.finish()
})

/** Bytes msgpack decoders trip on: type tags of every family, the never-used 0xc1, and length extremes. */
const INTERESTING = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc6, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff]

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), byte: fc.constantFrom(...INTERESTING) }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

/** Applies one mutation; positions wrap around the frame. */
function mutate(frame: Uint8Array, m: Mutation): Uint8Array {
  if (frame.length === 0) return frame
  const at = m.at % frame.length
  switch (m.kind) {
    case 'flip': { const out = frame.slice(); out[at] ^= 1 << m.bit; return out }
    case 'truncate': return frame.slice(0, at)
    case 'duplicate': {
      const piece = frame.subarray(at, at + m.length)
      const out = new Uint8Array(frame.length + piece.length)
      out.set(frame.subarray(0, at + piece.length)); out.set(piece, at + piece.length); out.set(frame.subarray(at + piece.length), at + 2 * piece.length)
      return out
    }
    case 'insert': {
      const out = new Uint8Array(frame.length + m.bytes.length)
      out.set(frame.subarray(0, at)); out.set(m.bytes, at); out.set(frame.subarray(at), at + m.bytes.length)
      return out
    }
    case 'overwrite': { const out = frame.slice(); out[at] = m.byte; return out }
    default: { const never: never = m; return never }
  }
}

const mutatedFrame = fc.tuple(validFrame, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([frame, ms]) => ms.reduce(mutate, frame))

/** Leaf values for random msgpack and JSON: numbers of every kind, odd strings, bytes, nil. */
const leaf = [
  fc.boolean(), fc.integer(), fc.double(), fc.nat(12), fc.constant(null), fc.constant(-1),
  fc.string({ unit: 'binary', maxLength: 12 }), subject, fc.uint8Array({ maxLength: 16 }),
]
const anything = fc.anything({ maxDepth: 4, maxKeys: 5, values: leaf, withNullPrototype: true })

/** `[op, …fields]` with an op code near the real ones and fields of any type: wrong types in every field. */
const randomOp = fc.tuple(fc.nat(12), fc.array(anything, { maxLength: 8 })).map(([code, fields]) => {
  const w = new MsgpackWriter(128)
  w.arrayHeader(fields.length + 1)
  w.uint(code)
  for (const f of fields) w.value(f)
  return w.finish()
})
/** A bare msgpack value where an op belongs. */
const randomValue = anything.map((v) => { const w = new MsgpackWriter(128); w.value(v); return w.finish() })

const binary = (source: string) => (data: Uint8Array): FuzzFrame => ({ kind: 'binary', data, crossed: false, source })

// ---- JSON -----------------------------------------------------------------------------------------------

const jsonHeaders = fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 }), { nil: null })
const jsonOp = fc.oneof(
  fc.record({ flags: fc.nat(3), subject, reply: fc.option(subject, { nil: null }), headers: jsonHeaders, encoding: fc.nat(3), value: fc.jsonValue({ maxDepth: 3 }) })
    .map((p) => JSON.stringify([OP.PUB, p.flags, p.subject, p.reply, p.headers, p.encoding, p.encoding === 2 ? p.value : Buffer.from(JSON.stringify(p.value)).toString('base64')])),
  fc.record({ sid, subject, queue: fc.option(fc.constantFrom('q', '', 'a b'), { nil: null }) }).map((s) => JSON.stringify([OP.SUB, s.sid, s.subject, s.queue])),
  fc.record({ sid, max: fc.option(fc.nat(5), { nil: null }) }).map((u) => JSON.stringify([OP.UNSUB, u.sid, u.max])),
  fc.constantFrom('[6]', '[7]', '[1,{"protocol":1}]'),
)
const jsonLines = fc.array(jsonOp, { minLength: 1, maxLength: 5 }).map((lines) => lines.join('\n'))

const jsonMutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char: fc.constantFrom('[', ']', '{', '}', '"', ',', ':', '\\', '\n', '0', '-', 'e', 'n', ' ', '\u2028', '\ud800') }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
)
type JsonMutation = typeof jsonMutation extends fc.Arbitrary<infer M> ? M : never

function mutateText(text: string, m: JsonMutation): string {
  if (text.length === 0) return text
  const at = m.at % text.length
  switch (m.kind) {
    case 'truncate': return text.slice(0, at)
    case 'replace': return text.slice(0, at) + m.char + text.slice(at + 1)
    case 'duplicate': return text.slice(0, at + m.length) + text.slice(at, at + m.length) + text.slice(at + m.length)
    default: { const never: never = m; return never }
  }
}

const text = (source: string) => (data: string): FuzzFrame => ({ kind: 'text', data, crossed: false, source })

/** Every kind of fuzz frame, weighted towards inputs close enough to valid to reach deep code. */
export const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  { weight: 6, arbitrary: validFrame.map(binary('valid')) },
  { weight: 10, arbitrary: mutatedFrame.map(binary('mutated')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map(binary('random bytes')) },
  { weight: 4, arbitrary: randomOp.map(binary('random op')) },
  { weight: 1, arbitrary: randomValue.map(binary('random value')) },
  { weight: 4, arbitrary: jsonLines.map(text('json valid')) },
  { weight: 5, arbitrary: fc.tuple(jsonLines, fc.array(jsonMutation, { minLength: 1, maxLength: 3 })).map(([t, ms]) => ms.reduce(mutateText, t)).map(text('json mutated')) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(12), fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 8 })).map(([c, f]) => JSON.stringify([c, ...f])).map(text('json random op')) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map(text('json random value')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map(text('random text')) },
  { weight: 1, arbitrary: validFrame.map((data): FuzzFrame => ({ kind: 'binary', data, crossed: true, source: 'binary on JSON' })) },
  { weight: 1, arbitrary: jsonLines.map((data): FuzzFrame => ({ kind: 'text', data, crossed: true, source: 'text on binary' })) },
)
