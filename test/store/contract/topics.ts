/**
 * Contract: creating, validating, listing, updating and deleting topics.
 */
import * as assert from 'uvu/assert'
import type { TopicConfig } from '../../../server/store/topic-store.ts'
import { failure, publish, topic, type Contract } from './harness.ts'

interface OverlapRow {
  a: string[]
  b: string[]
  overlap: boolean
}

const OVERLAPS: OverlapRow[] = [
  { a: ['orders.>'], b: ['orders.eu.*'], overlap: true },
  { a: ['orders.*'], b: ['*.eu'], overlap: true },
  { a: ['orders.eu'], b: ['orders.eu'], overlap: true },
  { a: ['>'], b: ['anything'], overlap: true },
  { a: ['a.>'], b: ['x.y', 'a.b.c'], overlap: true },
  { a: ['orders.>'], b: ['order.>'], overlap: false },
  { a: ['a.*'], b: ['a.*.b'], overlap: false },
  { a: ['a.>'], b: ['a'], overlap: false },
  { a: ['a.b'], b: ['a.c', 'b.>'], overlap: false },
]

const BAD_CONFIGS: Array<{ config: unknown; rule: string }> = [
  { config: { name: '', subjects: ['a'] }, rule: 'an empty name' },
  { config: { name: 'a.b', subjects: ['a'] }, rule: 'a name of two tokens' },
  { config: { name: 'a*', subjects: ['a'] }, rule: 'a name with a wildcard character' },
  { config: { name: 'a b', subjects: ['a'] }, rule: 'a name with a space' },
  { config: { name: 'a', subjects: [] }, rule: 'no subjects' },
  { config: { name: 'a' }, rule: 'subjects missing' },
  { config: { name: 'a', subjects: ['a..b'] }, rule: 'an invalid subject pattern' },
  { config: { name: 'a', subjects: ['a.>.b'] }, rule: "'>' not last" },
  { config: { name: 'a', subjects: ['a'], maxMsgs: 0 }, rule: 'maxMsgs of 0' },
  { config: { name: 'a', subjects: ['a'], maxMsgs: -1 }, rule: 'a negative maxMsgs' },
  { config: { name: 'a', subjects: ['a'], maxBytes: 1.5 }, rule: 'a fractional maxBytes' },
  { config: { name: 'a', subjects: ['a'], maxAgeMs: Number.NaN }, rule: 'a NaN maxAgeMs' },
  { config: { name: 'a', subjects: ['a'], maxMsgsPerSubject: '3' }, rule: 'a string maxMsgsPerSubject' },
  { config: { name: 'a', subjects: ['a'], discard: 'oldest' }, rule: 'an unknown discard policy' },
  { config: { name: 'a', subjects: ['a'], duplicateWindowMs: -5 }, rule: 'a negative duplicate window' },
  { config: { name: 'a', subjects: ['a'], maxAgeMs: 2 ** 53 }, rule: 'a maxAgeMs past the safe integers' },
  { config: { name: 'a', subjects: ['a'], duplicateWindowMs: 2 ** 53 }, rule: 'a duplicate window past the safe integers' },
]

export function topicsContract(c: Contract): void {
  const s = c.suite('topics')

  s('creates a topic that starts empty at sequence 1', async () => {
    const { store } = await c.open()
    const info = await store.create({ name: 'orders', subjects: ['orders.>'], maxMsgs: 10 })
    assert.is(info.name, 'orders')
    assert.is(info.messages, 0)
    assert.is(info.bytes, 0)
    assert.is(info.firstSeq, 1)
    assert.is(info.lastSeq, 0)
    assert.is(info.firstTime, null)
    assert.is(info.lastTime, null)
    assert.equal(info.consumers, [])
    assert.equal(info.config.subjects, ['orders.>'])
    assert.is(info.config.maxMsgs, 10)
  })

  s("fills in discard 'old' and a duplicate window, and leaves absent limits absent", async () => {
    const { store } = await c.open()
    const { config } = await store.create({ name: 'a', subjects: ['a.>'] })
    assert.is(config.discard, 'old')
    assert.ok(config.duplicateWindowMs > 0)
    assert.is(config.maxMsgs, undefined)
    assert.is(config.maxBytes, undefined)
  })

  s("keeps its own copy of the config: changing the caller's object later changes nothing", async () => {
    const { store } = await c.open()
    const config = { name: 'a', subjects: ['a.>'], maxMsgs: 5 }
    await store.create(config)
    config.maxMsgs = 1
    config.subjects.push('b.>')
    const info = await store.info('a')
    assert.is(info.config.maxMsgs, 5)
    assert.equal(info.config.subjects, ['a.>'])
  })

  s('refuses a second topic of the same name as topic_exists', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    assert.is(await failure(() => store.create({ name: 'a', subjects: ['b.>'] })), 'topic_exists')
  })

  for (const row of OVERLAPS) {
    const verdict = row.overlap ? 'refuses' : 'accepts'
    s(`${verdict} a topic on ${row.b.join(', ')} next to one on ${row.a.join(', ')}`, async () => {
      const { store } = await c.open()
      await store.create({ name: 'first', subjects: row.a })
      const code = await failure(() => store.create({ name: 'second', subjects: row.b }))
      assert.is(code, row.overlap ? 'topic_overlap' : 'no error')
    })
  }

  s('accepts a maxAgeMs and a duplicate window of 2^53-1 ms: they arm no timer, and hold nothing longer than asked', async () => {
    const { store } = await c.open()
    await store.create({ name: 'a', subjects: ['a.>'], maxAgeMs: Number.MAX_SAFE_INTEGER, duplicateWindowMs: Number.MAX_SAFE_INTEGER })
    await store.append('a', { subject: 'a.x', payload: new Uint8Array(1), msgId: 'm' })
    await store.sweep()
    assert.is((await store.info('a')).messages, 1)
    assert.is((await store.append('a', { subject: 'a.x', payload: new Uint8Array(1), msgId: 'm' })).duplicate, true)
  })

  for (const row of BAD_CONFIGS) {
    s(`refuses ${row.rule} as bad_topic_config`, async () => {
      const { store } = await c.open()
      assert.is(await failure(() => store.create(row.config as TopicConfig)), 'bad_topic_config')
      assert.equal(await store.list(), [])
    })
  }

  s('lists every topic and finds the topic covering a subject', async () => {
    const { store } = await c.open()
    await store.create({ name: 'orders', subjects: ['orders.>'] })
    await store.create({ name: 'sensors', subjects: ['sensors.*.temp', 'sensors.*.hum'] })
    assert.equal((await store.list()).map((t) => t.name).sort(), ['orders', 'sensors'])
    assert.is(await store.topicFor('orders.eu.1'), 'orders')
    assert.is(await store.topicFor('sensors.k1.hum'), 'sensors')
    assert.is(await store.topicFor('sensors.k1.wind'), null)
    assert.is(await store.topicFor('orders'), null)
  })

  s('deletes a topic with its messages; then it is no_topic', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 3)
    await store.delete('a')
    assert.is(await failure(() => store.info('a')), 'no_topic')
    assert.is(await store.topicFor('a.x'), null)
    await topic(store, 'a')
    assert.is((await store.info('a')).messages, 0)
  })

  s('answers no_topic for every operation on an unknown topic', async () => {
    const { store } = await c.open()
    const calls: Array<() => unknown> = [
      () => store.info('nope'),
      () => store.update('nope', { name: 'nope', subjects: ['nope'] }),
      () => store.delete('nope'),
      () => store.purge('nope'),
      () => store.append('nope', { subject: 'nope', payload: new Uint8Array(0) }),
      () => store.read('nope', { startSeq: 1 }),
      () => store.get('nope', 1),
      () => store.last('nope'),
      () => store.lastPerSubject('nope'),
      () => store.openGroup('nope', 'g'),
    ]
    for (const call of calls) assert.is(await failure(call), 'no_topic')
  })

  s('update shrinks limits in place and evicts the oldest at once', async () => {
    const { store } = await c.open()
    await topic(store, 'a')
    await publish(store, 'a', 'a.x', 10)
    const info = await store.update('a', { name: 'a', subjects: ['a.>'], maxMsgs: 4 })
    assert.is(info.messages, 4)
    assert.is(info.firstSeq, 7)
    assert.is(info.lastSeq, 10)
    assert.is(info.config.maxMsgs, 4)
  })

  s('update keeps sequences going and may widen its own subjects', async () => {
    const { store } = await c.open()
    await store.create({ name: 'a', subjects: ['a.x'] })
    await publish(store, 'a', 'a.x', 2)
    await store.update('a', { name: 'a', subjects: ['a.>'] })
    assert.is((await store.append('a', { subject: 'a.y', payload: new Uint8Array(1) })).seq, 3)
  })

  s('update refuses a rename, an overlap and a bad limit, and changes nothing then', async () => {
    const { store } = await c.open()
    await topic(store, 'a', { maxMsgs: 5 })
    await topic(store, 'b')
    assert.is(await failure(() => store.update('a', { name: 'c', subjects: ['a.>'] })), 'bad_topic_config')
    assert.is(await failure(() => store.update('a', { name: 'a', subjects: ['b.x'] })), 'topic_overlap')
    assert.is(await failure(() => store.update('a', { name: 'a', subjects: ['a.>'], maxMsgs: 0 })), 'bad_topic_config')
    const info = await store.info('a')
    assert.equal(info.config.subjects, ['a.>'])
    assert.is(info.config.maxMsgs, 5)
  })
}
