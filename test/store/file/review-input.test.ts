/**
 * Review of the file store (issue 13) against bad input: files on disk whose checksums are valid but whose
 * contents are not what the store wrote (a forged record inside a payload, absurd fields, a malformed journal
 * entry), a topic.json that cannot be read, topic names that look like paths, and unknown tuning keys. The
 * store must start and report; it must never crash, wipe data, or take bytes a client chose for a record.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32c } from '@node-rs/crc32'
import { createBroker, type BrokerOptions } from '../../../server/index.ts'
import type { EngineTopicStore } from '../../../server/store/engine/engine-store.ts'
import type { AppendInput, AppendResult } from '../../../server/store/topic-store.ts'
import { nodeDiskIo } from '../../../server/store/file/disk-io.ts'
import { Journal } from '../../../server/store/file/journal.ts'
import { SEGMENT_HEADER_BYTES, encodeMessage, readSegmentHeader, recordSeed } from '../../../server/store/file/record.ts'
import { SubwireError } from '../../../shared/errors.ts'
import { within } from '../../helpers.ts'
import { DataDir, bytes, readAll, text } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

function codeOfSync(fn: () => unknown): string {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}`
  }
}

/** A payload a client may publish: padding, then the exact bytes of a framed message record it chose. */
function forgedPayload(seq: number, size = 100): Uint8Array {
  const fake = encodeMessage({ seq, time: Date.now(), encoding: 0, size, subject: 't.forged', msgId: undefined, headers: { 'Sw-Forged': 'yes' }, payload: bytes('FORGED') })
  const out = new Uint8Array(64 + fake.byteLength + 64)
  out.fill(0x2e)
  out.set(fake, 64)
  return out
}

/** An append, under a deadline. */
function put(store: EngineTopicStore, topic: string, input: AppendInput): Promise<AppendResult> {
  return within(5000, Promise.resolve(store.append(topic, input)), 'an append')
}

const journalPath = (topic: string): string => join(dir.path, 'topics', topic, 'state.log')

test("a torn write of a client's message never brings back a record the client embedded in its payload", async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  for (let i = 1; i <= 3; i++) await put(store, 't', { subject: 't.a', payload: bytes(`m${i}`) })
  await put(store, 't', { subject: 't.a', payload: forgedPayload(9_000_000_000_000) })
  store.close()
  // The power went while the last record was being written: its last 32 bytes never reached the disk.
  const seg = dir.segments('t').at(-1) as string
  truncateSync(seg, statSync(seg).size - 32)
  const { store: again } = dir.open()
  const { messages } = readAll(again, 't')
  assert.not.ok(messages.some((m) => m.subject === 't.forged'), 'a record forged inside a payload became a message')
  assert.ok(again.info('t').lastSeq < 1000, `lastSeq jumped to ${again.info('t').lastSeq}`)
  assert.equal(messages.map(text), ['m1', 'm2', 'm3'])
})

test("a damaged header of a client's message never makes recovery cut the confirmed records after it", async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  await put(store, 't', { subject: 't.a', payload: bytes('m1') })
  await put(store, 't', { subject: 't.a', payload: forgedPayload(9_000_000_000_000) })
  for (let i = 3; i <= 6; i++) await put(store, 't', { subject: 't.a', payload: bytes(`m${i}`) })
  store.close()
  // One bit flips in the checksum of record 2 (the active segment: where a torn tail is cut off).
  const seg = dir.segments('t').at(-1) as string
  const data = readFileSync(seg)
  // A segment starts with its header frame; record 1 follows it, then record 2.
  const first = SEGMENT_HEADER_BYTES
  const second = first + 8 + data.readUInt32LE(first)
  data[second + 4] ^= 0x01
  writeFileSync(seg, data)
  const { store: again } = dir.open()
  const { messages } = readAll(again, 't')
  assert.not.ok(messages.some((m) => m.subject === 't.forged'), 'a record forged inside a payload became a message')
  assert.equal(messages.map(text).filter((t) => t.startsWith('m')), ['m1', 'm3', 'm4', 'm5', 'm6'])
  assert.is(statSync(seg).size, data.length, 'the segment was cut: confirmed records after the damage are gone for good')
})

test('a checksummed record whose subject is not UTF-8 is reported, and the store still opens', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  await put(store, 't', { subject: 't.a', payload: bytes('m1') })
  await put(store, 't', { subject: 't.b', payload: bytes('m2') })
  store.close()
  // Rewrite record 2's subject bytes to invalid UTF-8 and fix its checksum (bit rot, or a bug, past the CRC).
  const seg = dir.segments('t').at(-1) as string
  const data = readFileSync(seg)
  const first = SEGMENT_HEADER_BYTES
  const second = first + 8 + data.readUInt32LE(first)
  const body = second + 8
  const subjectAt = body + 22 + 4
  data[subjectAt] = 0xff
  data[subjectAt + 1] = 0xfe
  // The checksum is seeded with the segment's salt (in its header) and the record's offset (record.ts).
  const salt = readSegmentHeader(data) as number
  data.writeUInt32LE(crc32c(data.subarray(body, body + data.readUInt32LE(second)), recordSeed(salt, second)), second + 4)
  writeFileSync(seg, data)
  let opened: ReturnType<DataDir['open']> | null = null
  const code = codeOfSync(() => { opened = dir.open() })
  assert.is(code, 'no error', 'the whole store failed to open because of one record')
  const again = (opened as unknown as ReturnType<DataDir['open']>).store
  assert.equal(readAll(again, 't').messages.map(text), ['m1'])
})

test('a checksummed journal snapshot with missing fields does not stop the store from opening', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  store.create({ name: 'other', subjects: ['o.>'] })
  await put(store, 't', { subject: 't.a', payload: bytes('m1') })
  await put(store, 'other', { subject: 'o.a', payload: bytes('o1') })
  store.close()
  const j = new Journal(nodeDiskIo, journalPath('t'))
  j.add({ k: 'snap', state: { floor: 1 } } as never)
  j.flush()
  j.close()
  const code = codeOfSync(() => dir.open())
  assert.is(code, 'no error', "one topic's journal stopped every topic from opening")
})

test('a checksummed journal entry with a non-numeric sequence never turns sequences into NaN', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  await put(store, 't', { subject: 't.a', payload: bytes('m1') })
  store.close()
  const j = new Journal(nodeDiskIo, journalPath('t'))
  j.add({ k: 'floor', s: 'x' } as never)
  j.flush()
  j.close()
  const { store: again } = dir.open()
  assert.ok(Number.isSafeInteger(again.info('t').lastSeq), `lastSeq is ${again.info('t').lastSeq}`)
  const r = await put(again, 't', { subject: 't.a', payload: bytes('m2') })
  assert.ok(Number.isSafeInteger(r.seq), `an append got seq ${r.seq}`)
})

test('a journal naming a sequence near 2^53 never leads to confirmed messages that vanish at the next restart', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  await put(store, 't', { subject: 't.a', payload: bytes('m1') })
  store.close()
  const j = new Journal(nodeDiskIo, journalPath('t'))
  j.add({ k: 'floor', s: Number.MAX_SAFE_INTEGER - 1 })
  j.flush()
  j.close()
  const { store: again } = dir.open()
  const confirmed: number[] = []
  for (let i = 0; i < 4; i++) {
    try {
      const r = await put(again, 't', { subject: 't.a', payload: bytes(`n${i}`) })
      confirmed.push(r.seq)
    } catch { /* refusing is fine; confirming and then losing is not */ }
  }
  assert.is(new Set(confirmed).size, confirmed.length, `sequences reused: ${confirmed.join(', ')}`)
  again.close()
  const { store: later } = dir.open()
  const kept = readAll(later, 't').messages.map((m) => m.seq)
  for (const seq of confirmed) assert.ok(kept.includes(seq), `confirmed seq ${seq} lost at the restart`)
})

test('a topic left on disk for its unreadable topic.json is not wiped by a topic of that name created later', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 'orders', subjects: ['orders.>'] })
  for (let i = 1; i <= 5; i++) await put(store, 'orders', { subject: 'orders.a', payload: bytes(`m${i}`) })
  store.close()
  const configPath = join(dir.path, 'topics', 'orders', 'topic.json')
  writeFileSync(configPath, '{"version":1,"config":{"name":"orders","subj')
  const segments = dir.segments('orders')
  const { store: again, log } = dir.open()
  assert.ok(log.lines.some((l) => l.level === 'error'), 'the unreadable topic.json is reported')
  // The broker then creates the declared topic `orders` (Topics#declare), or a client adds it.
  try { again.create({ name: 'orders', subjects: ['orders.>'] }) } catch { /* refusing is fine */ }
  // The unreadable topic's files are set aside (topics/orders.unreadable-<time>/), never deleted.
  const aside = readdirSync(join(dir.path, 'topics')).filter((n) => n.startsWith('orders.unreadable-'))
  assert.is(aside.length, 1, 'the unreadable topic was set aside')
  for (const seg of segments) {
    const kept = join(dir.path, 'topics', aside[0], seg.split('/').at(-1) as string)
    assert.ok(existsSync(kept), `${seg} was deleted: the messages "left on disk" are gone`)
  }
})

test('topic names that look like paths stay inside the data directory', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  for (const name of ['..', '%2e%2e', '~root', 'a\\b', 'a/b', 'CON', '%2F']) {
    try { store.create({ name, subjects: [`x${Buffer.from(name).toString('hex')}.>`] }) } catch { /* refused is fine */ }
  }
  const topics = join(dir.path, 'topics')
  for (const entry of readdirSync(dir.path)) assert.is(entry, 'topics')
  for (const entry of readdirSync(topics)) {
    assert.not.ok(entry.includes('/') || entry === '..' || entry === '.', entry)
    assert.ok(statSync(join(topics, entry)).isDirectory())
  }
})

test('a file store tuning key the broker does not know is refused, never ignored', async () => {
  let code = 'no error'
  try {
    const b = await within(5000, createBroker({ port: 0, dataDir: dir.path, fileStore: { segmentByte: 1024 } } as unknown as BrokerOptions), 'the broker')
    await b.close()
  } catch (err) {
    code = err instanceof SubwireError ? err.code : String(err)
  }
  assert.is(code, 'bad_option')
})

test('an absurd file store segment size is refused at start', async () => {
  let code = 'no error'
  try {
    const b = await within(5000, createBroker({ port: 0, dataDir: dir.path, fileStore: { segmentBytes: -5 } }), 'the broker')
    await b.close()
  } catch (err) {
    code = err instanceof SubwireError ? err.code : String(err)
  }
  assert.is(code, 'bad_option')
})

test.run()
