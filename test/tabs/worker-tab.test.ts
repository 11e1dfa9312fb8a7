/**
 * The worker's flow control toward one tab (client/shared/worker-tab.ts): a port has no backpressure, so a tab
 * that does not take its batches (its main thread is busy) gets at most MAX_TAB_IN_FLIGHT bytes posted; what
 * comes past that is dropped, counted per subscription, and reported to the tab as slow_consumer once it took.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MAX_TAB_IN_FLIGHT, WorkerTab } from '../../client/shared/worker-tab.ts'
import type { WireMsg, WorkerToTab } from '../../client/shared/wire.ts'

function fakePort(): { posted: WorkerToTab[]; port: ConstructorParameters<typeof WorkerTab>[0] } {
  const posted: WorkerToTab[] = []
  return { posted, port: { postMessage: (m: unknown) => { posted.push(m as WorkerToTab) }, onmessage: null, close: () => {} } }
}

const KIB64 = new Uint8Array(64 * 1024)
const msg = (sid: number): WireMsg => [[sid], 'big.data', null, null, 1, KIB64, 0, 0, 0]
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

test('a tab that takes nothing is posted at most MAX_TAB_IN_FLIGHT bytes; the rest is dropped and reported once it takes', async () => {
  const { posted, port } = fakePort()
  const tab = new WorkerTab(port)
  const n = Math.ceil((MAX_TAB_IN_FLIGHT * 1.5) / KIB64.byteLength)
  for (let i = 0; i < n; i++) { tab.msg(msg(7)); if (i % 16 === 0) await tick() }
  await tick()
  const batches = posted.filter((m): m is Extract<WorkerToTab, { t: 'msgs' }> => m.t === 'msgs')
  const sent = batches.reduce((a, b) => a + b.batch.length, 0)
  const bytes = batches.reduce((a, b) => a + b.bytes, 0)
  assert.ok(bytes <= MAX_TAB_IN_FLIGHT, `${bytes} bytes posted`)
  assert.ok(sent < n, `${sent} of ${n} posted`)
  assert.equal(posted.filter((m) => m.t === 'status'), [], 'nothing reported while the tab is behind')
  for (const b of batches) tab.took(b.bytes)
  const reports = posted.filter((m): m is Extract<WorkerToTab, { t: 'status' }> => m.t === 'status')
  assert.is(reports.length, 1)
  assert.equal(reports[0].status.fields, { type: 'slow_consumer', sid: 7, subject: '', dropped: n - sent, total: n - sent, source: 'client' })
  // Caught up: messages flow again.
  tab.msg(msg(7))
  await tick()
  assert.is(posted.at(-1)?.t, 'msgs')
})

test('a tab that takes its batches gets every message', async () => {
  const { posted, port } = fakePort()
  const tab = new WorkerTab(port)
  const n = Math.ceil((MAX_TAB_IN_FLIGHT * 2) / KIB64.byteLength)
  let taken = 0
  for (let i = 0; i < n; i++) {
    tab.msg(msg(1))
    if (i % 16 === 0) {
      await tick()
      for (const m of posted.splice(0)) if (m.t === 'msgs') { taken += m.batch.length; tab.took(m.bytes) }
    }
  }
  await tick()
  for (const m of posted.splice(0)) if (m.t === 'msgs') taken += m.batch.length
  assert.is(taken, n)
})

test.run()
