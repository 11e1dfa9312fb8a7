/**
 * What a tab and the SharedWorker say to each other over a `MessagePort` (`connect(url, { shared: true })`).
 * Everything crosses by structured clone, so errors travel as `{ code, message }` and payloads as their encoded
 * bytes (decoded lazily in the tab, as on a connection of its own).
 */
import { SubwireError, isErrorCode } from '../../shared/errors.ts'
import { Encoded, encodePayload } from '../../shared/payload-codec.ts'
import type { Encoding, Info } from '../../shared/protocol.ts'
import type { ClientState } from '../client-state.ts'
import type { ReconnectOptions } from '../reconnect.ts'
import type { Status } from '../status.ts'

/** The options a tab hands to the worker: those that survive structured clone (no function, no class). */
export interface WorkerConnectOptions {
  name?: string
  token?: string
  user?: string
  password?: string
  reconnect?: ReconnectOptions | false
  maxPendingBytes?: number
  connectTimeoutMs?: number
  checkTimeoutMs?: number
  /** The shared connection resumes its session after a drop: every tab's subscriptions with it. */
  resume?: boolean
  /** The tab's `token` is a function: the worker asks a tab for a token before every (re)connect. */
  tokenFromTab: boolean
  /** A tab silent for this long (no answer to the worker's pings) is taken for closed. */
  tabTimeoutMs: number
}

/** An error as it crosses the port. */
export interface WireError { code: string; message: string }

export function toWire(err: unknown): WireError {
  if (err instanceof SubwireError) return { code: err.code, message: err.message }
  return { code: 'protocol', message: err instanceof Error ? err.message : String(err) }
}

export function fromWire(e: WireError): SubwireError {
  return new SubwireError(isErrorCode(e.code) ? e.code : 'protocol', e.message)
}

/** A status event as it crosses the port: its fields but `error`, and that as a WireError. */
export interface WireStatus { fields: { type: Status['type'] } & Record<string, unknown>; error: WireError | null }

export function statusToWire(s: Status): WireStatus {
  const { error, ...fields } = s as Status & { error?: Error | null }
  return { fields, error: error === undefined || error === null ? null : toWire(error) }
}

export function statusFromWire(w: WireStatus): Status {
  const s: Record<string, unknown> = { ...w.fields }
  if (w.error !== null) s.error = fromWire(w.error)
  else if (w.fields.type === 'disconnect' || w.fields.type === 'close') s.error = null
  return s as Status
}

/** One message for a tab: the tab's sids it goes to, then the fields of a MSG. */
export type WireMsg = [sids: number[], subject: string, reply: string | null, headers: Record<string, string> | null,
  encoding: number, payload: Uint8Array, seq: number, time: number, deliveryCount: number]

/** What a subscription asks of the worker: its options that concern the broker. */
export interface WireSub {
  subject: string
  queue?: string
  /** Replay, acks, policy (PROTOCOL §8.3): such a subscription gets a broker subscription of its own. */
  options?: Record<string, unknown>
}

/**
 * A payload as the tab encoded it (payload-codec.ts), so that the worker publishes the bytes a connection of the
 * tab's own would have: structured clone of the value itself would lose `toJSON`, refuse methods, and so on.
 */
export interface WirePayload { encoding: Encoding; bytes: Uint8Array }

/** Encodes `data` in the tab; the bytes are copied out of the encoder's buffer (a view would clone all of it). */
export function toWirePayload(data: unknown): WirePayload {
  const { encoding, bytes } = encodePayload(data)
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
  return { encoding, bytes: whole ? bytes : bytes.slice() }
}

export function fromWirePayload(p: WirePayload): Encoded {
  return new Encoded(p.encoding, p.bytes)
}

/** Tab → worker. `id` numbers calls that get an answer (`done`/`fail`). */
export type TabToWorker =
  | { t: 'hello'; servers: string[]; options: WorkerConnectOptions }
  | { t: 'sub'; sid: number; sub: WireSub }
  | { t: 'unsub'; sid: number }
  | { t: 'drain'; sid: number; id: number }
  | { t: 'pub'; subject: string; data: WirePayload; reply?: string; headers?: Record<string, string> }
  | { t: 'request'; id: number; subject: string; data: WirePayload; timeout: number; headers?: Record<string, string> }
  | { t: 'publishAck'; id: number; subject: string; data: WirePayload; options: { msgId?: string; expectedLastSeq?: number; headers?: Record<string, string>; timeout?: number } }
  | { t: 'flush'; id: number }
  | { t: 'settle'; sid: number; seq: number; kind: number; delayMs?: number }
  | { t: 'token'; id: number; token: string | null; error: WireError | null }
  /** The page became visible or went online: the worker checks its connection at once. */
  | { t: 'check' }
  | { t: 'took'; bytes: number }
  | { t: 'pong' }
  | { t: 'bye' }

/** Worker → tab. */
export type WorkerToTab =
  | { t: 'ready'; state: ClientState; server: string; info: Info | null }
  | { t: 'failed'; error: WireError }
  | { t: 'state'; state: ClientState; server: string; info: Info | null }
  /** Messages; the tab answers `took` with `bytes` once it has delivered them (flow control, worker-tab.ts). */
  | { t: 'msgs'; batch: WireMsg[]; bytes: number }
  | { t: 'done'; id: number; value: unknown; msg: WireMsg | null }
  | { t: 'fail'; id: number; error: WireError }
  /** A subscription ended at the worker (refused, or the shared connection closed). */
  | { t: 'subEnd'; sid: number; error: WireError | null }
  /** A subscription event (gap, broker slow_consumer) for the tab's subscription `sid`. */
  | { t: 'subEvent'; sid: number; error: WireError }
  | { t: 'status'; status: WireStatus }
  | { t: 'tokenPlease'; id: number }
  | { t: 'ping' }
  /** The worker had taken this tab for closed; it sends its subscriptions again. */
  | { t: 'revive' }
  /** The worker has no connection for this tab any more: it says hello again, then sends its subscriptions. */
  | { t: 'rejoin' }

/** The port surface both sides use (a `MessagePort`, or a fake one in tests). */
export interface PortLike {
  postMessage(message: unknown): void
  onmessage: ((ev: MessageEvent) => void) | null
  start?(): void
  close(): void
}
