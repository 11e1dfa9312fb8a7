/**
 * The only file that touches a socket. It uses the global `WebSocket` in browsers and lazily loads `ws` in
 * Node (so bundlers for the browser never need it); a socket class can be injected for tests.
 */
import { CLOSE_CODE, SUBPROTOCOL } from '../shared/protocol.ts'

/** The WHATWG WebSocket surface the client relies on (browser `WebSocket` and `ws` both have it). */
export interface WebSocketLike {
  readonly readyState: number
  readonly protocol: string
  readonly bufferedAmount: number
  binaryType: string
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: { message?: string; error?: unknown }) => void) | null
}

/** A WebSocket constructor: `new (url, protocols, nodeOptions?)`. */
export type WebSocketConstructor = new (url: string, protocols: string[], options?: object) => WebSocketLike

/** A handshake the server refused with an HTTP status (visible in Node; browsers hide it). */
export interface HandshakeRefusal {
  status: number
  /** The `X-Subwire-Error` header: the error code. */
  code: string | null
  /** The `Retry-After` hint, in ms. */
  retryAfterMs: number | null
}

/** What a transport reports to the client. */
export interface TransportEvents {
  onOpen(): void
  onFrame(bytes: Uint8Array): void
  /** `reason` is the close reason; subwire servers put the error code there. */
  onClose(code: number, reason: string, error: string | null, refusal: HandshakeRefusal | null): void
}

/** The part of `ws`'s Node API used to read a refused handshake's status and headers. */
interface NodeUpgradeEvents {
  on(event: 'unexpected-response', listener: (req: { destroy(): void }, res: { statusCode?: number; headers: Record<string, string | string[] | undefined> }) => void): void
}

const OPEN = 1
const ignore = (): void => undefined

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process
  return typeof proc?.versions?.node === 'string'
}

let wsModule: Promise<WebSocketConstructor> | null = null

const maskPool = new Uint8Array(4096)
let maskPos = maskPool.length

/**
 * Masks for `ws` (RFC 6455 §5.3: from a strong source of entropy), never all zeros. With a zero mask `ws`
 * skips masking and keeps the caller's bytes to write later instead of masking them into its own copy, and the
 * client reuses its write buffer as soon as `send()` returns (Transport.sendsSynchronously).
 */
export function nonZeroMask(mask: Uint8Array): void {
  do {
    if (maskPos === maskPool.length) { globalThis.crypto.getRandomValues(maskPool); maskPos = 0 }
    mask[0] = maskPool[maskPos++]
    mask[1] = maskPool[maskPos++]
    mask[2] = maskPool[maskPos++]
    mask[3] = maskPool[maskPos++]
  } while ((mask[0] | mask[1] | mask[2] | mask[3]) === 0)
}

/** Picks the socket class: injected, else `ws` in Node (faster there, and it honours maxPayload), else the global. */
async function socketClass(injected: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (injected !== undefined) return injected
  if (isNode()) {
    wsModule ??= import('ws').then((m) => (m.WebSocket ?? m.default) as unknown as WebSocketConstructor)
    return wsModule
  }
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (global === undefined) throw new Error('no WebSocket implementation: pass options.WebSocket')
  return global
}

/** One WebSocket connection, speaking `subwire.v1`. */
export class Transport {
  readonly url: string
  /**
   * True when `send()` has consumed the bytes by the time it returns, so the caller may reuse its buffer:
   * browsers' WebSocket copies them (the spec's send() takes a snapshot), and so does the `ws` socket this class
   * makes itself (no compression, masks never zero: it masks into a copy of its own). A WebSocket class passed
   * in by the application gets a copy, as its behaviour is unknown.
   */
  sendsSynchronously = false
  #socket: WebSocketLike | null = null
  #events: TransportEvents
  #closed = false
  #lastError: string | null = null
  #refusal: HandshakeRefusal | null = null

  private constructor(url: string, events: TransportEvents) {
    this.url = url
    this.#events = events
  }

  /** Starts connecting; events arrive on `events`. Never throws for network failures (they arrive as onClose). */
  static async open(url: string, events: TransportEvents, options: { WebSocket?: WebSocketConstructor; maxFrame: number }): Promise<Transport> {
    const t = new Transport(url, events)
    const Ctor = await socketClass(options.WebSocket)
    let socket: WebSocketLike
    try {
      socket = isNode() && options.WebSocket === undefined
        ? new Ctor(url, [SUBPROTOCOL.msgpack], { perMessageDeflate: false, maxPayload: options.maxFrame, generateMask: nonZeroMask })
        : new Ctor(url, [SUBPROTOCOL.msgpack])
      t.sendsSynchronously = options.WebSocket === undefined
    } catch (err) {
      t.#lastError = err instanceof Error ? err.message : String(err)
      queueMicrotask(() => t.#finish(1006, ''))
      return t
    }
    t.#socket = socket
    if (isNode() && options.WebSocket === undefined) t.#watchRefusal(socket as unknown as NodeUpgradeEvents)
    // ws hands Buffers with 'nodebuffer' (no copy); browsers need 'arraybuffer' to avoid Blobs.
    socket.binaryType = isNode() && options.WebSocket === undefined ? 'nodebuffer' : 'arraybuffer'
    socket.onopen = () => {
      if (socket.protocol !== SUBPROTOCOL.msgpack) {
        t.#lastError = `server did not accept subprotocol ${SUBPROTOCOL.msgpack}`
        socket.close(1002, 'subprotocol')
        return
      }
      t.#events.onOpen()
    }
    socket.onmessage = (ev) => {
      const data = ev.data
      if (data instanceof Uint8Array) t.#events.onFrame(data)
      else if (data instanceof ArrayBuffer) t.#events.onFrame(new Uint8Array(data))
      else {
        // A text frame (or a Blob) on subwire.v1 is a protocol error (PROTOCOL §2), never a silent drop.
        t.#lastError = 'the server sent a frame that is not binary'
        t.close(CLOSE_CODE.protocol, 'protocol')
      }
    }
    socket.onerror = (ev) => {
      t.#lastError = ev.message ?? (ev.error instanceof Error ? ev.error.message : 'WebSocket error')
    }
    socket.onclose = (ev) => t.#finish(ev.code, ev.reason)
    return t
  }

  /**
   * In Node, reads a refused handshake's status, error code and Retry-After, so reconnects can honour the
   * server's hint. Handling this event means ws does no more on its own, so the close is reported here.
   */
  #watchRefusal(socket: NodeUpgradeEvents): void {
    socket.on('unexpected-response', (req, res) => {
      const header = (name: string): string | undefined => { const v = res.headers[name]; return Array.isArray(v) ? v[0] : v }
      const retry = Number(header('retry-after'))
      this.#refusal = { status: res.statusCode ?? 0, code: header('x-subwire-error') ?? null, retryAfterMs: Number.isFinite(retry) && retry >= 0 ? retry * 1000 : null }
      this.#lastError = `server refused the handshake with HTTP ${res.statusCode ?? '?'}`
      req.destroy()
      this.#finish(1006, '')
    })
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return
    this.#closed = true
    const s = this.#socket
    // Keep an error handler: ws emits 'error' when a still-connecting socket is closed, and an EventEmitter
    // with no 'error' listener would throw it at the process.
    if (s !== null) { s.onopen = null; s.onmessage = null; s.onerror = ignore; s.onclose = null }
    this.#events.onClose(code, reason, this.#lastError, this.#refusal)
  }

  get isOpen(): boolean {
    return !this.#closed && this.#socket?.readyState === OPEN
  }

  /** Bytes handed to the socket and not yet sent. */
  get bufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? 0
  }

  /** Sends one frame (dropped when the socket is not open); a bound function, so it can be passed along. */
  readonly send = (bytes: Uint8Array): void => {
    if (!this.isOpen) return
    try {
      (this.#socket as WebSocketLike).send(bytes)
    } catch (err) {
      // A socket that refuses a write is as good as lost: close it, so the client reconnects.
      this.#lastError = err instanceof Error ? err.message : String(err)
      const s = this.#socket as WebSocketLike
      this.#finish(1006, '')
      try { s.close() } catch { /* already reported as lost */ }
    }
  }

  /** Closes the socket; onClose follows (at once, if the socket never opened). */
  close(code = 1000, reason = ''): void {
    const s = this.#socket
    if (s === null || s.readyState >= 2 /* CLOSING */) {
      this.#finish(code, reason)
      return
    }
    try {
      s.close(code, reason)
    } catch {
      this.#finish(code, reason)
    }
    // A dead peer never answers the close handshake: report the close now rather than wait for it.
    this.#finish(code, reason)
  }
}
