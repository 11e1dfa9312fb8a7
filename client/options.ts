/** Options of `connect()`, `publish()` and `request()`, and the client's defaults, in one place (HOUSE_STYLE 9). */
import type { ReconnectOptions } from './reconnect.ts'
import type { WebSocketConstructor } from './transport.ts'
import type { PageEvents } from './visibility.ts'

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
   * Resume the session after a dropped connection: the broker keeps its subscriptions and what they were sent
   * for `resumeWindowMs` (its option, 120 s by default), and the reconnect gets every missed message, in
   * order, once; status says `resumed` (with `missed`) or, when that was not possible, `gap`. @default false
   */
  resume?: boolean
  /**
   * Checks every message's data (and every `request` reply's) before the application sees it, e.g. a zod
   * schema's `parse`; `kind` says which. A throw refuses it: the message is not delivered (it still counts
   * toward `max`), a `request` rejects with the error, and an `invalid` status event says which subject and
   * why (`error.code` `bad_payload`, `error.cause` what was thrown). The connection and subscription go on.
   * Setting it decodes every payload on arrival instead of on first access to `m.data`.
   */
  validate?: (subject: string, data: unknown, kind: 'message' | 'reply') => void
  /**
   * Browsers: `true` (or a `SharedOptions`) shares one connection among every tab of the origin, run in a
   * `SharedWorker` (client/shared/); `connect()` then resolves to a `SharedClient`. Where SharedWorker is
   * missing, the tab gets a connection of its own, said by a `shared_fallback` status event.
   * @default false
   */
  shared?: false
  /**
   * Where the page's `visibilitychange` and `online` events come from: on each the client checks its connection
   * at once (a PING that must be answered within `checkTimeoutMs`), and a reconnect waiting out its backoff
   * tries now. `false` turns this off. @default `document` and `window` in a browser, nothing elsewhere
   */
  pageEvents?: PageEvents | false
  /** How long such a check waits for the server's answer before the connection is taken for dead. @default 3000 */
  checkTimeoutMs?: number
}

/** Options of `connect(url, { shared })`. */
export type SharedConnectOptions = Omit<ConnectOptions, 'shared'> & { shared: boolean | SharedOptions }

/** `shared` as an object. */
export interface SharedOptions {
  /**
   * The worker script: `subwire/client/shared-worker` built as its own bundle. @default `new URL('./shared-worker.js',
   * import.meta.url)` beside the client's module, which Vite and webpack 5 find and bundle by themselves
   */
  workerUrl?: string | URL
  /** A tab that answers none of the worker's pings for this long is taken for closed (a killed tab says nothing). @default 15000 */
  tabTimeoutMs?: number
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
/** `ConnectOptions.checkTimeoutMs` when not given. */
export const DEFAULT_CHECK_TIMEOUT = 3_000
/** `SharedOptions.tabTimeoutMs` when not given. */
export const DEFAULT_TAB_TIMEOUT = 15_000
