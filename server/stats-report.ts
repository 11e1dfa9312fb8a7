/**
 * The broker's stats as one plain object: what `GET /stats` answers, what `$SYS.stats` carries every second,
 * and what `subwire stats` prints. Built from `broker.stats()` and `broker.connections()` only, so it needs
 * nothing from the publish path.
 */
import type { Broker } from './broker.ts'
import type { ConnectionSummary } from './broker-events.ts'
import { VERSION } from './version.ts'

/** Who the broker is and how it is doing. */
export interface ServerReport {
  id: string
  name: string
  version: string
  url: string
  state: string
  /** Epoch milliseconds. */
  startedAt: number
  uptimeMs: number
  pid: number
  rssBytes: number
  heapUsedBytes: number
  /** Event-loop delay over the last interval, milliseconds (null until measured). */
  eventLoopLagMs: { mean: number; p99: number; max: number } | null
}

/** Monotonic counters since the broker started. */
export interface TotalsReport {
  published: number
  delivered: number
  bytesIn: number
  bytesOut: number
  unmatched: number
  slowConsumers: number
}

/** Per-second rates over the last interval. */
export interface RatesReport {
  published: number
  delivered: number
  bytesIn: number
  bytesOut: number
}

/** One subscribed pattern and how many subscriptions use it. */
export interface PatternCount {
  subject: string
  subscriptions: number
  /** Queue groups among them. */
  queues: string[]
}

/** A connection dropped as a slow consumer. */
export interface SlowConsumerReport {
  /** Epoch milliseconds. */
  at: number
  id: string
  name: string
  ip: string
  pendingBytes: number
}

/** Topics (issue 3) do not exist yet; their rows will have this shape's successor. */
export interface TopicReport {
  name: string
  length: number
  capacity: number
  bytes: number
}

/** The whole report. `connectionList` is present in `GET /stats`, left out of `$SYS.stats` (its size grows). */
export interface StatsReport {
  /** Epoch milliseconds when it was taken. */
  at: number
  server: ServerReport
  totals: TotalsReport
  rates: RatesReport
  connections: number
  subscriptions: number
  /** Unsent bytes queued to all connections. */
  pendingBytes: number
  backpressure: boolean
  /** Most-subscribed patterns, most first (at most `TOP_PATTERNS`). */
  topSubscriptions: PatternCount[]
  /** The latest slow consumers, newest first (at most `SLOW_CONSUMER_HISTORY`). */
  slowConsumers: SlowConsumerReport[]
  // TOPICS (issue 3): fill with one row per topic (length, capacity, bytes) once topics exist.
  topics: TopicReport[]
  connectionList?: ConnectionSummary[]
}

/** Most patterns listed in `topSubscriptions`. */
export const TOP_PATTERNS = 10
/** Most slow-consumer events remembered. */
export const SLOW_CONSUMER_HISTORY = 20

/** A sample of the counters, to compute rates between two reports. */
export interface CounterSample {
  at: number
  published: number
  delivered: number
  bytesIn: number
  bytesOut: number
}

/** What a report needs besides the broker. */
export interface ReportInputs {
  startedAt: number
  previous: CounterSample | null
  slowConsumers: readonly SlowConsumerReport[]
  eventLoopLagMs: ServerReport['eventLoopLagMs']
  /** Include every connection with its subscriptions (GET /stats). */
  withConnections: boolean
}

/** Per-second rate of `now - before` over `ms`, rounded to 0.1. */
function rate(now: number, before: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round(((now - before) * 10_000) / ms) / 10
}

/** Rates between two samples (zeros without a previous one). */
export function ratesBetween(previous: CounterSample | null, now: CounterSample): RatesReport {
  if (previous === null) return { published: 0, delivered: 0, bytesIn: 0, bytesOut: 0 }
  const ms = now.at - previous.at
  return {
    published: rate(now.published, previous.published, ms),
    delivered: rate(now.delivered, previous.delivered, ms),
    bytesIn: rate(now.bytesIn, previous.bytesIn, ms),
    bytesOut: rate(now.bytesOut, previous.bytesOut, ms),
  }
}

/** Counts subscriptions per pattern across connections; the `limit` most used, most first. */
export function topPatterns(connections: readonly ConnectionSummary[], limit = TOP_PATTERNS): PatternCount[] {
  const counts = new Map<string, { n: number; queues: Set<string> }>()
  for (const conn of connections) {
    for (const sub of conn.subscriptions) {
      // Per-request inboxes (one per client, never shared) and the monitors' own $SYS subscriptions are noise
      // in a list meant to show what the applications use.
      if (sub.subject.startsWith('_INBOX.') || sub.subject.startsWith('$SYS.')) continue
      let entry = counts.get(sub.subject)
      if (entry === undefined) counts.set(sub.subject, entry = { n: 0, queues: new Set() })
      entry.n++
      if (sub.queue !== null) entry.queues.add(sub.queue)
    }
  }
  return [...counts]
    .sort((a, b) => b[1].n - a[1].n || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([subject, { n, queues }]) => ({ subject, subscriptions: n, queues: [...queues].sort() }))
}

/** The counters of a broker now. */
export function sampleCounters(broker: Broker, at = Date.now()): CounterSample {
  const s = broker.stats()
  return { at, published: s.published, delivered: s.delivered, bytesIn: s.bytesIn, bytesOut: s.bytesOut }
}

/** Builds the report. Costs one summary per connection (so once a second at most, and only when wanted). */
export function buildReport(broker: Broker, inputs: ReportInputs, at = Date.now()): StatsReport {
  const stats = broker.stats()
  const connections = broker.connections()
  const memory = process.memoryUsage()
  let pendingBytes = 0
  for (const conn of connections) pendingBytes += conn.pendingBytes
  const report: StatsReport = {
    at,
    server: {
      id: broker.serverId,
      name: broker.config.serverName,
      version: VERSION,
      url: broker.url,
      state: broker.state,
      startedAt: inputs.startedAt,
      uptimeMs: at - inputs.startedAt,
      pid: process.pid,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopLagMs: inputs.eventLoopLagMs,
    },
    totals: {
      published: stats.published,
      delivered: stats.delivered,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      unmatched: stats.unmatched,
      slowConsumers: stats.slowConsumers,
    },
    rates: ratesBetween(inputs.previous, { at, published: stats.published, delivered: stats.delivered, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut }),
    connections: stats.connections,
    subscriptions: stats.subscriptions,
    pendingBytes,
    backpressure: stats.backpressure,
    topSubscriptions: topPatterns(connections),
    slowConsumers: [...inputs.slowConsumers],
    topics: [],
  }
  if (inputs.withConnections) report.connectionList = connections
  return report
}
