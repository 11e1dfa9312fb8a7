/**
 * Contract: retention limits (count, bytes, age, per subject), the discard policy, and purge.
 */
import * as assert from 'uvu/assert'
import { MESSAGE_OVERHEAD_BYTES } from '../../../server/store/message-intake.ts'
import { bytes, cost, failure, publish, readAll, seqsOf, topic, type Contract } from './harness.ts'

interface BytesRow {
  /** Payload bytes of each message (on subject `a.x`). */
  size: number
  /** Messages that fit: maxBytes is set one byte short of room for one more. */
  held: number
}

const BYTES: BytesRow[] = [
  { size: 100, held: 10 },
  { size: 300, held: 3 },
  { size: 1000, held: 1 },
  { size: 0, held: 1 },
  { size: 0, held: 3000 },
  { size: 7, held: 585 },
]

export function limitsContract(c: Contract): void {
  const s = c.suite('limits')

  s('keeps the newest maxMsgs messages', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgs: 5 })
    await publish(store, 'a', 'a.x', 12)
    const info = await store.info('a')
    assert.is(info.messages, 5)
    assert.is(info.firstSeq, 8)
    assert.is(info.lastSeq, 12)
    assert.equal(seqsOf(await readAll(store, 'a')), [8, 9, 10, 11, 12])
  })

  for (const row of BYTES) {
    const each = cost('a.x', row.size)
    const maxBytes = (row.held + 1) * each - 1
    s(`holds ${row.held} ${row.size}-byte messages under maxBytes ${maxBytes} (${each} bytes each, overhead included) after twice that`, async () => {
      const { store } = await c.open()
      await topic(store, 'a', { maxBytes })
      const count = 2 * (row.held + 1)
      await publish(store, 'a', 'a.x', count, row.size)
      const info = await store.info('a')
      assert.ok(info.bytes <= maxBytes, `${info.bytes} bytes held`)
      assert.is(info.messages, row.held)
      assert.is(info.bytes, row.held * each)
      assert.is(info.lastSeq, count)
    })
  }

  s('counts subject bytes against maxBytes: a longer subject leaves room for fewer messages', async () => {
    const { store } = await c.open()
    const long = `a.${'s'.repeat(200)}`
    await topic(store, 'a', { maxBytes: 4 * cost('a.x', 0) })
    await publish(store, 'a', long, 4, 0)
    const info = await store.info('a')
    assert.is(info.messages, 2, `${cost(long, 0)} bytes each, where four on a.x fit`)
    assert.is(info.bytes, 2 * cost(long, 0))
  })

  s('refuses a message larger than maxBytes as max_payload, whatever the discard policy', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxBytes: cost('a.x', 10) })
    await publish(store, 'a', 'a.x', 1, 5)
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(11) })), 'max_payload')
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(6), headers: { k: 'vvvvv' } })), 'max_payload')
    assert.is(await failure(() => store.append('a', { subject: 'a.xy', payload: bytes(10) })), 'max_payload', 'the subject counts')
    assert.is((await store.info('a')).messages, 1)
  })

  s('refuses even an empty message as max_payload under a maxBytes below the fixed per-message overhead', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxBytes: MESSAGE_OVERHEAD_BYTES })
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(0) })), 'max_payload')
    assert.is((await store.info('a')).messages, 0)
  })

  c.clockTest(s, 'evicts messages older than maxAgeMs by the store clock', async () => {
    const { store, clock } = await c.open()
    await topic(store, 'a', { maxAgeMs: 1000 })
    await publish(store, 'a', 'a.x', 2)
    clock.advance(600)
    await publish(store, 'a', 'a.x', 2)
    clock.advance(400)
    assert.is((await store.info('a')).messages, 4, 'a message exactly maxAgeMs old is still held')
    clock.advance(1)
    const info = await store.info('a')
    assert.is(info.messages, 2)
    assert.is(info.firstSeq, 3)
    assert.equal(seqsOf(await readAll(store, 'a')), [3, 4])
    clock.advance(600)
    assert.is(await store.last('a'), null)
    assert.is((await store.info('a')).firstSeq, 5)
  })

  c.clockTest(s, 'sweep applies age limits to every topic', async () => {
    const { store, clock } = await c.open()
    await topic(store, 'a', { maxAgeMs: 10 })
    await topic(store, 'b', { maxAgeMs: 10 })
    await publish(store, 'a', 'a.x')
    await publish(store, 'b', 'b.x')
    clock.advance(11)
    await store.sweep()
    for (const info of await store.list()) assert.is(info.messages, 0, info.name)
  })

  s('keeps only the last maxMsgsPerSubject messages of each subject', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgsPerSubject: 2 })
    for (const subject of ['a.1', 'a.2', 'a.1', 'a.1', 'a.3', 'a.2', 'a.2', 'a.1']) await publish(store, 'a', subject)
    const held = (await readAll(store, 'a')).map((m) => `${m.subject}#${m.seq}`)
    assert.equal(held, ['a.1#4', 'a.3#5', 'a.2#6', 'a.2#7', 'a.1#8'])
    assert.is((await store.info('a')).messages, 5)
  })

  s("refuses an append that would break maxMsgs as topic_full under discard 'new', keeping what is held", async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgs: 3, discard: 'new' })
    await publish(store, 'a', 'a.x', 3)
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(1) })), 'topic_full')
    const info = await store.info('a')
    assert.is(info.messages, 3)
    assert.is(info.lastSeq, 3)
    assert.equal(seqsOf(await readAll(store, 'a')), [1, 2, 3])
  })

  s("refuses an append that would break maxBytes as topic_full under discard 'new'", async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxBytes: cost('a.x', 8) + cost('a.x', 2), discard: 'new' })
    await publish(store, 'a', 'a.x', 1, 8)
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(3) })), 'topic_full')
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(2) })).seq, 2)
  })

  s("still accepts a message that replaces its subject's oldest under discard 'new' and a full topic", async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgs: 2, maxMsgsPerSubject: 1, discard: 'new' })
    await publish(store, 'a', 'a.1')
    await publish(store, 'a', 'a.2')
    assert.is((await store.append('a', { subject: 'a.1', payload: bytes(1) })).seq, 3)
    assert.is(await failure(() => store.append('a', { subject: 'a.3', payload: bytes(1) })), 'topic_full')
    assert.equal((await readAll(store, 'a')).map((m) => m.subject), ['a.2', 'a.1'])
  })

  s('purges every message; sequences go on from where they were', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 5, 10)
    assert.is(await store.purge('a'), 5)
    const info = await store.info('a')
    assert.is(info.messages, 0)
    assert.is(info.bytes, 0)
    assert.is(info.firstSeq, 6)
    assert.is(info.lastSeq, 5)
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(1) })).seq, 6)
  })

  s('purges only the subjects matching a pattern', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    for (const subject of ['a.eu.1', 'a.us.1', 'a.eu.2', 'a.us.2']) await publish(store, 'a', subject, 1, 3)
    assert.is(await store.purge('a', { subject: 'a.eu.*' }), 2)
    assert.equal((await readAll(store, 'a')).map((m) => m.subject), ['a.us.1', 'a.us.2'])
    assert.is((await store.info('a')).bytes, 2 * cost('a.us.1', 3))
    assert.is(await store.last('a', 'a.eu.>'), null)
    assert.is(await failure(() => store.purge('a', { subject: 'a..' })), 'bad_subject')
  })
}
