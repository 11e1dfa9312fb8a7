/**
 * MSG prefixes (shared/op-writer.ts): a subscription's prefix is the same bytes for the same sid on every
 * connection, so low sids share one view (idle connections' memory, bench E), and every sid still encodes
 * exactly as the writer would.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { msgPrefix } from '../../shared/op-writer.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { OP } from '../../shared/protocol.ts'

function expected(sid: number): number[] {
  const w = new MsgpackWriter(16)
  w.arrayHeader(7)
  w.uint(OP.MSG)
  w.uint(sid)
  return [...w.finish()]
}

test('gives every connection one shared prefix for a low sid, and fresh ones past the shared range', () => {
  assert.ok(msgPrefix(1) === msgPrefix(1), 'sid 1 is shared')
  assert.ok(msgPrefix(4095) === msgPrefix(4095), 'sid 4095 is shared')
  assert.ok(msgPrefix(70_000) !== msgPrefix(70_000), 'a high sid is made each time')
})

test('encodes every sid as the writer does, shared or not', () => {
  for (const sid of [0, 1, 127, 128, 255, 256, 4095, 4096, 65_535, 65_536, 2 ** 31 - 1]) {
    assert.equal([...msgPrefix(sid)], expected(sid), `sid ${sid}`)
    assert.equal([...msgPrefix(sid)], expected(sid), `sid ${sid}, asked again`)
  }
})

test.run()
