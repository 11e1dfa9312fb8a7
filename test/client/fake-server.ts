/**
 * A fake broker for tests of the client against a broken or hostile server: a `ws` server on 127.0.0.1 that
 * speaks just enough subwire (INFO, PONG to the client's PINGs, recording its PUBs and AUTHs) to follow a
 * script that does the one bad thing a test is about.
 */
import { WebSocketServer, type WebSocket } from 'ws'
import { FrameDecoder } from '../../shared/frame-decoder.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { PONG_BYTES, writeBodyOp } from '../../shared/op-writer.ts'
import { OP, PROTOCOL_VERSION } from '../../shared/protocol.ts'
import { sinkWith } from '../hostile/wire.ts'

/** One socket of a fake server, and what its client sent on it. */
export interface FakeConn {
  /** 0 for the first connection to the server, 1 for the next, … */
  readonly n: number
  readonly ws: WebSocket
  /** PINGs after the handshake's own. */
  pings: number
  /** Subjects of the PUBs received. */
  readonly pubs: string[]
  /** AUTH ops received. */
  auths: number
  closed: boolean
}

/** What a fake server does; every hook is optional and defaults to an honest broker's answer. */
export interface Script {
  /** INFO body for connection `n` (merged over an honest one). */
  info?(n: number): Record<string, unknown>
  /** Called for the handshake's PING instead of answering it with a PONG. */
  handshake?(conn: FakeConn): void
  /** Called after each AUTH. */
  auth?(conn: FakeConn): void
}

/** Encodes ops with a fresh writer. */
export function frame(build: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(256)
  build(w)
  return w.finish()
}

function infoBody(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { serverId: 'fake', serverName: 'fake', version: '0.0.0', protocol: PROTOCOL_VERSION, maxPayload: 1 << 20,
    maxFrame: 4 << 20, maxSubjectLength: 256, heartbeatMs: 20_000, clientId: `c${n}`, ...extra }
}

/** A `ws` server on 127.0.0.1 that speaks just enough subwire to follow `script`. */
export class FakeServer {
  readonly conns: FakeConn[] = []
  readonly #wss: WebSocketServer
  readonly #script: Script

  private constructor(wss: WebSocketServer, script: Script) {
    this.#wss = wss
    this.#script = script
    wss.on('connection', (ws) => this.#accept(ws))
  }

  static async start(script: Script = {}, options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<FakeServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => [...p][0] ?? false, ...options })
    await new Promise((resolve) => wss.once('listening', resolve))
    return new FakeServer(wss, script)
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as { port: number }).port}/`
  }

  /** Sockets open now. */
  get open(): number {
    return this.conns.filter((c) => !c.closed).length
  }

  /** PINGs received after handshakes, on every connection. */
  get pings(): number {
    return this.conns.reduce((n, c) => n + c.pings, 0)
  }

  #accept(ws: WebSocket): void {
    const conn: FakeConn = { n: this.conns.length, ws, pings: 0, pubs: [], auths: 0, closed: false }
    this.conns.push(conn)
    ws.on('close', () => { conn.closed = true })
    ws.on('error', () => undefined)
    let handshaken = false
    const decoder = new FrameDecoder({ maxOpsPerFrame: 1_000_000, maxHeaders: 1000 })
    const sink = sinkWith({
      onPing: () => {
        if (!handshaken) {
          handshaken = true
          if (this.#script.handshake !== undefined) this.#script.handshake(conn)
          else ws.send(PONG_BYTES)
          return
        }
        conn.pings++
        ws.send(PONG_BYTES)
      },
      onPub: (_flags, subject) => { conn.pubs.push(subject) },
      onAuth: () => { conn.auths++; this.#script.auth?.(conn) },
      onConnect: () => undefined,
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => { if (isBinary) decoder.decode(data, sink) })
    ws.send(frame((w) => writeBodyOp(w, OP.INFO, infoBody(conn.n, this.#script.info?.(conn.n)))))
  }

  close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate()
    return new Promise((resolve) => this.#wss.close(() => resolve()))
  }
}

