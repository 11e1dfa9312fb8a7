/**
 * PING round trips: `flush()` callers and heartbeat probes waiting for their PONG, in the order the PINGs were
 * sent (the server answers in order), and the `flush()` callers waiting for a connection to send theirs on.
 */
import type { SubwireError } from '../shared/errors.ts'
import type { Outbound } from './outbound.ts'

/**
 * PINGs that tell the broker whether the page is hidden, `[6, { hidden: true }]` and `[6, { hidden: false }]`
 * (PROTOCOL §4.7): a hidden page's client may then leave more PINGs unanswered (a frozen tab runs no code).
 */
const HIDDEN_PING = Uint8Array.of(0x92, 0x06, 0x81, 0xa6, 0x68, 0x69, 0x64, 0x64, 0x65, 0x6e, 0xc3)
const VISIBLE_PING = Uint8Array.of(0x92, 0x06, 0x81, 0xa6, 0x68, 0x69, 0x64, 0x64, 0x65, 0x6e, 0xc2)

/** A waiter for a PONG: a flush() caller, or null for a heartbeat probe. */
export type PongWaiter = { resolve(): void; reject(err: SubwireError): void } | null

/** PINGs in flight on the current connection and the flush() callers waiting for one. */
export class Pings {
  readonly #outbound: Outbound
  /** One entry per PING sent on the current connection, in order. */
  #pongs: PongWaiter[] = []
  /** flush() callers waiting for a connection to send their PING on. */
  #deferred: Array<NonNullable<PongWaiter>> = []

  constructor(outbound: Outbound) {
    this.#outbound = outbound
  }

  /** A flush() caller's promise: its PING goes out now when `live` (connected or draining), else on the next connection. */
  flush(live: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject }
      if (live) this.send(waiter)
      else this.#deferred.push(waiter)
    })
  }

  /** Sends a PING on the current connection; `waiter` is settled by its PONG. `hidden`: it says the page's state. */
  send(waiter: PongWaiter, hidden?: boolean): void {
    this.#outbound.ping(hidden === undefined ? undefined : hidden ? HIDDEN_PING : VISIBLE_PING)
    this.#pongs.push(waiter)
    this.#outbound.schedule()
  }

  /** A new connection: nothing is in flight on it yet, and the deferred flush() callers send their PINGs. */
  connected(): void {
    this.#pongs = []
    const deferred = this.#deferred
    this.#deferred = []
    for (const waiter of deferred) this.send(waiter)
  }

  /** The connection is lost: PINGs sent on it will never be answered, so flush() callers wait for the next one. */
  lost(): void {
    for (const waiter of this.#pongs) if (waiter !== null) this.#deferred.push(waiter)
    this.#pongs = []
  }

  /** A PONG answers the oldest PING in flight. */
  onPong(): void {
    const waiter = this.#pongs.shift()
    waiter?.resolve()
  }

  /** Fails every waiter (the client is closed). */
  rejectAll(err: SubwireError): void {
    for (const w of this.#pongs) w?.reject(err)
    for (const w of this.#deferred) w.reject(err)
    this.#pongs = []
    this.#deferred = []
  }
}
