/**
 * A file store reopened on the same directory finds everything as it was: topics (created at run time too)
 * with their configs, messages and sequences, per-subject last values, the de-duplication window, purges and
 * evictions, and each consumer group's progress.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DataDir, bytes, readAll, text } from './fixture.ts'
import type { StoredMessage } from '../../../server/store/topic-store.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

test('reopens topics with their configs, messages, sequences and times', async () => {
  const { store } = dir.open()
  store.create({ name: 'orders', subjects: ['orders.>'], maxMsgs: 1000, storage: 'file', fsync: 'never' })
  store.create({ name: 'mem', subjects: ['mem.>'] , storage: 'memory' })
  for (let i = 1; i <= 50; i++) await store.append('orders', { subject: `orders.${i % 3}`, payload: bytes(`m${i}`), headers: i === 7 ? { k: 'v' } : null, encoding: i % 2 })
  const before = store.info('orders')
  store.close()
  const { store: again } = dir.open()
  const info = again.info('orders')
  assert.equal({ ...info, consumers: [] }, { ...before, diskBytes: info.diskBytes, consumers: [] })
  assert.equal(info.config, before.config)
  assert.is(info.storage, 'file')
  assert.ok(info.diskBytes > 0)
  const { messages } = readAll(again, 'orders')
  assert.equal(messages.map(text), Array.from({ length: 50 }, (_, i) => `m${i + 1}`))
  assert.equal(messages[6].headers, { k: 'v' })
  assert.is(messages[6].encoding, 1)
  assert.is(messages[7].encoding, 0)
  // Memory topics are not kept: that is what storage 'memory' means.
  assert.not.ok(again.list().some((t) => t.name === 'mem'))
  const next = await again.append('orders', { subject: 'orders.x', payload: bytes('after') })
  assert.is(next.seq, 51)
})

test('keeps evictions and purges: nothing removed comes back after a restart', async () => {
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 't', subjects: ['t.>'], maxMsgs: 100, maxMsgsPerSubject: 2 })
  for (let i = 1; i <= 400; i++) await store.append('t', { subject: `t.${i % 60}`, payload: bytes(`p${i}`) })
  store.purge('t', { subject: 't.7' })
  await store.append('t', { subject: 't.7', payload: bytes('new7') })
  const before = readAll(store, 't').messages.map((m) => m.seq)
  const lastOf = store.lastPerSubject('t').map((m) => [m.subject, m.seq])
  store.close()
  const { store: again } = dir.open()
  assert.equal(readAll(again, 't').messages.map((m) => m.seq), before)
  assert.equal(again.lastPerSubject('t').map((m) => [m.subject, m.seq]), lastOf)
  assert.is(text(again.last('t', 't.7') ?? assert.unreachable('t.7 has a message') as never), 'new7')
  // Whole segments below the first message held were deleted.
  assert.ok(dir.segments('t').length < 10, `${dir.segments('t').length} segments`)
})

test('a purge of everything survives a restart, and sequences are not reused', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  for (let i = 1; i <= 10; i++) await store.append('t', { subject: 't.a', payload: bytes(`${i}`) })
  store.purge('t')
  store.close()
  const { store: again } = dir.open()
  const info = again.info('t')
  assert.is(info.messages, 0)
  assert.is(info.lastSeq, 10)
  assert.is((await again.append('t', { subject: 't.a', payload: bytes('x') })).seq, 11)
  assert.equal(again.read('t', { startSeq: 1 }).gap, { fromSeq: 1, toSeq: 10 })
})

test('remembers msgIds within the de-duplication window across a restart', async () => {
  let t = 1_700_000_000_000
  const now = (): number => t
  const { store } = dir.open({ now })
  store.create({ name: 't', subjects: ['t.>'], duplicateWindowMs: 60_000 })
  await store.append('t', { subject: 't.a', payload: bytes('1'), msgId: 'order-1' })
  store.close()
  const { store: again } = dir.open({ now })
  const dup = await again.append('t', { subject: 't.a', payload: bytes('1'), msgId: 'order-1' })
  assert.equal(dup, { seq: 1, time: 1_700_000_000_000, duplicate: true })
  again.close()
  t += 61_000
  const { store: later } = dir.open({ now })
  assert.is((await later.append('t', { subject: 't.a', payload: bytes('1'), msgId: 'order-1' })).duplicate, false)
})

test('a consumer group resumes where it stopped: acked never again, unacked redelivered with their counts', async () => {
  const { store } = dir.open()
  store.create({ name: 'jobs', subjects: ['jobs.>'] })
  for (let i = 1; i <= 20; i++) await store.append('jobs', { subject: 'jobs.x', payload: bytes(`${i}`) })
  store.openGroup('jobs', 'w', { maxInFlight: 5, ackWaitMs: 60_000 })
  store.join('jobs', 'w', 'm1')
  const first = store.pull('jobs', 'w').deliveries.map((d) => d.message.seq)
  assert.equal(first, [1, 2, 3, 4, 5])
  for (const seq of [1, 2, 4]) store.ack('jobs', 'w', seq, 'm1')
  store.term('jobs', 'w', 5, 'm1')
  const more = store.pull('jobs', 'w').deliveries.map((d) => d.message.seq)
  assert.equal(more, [6, 7, 8, 9])
  store.ack('jobs', 'w', 6, 'm1')
  const before = store.groupInfo('jobs', 'w')
  store.close()
  const { store: again } = dir.open()
  const info = again.groupInfo('jobs', 'w')
  assert.equal({ ...info, members: 0, inFlight: 0, redeliveries: 0 }, { ...before, members: 0, inFlight: 0, redeliveries: 0 })
  assert.is(info.ackFloor, 2)
  assert.is(info.acked, 4)
  assert.is(info.terminated, 1)
  assert.is(info.redeliveries, 4, 'messages held by the gone member wait for redelivery')
  again.join('jobs', 'w', 'm2')
  const redelivered = again.pull('jobs', 'w').deliveries.map((d) => [d.message.seq, d.deliveryCount])
  assert.equal(redelivered, [[3, 2], [7, 2], [8, 2], [9, 2], [10, 1]])
})

test('survives many restarts and journal snapshots with a busy work queue', async () => {
  let acked = 0
  let seqs = 0
  for (let round = 0; round < 4; round++) {
    const { store } = dir.open({ defaultFsync: 'never' })
    if (round === 0) {
      store.create({ name: 'jobs', subjects: ['jobs.>'] })
      store.openGroup('jobs', 'w', { maxInFlight: 1000 })
    }
    store.join('jobs', 'w', `m${round}`)
    for (let i = 0; i < 5000; i++) await store.append('jobs', { subject: 'jobs.x', payload: bytes(`${seqs++}`) })
    for (let pulls = 0; pulls < 100; pulls++) {
      const { deliveries } = store.pull('jobs', 'w')
      if (deliveries.length === 0) break
      for (const d of deliveries) if (store.ack('jobs', 'w', d.message.seq, `m${round}`)) acked++
    }
    store.close()
  }
  const { store } = dir.open()
  const info = store.groupInfo('jobs', 'w')
  assert.is(info.acked, acked)
  assert.is(info.ackFloor, 20_000)
  assert.is(info.redeliveries, 0)
  assert.ok(existsSync(join(dir.path, 'topics', 'jobs', 'state.log')))
})

test('deleting a topic removes its files, and a new topic of that name starts empty', async () => {
  const { store } = dir.open()
  store.create({ name: 't', subjects: ['t.>'] })
  await store.append('t', { subject: 't.a', payload: bytes('x') })
  store.delete('t')
  assert.not.ok(existsSync(join(dir.path, 'topics', 't')))
  store.create({ name: 't', subjects: ['t.>'] })
  store.close()
  const { store: again } = dir.open()
  assert.is(again.info('t').lastSeq, 0)
})

test('a last-value topic compacts its segments and reopens with exactly its live values, no gap and nothing lost', async () => {
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'], maxMsgsPerSubject: 1 })
  await store.append('kv', { subject: 'kv.config', payload: bytes('set once') })
  for (let i = 0; i < 3000; i++) await store.append('kv', { subject: `kv.k${i % 4}`, payload: bytes(`v${i}-${'x'.repeat(80)}`) })
  const before = store.lastPerSubject('kv').map((m) => [m.subject, m.seq, text(m)])
  assert.ok(store.info('kv').diskBytes < 64 * 1024, `${store.info('kv').diskBytes} bytes on disk`)
  store.close()
  const { store: again, log } = dir.open()
  assert.equal(again.lastPerSubject('kv').map((m) => [m.subject, m.seq, text(m)]), before)
  assert.equal(again.info('kv').lost, [])
  assert.equal(readAll(again, 'kv').gaps, [])
  assert.not.ok(log.lines.some((l) => l.level === 'error' || l.level === 'warn'), JSON.stringify(log.lines))
  // And it goes on compacting after the restart.
  for (let i = 0; i < 3000; i++) await again.append('kv', { subject: `kv.k${i % 4}`, payload: bytes(`w${i}`) })
  assert.is(again.info('kv').messages, 5)
  assert.is(text(again.last('kv', 'kv.config') as StoredMessage), 'set once')
})

test.run()
