/**
 * shared/payload-encoder.ts against the encoder it replaced: msgpackr's `Packr` with the options the project
 * used. For every value, what it writes must decode (with the unchanged decoder, msgpackr's `Unpackr`) to
 * exactly what msgpackr's own encoding decodes to, and it must refuse exactly the values msgpackr refused.
 * The bytes may differ (msgpackr always writes a map16 header for objects; this writes the shortest).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { decodePayload, encodePayload } from '../../shared/payload-codec.ts'
import { ENCODING } from '../../shared/protocol.ts'

const reference = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false })

/** Refused by the encoder, encoded but refused by the receiver's decoder, or a decoded value. */
type Outcome = { ok: false } | { ok: true; undecodable: true } | { ok: true; undecodable: false; value: unknown }

/**
 * Decodes as a receiver does, from its own copy of the bytes: a plain Uint8Array (what `decodePayload` is
 * given), never a view of msgpackr's reused output buffer, which its next `pack` overwrites.
 */
function received(encoding: number, bytes: Uint8Array): Outcome {
  try {
    return { ok: true, undecodable: false, value: decodePayload(encoding, Uint8Array.from(bytes)) }
  } catch (err) {
    if ((err as { code?: string }).code !== 'bad_payload') throw err
    // e.g. a Map with a Date key: msgpack allows it, the decoder (maps as objects) does not.
    return { ok: true, undecodable: true }
  }
}

/** encodePayload as it was: nothing for undefined, raw bytes for a Uint8Array, msgpackr's `pack` for the rest. */
function viaReference(v: unknown): Outcome {
  if (v === undefined) return received(ENCODING.msgpack, new Uint8Array(0))
  if (v instanceof Uint8Array) return received(ENCODING.raw, v)
  let bytes: Uint8Array
  try { bytes = reference.pack(v) } catch { return { ok: false } }
  return received(ENCODING.msgpack, bytes)
}

function viaEncoder(v: unknown): Outcome {
  let p: ReturnType<typeof encodePayload>
  try {
    p = encodePayload(v)
  } catch (err) {
    if ((err as { code?: string }).code !== 'bad_payload') throw err
    return { ok: false }
  }
  return received(p.encoding, p.bytes)
}

/**
 * Decoded values compared by msgpackr's encoding of them: the decoder yields only plain data (objects,
 * arrays, Dates, bytes, numbers, strings), for which equal bytes mean equal values, an invalid Date
 * included (which deep equality calls unequal to itself). `assert.ok`, not `assert.is`: uvu's diff of two
 * long strings takes minutes.
 */
function assertSame(v: unknown, what: string): void {
  const ours = viaEncoder(v)
  const theirs = viaReference(v)
  assert.is(ours.ok, theirs.ok, `${what}: refused by ${ours.ok ? 'msgpackr only' : 'the encoder only'}`)
  if (!ours.ok || !theirs.ok) return
  assert.is(ours.undecodable, theirs.undecodable, `${what}: undecodable by ${ours.undecodable ? 'the encoder' : 'msgpackr'}'s bytes only`)
  if (ours.undecodable || theirs.undecodable) return
  const a = Buffer.from(reference.pack(ours.value)).toString('hex')
  const b = Buffer.from(reference.pack(theirs.value)).toString('hex')
  assert.ok(a === b, `${what}: decodes to ${a.slice(0, 200)}, msgpackr's encoding to ${b.slice(0, 200)}`)
}

class Point { x = 1; y = [2]; readonly label: string; constructor(label: string) { this.label = label } }
class WithToJSON { secret = 1; toJSON(): unknown { return { shown: true } } }
class TaggedSet extends Set<number> { toJSON(): unknown { return 'tagged' } }
class PlainSet extends Set<number> {}
class Stamp extends Date {}
class List extends Array<number> {}
const cyclic: Record<string, unknown> = { a: 1 }
cyclic.self = cyclic
const sparse: unknown[] = [1, , 3] // eslint-disable-line no-sparse-arrays
const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, b: 'x' })
const loneShort = 'a\ud800b'
const loneLong = `${'x'.repeat(70)}\udc00${'y'.repeat(10)}`

const ROWS: Array<{ name: string; value: unknown }> = [
  { name: 'integers at every width', value: [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1] },
  { name: 'negative integers at every width', value: [-1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1] },
  { name: 'floats and the odd numbers', value: [1.5, -0.1, 1e300, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0] },
  { name: 'strings at every header width', value: ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(70_000)] },
  { name: 'multi-byte strings', value: ['ñ', '日本語', '😀 emoji', 'ñ'.repeat(40), '日'.repeat(100), '😀'.repeat(40)] },
  { name: 'a short string with a lone surrogate', value: loneShort },
  { name: 'a long string with a lone surrogate', value: loneLong },
  { name: 'booleans, null and undefined', value: [true, false, null, undefined] },
  { name: 'undefined at the top level', value: undefined },
  { name: 'an object with an undefined property', value: { a: undefined, b: 1 } },
  { name: 'a sparse array', value: sparse },
  { name: 'nested objects and arrays', value: { a: { b: [1, { c: 'd' }], e: [] }, f: {} } },
  { name: 'an object with 20 keys', value: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])) },
  { name: 'a __proto__ key', value: JSON.parse('{"__proto__":{"x":1},"a":2}') },
  { name: 'a null-prototype object', value: nullProto },
  { name: 'an array of 70,000 numbers', value: Array.from({ length: 70_000 }, (_, i) => i) },
  { name: 'a Map with string and number keys', value: new Map<unknown, unknown>([['a', 1], [2, 'two'], ['n', new Map([['x', [1]]])]]) },
  { name: 'a Map with 20 entries', value: new Map(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])) },
  { name: 'a Set', value: new Set([1, 'a', null]) },
  { name: 'a Set subclass', value: new PlainSet([3]) },
  { name: 'a Set subclass with its own toJSON', value: new TaggedSet([1]) },
  { name: 'an Error with a cause', value: new Error('boom', { cause: 'why' }) },
  { name: 'a TypeError', value: new TypeError('bad type') },
  { name: 'a RegExp', value: /a+b/gi },
  { name: 'Dates of every timestamp form', value: [new Date(0), new Date(1_700_000_000_000), new Date(1_700_000_000_123), new Date(-1), new Date(-86_400_000_123), new Date(2 ** 32 * 1000 + 5), new Date(8.64e15), new Date(Number.NaN)] },
  { name: 'a Date subclass', value: new Stamp(1_700_000_000_500) },
  { name: 'bytes nested in an object', value: { raw: new Uint8Array([0, 1, 255]), big: new Uint8Array(70_000).fill(7) } },
  { name: 'a view into a larger buffer', value: [new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 3)] },
  { name: 'a Buffer', value: [Buffer.from('hello')] },
  { name: 'an Int8Array and a Uint8ClampedArray', value: [new Int8Array([-1, 2]), new Uint8ClampedArray([300, 4])] },
  { name: 'an ArrayBuffer', value: [new Uint8Array([1, 2, 3]).buffer] },
  { name: 'bigints that fit 64 bits', value: [0n, 1n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n] },
  { name: 'a bigint past 64 bits', value: [2n ** 64n] },
  { name: 'a negative bigint past 64 bits', value: -(2n ** 63n) - 1n },
  { name: 'a symbol', value: Symbol('s') },
  { name: 'a symbol inside an object', value: { s: Symbol('s') } },
  { name: 'a function', value: () => 1 },
  { name: 'a function inside an array', value: [1, function named() { return 2 }] },
  { name: 'a class instance', value: new Point('p') },
  { name: 'an instance with toJSON', value: [new WithToJSON()] },
  { name: 'an Array subclass', value: List.from([1, 2]) },
  { name: 'boxed primitives', value: [new Number(5), new String('ab'), new Boolean(false)] },
  { name: 'an object whose own constructor key is not a function', value: { constructor: 'x', a: 1 } },
  { name: 'an object with its own hasOwnProperty value', value: { hasOwnProperty: 1, a: 2 } },
  { name: 'a cyclic object', value: cyclic },
]

for (const row of ROWS) {
  test(`encodes ${row.name} as msgpackr did`, () => assertSame(row.value, row.name))
}

// Values fast-check builds: every JSON-like and JavaScript-only kind the generator knows, except typed arrays
// other than bytes, which msgpackr wrote wrongly (their element values cut to bytes into a buffer sized in
// bytes, the rest left stale): here they are their bytes, tested below.
const ANYTHING = fc.anything({
  maxDepth: 4, withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true,
  withBoxedValues: true, withSparseArray: true, withObjectString: true, withUnicodeString: true,
})

test('encodes any value fast-check builds as msgpackr did', () => {
  fc.assert(fc.property(ANYTHING, (v) => assertSame(v, 'a generated value')), { numRuns: 2000 })
})

test('encodes any string, lone surrogates included, as msgpackr did', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 150 }), (v) => assertSame(v, JSON.stringify(v))), { numRuns: 2000 })
})

test('encodes any number as msgpackr did', () => {
  fc.assert(fc.property(fc.oneof(fc.double(), fc.integer({ min: -(2 ** 53), max: 2 ** 53 }), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 65n })), (v) => assertSame(v, String(v))), { numRuns: 2000 })
})

test('a typed array that is not bytes travels as its bytes (msgpackr wrote its element values cut to bytes)', () => {
  const values = new Uint16Array([0x0102, 0xfffe])
  const back = decodePayload(ENCODING.msgpack, encodePayload({ values }).bytes) as { values: Uint8Array }
  assert.equal([...back.values], [...new Uint8Array(values.buffer)])
})

test('an object of more than 65,535 keys, which msgpackr refused (it wrote every object with a 16-bit size), is encoded', () => {
  const big = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))
  assert.is(viaReference(big).ok, false)
  const back = decodePayload(ENCODING.msgpack, encodePayload(big).bytes) as Record<string, number>
  assert.is(Object.keys(back).length, 70_000)
  assert.is(back.k69999, 69_999)
})

test('a DataView travels as its bytes (msgpackr wrote an empty bin)', () => {
  const back = decodePayload(ENCODING.msgpack, encodePayload([new DataView(new Uint8Array([5, 6, 7]).buffer, 1)]).bytes) as Uint8Array[]
  assert.equal([...back[0]], [6, 7])
})

test('payloads encoded one after another are independent, big or small', () => {
  const big = encodePayload({ s: 'x'.repeat(2_000_000) })
  const small = encodePayload({ a: 1 })
  assert.equal(decodePayload(small.encoding, small.bytes), { a: 1 })
  assert.is((decodePayload(big.encoding, big.bytes) as { s: string }).s.length, 2_000_000)
  assert.is(codeOfEncode(Symbol('x')), 'bad_payload')
  assert.equal(decodePayload(ENCODING.msgpack, encodePayload([1, 'two']).bytes), [1, 'two'])
})

function codeOfEncode(v: unknown): string {
  try { encodePayload(v); return 'no error' } catch (err) { return (err as { code?: string }).code ?? 'no code' }
}

test.run()
