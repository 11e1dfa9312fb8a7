/**
 * Second review of the file store (issue 13): config changes (their journal marks, replayed at their position)
 * and fsync policy changes, against a full disk and against the descriptors a policy change inherits.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { EngineTopicStore } from '../../../server/store/engine/engine-store.ts'
import type { AppendInput, AppendResult } from '../../../server/store/topic-store.ts'
import { SubwireError } from '../../../shared/errors.ts'
import { within } from '../../helpers.ts'
import { FaultyIo } from './faulty-io.ts'
import { DataDir, bytes, readAll } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

function put(store: EngineTopicStore, topic: string, input: AppendInput): Promise<AppendResult> {
  return within(5000, Promise.resolve(store.append(topic, input)), 'an append')
}

async function codeOf(fn: () => unknown): Promise<string> {
  try { await within(5000, Promise.resolve(fn()), 'the call'); return 'no error' } catch (err) { return err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}` }
}

test('an update refused with storage_full is not applied after a restart (its journal mark does not evict what it would have)', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io, defaultFsync: 'always' })
  store.create({ name: 't', subjects: ['t.>'] })
  for (let i = 0; i < 50; i++) await put(store, 't', { subject: 't.a', payload: bytes(`m${i}`) })
  io.failWrites = 'ENOSPC'
  assert.is(await codeOf(() => store.update('t', { name: 't', subjects: ['t.>'], maxMsgs: 5 })), 'storage_full')
  assert.is(store.info('t').config.maxMsgs, undefined)
  io.failWrites = null
  // Space is back: the topic goes on, and every message stays confirmed and readable.
  await put(store, 't', { subject: 't.a', payload: bytes('after') })
  assert.is(store.info('t').messages, 51)
  store.close()
  const again = dir.open()
  assert.is(again.store.info('t').config.maxMsgs, undefined)
  assert.is(readAll(again.store, 't').messages.length, 51, 'confirmed messages evicted at the restart by a limit the update that set it was refused')
})

test('a topic switched from fsync never to always confirms its next publishes (no stale descriptor is synced)', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io, defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 't', subjects: ['t.>'], fsync: 'never' })
  const value = bytes('v'.repeat(100))
  // ~15 segments: past the 8 sealed descriptors the pool keeps, so some written ones are closed.
  for (let i = 0; i < 400; i++) await put(store, 't', { subject: 't.a', payload: value })
  store.update('t', { name: 't', subjects: ['t.>'], fsync: 'always' })
  const codes: string[] = []
  for (let i = 0; i < 5; i++) codes.push(await codeOf(() => store.append('t', { subject: 't.a', payload: value })))
  assert.equal(codes, ['no error', 'no error', 'no error', 'no error', 'no error'])
})

test('a topic switched from fsync never to an interval keeps working (no stale descriptor is synced)', async () => {
  const io = new FaultyIo()
  const { store, log } = dir.open({ io, defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 't', subjects: ['t.>'], fsync: 'never' })
  const value = bytes('v'.repeat(100))
  for (let i = 0; i < 400; i++) await put(store, 't', { subject: 't.a', payload: value })
  store.update('t', { name: 't', subjects: ['t.>'], fsync: 20 })
  await within(2000, new Promise((resolve) => setTimeout(resolve, 100)), 'a few periodic syncs')
  assert.is(await codeOf(() => store.append('t', { subject: 't.a', payload: value })), 'no error')
  assert.equal(log.lines.filter((l) => l.level === 'error').map((l) => l.msg), [])
})

test.run()
