/**
 * The file store under faults injected through its DiskIo seam (faulty-io.ts): a power cut that loses every
 * write not yet synced, a full disk, a failed fsync.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SubwireError } from '../../../shared/errors.ts'
import { within } from '../../helpers.ts'
import { FaultyIo } from './faulty-io.ts'
import { DataDir, bytes, readAll, text } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

/** The error code of what `fn` throws or rejects with. */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn()
    return 'no error'
  } catch (err) {
    return err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}`
  }
}

test("power loss under fsync 'always': every confirmed message is there once, in order", async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  store.create({ name: 't', subjects: ['t.>'], fsync: 'always', maxMsgs: 100_000 })
  const confirmed: number[] = []
  const inFlight: Array<Promise<unknown>> = []
  for (let i = 1; i <= 3000; i++) {
    const p = Promise.resolve(store.append('t', { subject: `t.${i % 7}`, payload: bytes(`m${i}`) })).then((r) => { confirmed.push(r.seq) }, () => {})
    inFlight.push(p)
    while (inFlight.length > 256) await within(5000, inFlight.shift() as Promise<unknown>, 'a confirm')
  }
  // More appends, never awaited: the cut comes while some are written and not yet synced.
  for (let i = 3001; i <= 3200; i++) void Promise.resolve(store.append('t', { subject: 't.z', payload: bytes(`m${i}`) })).then((r) => { confirmed.push(r.seq) }, () => {})
  const sure = [...confirmed]
  io.powerLoss()
  const { store: again } = dir.open()
  const { messages, gaps } = readAll(again, 't')
  const seqs = messages.map((m) => m.seq)
  assert.equal(gaps, [])
  assert.ok(sure.length >= 2000, `${sure.length} confirmed before the cut`)
  for (const seq of sure) assert.ok(seqs.includes(seq), `confirmed seq ${seq} lost`)
  assert.equal(seqs, [...seqs].sort((a, b) => a - b))
  assert.equal(messages.map(text), seqs.map((s) => `m${s}`))
  assert.is(new Set(seqs).size, seqs.length)
  assert.equal(again.info('t').lost, [])
})

test('power loss under a 50 ms fsync interval loses at most the last interval', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  store.create({ name: 't', subjects: ['t.>'], fsync: 50 })
  const appendedAt = new Map<number, number>()
  const started = Date.now()
  for (let i = 1; Date.now() - started < 1200 && i < 1_000_000; i++) {
    const r = await store.append('t', { subject: 't.a', payload: bytes(`m${i}`) })
    appendedAt.set(r.seq, Date.now())
    if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const cut = Date.now()
  io.powerLoss()
  const { store: again } = dir.open()
  const kept = new Set(readAll(again, 't').messages.map((m) => m.seq))
  // Everything appended more than an interval (plus a sync's duration and a busy machine's timer slack) before
  // the cut is kept.
  const window = 50 + 550
  for (const [seq, at] of appendedAt) if (cut - at > window) assert.ok(kept.has(seq), `seq ${seq}, appended ${cut - at} ms before the cut, was lost`)
  assert.ok(kept.size > 0)
  assert.ok([...appendedAt.values()].some((at) => cut - at > window), 'the run was long enough to check anything')
})

test("a full disk refuses the publish with storage_full, keeps nothing half-written, and appends resume when space returns", async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  store.create({ name: 't', subjects: ['t.>'] })
  store.create({ name: 'm', subjects: ['m.>'], storage: 'memory' })
  await store.append('t', { subject: 't.a', payload: bytes('before') })
  io.failWrites = 'ENOSPC'
  io.partialBytes = 11
  assert.is(await codeOf(() => store.append('t', { subject: 't.a', payload: bytes('refused') })), 'storage_full')
  assert.is(await codeOf(() => store.append('t', { subject: 't.a', payload: bytes('refused too') })), 'storage_full')
  // Reads and memory topics are untouched.
  assert.equal(readAll(store, 't').messages.map(text), ['before'])
  assert.is((await store.append('m', { subject: 'm.a', payload: bytes('x') })).seq, 1)
  io.failWrites = null
  const r = await store.append('t', { subject: 't.a', payload: bytes('after') })
  assert.is(r.seq, 2)
  store.close()
  const { store: again, log } = dir.open()
  assert.equal(readAll(again, 't').messages.map(text), ['before', 'after'])
  assert.equal(again.info('t').lost, [])
  assert.not.ok(log.lines.some((l) => l.level === 'error'), JSON.stringify(log.lines))
})

test('a failed fsync is never retried into a confirm: storage_failed, the topic read-only until restart', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  store.create({ name: 't', subjects: ['t.>'], fsync: 'always' })
  store.create({ name: 'm', subjects: ['m.>'], storage: 'memory' })
  await store.append('t', { subject: 't.a', payload: bytes('synced') })
  io.failSync = 'EIO'
  assert.is(await within(5000, codeOf(() => store.append('t', { subject: 't.a', payload: bytes('lost') })), 'the failed confirm'), 'storage_failed')
  io.failSync = null
  // The disk "works" again, but the topic does not pretend: its next appends fail too.
  assert.is(await codeOf(() => store.append('t', { subject: 't.a', payload: bytes('later') })), 'storage_failed')
  assert.equal(readAll(store, 't').messages.map(text), ['synced'])
  assert.is((await store.append('m', { subject: 'm.a', payload: bytes('x') })).seq, 1)
  store.close()
  const { store: again } = dir.open()
  const r = await again.append('t', { subject: 't.a', payload: bytes('after restart') })
  assert.ok(r.seq >= 2)
  assert.ok(readAll(again, 't').messages.map(text).includes('after restart'))
})

test('a full disk while creating a topic refuses it with storage_full and leaves nothing to reopen', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  io.failWrites = 'ENOSPC'
  let code = 'no error'
  try { store.create({ name: 't', subjects: ['t.>'] }) } catch (err) { code = (err as SubwireError).code }
  assert.is(code, 'storage_full')
  assert.not.ok(store.list().some((t) => t.name === 't'))
  io.failWrites = null
  store.close()
  const { store: again } = dir.open()
  assert.equal(again.list(), [])
})

test("power loss while a last-value topic compacts, under fsync 'always': every subject keeps its newest confirmed value", async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io, segmentBytes: 4096 })
  store.create({ name: 'kv', subjects: ['kv.>'], fsync: 'always', maxMsgsPerSubject: 1 })
  await store.append('kv', { subject: 'kv.config', payload: bytes('kept') })
  const newest = new Map<string, number>()
  const inFlight: Array<Promise<unknown>> = []
  for (let i = 0; i < 4000; i++) {
    const subject = `kv.k${i % 6}`
    inFlight.push(Promise.resolve(store.append('kv', { subject, payload: bytes(`v${i}-${'y'.repeat(60)}`) })).then((r) => {
      if (r.seq > (newest.get(subject) ?? 0)) newest.set(subject, r.seq)
    }, () => {}))
    while (inFlight.length > 32) await within(5000, inFlight.shift() as Promise<unknown>, 'a confirm')
  }
  const sure = new Map(newest)
  io.powerLoss()
  const { store: again } = dir.open()
  assert.is(text(again.last('kv', 'kv.config') ?? assert.unreachable('kv.config lost') as never), 'kept')
  for (const [subject, seq] of sure) {
    const m = again.last('kv', subject)
    assert.ok(m !== null && m.seq >= seq, `${subject}: confirmed seq ${seq}, reopened ${m?.seq}`)
  }
  assert.equal(again.info('kv').lost, [])
  assert.ok(again.info('kv').diskBytes < 64 * 1024, `${again.info('kv').diskBytes} bytes on disk`)
})

test.run()
