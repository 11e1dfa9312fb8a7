/**
 * Held messages (server/outbound/held-messages.ts) own their bytes: a snapshot of a delivery whose tail is a
 * view into a publisher's larger frame (a Node Buffer, as ws hands frames to the broker) copies the tail alone.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Delivery } from '../../server/outbound/delivery.ts'
import { snapshot } from '../../server/outbound/held-messages.ts'

test('a snapshot copies the tail out of the publisher frame it is a view of, keeping none of the frame', () => {
  const frame = Buffer.alloc(64 * 1024, 7)
  const tail = frame.subarray(1000, 1100)
  const d = new Delivery().loadTail('prices.eu', null, 0, tail, 90)
  const copy = snapshot(d)
  const held = copy.binaryTail()
  assert.is(held.byteLength, 100)
  assert.is(held.buffer.byteLength, 100, 'the copy must not keep the 64 KiB frame alive')
  assert.equal([...held], [...tail])
  frame.fill(9)
  assert.is(held[0], 7, 'later writes to the frame do not reach the held message')
})

test.run()
