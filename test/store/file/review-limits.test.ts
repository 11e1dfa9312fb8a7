/**
 * Review of the file store (issue 13) for bounds: disk use within a topic's limits over long runs, open file
 * descriptors that do not grow with the data held, a body cache whose bound counts what it holds, and a
 * journal that stays small under a busy work queue. Each is what a publisher with no other right can push on.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { EngineTopicStore } from '../../../server/store/engine/engine-store.ts'
import { nodeDiskIo, type DiskIo } from '../../../server/store/file/disk-io.ts'
import { openTopicStore } from '../../../server/store/file/file-store.ts'
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

/** node:fs, counting open descriptors and reads of segment files. */
class CountingIo implements DiskIo {
  readonly #inner = nodeDiskIo
  readonly #open = new Map<number, string>()
  segmentReads = 0
  maxOpen = 0

  get openCount(): number { return this.#open.size }

  mkdirp(path: string): void { this.#inner.mkdirp(path) }
  list(path: string): string[] { return this.#inner.list(path) }
  exists(path: string): boolean { return this.#inner.exists(path) }
  open(path: string, create: boolean): number {
    const fd = this.#inner.open(path, create)
    this.#open.set(fd, path)
    this.maxOpen = Math.max(this.maxOpen, this.#open.size)
    return fd
  }
  size(fd: number): number { return this.#inner.size(fd) }
  write(fd: number, data: Uint8Array, position: number): void { this.#inner.write(fd, data, position) }
  read(fd: number, into: Uint8Array, length: number, position: number): number {
    if (this.#open.get(fd)?.endsWith('.seg') === true) this.segmentReads++
    return this.#inner.read(fd, into, length, position)
  }
  truncate(fd: number, length: number): void { this.#inner.truncate(fd, length) }
  datasync(fd: number): Promise<void> { return this.#inner.datasync(fd) }
  datasyncNow(fd: number): void { this.#inner.datasyncNow(fd) }
  syncDir(path: string): Promise<void> { return this.#inner.syncDir(path) }
  close(fd: number): void { this.#open.delete(fd); this.#inner.close(fd) }
  replace(path: string, data: Uint8Array): void { this.#inner.replace(path, data) }
  readFile(path: string): Uint8Array { return this.#inner.readFile(path) }
  remove(path: string): void { this.#inner.remove(path) }
  rename(from: string, to: string): void { this.#inner.rename(from, to) }
}

test('disk use of a last-value topic (maxMsgsPerSubject) stays bounded while one old subject is never updated', async () => {
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'], maxMsgsPerSubject: 1 })
  await put(store, 'kv', { subject: 'kv.config', payload: bytes('set once, kept for ever') })
  const value = bytes('v'.repeat(100))
  for (let i = 0; i < 5000; i++) await put(store, 'kv', { subject: `kv.k${i % 4}`, payload: value })
  const info = store.info('kv')
  assert.is(info.messages, 5)
  // Five live values of ~130 bytes: a few segments at most, not every value ever written (~750 KB).
  assert.ok(info.diskBytes <= 8 * 4096 + 64 * 1024, `${info.diskBytes} bytes on disk (${dir.segments('kv').length} segments) for ${info.bytes} bytes held`)
})

test('disk use stays within a small factor of maxBytes, however small the messages', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  const maxBytes = 256 * 1024
  store.create({ name: 't', subjects: ['t.>'], maxBytes })
  for (let i = 0; i < 200_000; i++) await put(store, 't', { subject: 't.a', payload: bytes('x') })
  const info = store.info('t')
  // The segment size is maxBytes / 4 here; allow the limit twice over plus one segment.
  assert.ok(info.diskBytes <= 2 * maxBytes + maxBytes / 4, `${info.diskBytes} bytes on disk for maxBytes ${maxBytes} (${info.messages} messages held)`)
})

test('disk use stays within a small factor of maxBytes whatever the header bytes (JSON escapes)', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  const maxBytes = 256 * 1024
  store.create({ name: 't', subjects: ['t.>'], maxBytes })
  // Counted as 1 byte a character against maxBytes; written as JSON, each is 6 bytes (\u0001).
  const headers = { h: '\u0001'.repeat(2000) }
  for (let i = 0; i < 2000; i++) await put(store, 't', { subject: 't.a', payload: bytes('x'), headers })
  const info = store.info('t')
  assert.ok(info.diskBytes <= 2 * maxBytes + maxBytes / 4, `${info.diskBytes} bytes on disk for maxBytes ${maxBytes} (${info.bytes} counted)`)
})

test('disk use stays bounded by maxAgeMs over a long run', async () => {
  let t = 1_700_000_000_000
  const { store } = dir.open({ defaultFsync: 'never', segmentBytes: 4096, now: () => t })
  store.create({ name: 't', subjects: ['t.>'], maxAgeMs: 1000 })
  const payload = bytes('a'.repeat(100))
  for (let i = 0; i < 20_000; i++) {
    await put(store, 't', { subject: 't.a', payload })
    t += 1
    if (i % 500 === 0) store.sweep()
  }
  store.sweep()
  const info = store.info('t')
  assert.ok(info.messages <= 1001, `${info.messages} messages`)
  // The journal (a floor entry per flush here) may reach 1 MiB before a snapshot replaces it.
  assert.ok(info.diskBytes <= 1001 * 140 + 2 * 4096 + 1.25 * 1024 * 1024, `${info.diskBytes} bytes on disk`)
})

test('open file descriptors do not grow with the number of segments a topic holds', async () => {
  const io = new CountingIo()
  const { store } = openTopicStore({ dataDir: dir.path, io, defaultStorage: 'file', defaultFsync: 'never', segmentBytes: 64 * 1024 })
  try {
    store.create({ name: 't', subjects: ['t.>'], maxBytes: 1024 * 1024 * 1024 })
    const payload = bytes('p'.repeat(1000))
    for (let i = 0; i < 6000; i++) await put(store, 't', { subject: 't.a', payload })
    // ~6 MB in 64 KiB segments: ~90 segment files. At 16 MiB segments, 10 GiB (the example) is 640.
    assert.ok(io.openCount <= 16, `${io.openCount} descriptors open for one topic`)
  } finally {
    store.close()
  }
})

test("the body cache's bound counts headers, not only payloads", async () => {
  const io = new CountingIo()
  const cacheBytes = 256 * 1024
  const { store } = openTopicStore({ dataDir: dir.path, io, defaultStorage: 'file', defaultFsync: 'never', cacheBytes })
  try {
    store.create({ name: 't', subjects: ['t.>'] })
    // 200 messages with 16 KiB of headers and a 1-byte payload: 3.2 MB of bodies, over 12 times the bound.
    const headers = { big: 'h'.repeat(16 * 1024) }
    for (let i = 0; i < 200; i++) await put(store, 't', { subject: 't.a', payload: bytes('x'), headers })
    const before = io.segmentReads
    const { messages } = readAll(store, 't')
    for (const m of messages) assert.is(m.headers?.big.length, 16 * 1024)
    // Had the cache kept within its bound, most of these bodies were read back from disk.
    assert.ok(io.segmentReads > before, 'every body came from the cache: it held 3.2 MB under a 256 KiB bound')
  } finally {
    store.close()
  }
})

test('the journal of a busy work queue stays small: snapshots replace it', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 'jobs', subjects: ['jobs.>'], maxMsgs: 1000 })
  store.openGroup('jobs', 'w', { maxInFlight: 100 })
  store.join('jobs', 'w', 'm')
  const payload = bytes('j')
  for (let round = 0; round < 400; round++) {
    for (let i = 0; i < 100; i++) await put(store, 'jobs', { subject: 'jobs.x', payload })
    for (const d of store.pull('jobs', 'w').deliveries) store.ack('jobs', 'w', d.message.seq, 'm')
  }
  await within(2000, new Promise((resolve) => setTimeout(resolve, 20)), 'the last journal flush')
  assert.is(store.groupInfo('jobs', 'w').acked, 40_000)
  const info = store.info('jobs')
  // 80,000 journal entries of ~20 bytes (1.6 MB) were written; the journal is compacted past 1 MiB.
  assert.ok(info.diskBytes < 6 * 1024 * 1024, `${info.diskBytes} bytes on disk`)
})

/** A disk out of inodes: creating a file fails with ENOSPC, writing into existing ones still works. */
class NoInodesIo extends FaultyIo {
  failCreate = false
  override open(path: string, create: boolean): number {
    if (this.failCreate && create && !nodeDiskIo.exists(path)) {
      const err: NodeJS.ErrnoException = new Error('ENOSPC: no inodes left')
      err.code = 'ENOSPC'
      throw err
    }
    return super.open(path, create)
  }
}

test('a disk that cannot create the next segment refuses the publish with storage_full, and appends resume once it can', async () => {
  const io = new NoInodesIo()
  const { store } = dir.open({ io, segmentBytes: 4096, defaultFsync: 'always' })
  store.create({ name: 't', subjects: ['t.>'] })
  const payload = bytes('q'.repeat(100))
  for (let i = 0; i < 20; i++) await put(store, 't', { subject: 't.a', payload })
  io.failCreate = true
  let code = 'no error'
  for (let i = 0; i < 40 && code === 'no error'; i++) {
    try { await put(store, 't', { subject: 't.a', payload }) } catch (err) { code = err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}` }
  }
  assert.is(code, 'storage_full')
  io.failCreate = false
  const r = await put(store, 't', { subject: 't.a', payload })
  assert.is(r.seq, store.info('t').lastSeq)
})

test.run()
