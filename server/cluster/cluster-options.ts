/**
 * The `cluster` broker option (issue 14): several broker nodes joined through one Redis act as one broker.
 * Checked here, once, into a frozen config: an unknown key or an unusable URL is a `bad_option` at start,
 * never a cluster that silently runs alone.
 */
import { randomBytes } from 'node:crypto'
import { SubwireError } from '../../shared/errors.ts'

export interface ClusterOptions {
  /**
   * The Redis every node of the cluster uses: `redis://[user:pass@]host[:port][/db]`, or `rediss://` for TLS.
   * Several URLs (the same Redis reached by other addresses): tried in turn at start, the first that answers is
   * used from then on (ioredis reconnects to it).
   */
  readonly redis: string | readonly string[]
  /** The cluster's name: nodes with the same Redis and name form one broker. Keys and channels start with `subwire:<name>:`. @default 'subwire' */
  readonly name?: string
  /** This node's id in the cluster (stats, logs, work-queue member names). @default random */
  readonly nodeId?: string
  /** How often a node says it is alive (and refreshes its stats in Redis). @default 1000 */
  readonly heartbeatMs?: number
  /** A node silent this long is taken for dead: its interest is dropped and its work-queue members leave. @default 5000 */
  readonly nodeTimeoutMs?: number
  /**
   * A Redis that stops answering without closing the connection (stopped, a partition): past this long without a
   * heartbeat answered, the node takes its link for down (`/readyz` 503, clients told, topic operations
   * `unavailable`) and reconnects. A closed connection is down at once. @default 2000
   */
  readonly unavailableAfterMs?: number
}

export interface ClusterConfig {
  readonly redis: readonly string[]
  readonly name: string
  readonly nodeId: string
  readonly prefix: string
  readonly heartbeatMs: number
  readonly nodeTimeoutMs: number
  readonly unavailableAfterMs: number
}

const KEYS: Record<keyof Required<ClusterOptions>, true> = {
  redis: true, name: true, nodeId: true, heartbeatMs: true, nodeTimeoutMs: true, unavailableAfterMs: true,
}

/** Names and ids go into Redis keys and channel names: one token of safe characters. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/

function fail(message: string): never {
  throw new SubwireError('bad_option', `option cluster: ${message}`)
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string') fail('redis must be a URL such as redis://127.0.0.1:6379, or an array of them')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // It does not parse, so it cannot be masked field by field: whatever stands before an @ goes.
    fail(`redis ${JSON.stringify(url.replace(/\/\/[^/]*@/, '//***@'))} is not a URL (redis://host:port or rediss://user:pass@host:port)`)
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') fail(`redis URL must start with redis:// or rediss://, got ${parsed.protocol}//`)
  if (parsed.hostname === '') fail('redis URL has no host')
  return url
}

function ms(v: unknown, key: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(`${key} must be an integer from ${min} to ${max} ms, got ${String(v)}`)
  return v
}

/** The cluster option, checked, or null when the broker runs alone. @throws `bad_option` */
export function resolveClusterConfig(options: unknown): ClusterConfig | null {
  if (options === undefined || options === null) return null
  // `cluster: 'redis://…'` is the shorthand the CLI and the environment variable give.
  const o = (typeof options === 'string' ? { redis: options } : options) as ClusterOptions
  if (typeof o !== 'object') fail('must be an object such as { redis: "redis://127.0.0.1:6379" }')
  for (const key of Object.keys(o)) if (!Object.hasOwn(KEYS, key)) fail(`unknown key ${JSON.stringify(key)}`)
  const urls = Array.isArray(o.redis) ? o.redis : [o.redis]
  if (urls.length === 0) fail('redis needs at least one URL')
  const name = o.name ?? 'subwire'
  if (typeof name !== 'string' || !NAME.test(name)) fail('name must be 1 to 64 letters, digits, - or _')
  const nodeId = o.nodeId ?? randomBytes(6).toString('hex')
  if (typeof nodeId !== 'string' || !NAME.test(nodeId)) fail('nodeId must be 1 to 64 letters, digits, - or _')
  const heartbeatMs = ms(o.heartbeatMs, 'heartbeatMs', 1000, 50, 60_000)
  const nodeTimeoutMs = ms(o.nodeTimeoutMs, 'nodeTimeoutMs', 5000, 200, 600_000)
  if (nodeTimeoutMs < 2 * heartbeatMs) fail('nodeTimeoutMs must be at least two heartbeats (2 × heartbeatMs)')
  return Object.freeze({
    redis: Object.freeze(urls.map(checkUrl)),
    name,
    nodeId,
    prefix: `subwire:${name}:`,
    heartbeatMs,
    nodeTimeoutMs,
    unavailableAfterMs: ms(o.unavailableAfterMs, 'unavailableAfterMs', 2000, 0, 600_000),
  })
}
