/**
 * Resumable sessions on the raw wire, for the suites that speak PROTOCOL §4.10 themselves
 * (test/resume/resume-hostile.test.ts, test/review/resume-review.test.ts). Not a `.test.ts` file.
 */
import * as assert from 'uvu/assert'
import type { Broker } from '../../server/index.ts'
import type { WireValue } from '../../shared/msgpack-reader.ts'
import { PING_BYTES, writeBodyOp, writeSub } from '../../shared/op-writer.ts'
import { OP, PROTOCOL_VERSION, SUBPROTOCOL } from '../../shared/protocol.ts'
import { RawClient, until, within } from '../helpers.ts'

/** The broker's resume answer (the `resume` map of its INFO). */
export type Answer = Record<string, WireValue>

/** A suite's cleanup registration (`cleanupAfterEach`). */
export type Track = <T extends { close(): unknown }>(x: T) => T

/**
 * A raw connection (from local address `from`, if given) that CONNECTs with `resume`, SUBs `subs` as sids 1, 2, …
 * and waits for its PONG. Returns the socket and the broker's resume answer.
 */
export async function openSession(track: Track, b: Broker, resume: unknown, creds: Record<string, unknown> = {}, subs: string[] = [], from?: string): Promise<{ raw: RawClient; answer: Answer }> {
  const raw = track(new RawClient(b.url, SUBPROTOCOL.msgpack, from === undefined ? {} : { localAddress: from }))
  await within(2000, raw.opened, 'the socket to open')
  raw.sendOps((w) => {
    writeBodyOp(w, OP.CONNECT, { protocol: PROTOCOL_VERSION, resume, ...creds })
    subs.forEach((s, i) => writeSub(w, i + 1, s, null, null))
    w.raw(PING_BYTES)
  })
  await raw.waitFor((op) => op.op === 'PONG', 3000, 'the PONG')
  const info = raw.ops.find((op) => op.op === 'INFO' && op.body.resume !== undefined)
  assert.ok(info !== undefined && info.op === 'INFO', 'the broker answers resume in an INFO')
  return { raw, answer: info.body.resume as Answer }
}

/** Drops a raw socket without a close handshake and waits until the broker has seen it. */
export async function drop(b: Broker, raw: RawClient): Promise<void> {
  const before = b.stats().connections
  raw.close()
  await until(2000, () => b.stats().connections < before, 'the broker to see the drop')
}
