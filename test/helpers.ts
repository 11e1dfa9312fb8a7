/**
 * Test helpers: deadlines for every await (uvu has no per-test timeout), brokers on 127.0.0.1 port 0, and a
 * raw protocol socket for tests that must speak the wire format directly.
 */
import { WebSocket, type ClientOptions } from 'ws'
import { createBroker, type Broker, type BrokerOptions } from '../server/index.ts'
import { FrameDecoder } from '../shared/frame-decoder.ts'
import { writeBodyOp } from '../shared/op-writer.ts'
import type { OpSink } from '../shared/op-sink.ts'
import { MsgpackWriter } from '../shared/msgpack-writer.ts'
import { OP, PROTOCOL_VERSION, SUBPROTOCOL } from '../shared/protocol.ts'
import type { WireValue } from '../shared/msgpack-reader.ts'
import type { Subscription } from '../client/subscription.ts'
import type { Msg } from '../client/message.ts'
import { SubwireError } from '../shared/errors.ts'

/** The error code `fn` throws, `'no error'`, or a description of a throw that is not a SubwireError. */
export function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof SubwireError) return err.code
    return `not a SubwireError: ${String(err)}`
  }
  return 'no error'
}

/**
 * Registers cleanup for a suite: `track(x)` returns x and closes it (newest first) after each test.
 * @example const track = cleanupAfterEach(test); const b = track(await startBroker())
 */
export function cleanupAfterEach(suite: { after: { each(fn: () => Promise<void>): void } }): <T extends { close(): unknown }>(x: T) => T {
  const open: Array<{ close(): unknown }> = []
  suite.after.each(async () => {
    for (const x of open.splice(0).reverse()) await x.close()
  })
  return (x) => {
    open.push(x)
    return x
  }
}

/** Rejects with a clear message if `promise` does not settle within `ms`. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `check` every 5 ms until it is true, failing after `ms`. */
export async function until(ms: number, check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(5)
  }
}

/** A broker on 127.0.0.1, any free port, silent. */
export function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  return createBroker({ host: '127.0.0.1', port: 0, ...options })
}

/** Reads `n` messages from a subscription, under a deadline. */
export async function take(sub: Subscription, n: number, ms = 5000): Promise<Msg[]> {
  const out: Msg[] = []
  if (n === 0) return out
  // next() rather than for-await: breaking out of for-await would unsubscribe.
  const it = sub[Symbol.asyncIterator]()
  const read = (async () => {
    while (out.length < n) {
      const r = await it.next()
      if (r.done === true) break
      out.push(r.value)
    }
    return out
  })()
  return within(ms, read, `${n} messages on ${sub.subject} (got ${out.length})`)
}

/** One decoded op as a raw socket sees it. */
export type RawOp =
  | { op: 'INFO'; body: Record<string, WireValue> }
  | { op: 'MSG'; sid: number; subject: string; reply: string | null; headers: Record<string, string> | null; encoding: number; payload: Uint8Array }
  | { op: 'PING' } | { op: 'PONG' }
  | { op: 'ERR'; code: string; message: string; ref: string | number | null }
  | { op: 'EVENT'; sid: number; type: string; data: Record<string, WireValue> }
  | { op: 'OTHER'; name: string }

/**
 * A WebSocket speaking the wire protocol by hand, for tests of what the broker does with exactly the bytes
 * a client sends. Collects every op the server sends, and the close code.
 */
export class RawClient {
  readonly ws: WebSocket
  readonly ops: RawOp[] = []
  closeCode: number | null = null
  closeReason = ''
  readonly opened: Promise<void>
  readonly closed: Promise<number>
  readonly #decoder = new FrameDecoder({ maxOpsPerFrame: 1_000_000, maxHeaders: 1000 })

  /** `options` go to the `ws` client (e.g. `{ perMessageDeflate: true }`). */
  constructor(url: string, protocols: string | string[] = SUBPROTOCOL.msgpack, options: ClientOptions = {}) {
    this.ws = new WebSocket(url, protocols, options)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, headers: res.headers })))
    })
    this.opened.catch(() => undefined)
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        resolve(code)
      })
    })
    this.ws.on('error', () => undefined)
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        for (const line of data.toString('utf8').split('\n')) if (line !== '') this.#pushJson(JSON.parse(line))
        return
      }
      this.#decoder.decode(data, this.#sink)
    })
  }

  #pushJson(op: unknown[]): void {
    const code = op[0]
    if (code === OP.INFO) this.ops.push({ op: 'INFO', body: op[1] as Record<string, WireValue> })
    else if (code === OP.MSG) this.ops.push({ op: 'MSG', sid: op[1] as number, subject: op[2] as string, reply: op[3] as string | null, headers: op[4] as Record<string, string> | null, encoding: op[5] as number, payload: new TextEncoder().encode(JSON.stringify(op[6])) })
    else if (code === OP.PING) this.ops.push({ op: 'PING' })
    else if (code === OP.PONG) this.ops.push({ op: 'PONG' })
    else if (code === OP.ERR) this.ops.push({ op: 'ERR', code: op[1] as string, message: op[2] as string, ref: (op[3] ?? null) as string | number | null })
    else this.ops.push({ op: 'OTHER', name: String(code) })
  }

  readonly #sink: OpSink = {
    onInfo: (body) => { this.ops.push({ op: 'INFO', body }) },
    onMsg: (sid, subject, reply, headers, encoding, frame, start, end) => { this.ops.push({ op: 'MSG', sid, subject, reply, headers, encoding, payload: frame.slice(start, end) }) },
    onPing: () => { this.ops.push({ op: 'PING' }) },
    onPong: () => { this.ops.push({ op: 'PONG' }) },
    onErr: (code, message, ref) => { this.ops.push({ op: 'ERR', code, message, ref }) },
    onConnect: () => { this.ops.push({ op: 'OTHER', name: 'CONNECT' }) },
    onAuth: () => { this.ops.push({ op: 'OTHER', name: 'AUTH' }) },
    onAck: () => { this.ops.push({ op: 'OTHER', name: 'ACK' }) },
    onEvent: (sid, type, data) => { this.ops.push({ op: 'EVENT', sid, type, data }) },
    onPub: () => { this.ops.push({ op: 'OTHER', name: 'PUB' }) },
    onSub: () => { this.ops.push({ op: 'OTHER', name: 'SUB' }) },
    onUnsub: () => { this.ops.push({ op: 'OTHER', name: 'UNSUB' }) },
  }

  /** Sends raw bytes (or text) as one frame. */
  send(data: Uint8Array | string): void {
    this.ws.send(data)
  }

  /** Sends ops built with a writer, as one binary frame. */
  sendOps(build: (w: MsgpackWriter) => void): void {
    const w = new MsgpackWriter(256)
    build(w)
    this.ws.send(w.finish())
  }

  /** Sends a valid CONNECT. */
  connect(extra: Record<string, unknown> = {}): void {
    this.sendOps((w) => writeBodyOp(w, OP.CONNECT, { protocol: PROTOCOL_VERSION, ...extra }))
  }

  /** Waits for an op matching `match`. */
  async waitFor(match: (op: RawOp) => boolean, ms = 3000, what = 'an op'): Promise<RawOp> {
    let found: RawOp | undefined
    await until(ms, () => (found = this.ops.find(match)) !== undefined, what)
    return found as RawOp
  }

  /** Waits for the close, returning its code. */
  waitClose(ms = 3000): Promise<number> {
    return within(ms, this.closed, 'the socket to close')
  }

  close(): void {
    this.ws.terminate()
  }
}
