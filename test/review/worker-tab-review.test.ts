/**
 * Review of the worker's flow control toward one tab (client/shared/worker-tab.ts): the 8 MiB a tab may be
 * behind must bound what is posted to it, whatever part of a message carries the bytes.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MAX_TAB_IN_FLIGHT, WorkerTab } from '../../client/shared/worker-tab.ts'
import type { WireMsg, WorkerToTab } from '../../client/shared/wire.ts'

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

/** What structured clone copies of one message, roughly: its strings and its payload. */
function clonedBytes(m: WireMsg): number {
  let n = m[1].length + (m[2]?.length ?? 0) + m[5].byteLength
  if (m[3] !== null) for (const k in m[3]) n += k.length + m[3][k].length
  return n
}

test('a tab that takes nothing is posted at most MAX_TAB_IN_FLIGHT bytes when the bytes are in headers', async () => {
  // Headers count toward maxPayload (1 MiB by default), so a message may carry its bytes there, payload empty.
  const posted: WorkerToTab[] = []
  const tab = new WorkerTab({ postMessage: (m: unknown) => { posted.push(m as WorkerToTab) }, onmessage: null, close: () => {} })
  const headers: Record<string, string> = {}
  for (let i = 0; i < 16; i++) headers[`h${i}`] = 'x'.repeat(4096)
  const m: WireMsg = [[1], 'hdr.only', null, headers, 1, new Uint8Array(0), 0, 0, 0]
  const n = Math.ceil((MAX_TAB_IN_FLIGHT * 2) / clonedBytes(m)) // twice the bound, in all
  for (let i = 0; i < n; i++) { tab.msg(m); if (i % 16 === 0) await tick() }
  await tick()
  const sent = posted.flatMap((p) => p.t === 'msgs' ? p.batch : [])
  const bytes = sent.reduce((a, w) => a + clonedBytes(w), 0)
  assert.ok(bytes <= MAX_TAB_IN_FLIGHT, `${bytes} bytes of headers posted to a tab that took nothing (${sent.length} of ${n} messages)`)
})

test.run()
