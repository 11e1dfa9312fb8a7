/**
 * The in-memory topic store (server/store/memory/memory-store.ts): the shared TopicStore contract, plus what only
 * the memory store promises (bounded memory and cost under long runs, its compaction of holes).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryTopicStore } from '../../server/store/memory/memory-store.ts'
import { runTopicStoreContract } from './topic-store.contract.ts'
import { sizeOf } from '../../server/store/message-intake.ts'
import { collectGarbage } from '../hostile/memory.ts'

runTopicStoreContract('memory', (env) => new MemoryTopicStore({ now: env.now }))

const memory = suite('memory store')
const payload = new Uint8Array(8)

memory('stays bounded through 100,000 appends under maxMsgs 1000', () => {
  const store = new MemoryTopicStore()
  store.create({ name: 'a', subjects: ['a.>'], maxMsgs: 1000 })
  for (let i = 0; i < 100_000; i++) store.append('a', { subject: `a.${i % 50}`, payload })
  const info = store.info('a')
  assert.is(info.messages, 1000)
  assert.is(info.firstSeq, 99_001)
  let held = 0
  for (let i = 99_000; i < 100_000; i++) held += sizeOf(payload, null, `a.${i % 50}`)
  assert.is(info.bytes, held)
  assert.is(store.get('a', 99_001)?.seq, 99_001)
  assert.is(store.read('a', { startSeq: 99_500, limit: 1 }).messages[0].seq, 99_500)
})

memory('holds about maxBytes of heap: 150,000 empty messages into a 1 MiB topic keep under 3 MiB', () => {
  const store = new MemoryTopicStore()
  store.create({ name: 'a', subjects: ['a.>'], maxBytes: 1024 * 1024 })
  const frame = new Uint8Array(1024)
  collectGarbage()
  const before = process.memoryUsage().heapUsed
  // Views into a frame, as the broker hands them over; distinct subjects, as a decoded frame gives.
  for (let i = 0; i < 150_000; i++) store.append('a', { subject: `a.s${i % 1000}`, payload: frame.subarray(10, 10) })
  collectGarbage()
  const grew = process.memoryUsage().heapUsed - before
  const info = store.info('a')
  assert.ok(info.bytes <= 1024 * 1024, `${info.bytes} bytes counted`)
  assert.ok(info.messages < 4000, `${info.messages} messages held`)
  assert.ok(grew < 3 * 1024 * 1024, `heap grew by ${(grew / 1024 / 1024).toFixed(1)} MiB for ${info.messages} messages`)
})

memory('compacts the holes left by maxMsgsPerSubject and still finds every message by sequence and time', () => {
  let now = 1_000
  const store = new MemoryTopicStore({ now: () => now })
  store.create({ name: 'a', subjects: ['a.>'], maxMsgsPerSubject: 1 })
  // One rare subject pins the front while a hot subject replaces itself: holes pile up between them.
  store.append('a', { subject: 'a.rare', payload })
  for (let i = 0; i < 50_000; i++) {
    now++
    store.append('a', { subject: 'a.hot', payload })
  }
  store.append('a', { subject: 'a.rare2', payload })
  const info = store.info('a')
  assert.is(info.messages, 3)
  assert.equal(store.read('a', { startSeq: 0 }).messages.map((m) => m.subject), ['a.rare', 'a.hot', 'a.rare2'])
  assert.is(store.get('a', 50_001)?.subject, 'a.hot')
  assert.is(store.get('a', 25_000), null)
  assert.equal(store.read('a', { startTime: 2_000 }).messages.map((m) => m.seq), [50_001, 50_002])
})

memory('forgets the oldest msgIds past maxDuplicateIds, whatever the window', () => {
  const store = new MemoryTopicStore({ maxDuplicateIds: 3 })
  store.create({ name: 'a', subjects: ['a.>'], duplicateWindowMs: 3_600_000 })
  for (const msgId of ['m1', 'm2', 'm3', 'm4']) store.append('a', { subject: 'a.x', payload, msgId })
  assert.is(store.append('a', { subject: 'a.x', payload, msgId: 'm4' }).duplicate, true)
  assert.is(store.append('a', { subject: 'a.x', payload, msgId: 'm1' }).duplicate, false)
})

memory('answers synchronously, so the broker can hand over from replay to live in one tick', () => {
  const store = new MemoryTopicStore()
  const info = store.create({ name: 'a', subjects: ['a.>'] })
  assert.not.ok(info instanceof Promise)
  assert.not.ok(store.append('a', { subject: 'a.x', payload }) instanceof Promise)
})

memory('keeps a work queue bounded: 20,000 messages through a group with repeated working() calls', () => {
  let now = 0
  const store = new MemoryTopicStore({ now: () => now })
  store.create({ name: 'j', subjects: ['j.>'], maxMsgs: 100 })
  store.openGroup('j', 'g', { maxInFlight: 10, ackWaitMs: 1000 })
  store.join('j', 'g', 'w')
  let acked = 0
  for (let i = 0; i < 20_000; i++) {
    store.append('j', { subject: 'j.x', payload })
    for (const d of store.pull('j', 'g').deliveries) {
      for (let k = 0; k < 5; k++) store.working('j', 'g', d.message.seq, 'w')
      if (store.ack('j', 'g', d.message.seq)) acked++
    }
    now++
  }
  assert.is(acked, 20_000)
  const g = store.groupInfo('j', 'g')
  assert.is(g.ackFloor, 20_000)
  assert.is(store.nextDeadline('j', 'g'), null)
})

memory.run()
