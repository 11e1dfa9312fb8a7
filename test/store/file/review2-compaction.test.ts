/**
 * Second review of the file store (issue 13): compaction (a mostly dead sealed segment rewritten or deleted)
 * against what still holds a message it moved or dropped (a dead letter taken before it), against a full disk
 * in the middle of the copy, and against a power cut between the rename and the next sync.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { statSync } from 'node:fs'
import type { EngineTopicStore } from '../../../server/store/engine/engine-store.ts'
import { openTopicStore } from '../../../server/store/file/file-store.ts'
import type { AppendInput, AppendResult } from '../../../server/store/topic-store.ts'
import { SubwireError } from '../../../shared/errors.ts'
import { within } from '../../helpers.ts'
import { FaultyIo } from './faulty-io.ts'
import { DataDir, bytes, readAll, text } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

function put(store: EngineTopicStore, topic: string, input: AppendInput): Promise<AppendResult> {
  return within(5000, Promise.resolve(store.append(topic, input)), 'an append')
}

function codeOf(fn: () => unknown): string {
  try { fn(); return 'no error' } catch (err) { return err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}` }
}

test('a dead letter taken before its message was superseded and its segment compacted away still reads its body', async () => {
  // A body cache of one byte: every body is read back from its segment.
  const { store } = openTopicStore({ dataDir: dir.path, defaultStorage: 'file', defaultFsync: 'never', segmentBytes: 4096, cacheBytes: 1 })
  store.create({ name: 'kv', subjects: ['kv.>'], maxMsgsPerSubject: 1 })
  await put(store, 'kv', { subject: 'kv.job', payload: bytes('the job that fails') })
  store.openGroup('kv', 'w', { maxDeliver: 1, ackWaitMs: 60_000 })
  store.join('kv', 'w', 'm')
  const [d] = store.pull('kv', 'w').deliveries
  assert.is(d.message.seq, 1)
  // Its last attempt fails: the group takes the message as a dead letter, handed out at the next pull.
  assert.ok(store.nak('kv', 'w', 1, 'm', 0))
  // Meanwhile the subject is overwritten many times: seq 1 is superseded, its segment dead and compacted.
  const value = bytes('v'.repeat(100))
  for (let i = 0; i < 200; i++) await put(store, 'kv', { subject: 'kv.job', payload: value })
  assert.ok(!dir.segments('kv').some((p) => p.endsWith('00000000000000000001.seg')), 'the first segment was not compacted away: the test does not reach its case')
  const { deadLetters } = store.pull('kv', 'w')
  assert.is(deadLetters.length, 1)
  const dl = deadLetters[0].message
  assert.is(codeOf(() => dl.headers), 'no error')
  assert.is(codeOf(() => dl.payload), 'no error')
  assert.is(text(dl), 'the job that fails')
})

test('a dead letter taken before its message was evicted by maxMsgs still reads its body', async () => {
  const { store } = openTopicStore({ dataDir: dir.path, defaultStorage: 'file', defaultFsync: 'never', segmentBytes: 4096, cacheBytes: 1 })
  store.create({ name: 'q', subjects: ['q.>'], maxMsgs: 20 })
  await put(store, 'q', { subject: 'q.job', payload: bytes('the job that fails') })
  store.openGroup('q', 'w', { maxDeliver: 1, ackWaitMs: 60_000 })
  store.join('q', 'w', 'm')
  assert.is(store.pull('q', 'w').deliveries[0].message.seq, 1)
  store.leave('q', 'w', 'm')
  const value = bytes('v'.repeat(100))
  for (let i = 0; i < 200; i++) await put(store, 'q', { subject: 'q.other', payload: value })
  store.join('q', 'w', 'm2')
  const { deadLetters } = store.pull('q', 'w')
  assert.is(deadLetters.length, 1)
  const dl = deadLetters[0].message
  assert.is(codeOf(() => dl.payload), 'no error')
  assert.is(text(dl), 'the job that fails')
})

/** Fails writes to a compaction's copy (`*.compact`) with ENOSPC while `full` is set; everything else works. */
class CompactionFullIo extends FaultyIo {
  readonly #paths = new Map<number, string>()
  full = false
  override open(path: string, create: boolean): number {
    const fd = super.open(path, create)
    this.#paths.set(fd, path)
    return fd
  }
  override write(fd: number, data: Uint8Array, position: number): void {
    if (this.full && this.#paths.get(fd)?.endsWith('.compact') === true) {
      const err: NodeJS.ErrnoException = new Error('ENOSPC: injected on the compaction copy')
      err.code = 'ENOSPC'
      throw err
    }
    super.write(fd, data, position)
  }
}

test('a compaction refused by a full disk is tried again once space returns', async () => {
  const io = new CompactionFullIo()
  const { store } = dir.open({ io, defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'], maxMsgsPerSubject: 1 })
  await put(store, 'kv', { subject: 'kv.config', payload: bytes('set once, kept for ever') })
  const value = bytes('v'.repeat(100))
  io.full = true
  for (let i = 0; i < 200; i++) await put(store, 'kv', { subject: `kv.k${i % 4}`, payload: value })
  io.full = false
  // Space is back; the topic keeps working (and flushing) for a while.
  for (let i = 0; i < 400; i++) await put(store, 'kv', { subject: `kv.k${i % 4}`, payload: value })
  const first = dir.segments('kv')[0]
  assert.ok(first.endsWith('00000000000000000001.seg'), first)
  // It holds one live record (kv.config) of ~28: compacted, it is its header and that record.
  const size = statSync(first).size
  assert.ok(size < 1024, `the first segment still takes ${size} bytes for one live record: its compaction was never tried again`)
})

test('a purge whose journal entry a power cut took is undone whole: compaction made none of it durable before it', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io, defaultFsync: 'always', segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'] })
  await put(store, 'kv', { subject: 'kv.pin', payload: bytes('kept') })
  const value = bytes('v'.repeat(100))
  // ~4 segments of confirmed messages.
  for (let i = 0; i < 100; i++) await put(store, 'kv', { subject: `kv.a.${i}`, payload: value })
  assert.equal(readAll(store, 'kv').messages.length, 101)
  // The disk stalls; a purge of kv.a.> returns, its journal entry written and waiting for the sync. The
  // segments it emptied are compacted at once: the first rewritten down to kv.pin, the others deleted.
  io.holdSyncs = true
  assert.is(store.purge('kv', { subject: 'kv.a.>' }), 100)
  await within(2000, new Promise((resolve) => setTimeout(resolve, 20)), 'the flush')
  const firstSize = statSync(dir.segments('kv')[0]).size
  assert.ok(firstSize < 1024, `the first segment was not compacted (${firstSize} bytes): the test does not reach its case`)
  io.powerLoss()
  const again = dir.open({ segmentBytes: 4096 })
  const after = readAll(again.store, 'kv')
  const purged = after.messages.filter((m) => m.subject.startsWith('kv.a.')).length
  // The purge is either durable (all 100 gone) or undone (all 100 back), never half of each.
  assert.ok(purged === 0 || purged === 100, `${purged} of the 100 purged messages came back after the power cut, gaps ${JSON.stringify(after.gaps)}`)
  assert.equal(again.store.info('kv').lost, [])
})

test.run()
