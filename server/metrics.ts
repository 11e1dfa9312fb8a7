/**
 * Prometheus metrics (`GET /metrics`) through prom-client. Each broker gets its own Registry, so several brokers
 * in one process (tests, an app embedding two) never clash; the process-wide Node metrics (event-loop lag, CPU,
 * memory, GC) live in one shared registry, created once, because they describe the process, not a broker.
 *
 * Values are read from `broker.stats()` when scraped: nothing is counted on the publish path for metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { Broker } from './broker.ts'
import { VERSION } from './version.ts'

let processRegistry: Registry | null = null

/** The process-wide registry of Node's default metrics (`nodejs_eventloop_lag_seconds`, `process_cpu_*`, …). */
function nodeRegistry(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** A counter whose value mirrors a monotonic broker counter, advanced by the difference at each scrape. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let seen = 0
  return new Counter({
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
  return new Gauge({ name, help, registers: [registry], collect() { this.set(read()) } })
}

/** One broker's metrics; `text()` is the body of `GET /metrics`. */
export class BrokerMetrics {
  readonly registry = new Registry()
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
      for (const conn of broker.connections()) total += conn.pendingBytes
      return total
    })
    mirroredCounter(r, 'subwire_messages_in_total', 'Messages published to the broker (by clients and by the broker).', () => stats().published)
    mirroredCounter(r, 'subwire_messages_out_total', 'Deliveries: one per message per receiving subscription.', () => stats().delivered)
    mirroredCounter(r, 'subwire_bytes_in_total', 'Payload bytes published (headers included).', () => stats().bytesIn)
    mirroredCounter(r, 'subwire_bytes_out_total', 'Bytes queued to subscribers.', () => stats().bytesOut)
    mirroredCounter(r, 'subwire_unmatched_total', 'Publishes that matched no subscription.', () => stats().unmatched)
    mirroredCounter(r, 'subwire_slow_consumers_total', 'Connections closed for falling more than maxPendingBytes behind.', () => stats().slowConsumers)
    const connects = new Counter({ name: 'subwire_connects_total', help: 'Client connections opened.', registers: [r] })
    const disconnects = new Counter({ name: 'subwire_disconnects_total', help: 'Client connections closed, by WebSocket close code.', labelNames: ['code'], registers: [r] })
    new Gauge({ name: 'subwire_info', help: 'Constant 1, labelled with the broker version, id and name.', labelNames: ['version', 'server_id', 'server_name'], registers: [r] })
      .set({ version: VERSION, server_id: broker.serverId, server_name: broker.config.serverName }, 1)
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
