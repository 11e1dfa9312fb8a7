/**
 * Contract: appending (sequences, times, opaque payloads, expectedLastSeq, msgId de-duplication) and reading
 * (by sequence, range, time, subject filter, last, last per subject, gaps).
 */
import * as assert from 'uvu/assert'
import { bytes, cost, failure, publish, readAll, seqsOf, topic, type Contract } from './harness.ts'
import { MESSAGE_OVERHEAD_BYTES } from '../../../server/store/message-intake.ts'

export function appendContract(c: Contract): void {
  const s = c.suite('append')

  c.clockTest(s, 'numbers messages 1, 2, 3 … and stamps them with the store clock', async () => {
    const { store, clock } = await c.open()
    await topic(store, 'a')
    const results = []
    for (let i = 0; i < 3; i++) results.push(await store.append('a', { subject: 'a.x', payload: bytes(1) }))
    assert.equal(results.map((r) => r.seq), [1, 2, 3])
    assert.equal(results.map((r) => r.duplicate), [false, false, false])
    for (const r of results) assert.is(r.time, clock.t)
    const info = await store.info('a')
    assert.is(info.lastSeq, 3)
    assert.is(info.firstTime, clock.t)
    assert.is(info.lastTime, clock.t)
  })

  s('hands back payload bytes, headers and encoding exactly as stored, and counts subject, headers, payload and the fixed overhead', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    const payload = Uint8Array.from([0, 255, 1, 128, 7])
    const headers = { k: 'vé' }
    await store.append('a', { subject: 'a.x', payload, headers, encoding: 1 })
    const m = await store.get('a', 1)
    assert.ok(m)
    assert.equal([...m.payload], [0, 255, 1, 128, 7])
    assert.equal(m.headers, { k: 'vé' })
    assert.is(m.encoding, 1)
    assert.is(m.subject, 'a.x')
    assert.is(m.size, MESSAGE_OVERHEAD_BYTES + 3 + 1 + 3 + 5, 'overhead, subject a.x, header k: vé (3 UTF-8 bytes), payload')
    assert.is((await store.info('a')).bytes, m.size)
  })

  s("keeps a copy of the caller's headers and of a payload that is a view into a larger buffer", async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    const headers: Record<string, string> = { k: 'v' }
    const frame = bytes(100, 9)
    await store.append('a', { subject: 'a.x', payload: frame.subarray(10, 14), headers })
    headers.k = 'changed'
    frame.fill(1)
    const m = await store.get('a', 1)
    assert.equal(m?.headers, { k: 'v' })
    assert.equal([...(m?.payload ?? [])], [9, 9, 9, 9])
    assert.is(m?.size, cost('a.x', 4, { k: 'v' }))
  })

  s('refuses a subject the topic does not cover, or one with wildcards, as bad_subject', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    assert.is(await failure(() => store.append('a', { subject: 'b.x', payload: bytes(1) })), 'bad_subject')
    assert.is(await failure(() => store.append('a', { subject: 'a.*', payload: bytes(1) })), 'bad_subject')
    assert.is(await failure(() => store.append('a', { subject: 'a', payload: bytes(1) })), 'bad_subject')
    assert.is((await store.info('a')).lastSeq, 0)
  })

  s('stores with expectedLastSeq equal to the last sequence and refuses any other as wrong_last_seq', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(1), expectedLastSeq: 0 })).seq, 1)
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(1), expectedLastSeq: 1 })).seq, 2)
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(1), expectedLastSeq: 1 })), 'wrong_last_seq')
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(1), expectedLastSeq: 3 })), 'wrong_last_seq')
    assert.is((await store.info('a')).messages, 2)
  })

  s('stores a repeated msgId once and answers duplicate with the original sequence', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { duplicateWindowMs: 60_000 })
    const first = await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'order-1' })
    await publish(store, 'a', 'a.y')
    const again = await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'order-1' })
    assert.equal(again, { seq: first.seq, time: first.time, duplicate: true })
    assert.is((await store.info('a')).messages, 2)
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'order-2' })).duplicate, false)
  })

  s('answers a retried publish as a duplicate even though expectedLastSeq no longer holds', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    const first = await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm', expectedLastSeq: 0 })
    const retry = await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm', expectedLastSeq: 0 })
    assert.is(retry.duplicate, true)
    assert.is(retry.seq, first.seq)
  })

  c.clockTest(s, 'stores a msgId again once the duplicate window has passed', async () => {
    const { store, clock } = await c.open()
    await topic(store, 'a', { duplicateWindowMs: 1000 })
    await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm' })
    clock.advance(999)
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm' })).duplicate, true)
    clock.advance(1)
    const later = await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm' })
    assert.is(later.duplicate, false)
    assert.is(later.seq, 2)
  })

  s('does not de-duplicate when the window is 0', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { duplicateWindowMs: 0 })
    await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm' })
    assert.is((await store.append('a', { subject: 'a.x', payload: bytes(1), msgId: 'm' })).duplicate, false)
  })

  s('refuses an empty msgId as bad_option', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    assert.is(await failure(() => store.append('a', { subject: 'a.x', payload: bytes(1), msgId: '' })), 'bad_option')
  })
}

export function readContract(c: Contract): void {
  const s = c.suite('reads')

  s('reads from a start sequence in order, page by page', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 10)
    const page = await store.read('a', { startSeq: 4, limit: 3 })
    assert.equal(seqsOf(page.messages), [4, 5, 6])
    assert.is(page.nextSeq, 7)
    assert.is(page.lastSeq, 10)
    assert.is(page.gap, null)
    assert.equal(seqsOf(await readAll(store, 'a', '>', 4, 3)), [4, 5, 6, 7, 8, 9, 10])
  })

  s('reads an inclusive sequence range', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 10)
    const r = await store.read('a', { startSeq: 3, toSeq: 5 })
    assert.equal(seqsOf(r.messages), [3, 4, 5])
    assert.is(r.nextSeq, 6)
  })

  s('is caught up, and empty, when reading past the last sequence', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 2)
    const r = await store.read('a', { startSeq: 3 })
    assert.equal(r.messages, [])
    assert.ok(r.nextSeq > r.lastSeq)
  })

  s('filters reads by a subject pattern with wildcards', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    for (const subject of ['a.eu.1', 'a.us.1', 'a.eu.2', 'a.eu', 'a.eu.2.x']) await publish(store, 'a', subject)
    const subjectsFor = async (filter: string): Promise<string[]> => (await readAll(store, 'a', filter)).map((m) => m.subject)
    assert.equal(await subjectsFor('a.eu.*'), ['a.eu.1', 'a.eu.2'])
    assert.equal(await subjectsFor('a.eu.>'), ['a.eu.1', 'a.eu.2', 'a.eu.2.x'])
    assert.equal(await subjectsFor('a.*.1'), ['a.eu.1', 'a.us.1'])
    assert.equal(await subjectsFor('a.eu.2'), ['a.eu.2'])
    assert.equal(await subjectsFor('b.>'), [])
  })

  s('pages a filtered read without skipping or repeating', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    for (let i = 0; i < 30; i++) await publish(store, 'a', i % 3 === 0 ? 'a.hit' : 'a.miss')
    assert.equal(seqsOf(await readAll(store, 'a', 'a.hit', 0, 2)), [1, 4, 7, 10, 13, 16, 19, 22, 25, 28])
    assert.equal(seqsOf(await readAll(store, 'a', 'a.*', 0, 4)).length, 30)
  })

  c.clockTest(s, 'reads from a start time: the first message stored at or after it', async () => {
    const { store, clock } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 2)
    clock.advance(100)
    const t = clock.t
    await publish(store, 'a', 'a.x', 2)
    assert.equal(seqsOf((await store.read('a', { startTime: t })).messages), [3, 4])
    assert.equal(seqsOf((await store.read('a', { startTime: t - 50 })).messages), [3, 4])
    assert.equal(seqsOf((await store.read('a', { startTime: 0 })).messages), [1, 2, 3, 4])
    assert.equal((await store.read('a', { startTime: t + 1 })).messages, [])
  })

  s('gets one message by sequence, or null when it is not held', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgs: 2 })
    await publish(store, 'a', 'a.x', 3)
    assert.is((await store.get('a', 3))?.seq, 3)
    assert.is(await store.get('a', 1), null)
    assert.is(await store.get('a', 4), null)
  })

  s('answers the last message, overall and for a filter', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    assert.is(await store.last('a'), null)
    for (const subject of ['a.eu.1', 'a.us.1', 'a.eu.2', 'a.us.2']) await publish(store, 'a', subject)
    assert.is((await store.last('a'))?.seq, 4)
    assert.is((await store.last('a', 'a.eu.*'))?.subject, 'a.eu.2')
    assert.is((await store.last('a', 'a.us.1'))?.seq, 2)
    assert.is(await store.last('a', 'a.asia.*'), null)
  })

  s('answers the last message of each subject matching a filter, in sequence order', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    for (const subject of ['a.s.1', 'a.s.2', 'a.s.1', 'a.t.1', 'a.s.3', 'a.s.2']) await publish(store, 'a', subject)
    const last = await store.lastPerSubject('a', 'a.s.*')
    assert.equal(last.map((m) => [m.subject, m.seq]), [['a.s.1', 3], ['a.s.3', 5], ['a.s.2', 6]])
    assert.is((await store.lastPerSubject('a')).length, 4)
  })

  s('reports the lost range and the first sequence held when a read starts at an evicted sequence', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgs: 3 })
    await publish(store, 'a', 'a.x', 10)
    const r = await store.read('a', { startSeq: 5 })
    assert.equal(r.gap, { fromSeq: 5, toSeq: 7 })
    assert.is(r.firstSeq, 8)
    assert.equal(seqsOf(r.messages), [8, 9, 10])
    assert.is((await store.read('a', { startSeq: 8 })).gap, null)
  })

  s('reports a purge as a gap to a reader that had not seen the purged messages', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 4)
    await store.purge('a')
    assert.equal((await store.read('a', { startSeq: 2 })).gap, { fromSeq: 2, toSeq: 4 })
    assert.is((await store.read('a', { startSeq: 5 })).gap, null)
  })

  s('does not report messages superseded under maxMsgsPerSubject as a gap', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgsPerSubject: 1 })
    await publish(store, 'a', 'a.x', 5)
    const r = await store.read('a', { startSeq: 1 })
    assert.is(r.gap, null)
    assert.equal(seqsOf(r.messages), [5])
  })

  s('refuses an invalid filter as bad_subject and a bad limit or start as bad_option', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    assert.is(await failure(() => store.read('a', { startSeq: 1, filter: 'a..b' })), 'bad_subject')
    assert.is(await failure(() => store.last('a', '>.a')), 'bad_subject')
    assert.is(await failure(() => store.read('a', { startSeq: 1, limit: 0 })), 'bad_option')
    assert.is(await failure(() => store.read('a', { startSeq: -1 })), 'bad_option')
    assert.is(await failure(() => store.read('a', { startSeq: 1, toSeq: Number.NaN })), 'bad_option')
  })
}
