/**
 * The shape of a hostile-input row, the brokers rows run against, and the small socket moves rows share
 * (a PING round trip, a CONNECT in either subprotocol, not reading).
 */
import type { Broker, BrokerOptions } from '../../server/index.ts'
import type { ErrorCode } from '../../shared/errors.ts'
import { OP, PROTOCOL_VERSION, SUBPROTOCOL } from '../../shared/protocol.ts'
import { PING_BYTES, writeBodyOp } from '../../shared/op-writer.ts'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import type { RawClient, RawOp } from '../helpers.ts'
import type { Canary } from './canary.ts'
import type { Probe } from './wire.ts'

/** What must happen after a row's input. */
export interface Expect {
  /** An ERR with this code arrives (before the close, when `close` is set too). */
  err?: ErrorCode
  /** The ERR's `ref` (the subject of a PUB, the sid of a SUB). */
  ref?: string | number
  /** The socket is closed with this WebSocket close code. */
  close?: number
  /** The handshake is refused with this HTTP status. */
  refused?: number
  /** The connection stays up: it answers a PING afterwards (and, without `err`, got no ERR at all). */
  stays?: true
}

/** What a row's `send` may use besides its own socket. */
export interface RowContext {
  readonly broker: Broker
  readonly canary: Canary
  /** Closes `x` after the row. */
  track<T extends { close(): unknown }>(x: T): T
  /** Another raw client on the row's broker, CONNECTed (its PONG received); closed after the row. */
  open(subprotocol?: string): Promise<RawClient>
}

export interface Row {
  /** A behaviour sentence: what the broker does with this input. */
  name: string
  /** Subprotocol(s) the row's socket offers. @default 'subwire.v1' */
  subprotocol?: string | string[]
  /** Rows with the same options object share one broker (and its canary). @default BROKERS.shared */
  brokerOptions?: BrokerOptions
  /** Send a valid CONNECT and wait for its PONG before `send`. @default true */
  connected?: boolean
  /** Open this many sockets at once (a connect flood); `expect.refused` is then about some of them. */
  flood?: number
  /**
   * Sends the hostile input. Returns the socket the expectation is about when that is not `raw` (a socket
   * `RawClient` cannot make, such as one with permessage-deflate).
   */
  send: (raw: RawClient, ctx: RowContext) => void | Probe | Promise<void | Probe>
  expect: Expect
}

const KIB = 1024
const MIB = 1024 * KIB

/** A token the `tokens` brokers accept. */
export const GOOD_TOKEN = 'good-token-123'
const TOKENS = { tokens: [{ token: GOOD_TOKEN, user: 'u' }] }

/** Brokers rows run against; each gets its own canary. */
export const BROKERS = {
  /** Default limits: most rows. */
  shared: {},
  /** `maxSubscriptionsPerConnection: 1000`. */
  fewSubscriptions: { maxSubscriptionsPerConnection: 1000 },
  /** Small outbound caps, so floods and stalled readers meet `maxPendingBytes` in milliseconds. */
  smallQueues: { maxPayload: 64 * KIB, maxFrame: 256 * KIB, maxPendingBytes: 512 * KIB, stallMs: 50, closeGraceMs: 10_000 },
  /** Admits 50 new connections a second. */
  connectRate: { maxConnectsPerSecond: 50 },
  /** permessage-deflate on, inflated messages capped at 2 MiB. */
  deflate: { perMessageDeflate: true, maxFrame: 2 * MIB, maxPayload: 1 * MIB },
  /** Token authentication. */
  tokens: { auth: TOKENS },
  /** Token authentication, for guessing on a live connection (its own broker: failures count per broker). */
  tokensForGuessing: { auth: TOKENS },
  /** Token authentication with a 200 ms deadline for CONNECT. */
  tokensQuickTimeout: { auth: TOKENS, authTimeoutMs: 200 },
} satisfies Record<string, BrokerOptions>

/** The name of a broker profile, for messages. */
export function profileName(options: BrokerOptions): string {
  return Object.entries(BROKERS).find(([, o]) => o === options)?.[0] ?? 'custom'
}

/** The token a profile's clients need, if any. */
export function profileToken(options: BrokerOptions): string | undefined {
  return options.auth?.tokens?.[0]?.token
}

const isPong = (op: RawOp): boolean => op.op === 'PONG'

/** True when `raw` speaks the JSON subprotocol. */
export function speaksJson(raw: RawClient): boolean {
  return raw.ws.protocol === SUBPROTOCOL.json
}

/** Sends a PING in the socket's subprotocol and waits for its PONG: the broker has processed all before it. */
export async function pong(raw: RawClient, ms = 5000): Promise<void> {
  const before = raw.ops.filter(isPong).length
  raw.send(speaksJson(raw) ? `[${OP.PING}]` : PING_BYTES)
  await raw.waitFor(() => raw.ops.filter(isPong).length > before || raw.closeCode !== null, ms, 'a PONG')
  if (raw.ops.filter(isPong).length === before) throw new Error(`closed with ${raw.closeCode} instead of answering a PING`)
}

/** Sends a valid CONNECT (with `token` if given) in the socket's subprotocol, and waits for the PONG. */
export async function handshake(raw: RawClient, token?: string): Promise<void> {
  const body = { protocol: PROTOCOL_VERSION, name: 'hostile', ...(token === undefined ? {} : { token }) }
  if (speaksJson(raw)) raw.send(`[${OP.CONNECT},${JSON.stringify(body)}]`)
  else {
    const w = new MsgpackWriter(64)
    writeBodyOp(w, OP.CONNECT, body)
    raw.send(w.finish())
  }
  await pong(raw)
}

interface PausableSocket { pause(): void; resume(): void }

function tcp(raw: RawClient): PausableSocket {
  return (raw.ws as unknown as { _socket: PausableSocket })._socket
}

/** Stops reading the socket (TCP backpressure reaches the broker) and forgets whatever arrives later. */
export function stopReading(raw: RawClient): void {
  raw.ws.removeAllListeners('message')
  tcp(raw).pause()
}

/** Reads again (discarding the backlog), so the close frame behind it can arrive. */
export function resumeReading(raw: RawClient): void {
  tcp(raw).resume()
}
