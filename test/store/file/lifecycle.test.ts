/**
 * A file topic's life around slow syncs: deleted or closed while a sync is still running, every waiting
 * confirm settles (resolved when it is on disk, rejected with a typed error otherwise), nothing crashes later
 * when the sync returns, and what was confirmed is there after a restart.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { SubwireError } from '../../../shared/errors.ts'
import { sleep, within } from '../../helpers.ts'
import { FaultyIo } from './faulty-io.ts'
import { DataDir, bytes, readAll, text } from './fixture.ts'

let dir: DataDir
test.before.each(() => { dir = new DataDir() })
test.after.each(() => dir.remove())

/** How each of `confirms` settled: 'ok' or the error code. */
function outcomes(confirms: Array<Promise<unknown>>): Promise<string[]> {
  return within(5000, Promise.all(confirms.map((p) => p.then(() => 'ok', (err: unknown) => (err instanceof SubwireError ? err.code : String(err))))), 'every confirm')
}

test('closing the store while a sync runs settles every waiting confirm, and what it confirmed is there after a restart', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  store.create({ name: 't', subjects: ['t.>'], fsync: 'always' })
  await store.append('t', { subject: 't.a', payload: bytes('m0') })
  io.holdSyncs = true
  const confirms = Array.from({ length: 5 }, (_, i) => Promise.resolve(store.append('t', { subject: 't.a', payload: bytes(`m${i + 1}`) })))
  await sleep(20)
  store.close()
  const settled = await outcomes(confirms)
  io.releaseSyncs()
  await sleep(20)
  const { store: again } = dir.open()
  const kept = readAll(again, 't').messages.map(text)
  for (let i = 0; i < 5; i++) if (settled[i] === 'ok') assert.ok(kept.includes(`m${i + 1}`), `confirmed m${i + 1} lost`)
  assert.ok(settled.every((s) => s === 'ok' || s === 'storage_failed'), settled.join())
})

test('deleting a topic while its sync runs settles its confirms, removes its files, and the late sync harms nothing', async () => {
  const io = new FaultyIo()
  const { store } = dir.open({ io })
  store.create({ name: 'gone', subjects: ['gone.>'], fsync: 'always' })
  store.create({ name: 'stay', subjects: ['stay.>'], fsync: 'always' })
  await store.append('gone', { subject: 'gone.a', payload: bytes('x') })
  io.holdSyncs = true
  const confirms = Array.from({ length: 3 }, () => Promise.resolve(store.append('gone', { subject: 'gone.a', payload: bytes('y') })))
  await sleep(20)
  store.delete('gone')
  const settled = await outcomes(confirms)
  assert.ok(settled.every((s) => s === 'ok' || s === 'storage_failed'), settled.join())
  io.releaseSyncs()
  await sleep(20)
  assert.not.ok(existsSync(join(dir.path, 'topics', 'gone')))
  assert.is((await within(5000, Promise.resolve(store.append('stay', { subject: 'stay.a', payload: bytes('z') })), 'an append')).seq, 1)
})

test("a topic's storage cannot change by update", () => {
  const { store } = dir.open()
  store.create({ name: 't', subjects: ['t.>'] })
  let code = 'no error'
  try { store.update('t', { name: 't', subjects: ['t.>'], storage: 'memory' }) } catch (err) { code = (err as SubwireError).code }
  assert.is(code, 'bad_topic_config')
})

test.run()
