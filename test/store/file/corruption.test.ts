/**
 * Recovery from damaged files: a torn last write is cut off and reported; corruption anywhere else is reported
 * in `lost` (and to readers as a gap), never cut away with the valid records after it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { DataDir, bytes, readAll, text } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

/** 300 messages of ~100 bytes in 4 KiB segments: several sealed segments and an active one. */
async function fill(): Promise<void> {
  const { store } = dir.open({ segmentBytes: 4096, defaultFsync: 'never' })
  store.create({ name: 't', subjects: ['t.>'] })
  for (let i = 1; i <= 300; i++) await store.append('t', { subject: 't.a', payload: bytes(`message-${String(i).padStart(4, '0')}-${'x'.repeat(60)}`) })
  store.close()
}

test('a flipped bit in the middle of a sealed segment: that record is lost and reported, the rest stays readable', async () => {
  await fill()
  const segments = dir.segments('t')
  assert.ok(segments.length >= 4, `${segments.length} segments`)
  const victim = segments[1]
  const data = readFileSync(victim)
  data[Math.floor(data.length / 2)] ^= 0x10
  writeFileSync(victim, data)
  const { store, log } = dir.open()
  const info = store.info('t')
  assert.is(info.lost.length, 1)
  const [range] = info.lost
  assert.ok(range.toSeq - range.fromSeq <= 1, `one record (or the two a flip between them touches): ${JSON.stringify(range)}`)
  const { messages, gaps } = readAll(store, 't')
  assert.equal(gaps, [range])
  assert.is(messages.length, 300 - (range.toSeq - range.fromSeq + 1))
  assert.ok(messages.some((m) => m.seq === range.toSeq + 1), 'the record after the damage reads back')
  assert.is(text(messages[messages.length - 1]).slice(0, 12), 'message-0300')
  assert.ok(log.lines.some((l) => l.level === 'error' && /CORRUPTION/.test(l.msg)), 'said loudly')
  // The damaged file is left for inspection, not cut.
  assert.is(statSync(victim).size, data.length)
  // The topic goes on.
  assert.is((await store.append('t', { subject: 't.a', payload: bytes('next') })).seq, 301)
})

test('a torn last write is cut off at any offset, reported, and the sequence goes on from the last whole record', async () => {
  await fill()
  const active = dir.segments('t').at(-1) as string
  const whole = readFileSync(active)
  // The last record is the last ~100 bytes: cut inside its header, its body, and one byte short of its end.
  for (const cut of [1, 5, 9, 40, 99]) {
    writeFileSync(active, whole)
    truncateSync(active, whole.length - cut)
    const { store, log } = dir.open()
    const info = store.info('t')
    assert.is(info.lastSeq, 299, `cut ${cut}`)
    assert.equal(info.lost, [], `cut ${cut}`)
    assert.ok(log.lines.some((l) => l.level === 'warn' && /torn/.test(l.msg)), `cut ${cut}: reported`)
    assert.is(readAll(store, 't').messages.length, 299)
    store.close()
  }
})

test('garbage appended after the last record (a torn write of another) is cut, and appends go on after it', async () => {
  await fill()
  const active = dir.segments('t').at(-1) as string
  const fd = openSync(active, 'a')
  writeSync(fd, Buffer.from([0x55, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]))
  closeSync(fd)
  const { store } = dir.open()
  assert.is((await store.append('t', { subject: 't.a', payload: bytes('after') })).seq, 301)
  store.close()
  const { store: again } = dir.open()
  const { messages, gaps } = readAll(again, 't')
  assert.equal(gaps, [])
  assert.is(messages.length, 301)
  assert.is(text(messages[300]), 'after')
})

test('a corrupt journal tail is cut: the group keeps what was before it', async () => {
  const { store } = dir.open({ defaultFsync: 'never' })
  store.create({ name: 'jobs', subjects: ['jobs.>'] })
  for (let i = 1; i <= 5; i++) await store.append('jobs', { subject: 'jobs.x', payload: bytes(`${i}`) })
  store.openGroup('jobs', 'w')
  store.join('jobs', 'w', 'm')
  store.pull('jobs', 'w')
  store.ack('jobs', 'w', 1, 'm')
  store.close()
  const journal = `${dir.path}/topics/jobs/state.log`
  const fd = openSync(journal, 'a')
  writeSync(fd, Buffer.from([9, 0, 0, 0, 1, 2, 3, 4, 5]))
  closeSync(fd)
  const { store: again, log } = dir.open()
  assert.is(again.groupInfo('jobs', 'w').acked, 1)
  assert.ok(log.lines.some((l) => l.level === 'warn' && /journal/.test(l.msg)))
})

test("a damaged segment header: its records are read back when the salt survived, else reported lost, and appends go on", async () => {
  await fill()
  const active = dir.segments('t').at(-1) as string
  const whole = readFileSync(active)
  // A flipped bit in the header's checksum: the salt is intact, the first record proves it.
  const crcHit = Buffer.from(whole)
  crcHit[5] ^= 0x01
  writeFileSync(active, crcHit)
  let opened = dir.open()
  assert.is(readAll(opened.store, 't').messages.length, 300)
  assert.equal(opened.store.info('t').lost, [])
  opened.store.close()
  // A flipped bit in the salt itself: the segment cannot be checked; its range is reported, the rest readable.
  const saltHit = Buffer.from(whole)
  saltHit[11] ^= 0x01
  writeFileSync(active, saltHit)
  opened = dir.open()
  const info = opened.store.info('t')
  assert.ok(info.lost.length === 1 && info.lost[0].toSeq >= 300, JSON.stringify(info.lost))
  assert.ok(opened.log.lines.some((l) => l.level === 'error'))
  const next = await opened.store.append('t', { subject: 't.a', payload: bytes('after') })
  assert.ok(next.seq > 300, `seq ${next.seq} reuses a sequence of the unreadable segment`)
  assert.is(statSync(active).size, whole.length, 'the damaged segment is kept as it was')
})

test.run()
