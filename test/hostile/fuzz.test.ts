/**
 * Fuzzing the broker (issue 4): 20,000 random and mutated frames (fuzz-frames.ts) over nine connections of
 * both subprotocols, some before CONNECT. After every frame the connection sends a PING: the broker must answer
 * it or close the connection with `protocol` (4000), within a deadline, and every frame it sends must decode
 * and carry only documented error codes. Meanwhile a canary must lose nothing, and afterwards the broker must
 * hold no connection or subscription of the fuzzers and its heap must come back near where it started.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { WebSocket } from 'ws'
import type { Broker } from '../../server/index.ts'
import { FrameDecoder } from '../../shared/frame-decoder.ts'
import { PING_BYTES, writeBodyOp } from '../../shared/op-writer.ts'
import type { OpSink } from '../../shared/op-sink.ts'
import { isErrorCode } from '../../shared/errors.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { OP, PROTOCOL_VERSION, SUBPROTOCOL } from '../../shared/protocol.ts'
import { cleanupAfterEach, startBroker, until, within } from '../helpers.ts'
import { Canary } from './canary.ts'
import { fuzzFrame, type FuzzFrame } from './fuzz-frames.ts'
import { collectGarbage } from './memory.ts'
import { sinkWith } from './wire.ts'

const track = cleanupAfterEach(test)

/** Frames in all, sent in runs of BATCH (one fast-check run each). */
const FRAMES = 20_000
const BATCH = 100
/** Close codes a fuzz frame may cause: `protocol` only. 1006 (cut without a close) or 1011 would be a failure. */
const ALLOWED_CLOSES: ReadonlySet<number> = new Set([4000])
const MIB = 1024 * 1024

const CONNECT_BYTES = (() => {
  const w = new MsgpackWriter(32)
  writeBodyOp(w, OP.CONNECT, { protocol: PROTOCOL_VERSION, name: 'fuzz' })
  return w.finish()
})()

/** What the fuzz run saw, across every socket. */
class Tally {
  readonly problems: string[] = []
  readonly errCodes = new Map<string, number>()
  readonly closes = new Map<number, number>()
  readonly sources = new Map<string, { alive: number; closed: number }>()
  alive = 0
  closed = 0
  sockets = 0

  outcome(frame: FuzzFrame, closeCode: number | null): void {
    const s = this.sources.get(frame.source) ?? { alive: 0, closed: 0 }
    this.sources.set(frame.source, s)
    if (closeCode === null) { this.alive++; s.alive++; return }
    this.closed++
    s.closed++
    this.closes.set(closeCode, (this.closes.get(closeCode) ?? 0) + 1)
  }

  err(code: string): void {
    this.errCodes.set(code, (this.errCodes.get(code) ?? 0) + 1)
    if (!isErrorCode(code)) this.problems.push(`undocumented ERR code ${JSON.stringify(code)}`)
  }
}

/** A socket that counts PONGs and checks every op the broker sends, without keeping them. */
class FuzzSocket {
  readonly ws: WebSocket
  readonly json: boolean
  pongs = 0
  closeCode: number | null = null
  readonly opened: Promise<void>
  #wake: (() => void) | null = null
  readonly #tally: Tally
  readonly #decoder = new FrameDecoder({ maxOpsPerFrame: Number.MAX_SAFE_INTEGER, maxHeaders: 1000 })
  readonly #sink: OpSink

  constructor(url: string, json: boolean, tally: Tally) {
    this.json = json
    this.#tally = tally
    this.#sink = sinkWith({
      onPong: () => { this.pongs++ },
      onErr: (code) => tally.err(code),
      onConnect: () => { tally.problems.push('the broker sent CONNECT') },
      onAuth: () => { tally.problems.push('the broker sent AUTH') },
      onPub: () => { tally.problems.push('the broker sent PUB') },
      onSub: () => { tally.problems.push('the broker sent SUB') },
      onUnsub: () => { tally.problems.push('the broker sent UNSUB') },
    })
    this.ws = new WebSocket(url, json ? SUBPROTOCOL.json : SUBPROTOCOL.msgpack)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.opened.catch(() => undefined)
    this.ws.on('error', () => undefined)
    this.ws.on('close', (code) => { this.closeCode = code; this.#wake?.() })
    this.ws.on('message', (data: Buffer, isBinary: boolean) => { this.#read(data, isBinary); this.#wake?.() })
  }

  #read(data: Buffer, isBinary: boolean): void {
    if (isBinary !== !this.json) { this.#tally.problems.push('the broker sent a frame of the wrong kind'); return }
    if (isBinary) {
      try {
        this.#decoder.decode(data, this.#sink)
      } catch (err) {
        this.#tally.problems.push(`the broker sent an undecodable frame: ${(err as Error).message}`)
      }
      return
    }
    for (const line of data.toString('utf8').split('\n')) {
      let op: unknown
      try {
        op = JSON.parse(line)
      } catch {
        this.#tally.problems.push(`the broker sent a line that is not JSON: ${line.slice(0, 80)}`)
        continue
      }
      if (!Array.isArray(op)) this.#tally.problems.push(`the broker sent a line that is not an op: ${line.slice(0, 80)}`)
      else if (op[0] === OP.PONG) this.pongs++
      else if (op[0] === OP.ERR) this.#tally.err(String(op[1]))
    }
  }

  /** Resolves once a PONG beyond `pongs` has arrived, or the socket has closed. */
  settle(pongs: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.pongs <= pongs && this.closeCode === null) return
        this.#wake = null
        resolve()
      }
      this.#wake = check
      check()
    })
  }

  close(): void {
    this.ws.terminate()
  }
}

/** One fuzzing connection: reconnects (and CONNECTs, unless it fuzzes the pre-CONNECT state) after every close. */
class Slot {
  readonly json: boolean
  readonly connects: boolean
  #socket: FuzzSocket | null = null

  constructor(json: boolean, connects: boolean) {
    this.json = json
    this.connects = connects
  }

  async socket(url: string, tally: Tally): Promise<FuzzSocket> {
    const current = this.#socket
    if (current !== null && current.closeCode === null && current.ws.readyState === WebSocket.OPEN) return current
    current?.close()
    const next = new FuzzSocket(url, this.json, tally)
    this.#socket = next
    tally.sockets++
    await within(5000, next.opened, 'a fuzz socket to open')
    if (this.connects) next.ws.send(this.json ? `[${OP.CONNECT},{"protocol":${PROTOCOL_VERSION}}]` : CONNECT_BYTES)
    return next
  }

  close(): void {
    this.#socket?.close()
    this.#socket = null
  }
}

/** Sends one frame then a PING barrier, and records whether the connection survived. */
async function fire(slot: Slot, frame: FuzzFrame, url: string, tally: Tally): Promise<void> {
  const s = await slot.socket(url, tally)
  const pongs = s.pongs
  s.ws.send(frame.data, { binary: frame.kind === 'binary' })
  s.ws.send(slot.json ? `[${OP.PING}]` : PING_BYTES)
  await within(5000, s.settle(pongs), `the broker to answer or close after a "${frame.source}" frame`)
  tally.outcome(frame, s.closeCode)
  if (s.closeCode !== null && !ALLOWED_CLOSES.has(s.closeCode)) {
    throw new Error(`a "${frame.source}" frame closed the connection with ${s.closeCode}: ${describe(frame)}`)
  }
}

function describe(frame: FuzzFrame): string {
  return typeof frame.data === 'string' ? JSON.stringify(frame.data) : `bytes ${Buffer.from(frame.data).toString('hex')}`
}

/** Binary and JSON slots, connected, plus one of each that never sends CONNECT itself. */
function makeSlots(): { binary: Slot[]; json: Slot[] } {
  return {
    binary: [new Slot(false, true), new Slot(false, true), new Slot(false, true), new Slot(false, true), new Slot(false, false)],
    json: [new Slot(true, true), new Slot(true, true), new Slot(true, false)],
  }
}

/** Sends a batch: each slot works through its share in order, all slots at once. */
async function sendBatch(frames: FuzzFrame[], slots: { binary: Slot[]; json: Slot[] }, url: string, tally: Tally): Promise<void> {
  const queues = new Map<Slot, FuzzFrame[]>()
  frames.forEach((frame, i) => {
    const textSocket = frame.kind === 'text' ? !frame.crossed : frame.crossed
    const pool = textSocket ? slots.json : slots.binary
    const slot = pool[i % pool.length]
    const queue = queues.get(slot) ?? []
    queue.push(frame)
    queues.set(slot, queue)
  })
  await Promise.all([...queues].map(async ([slot, queue]) => {
    for (const frame of queue) await fire(slot, frame, url, tally)
  }))
}

test('survives 20,000 random and mutated frames: every frame answered or closed 4000, the canary intact, memory back', async () => {
  const broker: Broker = track(await startBroker({ maxConnectsPerSecond: 1_000_000 }))
  const canary = track(await Canary.start(broker.url))
  const slots = makeSlots()
  track({ close: () => { for (const s of [...slots.binary, ...slots.json]) s.close() } })
  const tally = new Tally()
  collectGarbage()
  const heapBefore = process.memoryUsage().heapUsed
  let runs = 0
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
  await fc.assert(
    fc.asyncProperty(fc.array(fuzzFrame, { minLength: BATCH, maxLength: BATCH }), async (frames) => {
      await sendBatch(frames, slots, broker.url, tally)
      assert.equal(tally.problems, [])
      if (++runs % 10 === 0) await canary.check(`after ${runs * BATCH} fuzz frames`)
    }),
    { numRuns: FRAMES / BATCH, endOnFailure: true, ...(seed === undefined ? {} : { seed }) },
  )
  assert.is(runs * BATCH, FRAMES)
  await canary.check('after the fuzz run')

  // The fuzz reached past the decoder: most inputs either stayed up or were refused, and some got to routing.
  assert.ok(tally.alive >= FRAMES / 10, `${tally.alive} frames left the connection up`)
  assert.ok(tally.closed >= FRAMES / 10, `${tally.closed} frames closed it`)
  assert.ok((tally.errCodes.get('bad_subject') ?? 0) > 0, 'some frames reached subject validation')

  for (const s of [...slots.binary, ...slots.json]) s.close()
  await until(5000, () => broker.stats().connections === 1, `the fuzz connections to go (${broker.stats().connections} left)`)
  assert.is(broker.stats().subscriptions, 1, 'only the canary\'s subscription is left')
  await canary.stop('at the end of the fuzz run')
  collectGarbage()
  const grew = process.memoryUsage().heapUsed - heapBefore
  assert.ok(grew < 30 * MIB, `heap grew by ${(grew / MIB).toFixed(1)} MiB over ${tally.sockets} sockets`)
})

test.run()
