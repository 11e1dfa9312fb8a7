/**
 * Reconnect policy, as pure functions: capped exponential backoff with full jitter, and what each close code
 * means for reconnecting (PROTOCOL §7). No timers and no sockets here, so every rule is unit-testable.
 */
import { CLOSE_CODE } from '../shared/protocol.ts'

/** Reconnect options of `connect()`. */
export interface ReconnectOptions {
  /** First backoff step. @default 250 */
  initialDelayMs?: number
  /** Largest backoff step. @default 10000 */
  maxDelayMs?: number
  /** Attempts after each loss of the connection before giving up. @default Infinity (forever) */
  maxAttempts?: number
}

export const DEFAULT_RECONNECT = { initialDelayMs: 250, maxDelayMs: 10_000, maxAttempts: Number.POSITIVE_INFINITY } as const

/**
 * What a close code asks of the client: `soon` (the server is going away on purpose: retry at once, with a
 * little jitter so a fleet does not reconnect in the same millisecond) or `backoff` (anything else). Only an
 * explicit `close()` stops reconnecting.
 */
export type ReconnectPace = 'soon' | 'backoff'

const PACE_FOR_CLOSE: Record<number, ReconnectPace> = {
  [CLOSE_CODE.goingAway]: 'soon',
}

export function paceForClose(code: number): ReconnectPace {
  return PACE_FOR_CLOSE[code] ?? 'backoff'
}

/**
 * Delay before reconnect attempt `attempt` (0-based): full jitter over an exponential ceiling, which spreads
 * a fleet of clients evenly instead of in waves (WHAT_USERS_ASK 5).
 */
export function backoffDelay(attempt: number, options: Required<ReconnectOptions>, pace: ReconnectPace = 'backoff',
  random: () => number = Math.random): number {
  if (pace === 'soon' && attempt === 0) return Math.floor(random() * Math.min(100, options.initialDelayMs))
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}

/** Merges reconnect options with defaults once. */
export function reconnectConfig(options: ReconnectOptions | undefined): Required<ReconnectOptions> {
  return {
    initialDelayMs: options?.initialDelayMs ?? DEFAULT_RECONNECT.initialDelayMs,
    maxDelayMs: options?.maxDelayMs ?? DEFAULT_RECONNECT.maxDelayMs,
    maxAttempts: options?.maxAttempts ?? DEFAULT_RECONNECT.maxAttempts,
  }
}
