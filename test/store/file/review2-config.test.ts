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
import { nodeDiskIo } from '../../../server/store/file/disk-io.ts'
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

/**
 * A power cut that also takes what was written to files already closed (the page cache does not care whether
 * a descriptor is still open; FaultyIo only cuts files it still has open). A sync counts for the file its fd
 * names when the sync runs.
 */
class PowerCutIo extends FaultyIo {
  readonly #paths = new Map<number, string>()
  readonly #synced = new Map<string, number>()
  override open(path: string, create: boolean): number {
    const existed = nodeDiskIo.exists(path)
    const fd = super.open(path, create)
    this.#paths.set(fd, path)
    if (!this.#synced.has(path)) this.#synced.set(path, existed ? nodeDiskIo.size(fd) : 0)
    return fd
  }
  override close(fd: number): void { this.#paths.delete(fd); super.close(fd) }
  override truncate(fd: number, length: number): void {
    super.truncate(fd, length)
    const path = this.#paths.get(fd)
    if (path !== undefined) this.#synced.set(path, Math.min(this.#synced.get(path) ?? 0, length))
  }
  override async datasync(fd: number): Promise<void> {
    await super.datasync(fd)
    const path = this.#paths.get(fd)
    if (path !== undefined) this.#synced.set(path, nodeDiskIo.size(fd))
  }
  override datasyncNow(fd: number): void {
    super.datasyncNow(fd)
    const path = this.#paths.get(fd)
    if (path !== undefined) this.#synced.set(path, nodeDiskIo.size(fd))
  }
  override replace(path: string, data: Uint8Array): void { super.replace(path, data); this.#synced.set(path, data.byteLength) }
  override rename(from: string, to: string): void {
    super.rename(from, to)
    this.#synced.set(to, this.#synced.get(from) ?? 0)
    this.#synced.delete(from)
    for (const [fd, path] of this.#paths) {
      if (path === to) this.#paths.set(fd, `${to}#replaced`)
      else if (path === from) this.#paths.set(fd, to)
    }
  }
  override powerLoss(): void {
    super.powerLoss()
    for (const [path, keep] of this.#synced) {
      if (!nodeDiskIo.exists(path)) continue
      const fd = nodeDiskIo.open(path, false)
      try { if (nodeDiskIo.size(fd) > keep) nodeDiskIo.truncate(fd, keep) } finally { nodeDiskIo.close(fd) }
    }
  }
}

test('a topic switched from fsync always to never while a sync runs: the confirms that sync covers mean what they say', async () => {
  const io = new PowerCutIo()
  const { store } = dir.open({ io, defaultFsync: 'always', segmentBytes: 4096 })
  store.create({ name: 't', subjects: ['t.>'] })
  const value = bytes('v'.repeat(100))
  // ~10 sealed segments, confirmed: the pool holds its 8 sealed descriptors.
  for (let i = 0; i < 300; i++) await put(store, 't', { subject: 't.a', payload: value })
  // The disk stalls with a batch in the active segment under sync.
  io.holdSyncs = true
  const held: Array<Promise<string>> = []
  for (let i = 0; i < 10; i++) held.push(codeOf(() => store.append('t', { subject: 't.held', payload: value })))
  await within(2000, new Promise((resolve) => setTimeout(resolve, 20)), 'the flush')
  // Switched to never while that sync runs; ~9 more segments written (the pool closes the oldest fds).
  store.update('t', { name: 't', subjects: ['t.>'], fsync: 'never' })
  for (let i = 0; i < 300; i++) await put(store, 't', { subject: 't.b', payload: value })
  io.releaseSyncs()
  const codes = await within(5000, Promise.all(held), 'the held confirms')
  assert.equal(codes, Array(10).fill('no error'))
  // Confirmed under fsync always: a power cut keeps them.
  io.powerLoss()
  const again = dir.open({ segmentBytes: 4096 })
  const kept = readAll(again.store, 't').messages.filter((m) => m.subject === 't.held').length
  assert.is(kept, 10, `${kept} of 10 messages confirmed under fsync always survived a power cut`)
})

test('a topic switched from fsync always to never while a sync runs keeps its messages readable in sequence order', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io, defaultFsync: 'always' })
  store.create({ name: 't', subjects: ['t.>'] })
  const value = bytes('v')
  for (let i = 0; i < 5; i++) await put(store, 't', { subject: 't.a', payload: value })
  io.holdSyncs = true
  const held: Array<Promise<string>> = []
  for (let i = 0; i < 3; i++) held.push(codeOf(() => store.append('t', { subject: 't.held', payload: value })))
  await within(2000, new Promise((resolve) => setTimeout(resolve, 20)), 'the flush')
  store.update('t', { name: 't', subjects: ['t.>'], fsync: 'never' })
  for (let i = 0; i < 3; i++) await put(store, 't', { subject: 't.b', payload: value })
  // A reader must never see 9..11 before 6..8: a live cursor past 11 would skip them for ever.
  const early = readAll(store, 't').messages.map((m) => m.seq)
  assert.equal(early, early.slice().sort((a, b) => a - b))
  assert.ok(!early.includes(9) || early.includes(6), `read ${early.join(',')} while 6..8 wait for their sync`)
  const lastBefore = store.info('t').lastSeq
  io.releaseSyncs()
  assert.equal(await within(5000, Promise.all(held), 'the held confirms'), ['no error', 'no error', 'no error'])
  assert.ok(store.info('t').lastSeq >= lastBefore, `lastSeq went back from ${lastBefore} to ${store.info('t').lastSeq}`)
  await put(store, 't', { subject: 't.c', payload: value })
  assert.equal(readAll(store, 't').messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
})

test.run()
