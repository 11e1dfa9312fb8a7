/**
 * The `validate` connect option (client/validate.ts): incoming data is checked before the application sees
 * it; a refused message is not delivered, an `invalid` status says which subject and why, and the
 * connection and the subscription go on.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Status, type SubwireError } from '../client/index.ts'
import { cleanupAfterEach, startBroker, take, until, within } from './helpers.ts'

const track = cleanupAfterEach(test)

/** Records status events of a client as they come. */
function recordStatus(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}

type Invalid = Extract<Status, { type: 'invalid' }>
const invalidOf = (seen: Status[]): Invalid[] => seen.filter((s): s is Invalid => s.type === 'invalid')

class NotATemperature extends Error {}

/** Accepts `{ value: number }`, as a zod schema's parse would. */
function temperature(subject: string, data: unknown): void {
  if (!subject.startsWith('sensors.')) return
  if (typeof data !== 'object' || data === null || typeof (data as { value?: unknown }).value !== 'number') throw new NotATemperature('value must be a number')
}

test('a message validate refuses is not delivered; an invalid status names the subject and the cause; the connection goes on', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url, { validate: temperature }))
  const seen = recordStatus(c)
  const sub = c.subscribe('sensors.>')
  await within(2000, c.flush(), 'the SUB')
  c.publish('sensors.paris.temp', { value: 'hot' })
  c.publish('sensors.paris.temp', { value: 21 })
  const [m] = await take(sub, 1)
  assert.equal(m.data, { value: 21 })
  await until(2000, () => invalidOf(seen).length === 1, 'the invalid status')
  const [invalid] = invalidOf(seen)
  assert.is(invalid.subject, 'sensors.paris.temp')
  assert.is(invalid.error.code, 'bad_payload')
  assert.ok(invalid.error.cause instanceof NotATemperature, 'the cause is what validate threw')
  assert.is(c.state, 'connected')
  assert.is(sub.isClosed, false)
  c.publish('sensors.lyon.temp', { value: 3 })
  assert.equal((await take(sub, 1))[0].data, { value: 3 })
  assert.is(sub.pending, 0, 'the refused message was never queued')
})

test('validate sees the subject, the decoded data and the kind of every incoming message', async () => {
  const b = track(await startBroker())
  const calls: Array<[string, unknown, string]> = []
  const c = track(await connect(b.url, { validate: (subject, data, kind) => { calls.push([subject, data, kind]) } }))
  const sub = c.subscribe('a.*')
  await within(2000, c.flush(), 'the SUB')
  c.publish('a.b', [1, 'x'])
  c.publish('a.c', new Uint8Array([7]))
  const got = await take(sub, 2)
  assert.equal(got.map((m) => m.subject), ['a.b', 'a.c'])
  assert.equal(calls, [['a.b', [1, 'x'], 'message'], ['a.c', new Uint8Array([7]), 'message']])
})

test('a reply validate refuses rejects the request with bad_payload, and validate saw it as the reply on the request subject', async () => {
  const b = track(await startBroker())
  const responder = track(await connect(b.url))
  responder.subscribe('price.quote', { callback: (_err, m) => { m?.respond({ total: 'free' }) } })
  await within(2000, responder.flush(), 'the responder SUB')
  const kinds: string[] = []
  const c = track(await connect(b.url, {
    validate: (subject, data, kind) => {
      kinds.push(`${kind} ${subject}`)
      if (kind === 'reply' && typeof (data as { total?: unknown }).total !== 'number') throw new TypeError('total must be a number')
    },
  }))
  const seen = recordStatus(c)
  const err = await within(3000, c.request('price.quote', { sku: 'x' }).then(() => null, (e: SubwireError) => e), 'the request to fail')
  assert.ok(err !== null, 'the request rejected')
  assert.is(err.code, 'bad_payload')
  assert.ok(err.cause instanceof TypeError)
  assert.equal(kinds, ['reply price.quote'])
  await until(2000, () => invalidOf(seen).length === 1, 'the invalid status')
  assert.is(invalidOf(seen)[0].subject, 'price.quote')
  assert.is(c.state, 'connected')
})

test('a refused message counts toward max, as the broker counts it', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url, { validate: temperature }))
  const sub = c.subscribe('sensors.x', { max: 2 })
  await within(2000, c.flush(), 'the SUB')
  c.publish('sensors.x', { value: null })
  c.publish('sensors.x', { value: 1 })
  const got = await take(sub, 5)
  assert.equal(got.map((m) => m.data), [{ value: 1 }])
  assert.is(sub.received, 2)
  assert.is(await within(2000, sub.closed, 'the subscription to end'), null)
})

test('a callback subscription is told of a refused message by its callback, with the error', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url, { validate: temperature }))
  const errors: string[] = []
  const data: unknown[] = []
  c.subscribe('sensors.>', { callback: (err, m) => { if (err !== null) errors.push(err.code); else data.push(m?.data) } })
  await within(2000, c.flush(), 'the SUB')
  c.publish('sensors.a', 'not an object')
  c.publish('sensors.a', { value: 2 })
  await until(2000, () => data.length === 1, 'the valid message')
  assert.equal(errors, ['bad_payload'])
  assert.equal(data, [{ value: 2 }])
})

test('publisher confirms and topic API answers are the broker\'s, not application data: validate never sees them', async () => {
  const b = track(await startBroker())
  const kinds: string[] = []
  const c = track(await connect(b.url, { validate: (subject, _data, kind) => { kinds.push(`${kind} ${subject}`); throw new Error('refuse everything') } }))
  await within(3000, c.topics.add({ name: 'orders', subjects: ['orders.>'] }), 'the topic')
  const ack = await within(3000, c.publishAck('orders.1', { id: 1 }), 'the confirm')
  assert.is(ack.seq, 1)
  assert.equal(kinds, [])
})

test('without validate nothing is checked and no invalid status is emitted', async () => {
  const b = track(await startBroker())
  const c = track(await connect(b.url))
  const seen = recordStatus(c)
  const sub = c.subscribe('lazy')
  await within(2000, c.flush(), 'the SUB')
  c.publish('lazy', { ok: true })
  const [m] = await take(sub, 1)
  assert.equal(m.data, { ok: true })
  assert.equal(invalidOf(seen), [])
})

test.run()
