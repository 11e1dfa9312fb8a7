/**
 * Input a connection may not decode yet: frames that arrive while CONNECT is being authenticated, and frames
 * held back while a per-connection rate limit pays off its debt. Pausing the socket alone would still let
 * through what `ws` had already read, so those frames wait here, in order and bounded, and the socket is paused
 * meanwhile (TCP backpressure does the rest).
 *
 * A connection makes its gate only when it needs one (rate limits configured, or input to hold) and drops an
 * idle one, so most connections carry none (bench E counts idle connections in bytes).
 */
import type { WebSocket } from 'ws'
import { decodeJsonFrame } from '../../shared/json-frame.ts'
import type { FrameDecoder } from '../../shared/frame-decoder.ts'
import type { DecodeLimits, OpSink } from '../../shared/op-sink.ts'
import { SubwireError } from '../../shared/errors.ts'
import type { BrokerConfig } from '../options.ts'
import { TokenBucket } from './rate-limit.ts'

/** The connection, as its gate sees it. */
export interface GateOwner extends OpSink {
  /** True while held input may be decoded: open, or still awaiting CONNECT (not authenticating or closing). */
  readonly decoding: boolean
  /** A throttle ended: the owner resumes reading unless something else keeps it paused. */
  onThrottleEnd(): void
  onInboundError(err: unknown): void
}

/** What decoding needs from the broker. */
export interface GateHost {
  readonly config: BrokerConfig
  readonly decoder: FrameDecoder
  readonly decodeLimits: DecodeLimits
}

/** Decodes one frame into `sink`; returns where decoding stopped (short of the end while CONNECT is checked). */
export function decodeInput(host: GateHost, frame: Buffer | string, sink: OpSink): number {
  return typeof frame === 'string' ? decodeJsonFrame(frame, sink, host.decodeLimits) : host.decoder.decode(frame, sink)
}

export class InboundGate {
  readonly #owner: GateOwner
  readonly #host: GateHost
  readonly #socket: WebSocket
  /** Made on first hold: a rate-limited connection keeps its gate for life, mostly with nothing held. */
  #held: Array<Buffer | string> | null = null
  #heldBytes = 0
  readonly #msgRate: TokenBucket | null
  readonly #byteRate: TokenBucket | null
  #throttleTimer: NodeJS.Timeout | null = null

  /** True when the broker's config asks for per-connection rate limits (a gate is then needed from the start). */
  static isMetered(config: BrokerConfig): boolean {
    return config.maxMsgsPerSecond > 0 || config.maxBytesPerSecond > 0
  }

  constructor(owner: GateOwner, host: GateHost, socket: WebSocket) {
    this.#owner = owner
    this.#host = host
    this.#socket = socket
    const config = host.config
    this.#msgRate = config.maxMsgsPerSecond > 0 ? new TokenBucket(config.maxMsgsPerSecond) : null
    this.#byteRate = config.maxBytesPerSecond > 0 ? new TokenBucket(config.maxBytesPerSecond) : null
  }

  /** True when PUBs are metered against rate limits. */
  get metered(): boolean {
    return this.#msgRate !== null || this.#byteRate !== null
  }

  /** True while a rate limit holds input back. */
  get throttled(): boolean {
    return this.#throttleTimer !== null
  }

  /** True when nothing is held and no throttle runs: a frame may be decoded straight away. */
  get passing(): boolean {
    return (this.#held === null || this.#held.length === 0) && this.#throttleTimer === null
  }

  /** True when the gate holds nothing and limits nothing: the owner may drop it. */
  get idle(): boolean {
    return this.passing && !this.metered
  }

  /**
   * Holds a frame behind any already held, bounded at twice the frame limit.
   * @throws SubwireError `limit` past the bound
   */
  hold(frame: Buffer | string): void {
    this.#heldBytes += frame.length
    if (this.#heldBytes > 2 * this.#host.config.maxFrame) throw new SubwireError('limit', 'too much input while authentication or a rate limit holds it')
    ;(this.#held ??= []).push(frame)
  }

  /** Decodes held frames in order while nothing holds them (authentication, rate limit, closing). */
  drain(): void {
    const held = this.#held
    if (held === null) return
    const owner = this.#owner
    while (held.length > 0 && this.#throttleTimer === null && owner.decoding) {
      const frame = held.shift() as Buffer | string
      this.#heldBytes -= frame.length
      const stop = decodeInput(this.#host, frame, owner)
      if (stop < frame.length) {
        // CONNECT is being authenticated: the rest of its frame waits at the front.
        const rest = frame.slice(stop)
        held.unshift(rest)
        this.#heldBytes += rest.length
        return
      }
    }
    if (held.length === 0) this.#held = null
  }

  /** Counts one PUB against the rate limits: a client over its rate has its reads paused while it is ahead. */
  meter(size: number): void {
    const wait = Math.max(this.#msgRate?.take(1) ?? 0, this.#byteRate?.take(size) ?? 0)
    if (wait === 0 || this.#throttleTimer !== null) return
    this.#socket.pause()
    this.#throttleTimer = setTimeout(InboundGate.#throttleEnded, wait, this)
    this.#throttleTimer.unref()
  }

  static #throttleEnded(gate: InboundGate): void {
    gate.#throttleTimer = null
    try {
      gate.drain()
    } catch (err) {
      gate.#owner.onInboundError(err)
    }
    if (gate.#throttleTimer === null) gate.#owner.onThrottleEnd()
  }

  /** Drops what is held and stops the throttle timer (the connection closed). */
  close(): void {
    if (this.#throttleTimer !== null) { clearTimeout(this.#throttleTimer); this.#throttleTimer = null }
    this.#held = null
    this.#heldBytes = 0
  }
}
