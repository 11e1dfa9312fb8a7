/**
 * Prometheus metrics (`GET /metrics`) through prom-client. Each broker gets its own Registry, so several brokers
 * in one process (tests, an app embedding two) never clash; the process-wide Node metrics (event-loop lag, CPU,
 * memory, GC) live in one shared registry, created once, because they describe the process, not a broker.
 *
 * Values are read from `broker.stats()` and `broker.topics.list()` when scraped: nothing is counted on the
 * publish path for metrics.
 */
import { createRequire } from 'node:module'
import type * as PromClient from 'prom-client'
import type { Counter, Gauge, Registry } from 'prom-client'
import type { Broker } from '../broker.ts'
import type { TopicInfo } from '../store/topic-store.ts'
import { VERSION } from '../version.ts'

/**
 * Consumer groups per topic with their own series (the first ones opened): any client may open groups, and
 * 100,000 of them would be 600,000 lines a scrape. `subwire_topic_groups` counts them all.
 */
export const MAX_GROUP_SERIES = 100

/**
 * prom-client, loaded when the first broker's metrics are made: `createBroker` without monitoring (an app
 * embedding the broker, the benchmark) never loads it, which was 4–5 MiB of every broker process's RSS
 * (measured: `ws pino msgpackr nanoid` 58.3 MiB, with prom-client 62.3–62.6 MiB).
 */
let prom: typeof PromClient | null = null
function promClient(): typeof PromClient {
  return (prom ??= createRequire(import.meta.url)('prom-client') as typeof PromClient)
}

let processRegistry: Registry | null = null

/** The process-wide registry of Node's default metrics (`nodejs_eventloop_lag_seconds`, `process_cpu_*`, …). */
function nodeRegistry(): Registry {
  if (processRegistry === null) {
    const { Registry: Reg, collectDefaultMetrics } = promClient()
    processRegistry = new Reg()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** A counter whose value mirrors a monotonic broker counter, advanced by the difference at each scrape. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let seen = 0
  return new (promClient().Counter)({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read()
      if (now > seen) this.inc(now - seen)
      seen = now
    },
  })
}

/** A gauge read at scrape time. */
function readGauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new (promClient().Gauge)({ name, help, registers: [registry], collect() { this.set(read()) } })
}

/** One labelled value of a per-topic or per-group metric. */
type Row = [labels: Record<string, string>, value: number]

/**
 * A labelled gauge rebuilt from the topics at each scrape: a deleted topic or group leaves no stale series.
 */
function topicGauge(registry: Registry, name: string, help: string, labelNames: string[], rows: () => Row[]): Gauge {
  return new (promClient().Gauge)({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset()
      for (const [labels, value] of rows()) this.set(labels, value)
    },
  })
}

/**
 * A labelled counter set to the store's own running totals at each scrape (reset, then increased from zero, as
 * prom-client counters only go up). A group that is deleted and opened again starts from zero, which Prometheus
 * reads as a counter reset, as it should.
 */
function topicCounter(registry: Registry, name: string, help: string, labelNames: string[], rows: () => Row[]): Counter {
  return new (promClient().Counter)({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset()
      for (const [labels, value] of rows()) this.inc(labels, value)
    },
  })
}

/**
 * `broker.topics.list()` once per scrape rather than once per metric: prom-client calls every `collect()` in
 * the same synchronous pass (Registry.metrics maps them before awaiting), so a snapshot dropped at the next
 * microtask serves them all. Were that to change, each metric would just take its own snapshot.
 */
function topicSnapshot(broker: Broker): () => readonly TopicInfo[] {
  let snapshot: readonly TopicInfo[] | null = null
  return () => {
    if (snapshot === null) {
      snapshot = broker.topics.list()
      queueMicrotask(() => { snapshot = null })
    }
    return snapshot
  }
}

/** The topic and consumer-group metrics, all labelled by `topic` (and `group`). */
function topicMetrics(r: Registry, broker: Broker): void {
  const topics = topicSnapshot(broker)
  const perTopic = (read: (t: TopicInfo) => number) => (): Row[] => topics().map((t) => [{ topic: t.name }, read(t)])
  const perGroup = (read: (g: TopicInfo['consumers'][number]) => number) => (): Row[] =>
    topics().flatMap((t) => t.consumers.slice(0, MAX_GROUP_SERIES).map((g): Row => [{ topic: t.name, group: g.name }, read(g)]))
  const T = ['topic']
  const G = ['topic', 'group']
  readGauge(r, 'subwire_topics', 'Durable topics.', () => topics().length)
  topicGauge(r, 'subwire_topic_groups', `Consumer groups of a topic (the first ${MAX_GROUP_SERIES} have their own series).`, T, perTopic((t) => t.consumers.length))
  topicGauge(r, 'subwire_topic_messages', 'Messages a topic holds.', T, perTopic((t) => t.messages))
  topicGauge(r, 'subwire_topic_bytes', 'Bytes a topic holds, as maxBytes counts them (subject, headers, payload and 320 bytes per message).', T, perTopic((t) => t.bytes))
  topicGauge(r, 'subwire_topic_max_messages', "A topic's maxMsgs (only topics that set one).", T,
    () => topics().flatMap((t): Row[] => (t.config.maxMsgs === undefined ? [] : [[{ topic: t.name }, t.config.maxMsgs]])))
  topicGauge(r, 'subwire_topic_max_bytes', "A topic's maxBytes (the broker's defaultTopicMaxBytes when it set none).", T,
    () => topics().flatMap((t): Row[] => (t.config.maxBytes === undefined ? [] : [[{ topic: t.name }, t.config.maxBytes]])))
  topicGauge(r, 'subwire_topic_disk_bytes', 'Bytes a file topic takes on disk (segments and journal).', T,
    () => topics().flatMap((t): Row[] => (t.storage === 'memory' ? [] : [[{ topic: t.name }, t.diskBytes]])))
  topicGauge(r, 'subwire_topic_lost_messages', 'Sequences of a file topic found unreadable (corrupt) when the broker reopened it.', T,
    () => topics().flatMap((t): Row[] => (t.storage === 'memory' ? [] : [[{ topic: t.name }, t.lost.reduce((n, l) => n + l.toSeq - l.fromSeq + 1, 0)]])))
  topicGauge(r, 'subwire_topic_last_seq', 'Last sequence a topic assigned (its rate is the rate of stored messages).', T, perTopic((t) => t.lastSeq))
  topicGauge(r, 'subwire_topic_group_members', 'Members of a consumer group (acked work queue).', G, perGroup((g) => g.members))
  topicGauge(r, 'subwire_topic_group_in_flight', 'Messages delivered to a group and not yet settled.', G, perGroup((g) => g.inFlight))
  topicGauge(r, 'subwire_topic_group_redeliveries_pending', 'Messages waiting to be delivered again (after a nak, an ack timeout or a departed member).', G, perGroup((g) => g.redeliveries))
  topicCounter(r, 'subwire_topic_group_acked_total', 'Messages a group settled by ack.', G, perGroup((g) => g.acked))
  topicCounter(r, 'subwire_topic_group_terminated_total', 'Messages a group gave up on (term).', G, perGroup((g) => g.terminated))
  topicCounter(r, 'subwire_topic_group_dead_letters_total', 'Messages a group moved to $DLQ.<topic> after maxDeliver attempts.', G, perGroup((g) => g.deadLettered))
}

/** The cluster's view (only for a clustered broker: a broker alone exports none of these). */
function clusterMetrics(r: Registry, broker: Broker): void {
  if (!broker.cluster.clustered) return
  const c = (): NonNullable<ReturnType<Broker['cluster']['stats']>> | null => broker.cluster.stats()
  readGauge(r, 'subwire_cluster_link_up', '1 while this node reaches its cluster (Redis), 0 while it delivers locally only.', () => (broker.cluster.link === 'up' ? 1 : 0))
  readGauge(r, 'subwire_cluster_nodes', 'Nodes of the cluster this node sees alive, itself included.', () => c()?.nodes.length ?? 0)
  readGauge(r, 'subwire_cluster_connections', 'Client connections on all nodes of the cluster, as their last heartbeats said.', () => (c()?.nodes ?? []).reduce((n, v) => n + v.connections, 0))
  mirroredCounter(r, 'subwire_cluster_sent_total', 'Messages sent to other nodes (one per target node).', () => c()?.sent ?? 0)
  mirroredCounter(r, 'subwire_cluster_received_total', 'Messages received from other nodes.', () => c()?.received ?? 0)
  mirroredCounter(r, 'subwire_cluster_dropped_total', 'Messages for other nodes dropped: link down, or Redis too far behind.', () => c()?.dropped ?? 0)
  mirroredCounter(r, 'subwire_cluster_rejected_total', 'Malformed batches or control messages received from Redis, and queue-group messages with no member left here.', () => (c()?.rejected ?? 0) + (c()?.groupMisses ?? 0))
}

/** One broker's metrics; `text()` is the body of `GET /metrics`. */
export class BrokerMetrics {
  readonly registry: Registry = new (promClient().Registry)()
  readonly #unlisten: Array<() => void>

  constructor(broker: Broker) {
    const r = this.registry
    const stats = (): ReturnType<Broker['stats']> => broker.stats()
    readGauge(r, 'subwire_connections', 'Open client connections.', () => stats().connections)
    readGauge(r, 'subwire_subscriptions', 'Subscriptions in the subject index.', () => stats().subscriptions)
    readGauge(r, 'subwire_ready', '1 while the broker accepts and serves clients, 0 while starting, draining or closed.', () => (broker.ready ? 1 : 0))
    readGauge(r, 'subwire_backpressure', '1 while publishers are paused because a subscriber is congested.', () => (stats().backpressure ? 1 : 0))
    readGauge(r, 'subwire_pending_bytes', 'Unsent bytes queued to all connections.', () => {
      let total = 0
      // Summaries without their subscription lists: a scrape beside 100,000 subscriptions had cost 10 ms.
      for (const conn of broker.connections({ maxSubscriptions: 0 })) total += conn.pendingBytes
      return total
    })
    mirroredCounter(r, 'subwire_messages_in_total', 'Messages published to the broker (by clients and by the broker).', () => stats().published)
    mirroredCounter(r, 'subwire_messages_out_total', 'Deliveries: one per message per receiving subscription.', () => stats().delivered)
    mirroredCounter(r, 'subwire_bytes_in_total', 'Payload bytes published (headers included).', () => stats().bytesIn)
    mirroredCounter(r, 'subwire_bytes_out_total', 'Bytes queued to subscribers.', () => stats().bytesOut)
    mirroredCounter(r, 'subwire_unmatched_total', 'Publishes that matched no subscription.', () => stats().unmatched)
    mirroredCounter(r, 'subwire_slow_consumers_total', 'Connections closed for falling more than maxPendingBytes behind.', () => stats().slowConsumers)
    const connects = new (promClient().Counter)({ name: 'subwire_connects_total', help: 'Client connections opened.', registers: [r] })
    const disconnects = new (promClient().Counter)({ name: 'subwire_disconnects_total', help: 'Client connections closed, by WebSocket close code.', labelNames: ['code'], registers: [r] })
    new (promClient().Gauge)({ name: 'subwire_info', help: 'Constant 1, labelled with the broker version, id and name.', labelNames: ['version', 'server_id', 'server_name'], registers: [r] })
      .set({ version: VERSION, server_id: broker.serverId, server_name: broker.config.serverName }, 1)
    topicMetrics(r, broker)
    clusterMetrics(r, broker)
    this.#unlisten = [
      broker.events.on('connect', () => connects.inc()),
      broker.events.on('disconnect', (e) => disconnects.inc({ code: String(e.code) })),
    ]
  }

  /** The Prometheus text exposition: this broker's metrics, then the process's. */
  async text(): Promise<string> {
    const [own, node] = await Promise.all([this.registry.metrics(), nodeRegistry().metrics()])
    return `${own}\n${node}`
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Stops counting connection events. Idempotent. */
  close(): void {
    for (const off of this.#unlisten.splice(0)) off()
  }
}
