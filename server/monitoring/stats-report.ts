/**
 * The broker's stats as one plain object: what `GET /stats` answers, what `$SYS.stats` carries every second,
 * and what `subwire stats` prints. Built from `broker.stats()`, `broker.connections()` and
 * `broker.topics.list()` only, so it needs nothing from the publish path.
 */
import type { Broker } from '../broker.ts'
import type { ConnectionSummary } from '../edge/broker-events.ts'
import { maskInbox } from '../security/inbox-registry.ts'
import type { TopicInfo } from '../store/topic-store.ts'
import { VERSION } from '../version.ts'

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

/** One acked consumer group of a topic (a work queue), as `TopicInfo.consumers` reports it. */
export interface TopicGroupReport {
  name: string
  members: number
  /** Delivered and not yet settled. */
  inFlight: number
  /** Settled by an ack, since the group was opened. */
  acked: number
  /** Waiting to be delivered again now (after a nak, an ack timeout or a departed member). */
  redeliveries: number
  /** Moved to `$DLQ.<topic>` after `maxDeliver` attempts, since the group was opened. */
  deadLettered: number
}

/** One durable topic: how full it is against its limits, the sequences it holds, and its work queues. */
export interface TopicReport {
  name: string
  subjects: string[]
  /** Messages held (the topic's length). */
  messages: number
  /** `maxMsgs`, or null when the count is not limited (the topic is then bounded by `maxBytes`). */
  capacity: number | null
  bytes: number
  /** `maxBytes` (a topic that sets none gets the broker's `defaultTopicMaxBytes`), or null. */
  maxBytes: number | null
  /** Oldest sequence held; `lastSeq + 1` when the topic holds nothing. */
  firstSeq: number
  /** Last sequence assigned (0 before the first message). */
  lastSeq: number
  /** Epoch milliseconds of the oldest message held, or null. */
  firstTime: number | null
  /** Epoch milliseconds of the last message stored, or null. */
  lastTime: number | null
  consumers: TopicGroupReport[]
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
  /** One row per topic, by name. */
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

/** What a report row needs of a topic's info: the broker's `TopicInfo`, or what `c.topics.list()` returns. */
export type TopicInfoLike = Omit<TopicInfo, 'config' | 'consumers'> & {
  readonly config: { readonly subjects: readonly string[]; readonly maxMsgs?: number; readonly maxBytes?: number }
  readonly consumers: ReadonlyArray<Pick<TopicGroupReport, keyof TopicGroupReport>>
}

/** A topic's row of the report. */
export function topicReport(t: TopicInfoLike): TopicReport {
  return {
    name: t.name,
    subjects: [...t.config.subjects],
    messages: t.messages,
    capacity: t.config.maxMsgs ?? null,
    bytes: t.bytes,
    maxBytes: t.config.maxBytes ?? null,
    firstSeq: t.firstSeq,
    lastSeq: t.lastSeq,
    firstTime: t.firstTime,
    lastTime: t.lastTime,
    consumers: t.consumers.map((g) => ({
      name: g.name, members: g.members, inFlight: g.inFlight, acked: g.acked, redeliveries: g.redeliveries, deadLettered: g.deadLettered,
    })),
  }
}

/** Every topic of a broker, by name. At most `maxTopics` (100 by default) rows, so cheap once a second. */
export function topicReports(broker: Broker): TopicReport[] {
  return broker.topics.list().map(topicReport).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** The counters of a broker now. */
export function sampleCounters(broker: Broker, at = Date.now()): CounterSample {
  const s = broker.stats()
  return { at, published: s.published, delivered: s.delivered, bytesIn: s.bytesIn, bytesOut: s.bytesOut }
}

/**
 * Builds the report. Costs one summary per connection and one info per topic (so once a second at most, and
 * only when wanted).
 */
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
    topics: topicReports(broker),
  }
  // Inbox ids are other users' reply addresses: never shown (README "Security").
  if (inputs.withConnections) {
    report.connectionList = connections.map((c) => ({ ...c, subscriptions: c.subscriptions.map((s) => ({ ...s, subject: maskInbox(s.subject) })) }))
  }
  return report
}
