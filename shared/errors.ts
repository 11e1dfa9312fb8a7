import { CLOSE_CODE, type CloseCode } from './protocol.ts'

/**
 * Every error code subwire produces. The same strings travel in ERR ops (PROTOCOL §6);
 * tests assert `err.code`, never message text.
 */
export const ERROR_CODES = [
  'bad_subject',
  'bad_payload',
  'max_payload',
  'max_subscriptions',
  'no_responders',
  'timeout',
  'protocol',
  'permission',
  'auth_failed',
  'auth_expired',
  'connect_timeout',
  'stale_connection',
  'slow_consumer',
  'connection_refused',
  'connection_closed',
  'disconnected',
  'disconnected_buffer_full',
  'draining',
  'limit',
  'bad_subprotocol',
  'bad_option',
  'server_closing',
  'bad_origin',
  'topic_full',
  'wrong_last_seq',
  'no_topic',
  'topic_exists',
  'topic_overlap',
  'bad_topic_config',
  'no_group',
  'bad_group_config',
  'gap',
  'storage_full',
  'storage_failed',
  /** A cluster broker cannot reach its Redis: topic operations fail fast instead of diverging between nodes. */
  'unavailable',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES)

/** True when `code` is one of subwire's error codes (used to vet codes read off the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && KNOWN_CODES.has(code)
}

/** Close code the server uses when an error of this code ends a connection (PROTOCOL §7). */
export const CLOSE_CODE_FOR: Partial<Record<ErrorCode, CloseCode>> = {
  protocol: CLOSE_CODE.protocol,
  auth_failed: CLOSE_CODE.authFailed,
  auth_expired: CLOSE_CODE.authExpired,
  connect_timeout: CLOSE_CODE.connectTimeout,
  stale_connection: CLOSE_CODE.stale,
  slow_consumer: CLOSE_CODE.slowConsumer,
  limit: CLOSE_CODE.limit,
  server_closing: CLOSE_CODE.goingAway,
}

const CODE_FOR_CLOSE = new Map<number, ErrorCode>(
  Object.entries(CLOSE_CODE_FOR).map(([code, close]) => [close as number, code as ErrorCode]),
)

/** The error code a close code stands for, if it is one of ours. */
export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  return CODE_FOR_CLOSE.get(closeCode)
}

/** The one error class of subwire: a typed `code`, a message, and where relevant the close code. */
export class SubwireError extends Error {
  readonly code: ErrorCode
  readonly closeCode?: number

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; closeCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SubwireError'
    this.code = code
    const closeCode = options?.closeCode ?? CLOSE_CODE_FOR[code]
    if (closeCode !== undefined) this.closeCode = closeCode
  }
}
