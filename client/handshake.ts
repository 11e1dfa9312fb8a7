/**
 * One connection attempt's handshake (PROTOCOL §5): the socket opens, the server sends INFO, we send CONNECT
 * and a PING in one frame, and the server's PONG says CONNECT was accepted. Bounded by `connectTimeoutMs`.
 * The client opens the socket and routes the ops; this owns the steps, the deadline and the outcome.
 */
import { PING_BYTES, writeBodyOp } from '../shared/op-writer.ts'
import { SubwireError } from '../shared/errors.ts'
import { CLOSE_CODE, OP, PROTOCOL_VERSION, type ConnectInfo } from '../shared/protocol.ts'
import type { CredentialFields, Credentials } from './credentials.ts'
import { OpBuffer } from './op-buffer.ts'
import { DEFAULT_CONNECT_TIMEOUT, type ConnectOptions } from './options.ts'
import type { Resume } from './resume.ts'
import type { Transport } from './transport.ts'

const VERSION = '0.1.0'

/** What the handshake waits for: the socket to open, the server's INFO, the PONG to our PING. */
export type HandshakePhase = 'open' | 'info' | 'pong'

/** The handshake of one connection attempt; `done` settles with its outcome. */
export class Handshake {
  /** Resolves once the server answered CONNECT + PING; rejects with why the attempt failed. */
  readonly done: Promise<void>
  #transport: Transport | null = null
  #phase: HandshakePhase = 'open'
  #settled = false
  #resolve!: () => void
  #reject!: (err: SubwireError) => void
  readonly #timer: ReturnType<typeof setTimeout>
  readonly #options: ConnectOptions
  readonly #credentials: Credentials
  readonly #onFail: (hs: Handshake) => void
  readonly #resume: Resume | null

  /** `onFail` runs as the attempt fails, before `done` rejects (the client forgets its handshake there). */
  constructor(url: string, options: ConnectOptions, credentials: Credentials, onFail: (hs: Handshake) => void, resume: Resume | null = null) {
    this.#resume = resume
    this.#options = options
    this.#credentials = credentials
    this.#onFail = onFail
    this.done = new Promise<void>((resolve, reject) => { this.#resolve = resolve; this.#reject = reject })
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT
    this.#timer = setTimeout(() => this.reject(new SubwireError('timeout', `connecting to ${url} took longer than ${timeoutMs} ms`)), timeoutMs)
  }

  /** The attempt's socket, once it exists. */
  get transport(): Transport | null {
    return this.#transport
  }

  get phase(): HandshakePhase {
    return this.#phase
  }

  /** True once the attempt succeeded or failed. */
  get settled(): boolean {
    return this.#settled
  }

  /**
   * Takes the attempt's socket once it exists. Returns true when the attempt is still under way (the socket is
   * the client's now); false when it already failed or timed out, and the late socket is closed.
   */
  adopt(t: Transport): boolean {
    this.#transport = t
    if (!this.#settled) return true
    t.close(1000, '')
    return false
  }

  /** The socket is open: the server's INFO comes next. */
  opened(): void {
    if (this.#phase === 'open') this.#phase = 'info'
  }

  /** The server's INFO arrived (in phase `info`): CONNECT + PING go out, and the PONG is awaited. */
  onInfo(): void {
    this.#phase = 'pong'
    void this.#sendConnect()
  }

  /** The PONG arrived: the attempt succeeded. */
  resolve(): void {
    if (this.#settled) return
    this.#settled = true
    clearTimeout(this.#timer)
    this.#resolve()
  }

  /** The attempt failed: its socket is closed and `done` rejects with `err`. */
  reject(err: SubwireError): void {
    if (this.#settled) return
    this.#settled = true
    clearTimeout(this.#timer)
    this.#onFail(this)
    // Not 1000: the broker may have handed this attempt a resumed session (its answer was slow, not absent), and
    // a normal close would end it; any other code parks it for the next attempt (PROTOCOL §4.10).
    this.#transport?.close(CLOSE_CODE.connectTimeout, 'connect_timeout')
    this.#reject(err)
  }

  async #sendConnect(): Promise<void> {
    let credentials: CredentialFields
    try {
      credentials = await this.#credentials.read()
    } catch (err) {
      this.reject(err as SubwireError)
      return
    }
    const body: ConnectInfo = { protocol: PROTOCOL_VERSION, lang: 'js', version: VERSION, echo: this.#options.echo !== false, ...credentials }
    if (this.#options.name !== undefined) body.name = this.#options.name
    if (this.#resume !== null) body.resume = this.#resume.connectField()
    const w = new OpBuffer()
    writeBodyOp(w.writer, OP.CONNECT, body)
    w.writer.raw(PING_BYTES)
    for (const frame of w.take()) this.#transport?.send(frame)
  }
}
