/** Options of `connect()`, `publish()` and `request()`, and the client's defaults, in one place (HOUSE_STYLE 9). */
import type { ReconnectOptions } from './reconnect.ts'
import type { WebSocketConstructor } from './transport.ts'

/** Options of `connect()`. */
export interface ConnectOptions {
  /** Shown in the broker's logs. */
  name?: string
  /** Credential sent in CONNECT; a function is called before every (re)connect, so a refreshed token is used. */
  token?: string | (() => string | Promise<string>)
  user?: string
  password?: string
  /** Reconnect policy; `false` turns reconnecting off. */
  reconnect?: ReconnectOptions | false
  /** Bytes of publishes kept while disconnected; past it `publish` throws `disconnected_buffer_full`. @default 8 MiB */
  maxPendingBytes?: number
  /** Time one connection attempt may take, handshake included. @default 10000 */
  connectTimeoutMs?: number
  /** Receive this connection's own publishes on its own subscriptions. @default true */
  echo?: boolean
  /** WebSocket class to use instead of the global one (or `ws` in Node). */
  WebSocket?: WebSocketConstructor
  /**
   * Checks every message's data (and every `request` reply's) before the application sees it, e.g. a zod
   * schema's `parse`; `kind` says which. A throw refuses it: the message is not delivered (it still counts
   * toward `max`), a `request` rejects with the error, and an `invalid` status event says which subject and
   * why (`error.code` `bad_payload`, `error.cause` what was thrown). The connection and subscription go on.
   * Setting it decodes every payload on arrival instead of on first access to `m.data`.
   */
  validate?: (subject: string, data: unknown, kind: 'message' | 'reply') => void
}

/** Options of `publish()`. */
export interface PublishOptions {
  headers?: Record<string, string>
  reply?: string
}

/** Options of `request()`. */
export interface RequestOptions {
  /** @default 5000 */
  timeout?: number
  headers?: Record<string, string>
}

/** `ConnectOptions.maxPendingBytes` when not given. */
export const DEFAULT_MAX_PENDING = 8 * 1024 * 1024
/** `ConnectOptions.connectTimeoutMs` when not given; also how long a re-authentication may take. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000
/** `RequestOptions.timeout` when not given; also the timeout of publisher confirms and topic API calls. */
export const DEFAULT_REQUEST_TIMEOUT = 5_000
