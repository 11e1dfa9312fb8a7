/**
 * The broker and a hidden page (issue 16 §3): a client says with a PING that its page is hidden
 * (`[6, { hidden: true }]`, PROTOCOL §4.7), and the broker then allows it HIDDEN_MISSED_PINGS unanswered PINGs
 * instead of two, since a frozen background tab runs no code; past that bound it is dropped like any silent
 * client, and a client that is visible again is back to two. Also: the reference client says so itself.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type PageEvent, type PageEvents } from '../../client/index.ts'
import { HIDDEN_MISSED_PINGS } from '../../server/edge/connection-host.ts'
import { CLOSE_CODE, OP } from '../../shared/protocol.ts'
import { MsgpackWriter as MsgpackWriterClass, type MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { WebSocket } from 'ws'
import type { WebSocketConstructor } from '../../client/index.ts'
import { RawClient, cleanupAfterEach, startBroker, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)
const HEARTBEAT = 40

/** `[6, { hidden }]`: the PING a client sends when its page is hidden or visible again. */
function statePing(hidden: boolean): (w: MsgpackWriter) => void {
  return (w) => { w.arrayHeader(2); w.uint(OP.PING); w.mapHeader(1); w.str('hidden'); w.bool(hidden) }
}

async function rawClient(url: string): Promise<RawClient> {
  const raw = track(new RawClient(url))
  await within(2000, raw.opened, 'open')
  raw.connect()
  return raw
}

const pings = (raw: RawClient): number => raw.ops.filter((op) => op.op === 'PING').length

test('a client whose page is hidden may miss more than two PINGs, up to HIDDEN_MISSED_PINGS', async () => {
  const b = track(await startBroker({ heartbeatMs: HEARTBEAT }))
  const raw = await rawClient(b.url)
  raw.sendOps(statePing(true))
  await raw.waitFor((op) => op.op === 'PONG', 2000, 'the PONG to the hidden PING')
  // Then silence, as a frozen tab: well past two missed PINGs it is still open.
  await until(5000, () => pings(raw) >= 4, 'four PINGs')
  assert.is(raw.closeCode, null, 'still open after 4 unanswered PINGs')
  assert.is(await raw.waitClose(HEARTBEAT * (HIDDEN_MISSED_PINGS + 6) + 2000), CLOSE_CODE.stale)
  assert.ok(pings(raw) >= HIDDEN_MISSED_PINGS, `dropped after ${pings(raw)} PINGs, not before ${HIDDEN_MISSED_PINGS}`)
})

test('a client visible again is back to two missed PINGs', async () => {
  const b = track(await startBroker({ heartbeatMs: HEARTBEAT }))
  const raw = await rawClient(b.url)
  raw.sendOps(statePing(true))
  raw.sendOps(statePing(false))
  await raw.waitFor((op) => op.op === 'PONG', 2000, 'a PONG')
  assert.is(await raw.waitClose(HEARTBEAT * 8 + 2000), CLOSE_CODE.stale)
  assert.ok(pings(raw) < HIDDEN_MISSED_PINGS, `dropped after ${pings(raw)} PINGs`)
})

test('a PING with a field of another type is a plain PING (a later version\'s field)', async () => {
  const b = track(await startBroker({ heartbeatMs: HEARTBEAT }))
  const raw = await rawClient(b.url)
  raw.sendOps((w) => { w.arrayHeader(2); w.uint(OP.PING); w.str('later') })
  await raw.waitFor((op) => op.op === 'PONG', 2000, 'the PONG')
  assert.is(await raw.waitClose(HEARTBEAT * 8 + 2000), CLOSE_CODE.stale)
})

test('the reference client tells the broker when its page is hidden, on every connection', async () => {
  const b = track(await startBroker({ heartbeatMs: 5000 }))
  let hidden = true
  const listeners = new Set<(e: PageEvent) => void>()
  const page: PageEvents = { listen: (fn) => { listeners.add(fn); return () => listeners.delete(fn) }, isHidden: () => hidden }
  // The socket class records every frame the client sends; the state PINGs are found in them.
  const sent: string[] = []
  class Recording extends WebSocket {
    override send(data: Uint8Array): void { sent.push(Buffer.from(data).toString('hex')); super.send(data) }
  }
  const c = track(await within(5000, connect(b.url, { pageEvents: page, WebSocket: Recording as unknown as WebSocketConstructor }), 'connect'))
  const hiddenPing = bytesOf(statePing(true))
  const visiblePing = bytesOf(statePing(false))
  const says = (hex: string): number => sent.filter((f) => f.includes(hex)).length
  await within(2000, c.flush(), 'a round trip')
  assert.is(says(hiddenPing), 1, 'connected in the background: it says so at once')
  hidden = false
  for (const fn of listeners) fn('visible')
  await within(2000, c.flush(), 'a round trip')
  assert.is(says(visiblePing), 1, 'visible again: the check PING says so')
  for (const fn of listeners) fn('hidden')
  await within(2000, c.flush(), 'a round trip')
  assert.is(says(hiddenPing), 2)
  // A new connection (the broker restarted, say) is told again.
  b.disconnect(b.connections()[0]?.id ?? '')
  await until(5000, () => says(hiddenPing) === 3, 'the hidden PING on the new connection')
})

function bytesOf(build: (w: MsgpackWriter) => void): string {
  const w = new MsgpackWriterClass()
  build(w)
  return Buffer.from(w.finish()).toString('hex')
}

test.run()
