/**
 * Second review of the file store (issue 13) for bounds: segments whose every message died while they were
 * still active, and purge marks kept for ever while an old message pins the eviction floor. Both are what a
 * key-value use of a topic does all day (write a key, delete it) with one key that is never touched.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { EngineTopicStore } from '../../../server/store/engine/engine-store.ts'
import type { AppendInput, AppendResult } from '../../../server/store/topic-store.ts'
import { within } from '../../helpers.ts'
import { DataDir, bytes } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

function put(store: EngineTopicStore, topic: string, input: AppendInput): Promise<AppendResult> {
  return within(5000, Promise.resolve(store.append(topic, input)), 'an append')
}

const tick = (): Promise<unknown> => within(1000, new Promise((resolve) => setTimeout(resolve, 1)), 'a tick')

test('segments whose messages were all purged while they were active are deleted once sealed, though an older message pins the front', async () => {
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'] })
  await put(store, 'kv', { subject: 'kv.pin', payload: bytes('kept for ever') })
  const value = bytes('v'.repeat(100))
  // Write a key, delete it: ~130 bytes a round, ~30 rounds a segment.
  for (let i = 0; i < 3000; i++) {
    await put(store, 'kv', { subject: `kv.k.${i}`, payload: value })
    store.purge('kv', { subject: `kv.k.${i}` })
  }
  await tick()
  assert.is(store.info('kv').messages, 1)
  const segments = dir.segments('kv').length
  assert.ok(segments <= 4, `${segments} segment files (${store.info('kv').diskBytes} bytes on disk) for one message held`)
})

test('segments whose messages were all superseded while they were active are compacted once sealed', async () => {
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'], maxMsgsPerSubject: 1 })
  await put(store, 'kv', { subject: 'kv.pin', payload: bytes('kept for ever') })
  const value = bytes('v'.repeat(100))
  // One key updated over and over: each value supersedes the one just before it, in the active segment.
  for (let i = 0; i < 3000; i++) await put(store, 'kv', { subject: 'kv.hot', payload: value })
  await tick()
  assert.is(store.info('kv').messages, 2)
  const segments = dir.segments('kv').length
  assert.ok(segments <= 4, `${segments} segment files (${store.info('kv').diskBytes} bytes on disk) for two messages held`)
})

test('the journal stays bounded under endless key deletes (purge by subject) while an old message pins the floor', async () => {
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 64 * 1024 })
  store.create({ name: 'kv', subjects: ['kv.>'] })
  await put(store, 'kv', { subject: 'kv.pin', payload: bytes('kept for ever') })
  const journal = join(dir.path, 'topics', 'kv', 'state.log')
  let largest = 0
  for (let round = 0; round < 60; round++) {
    for (let i = 0; i < 1000; i++) {
      const key = `kv.k.${round * 1000 + i}`
      await put(store, 'kv', { subject: key, payload: bytes('v') })
      store.purge('kv', { subject: key })
    }
    await tick()
    largest = Math.max(largest, statSync(journal).size)
  }
  // A snapshot replaces the journal past 1 MiB: one holding only what the topic needs stays near that.
  assert.ok(largest <= 1.25 * 1024 * 1024, `state.log reached ${largest} bytes for a topic holding ${store.info('kv').messages} message(s): every purge is kept for ever`)
})

test.run()
