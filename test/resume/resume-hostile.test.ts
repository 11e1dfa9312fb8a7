/**
 * Session resume on the wire (PROTOCOL §4.10), hostile clients first: a token is worth nothing to another
 * identity, a wrong or unknown token is answered exactly as a fresh session is (no oracle), and however many
 * sessions are dropped, the broker holds a bounded number of them and a bounded number of bytes. Then the
 * protocol's own cases: a takeover of a half-dead connection, a normal close, the JSON subprotocol.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import type { Broker, BrokerOptions } from '../../server/index.ts'
import { PING_BYTES, writeBodyOp } from '../../shared/op-writer.ts'
import { OP, PROTOCOL_VERSION, SUBPROTOCOL } from '../../shared/protocol.ts'
import { RawClient, cleanupAfterEach, startBroker, until, within } from '../helpers.ts'
import { drop, openSession, type Answer } from './wire-session.ts'

const track = cleanupAfterEach(test)

const TOKENS: BrokerOptions = { auth: { tokens: [{ token: 'alice-token', user: 'alice' }, { token: 'mallory-token', user: 'mallory' }, { token: 'pub-token', user: 'pub' }] } }

/** A raw resumable session (wire-session.ts), cleaned up after each test. */
const session = (b: Broker, resume: unknown, creds: Record<string, unknown> = {}, subs: string[] = [], from?: string): ReturnType<typeof openSession> =>
  openSession(track, b, resume, creds, subs, from)

function msgs(raw: RawClient): Array<{ sid: number; payload: number }> {
  return raw.ops.flatMap((op) => (op.op === 'MSG' ? [{ sid: op.sid, payload: op.payload[0] }] : []))
}

async function publisher(b: Broker, creds: { token?: string } = {}): Promise<{ send(subject: string, n: number, from?: number): Promise<void> }> {
  const c = track(await connect(b.url, creds))
  return {
    async send(subject, n, from = 0) {
      for (let i = 0; i < n; i++) c.publish(subject, Uint8Array.of(from + i, ...new Uint8Array(49)))
      await within(2000, c.flush(), 'the publishes')
    },
  }
}

test('a token presented by another user resumes nothing and delivers none of the victim\'s messages', async () => {
  const b = track(await startBroker(TOKENS))
  const alice = await session(b, true, { token: 'alice-token' }, ['secret.>'])
  assert.is(alice.answer.resumed, false)
  await drop(b, alice.raw)
  const pub = await publisher(b, { token: 'pub-token' })
  await pub.send('secret.plans', 5)

  const mallory = await session(b, { token: alice.answer.token, received: 0 }, { token: 'mallory-token' })
  assert.is(mallory.answer.resumed, false)
  assert.is(mallory.answer.lost, undefined, 'no loss counts of someone else\'s session')
  assert.is.not(mallory.answer.token, alice.answer.token)
  await pub.send('secret.plans', 1, 5)
  await within(2000, new Promise<void>((resolve) => { mallory.raw.sendOps((w) => w.raw(PING_BYTES)); setTimeout(resolve, 50) }), 'a round trip')
  assert.equal(msgs(mallory.raw), [], 'none of alice\'s messages, logged or live')

  const back = await session(b, { token: alice.answer.token, received: 0 }, { token: 'alice-token' })
  assert.is(back.answer.resumed, true, 'the attempt left alice\'s session intact')
  assert.equal(back.answer.sids, [1])
  assert.equal(msgs(back.raw).map((m) => m.payload), [0, 1, 2, 3, 4, 5])
})

test('after an AUTH that changes the user, the session belongs to the new user only', async () => {
  const b = track(await startBroker(TOKENS))
  const s = await session(b, true, { token: 'mallory-token' }, ['m.>'])
  s.raw.sendOps((w) => writeBodyOp(w, OP.AUTH, { token: 'alice-token' }))
  await s.raw.waitFor((op) => op.op === 'INFO' && op.body.user === 'alice', 2000, 'the re-authentication')
  await drop(b, s.raw)
  const mallory = await session(b, { token: s.answer.token, received: 0 }, { token: 'mallory-token' })
  assert.is(mallory.answer.resumed, false, 'the identity that gave the session up')
  mallory.raw.close()
  const alice = await session(b, { token: s.answer.token, received: 0 }, { token: 'alice-token' })
  assert.is(alice.answer.resumed, true)
})

test('a wrong secret and an unknown token are answered exactly like a fresh session', async () => {
  const b = track(await startBroker())
  const victim = await session(b, true, {}, ['v.>'])
  await drop(b, victim.raw)
  const [id] = String(victim.answer.token).split('.')
  const guesses = [`${id}.${Buffer.alloc(16, 7).toString('base64url')}`, `${id}.`, 'nope.nope', 'x'.repeat(128), '']
  const fresh = await session(b, true)
  for (const token of guesses) {
    const g = await session(b, { token, received: 0 })
    assert.is(g.answer.resumed, false, token)
    assert.equal(Object.keys(g.answer).sort(), Object.keys(fresh.answer).sort(), 'the same fields as a fresh session')
    g.raw.close()
  }
  fresh.raw.close()
  const back = await session(b, { token: victim.answer.token, received: 0 })
  assert.is(back.answer.resumed, true)
})

test('a count above what the broker sent is not resumed', async () => {
  const b = track(await startBroker())
  const victim = await session(b, true, {}, ['v.>'])
  await drop(b, victim.raw)
  const g = await session(b, { token: victim.answer.token, received: 1 })
  assert.is(g.answer.resumed, false)
  assert.is(g.answer.lost, undefined)
  const back = await session(b, { token: victim.answer.token, received: 0 })
  assert.is(back.answer.resumed, true, 'the session is left as it was')
})

test('an ended session tells its loss only to its own identity', async () => {
  // A window long enough for the publishes to reach the parked session before it ends.
  const b = track(await startBroker({ ...TOKENS, resumeWindowMs: 1000 }))
  const alice = await session(b, true, { token: 'alice-token' }, ['secret.>'])
  await drop(b, alice.raw)
  const pub = await publisher(b, { token: 'pub-token' })
  await pub.send('secret.plans', 3)
  await until(5000, () => b.stats().subscriptions === 0, 'the window to pass')
  const mallory = await session(b, { token: alice.answer.token, received: 0 }, { token: 'mallory-token' })
  assert.is(mallory.answer.lost, undefined)
  mallory.raw.close()
  const back = await session(b, { token: alice.answer.token, received: 0 }, { token: 'alice-token' })
  assert.is(back.answer.resumed, false)
  assert.equal(back.answer.lost, [[1, 3]])
})

test('a mistyped resume in CONNECT is a protocol error', async () => {
  const b = track(await startBroker())
  for (const resume of ['yes', 1, { token: 5, received: 0 }, { token: 'a.b', received: -1 }, { token: 'a'.repeat(129), received: 0 }]) {
    const raw = track(new RawClient(b.url))
    await within(2000, raw.opened, 'open')
    raw.connect({ resume })
    assert.is(await raw.waitClose(), 4000, JSON.stringify(resume))
  }
})

test('past resumeMaxSessions the oldest parked session ends and its subscriptions leave the index', async () => {
  const b = track(await startBroker({ resumeMaxSessions: 3 }))
  const sessions = []
  for (let i = 0; i < 5; i++) sessions.push(await session(b, true, {}, ['m.>']))
  for (const s of sessions) await drop(b, s.raw) // parked in this order
  assert.is(b.stats().subscriptions, 3, 'only three sessions hold their subscriptions')
  const oldest = await session(b, { token: sessions[0].answer.token, received: 0 })
  assert.is(oldest.answer.resumed, false)
  assert.equal(oldest.answer.lost, [], 'it ended having lost nothing')
  oldest.raw.close()
  const newest = await session(b, { token: sessions[4].answer.token, received: 0 })
  assert.is(newest.answer.resumed, true)
})

test('all parked sessions together keep at most resumeMaxTotalBytes, and each counts what it lost', async () => {
  // 50-byte payloads on a 3-character subject cost 163 bytes each in a log (a 59-byte MSG tail + 104).
  const b = track(await startBroker({ resumeMaxBytes: 1024, resumeMaxTotalBytes: 2048 }))
  const sessions = []
  for (let i = 0; i < 3; i++) sessions.push(await session(b, true, {}, ['m.>']))
  for (const s of sessions) await drop(b, s.raw)
  const pub = await publisher(b)
  await pub.send('m.a', 30)
  let replayed = 0
  for (const s of sessions) {
    const back = await session(b, { token: s.answer.token, received: 0 })
    assert.is(back.answer.resumed, true)
    const got = msgs(back.raw)
    const lost = (back.answer.lost as number[][]).reduce((n, [, k]) => n + k, 0)
    assert.is(got.length, back.answer.missed)
    assert.is(got.length + lost, 30, 'every message either replayed or counted lost')
    assert.equal(got.map((m) => m.payload), Array.from({ length: got.length }, (_, i) => 30 - got.length + i), 'the newest kept, in order')
    replayed += got.length
    back.raw.close()
  }
  assert.ok(replayed <= Math.floor(2048 / 163), `${replayed} messages held in all`)
  assert.ok(replayed >= 6, 'the budget is used')
})

test('a session still open on a half-dead connection is taken over: the old one is closed, the new one holds its subscriptions', async () => {
  const b = track(await startBroker())
  const first = await session(b, true, {}, ['h.>'])
  const pub = await publisher(b)
  await pub.send('h.x', 2)
  await first.raw.waitFor((op) => op.op === 'MSG' && op.payload[0] === 1, 2000, 'both messages on the first connection')
  const second = await session(b, { token: first.answer.token, received: 1 })
  assert.is(second.answer.resumed, true)
  assert.equal(second.answer.sids, [1])
  assert.equal(msgs(second.raw).map((m) => m.payload), [1], 'what the first had not acknowledged past its count')
  assert.is(await first.raw.waitClose(), 4003)
  await pub.send('h.x', 1, 2)
  await second.raw.waitFor((op) => op.op === 'MSG' && op.payload[0] === 2, 2000, 'live delivery on the new connection')
  assert.equal(msgs(first.raw).map((m) => m.payload), [0, 1], 'nothing more on the old one')
})

test('a client that closes normally ends its session: nothing is parked', async () => {
  const b = track(await startBroker())
  const s = await session(b, true, {}, ['n.>'])
  s.raw.ws.close(1000)
  await within(2000, s.raw.closed, 'the close')
  await until(2000, () => b.stats().connections === 0, 'the broker to see it')
  assert.is(b.stats().subscriptions, 0)
  const again = await session(b, { token: s.answer.token, received: 0 })
  assert.is(again.answer.resumed, false)
})

test('a session of the JSON subprotocol resumes on a binary connection, and back', async () => {
  const b = track(await startBroker())
  const json = track(new RawClient(b.url, SUBPROTOCOL.json))
  await within(2000, json.opened, 'open')
  json.send([JSON.stringify([OP.CONNECT, { protocol: PROTOCOL_VERSION, resume: true }]), JSON.stringify([OP.SUB, 1, 'j.>', null]), JSON.stringify([OP.PING])].join('\n'))
  await json.waitFor((op) => op.op === 'PONG', 2000, 'the PONG')
  const info = json.ops.find((op) => op.op === 'INFO' && op.body.resume !== undefined) as unknown as { body: { resume: Answer } }
  await drop(b, json)
  const pub = await publisher(b)
  await pub.send('j.x', 3)
  const bin = await session(b, { token: info.body.resume.token, received: 0 })
  assert.is(bin.answer.resumed, true)
  assert.equal(msgs(bin.raw).map((m) => m.payload), [0, 1, 2])
  await drop(b, bin.raw)
  await pub.send('j.x', 1, 3)
  const again = track(new RawClient(b.url, SUBPROTOCOL.json))
  await within(2000, again.opened, 'open')
  again.send([JSON.stringify([OP.CONNECT, { protocol: PROTOCOL_VERSION, resume: { token: info.body.resume.token, received: 3 } }]), JSON.stringify([OP.PING])].join('\n'))
  await again.waitFor((op) => op.op === 'PONG', 2000, 'the PONG')
  const replay = again.ops.filter((op) => op.op === 'MSG')
  assert.is(replay.length, 1, 'only what came after the three it had')
})

test.run()
