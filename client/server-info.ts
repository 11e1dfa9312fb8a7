/**
 * What the client accepts from a server: every number it takes from INFO (and from a refused handshake's
 * Retry-After) is held to a documented range before anything is built on it. A broken or hostile server could
 * otherwise turn the client against itself or others: `heartbeatMs: 0` made it PING about 900 times a second,
 * `1e12` overflowed the timer into the same, `authExpiresAt: 0` called the token function in a tight loop, and
 * a Retry-After of years hammered the server every millisecond (issue 17 §4). A value that is not a finite
 * number falls back to the default; one outside its range is clamped to the nearest end. The server enforces
 * its own limits anyway; these only keep the client's local checks and timers sane.
 */
import { DEFAULT_LIMITS, PROTOCOL_VERSION, type Info } from '../shared/protocol.ts'
import type { WireValue } from '../shared/msgpack-reader.ts'

/** `[min, max, default]` for each number of INFO the client uses. */
export const INFO_RANGES = {
  /** The heartbeat: at the floor the client probes 10 times a second; at the ceiling a dead server is noticed within 10 min. */
  heartbeatMs: [100, 5 * 60_000, DEFAULT_LIMITS.heartbeatMs],
  /** The local payload check before a publish is encoded and sent. */
  maxPayload: [1024, 64 * 1024 * 1024, DEFAULT_LIMITS.maxPayload],
  /** Shown in `client.info` only: the client splits its frames at 64 KiB, whatever the server says. */
  maxFrame: [64 * 1024, 256 * 1024 * 1024, DEFAULT_LIMITS.maxFrame],
  /** The local subject check of `publish` and `subscribe`. */
  maxSubjectLength: [16, 4096, DEFAULT_LIMITS.maxSubjectLength],
} as const

/** The longest wait a server's Retry-After can ask for before the next reconnect attempt. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000

/** The soonest the client refreshes credentials after the server answered an authentication. */
export const MIN_REFRESH_MS = 1000

/** `v` as an integer within `[min, max]`, or `fallback` when it is not a finite number. */
export function clampInt(v: unknown, min: number, max: number, fallback: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fallback
  return Math.min(max, Math.max(min, Math.floor(v)))
}

function text(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback
}

/**
 * The INFO to keep: `body` over `previous` (a later INFO updates only what it carries), every field the
 * client reads checked. Fields the client does not know are kept as they came (for the application to read).
 */
export function sanitizeInfo(body: Record<string, WireValue>, previous: Info | null): Info {
  const merged: Record<string, unknown> = { ...previous, ...body }
  const info = merged as unknown as Info
  for (const key of Object.keys(INFO_RANGES) as Array<keyof typeof INFO_RANGES>) {
    const [min, max, fallback] = INFO_RANGES[key]
    info[key] = clampInt(merged[key], min, max, fallback)
  }
  info.protocol = clampInt(merged.protocol, 0, Number.MAX_SAFE_INTEGER, PROTOCOL_VERSION)
  info.serverId = text(merged.serverId, '')
  info.serverName = text(merged.serverName, '')
  info.version = text(merged.version, '')
  info.clientId = text(merged.clientId, '')
  if (body.logId === undefined) delete info.logId
  else info.logId = text(body.logId, '')
  if (merged.authRequired !== undefined) info.authRequired = merged.authRequired === true
  if (merged.authExpiresAt !== undefined) info.authExpiresAt = authExpiry(merged.authExpiresAt)
  return info
}

/** Whose sequence space a topic message's seq belongs to (INFO `logId`, else the server's id). */
export function logIdOf(info: Info | null): string | undefined {
  return info === null ? undefined : (info.logId ?? info.serverId)
}

/** An `authExpiresAt` as the client uses it: epoch ms, or null (unknown or never). */
export function authExpiry(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}
