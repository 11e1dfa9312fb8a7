/**
 * The bytes between nodes (server/cluster/redis/cluster-frame.ts): a message's body is its MSG tail, carried as
 * the publisher sent it and fanned out as it arrives, and every field is still checked against the receiving
 * node's limits: what a local PUB could not carry is not taken from another node either.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FRAME_VERSION, bodyOf, decodeBatch, encodeBatchStart, encodeBody, encodeHead } from '../../server/cluster/redis/cluster-frame.ts'
import { Delivery } from '../../server/outbound/delivery.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { encodeMsgTail } from '../../shared/op-writer.ts'

const LIMITS = { maxSubjectLength: 64, maxHeaders: 2, maxPayload: 16 }

function batch(...bodies: Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [encodeBatchStart('n0')]
  for (const body of bodies) parts.push(encodeHead(body.length, null), body)
  return Buffer.concat(parts)
}

/** A tail written field by field, so a test can put in it what no encoder of ours would. */
function tail(write: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(64)
  write(w)
  return w.finish()
}

test('a binary publisher\'s tail crosses as it came and arrives as the MSG tail, the payload its last bytes', () => {
  const published = encodeMsgTail('orders.eu', '_INBOX.a.1', null, 0, Uint8Array.of(1, 2, 3))
  const d = new Delivery().loadTail('orders.eu', '_INBOX.a.1', 0, published, 3)
  assert.is(bodyOf(d), published, 'the publisher\'s bytes, not a copy or a re-encoding')
  const decoded = decodeBatch(batch(bodyOf(d)), LIMITS)
  const m = decoded?.messages[0]
  assert.ok(m !== undefined)
  assert.equal([...m.tail], [...published])
  assert.equal([...m.payload], [1, 2, 3])
  assert.is(m.payload.byteOffset + m.payload.length, m.tail.byteOffset + m.tail.length, 'the payload ends the tail')
  assert.equal({ subject: m.subject, reply: m.reply, headers: m.headers, encoding: m.encoding }, { subject: 'orders.eu', reply: '_INBOX.a.1', headers: null, encoding: 0 })
})

test('a message without a tail (a JSON publish, the broker\'s own) is encoded once, headers included', () => {
  const m = { subject: 'a.b', reply: null, headers: { k: 'v' }, encoding: 1, payload: Uint8Array.of(0xc0) }
  const decoded = decodeBatch(batch(bodyOf(m)), LIMITS)
  assert.equal(decoded?.messages.map((x) => ({ subject: x.subject, headers: { ...x.headers }, encoding: x.encoding, payload: [...x.payload] })), [
    { subject: 'a.b', headers: { k: 'v' }, encoding: 1, payload: [0xc0] },
  ])
})

test('drops and counts a body that breaks the receiving node\'s rules, and keeps the good ones around it', () => {
  const good = encodeBody('ok.1', null, null, 0, Uint8Array.of(1))
  const bad: Array<[string, Uint8Array]> = [
    ['a wildcard subject', encodeBody('a.*', null, null, 0, Uint8Array.of(1))],
    ['a subject past maxSubjectLength', encodeBody(`a.${'x'.repeat(80)}`, null, null, 0, Uint8Array.of(1))],
    ['an invalid reply subject', encodeBody('a.b', 'r..x', null, 0, Uint8Array.of(1))],
    ['more headers than maxHeaders', encodeBody('a.b', null, { a: '1', b: '2', c: '3' }, 0, Uint8Array.of(1))],
    ['an unknown encoding', encodeBody('a.b', null, null, 99, Uint8Array.of(1))],
    ['a payload past maxPayload', encodeBody('a.b', null, null, 0, new Uint8Array(17))],
    ['bytes after the payload', Buffer.concat([encodeBody('a.b', null, null, 0, Uint8Array.of(1)), Uint8Array.of(0)])],
    ['a truncated payload', encodeBody('a.b', null, null, 0, Uint8Array.of(1, 2, 3)).subarray(0, 8)],
    ['a number for a subject', tail((w) => { w.uint(5); w.strOrNil(null); w.headers(null); w.uint(0); w.bin(Uint8Array.of(1)) })],
    ['a header value that is not a string', tail((w) => { w.str('a.b'); w.strOrNil(null); w.value({ k: 1 }); w.uint(0); w.bin(Uint8Array.of(1)) })],
    ['nothing at all', new Uint8Array(0)],
  ]
  for (const [what, body] of bad) {
    const decoded = decodeBatch(batch(good, body, good), LIMITS)
    assert.is(decoded?.rejected, 1, what)
    assert.equal(decoded?.messages.map((m) => m.subject), ['ok.1', 'ok.1'], what)
  }
})

test('refuses a batch of another frame version whole', () => {
  const b = batch(encodeBody('ok.1', null, null, 0, Uint8Array.of(1)))
  b[0] = FRAME_VERSION - 1
  assert.is(decodeBatch(b, LIMITS), null)
})

test.run()
