/**
 * The broker's stats as one plain object: what `GET /stats` answers, what `$SYS.stats` carries every second,
 * and what `subwire stats` prints. Built from `broker.stats()`, `broker.connections()` and
 * `broker.topics.list()` only, so it needs nothing from the publish path.
 *
 * Bounded in size and cost whatever one client subscribed (issue 17 §2; beside 100,000 subscriptions on one
 * connection a report had been 5 MB and 160 ms of broker CPU): connections come in pages of at most
 * `MAX_CONNECTIONS_PAGE`, each with its subscription count and first `SUBJECTS_PER_CONNECTION` subjects, and
 * the most-subscribed subjects are counted over at most `PATTERN_SAMPLE` subscriptions (and every connection's
 * first few). Inbox ids are never shown (`maskInbox`): they are other users' reply addresses.
 */
import type { ClusterStats } from '../cluster/cluster-adapter.ts'
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
  /** Where it keeps its messages: 'memory' or 'file'. */
  storage: string
  /** Bytes its files take on disk (0 in memory). */
  diskBytes: number
  /** Sequences found unreadable at recovery (file topics), in order. */
  lost: ReadonlyArray<{ readonly fromSeq: number; readonly toSeq: number }>
  /** How many consumer groups it has. */
  groups: number
  /** Its groups; in `/stats` and `$SYS.stats` the first `TOPIC_GROUPS_LISTED` (any client may open groups). */
  consumers: TopicGroupReport[]
}

/** One connection in `GET /stats`: its counters, how many subscriptions it holds, and the first of them. */
export interface ConnectionReport extends Omit<ConnectionSummary, 'subscriptions' | 'subscriptionCount'> {
  /** How many subscriptions it holds. */
  subscriptions: number
  /** Its first `SUBJECTS_PER_CONNECTION` subscriptions, in the order made, inbox ids masked (`_INBOX.*.>`). */
  subjects: Array<{ subject: string; queue: string | null }>
}

/** Which connections a page holds: `connectionList` is `[offset, offset + limit)` of `total`, in connection order. */
export interface ConnectionPage {
  offset: number
  limit: number
  total: number
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
  /**
   * True when some connection holds more subscriptions than were counted for `topSubscriptions` (at most
   * `PATTERN_SAMPLE` in all, and every connection's first `SUBJECTS_PER_CONNECTION`): the counts are then a sample.
   */
  topSubscriptionsPartial: boolean
  /** The latest slow consumers, newest first (at most `SLOW_CONSUMER_HISTORY`). */
  slowConsumers: SlowConsumerReport[]
  /** One row per topic, by name. */
  topics: TopicReport[]
  /** The cluster as this node sees it (nodes, their connections, the Redis link), or null for a broker alone. */
  cluster: ClusterStats | null
  connectionList?: ConnectionReport[]
  connectionPage?: ConnectionPage
}

/** Most patterns listed in `topSubscriptions`. */
export const TOP_PATTERNS = 10
/** Connections in a `GET /stats` page unless `?limit=` says otherwise. */
export const CONNECTIONS_PAGE = 100
/** Most connections one `GET /stats` page may hold (`?limit=` above it is refused). */
export const MAX_CONNECTIONS_PAGE = 1000
/** Subjects listed per connection (its `subscriptions` count has them all). */
export const SUBJECTS_PER_CONNECTION = 10
/**
 * Subscriptions counted for `topSubscriptions` per report, shared out over the connections (each gets at least
 * `SUBJECTS_PER_CONNECTION`). Counting 100,000 distinct subjects of one connection had cost ~100 ms a report,
 * and `$SYS.stats` makes one every second.
 */
export const PATTERN_SAMPLE = 10_000
/** Consumer groups listed per topic in `/stats` and `$SYS.stats` (its `groups` counts them all). */
export const TOPIC_GROUPS_LISTED = 20
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
  /** The page of connections to list (GET /stats), or null for none ($SYS.stats). */
  connections: { offset: number; limit: number } | null
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

/**
 * Counts subscriptions per pattern across connections (over what their summaries list); the `limit` most used,
 * most first.
 */
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

/** A topic's row of the report, with every consumer group (`topicReports` lists the first ones). */
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
    storage: t.storage,
    diskBytes: t.diskBytes,
    lost: t.lost.map((r) => ({ fromSeq: r.fromSeq, toSeq: r.toSeq })),
    groups: t.consumers.length,
    consumers: t.consumers.map((g) => ({
      name: g.name, members: g.members, inFlight: g.inFlight, acked: g.acked, redeliveries: g.redeliveries, deadLettered: g.deadLettered,
    })),
  }
}

/** Every topic of a broker, by name: at most `maxTopics` (100 by default) rows, each with its first `TOPIC_GROUPS_LISTED` groups. */
export function topicReports(broker: Broker): TopicReport[] {
  const rows = broker.topics.list().map((t) => {
    const row = topicReport(t)
    if (row.consumers.length > TOPIC_GROUPS_LISTED) row.consumers = row.consumers.slice(0, TOPIC_GROUPS_LISTED)
    return row
  })
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** The counters of a broker now. */
export function sampleCounters(broker: Broker, at = Date.now()): CounterSample {
  const s = broker.stats()
  return { at, published: s.published, delivered: s.delivered, bytesIn: s.bytesIn, bytesOut: s.bytesOut }
}

/** A connection's row of `GET /stats`, from a summary that lists at least its first subjects. */
export function connectionReport(c: ConnectionSummary): ConnectionReport {
  return {
    id: c.id,
    name: c.name,
    ip: c.ip,
    subprotocol: c.subprotocol,
    connectedAt: c.connectedAt,
    subscriptions: c.subscriptionCount,
    subjects: c.subscriptions.slice(0, SUBJECTS_PER_CONNECTION).map((s) => ({ subject: maskInbox(s.subject), queue: s.queue })),
    pendingBytes: c.pendingBytes,
    msgsIn: c.msgsIn,
    bytesIn: c.bytesIn,
    msgsOut: c.msgsOut,
    bytesOut: c.bytesOut,
  }
}

/**
 * Builds the report. Costs one summary per connection listing at most its share of `PATTERN_SAMPLE`
 * subscriptions, and one info per topic (so once a second at most, and only when wanted).
 */
export function buildReport(broker: Broker, inputs: ReportInputs, at = Date.now()): StatsReport {
  const stats = broker.stats()
  const share = Math.max(SUBJECTS_PER_CONNECTION, Math.floor(PATTERN_SAMPLE / Math.max(1, stats.connections)))
  const connections = broker.connections({ maxSubscriptions: share })
  const memory = process.memoryUsage()
  let pendingBytes = 0
  let partial = false
  for (const conn of connections) {
    pendingBytes += conn.pendingBytes
    if (conn.subscriptionCount > conn.subscriptions.length) partial = true
  }
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
    topSubscriptionsPartial: partial,
    slowConsumers: [...inputs.slowConsumers],
    topics: topicReports(broker),
    cluster: broker.cluster.stats(),
  }
  const page = inputs.connections
  if (page !== null) {
    report.connectionList = connections.slice(page.offset, page.offset + page.limit).map(connectionReport)
    report.connectionPage = { offset: page.offset, limit: page.limit, total: connections.length }
  }
  return report
}
