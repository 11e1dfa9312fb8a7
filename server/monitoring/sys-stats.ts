/**
 * The `$SYS` publisher: the broker's stats on `$SYS.stats` every interval, and connection events on
 * `$SYS.conn.*`, so a dashboard subscribes instead of polling. Also keeps the last minutes of samples (for
 * `GET /stats/history`, so a monitor page draws its charts at once) and the latest slow consumers.
 *
 * Publishes only while something subscribes: a `$SYS` message nobody wants would cost a report and count as
 * an unmatched publish every second.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Broker } from '../broker.ts'
import type { ConnectionSummary } from '../edge/broker-events.ts'
import { SubwireError } from '../../shared/errors.ts'
import {
  buildReport, ratesBetween, sampleCounters, SLOW_CONSUMER_HISTORY,
  type CounterSample, type ServerReport, type SlowConsumerReport, type StatsReport,
} from './stats-report.ts'

/** The `$SYS` subjects. Subscribe to `$SYS.>` for all of them. */
export const SYS_SUBJECT = {
  stats: '$SYS.stats',
  connect: '$SYS.conn.connect',
  disconnect: '$SYS.conn.disconnect',
  slowConsumer: '$SYS.conn.slow_consumer',
} as const

/** One point of the charts: rates over one interval and gauges at its end. */
export interface HistorySample {
  at: number
  published: number
  delivered: number
  bytesIn: number
  bytesOut: number
  connections: number
  subscriptions: number
  slowConsumers: number
}

/** A connection event as published on `$SYS.conn.*` (the summary without its subscription list). */
export interface ConnEvent extends Pick<ConnectionSummary, 'id' | 'name' | 'ip' | 'subprotocol' | 'connectedAt' | 'pendingBytes' | 'msgsIn' | 'msgsOut'> {
  at: number
  server: string
  /** How many subscriptions it holds. */
  subscriptions: number
  /** WebSocket close code, on disconnect. */
  code?: number
}

/** Options of the `$SYS` publisher. */
export interface SysStatsOptions {
  /** How often `$SYS.stats` is published and a history sample taken. @default 1000 */
  intervalMs?: number
  /** Samples kept for `GET /stats/history`, at most `MAX_HISTORY` (about 150 bytes each in JSON). @default 300 (five minutes at the default interval) */
  historySize?: number
}

/** Most samples `GET /stats/history` may keep: an hour at the default interval, about 540 KB of JSON. */
export const MAX_HISTORY = 3600
/** Shortest `$SYS.stats` interval: each builds a report. */
export const MIN_INTERVAL_MS = 10

function checkedOption(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new SubwireError('bad_option', `sysStats.${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

/** Nanoseconds to milliseconds, to 0.01 ms. */
function ms(ns: number): number {
  return Math.round(ns / 10_000) / 100
}

export class SysStats {
  readonly #broker: Broker
  readonly #intervalMs: number
  readonly #historySize: number
  readonly #startedAt = Date.now()
  readonly #history: HistorySample[] = []
  readonly #slowConsumers: SlowConsumerReport[] = []
  readonly #lag: IntervalHistogram
  readonly #unlisten: Array<() => void>
  #lagMs: ServerReport['eventLoopLagMs'] = null
  #previous: CounterSample
  #timer: NodeJS.Timeout | null

  constructor(broker: Broker, options: SysStatsOptions = {}) {
    this.#broker = broker
    this.#intervalMs = checkedOption(options.intervalMs, 1000, MIN_INTERVAL_MS, 2 ** 31 - 1, 'intervalMs')
    this.#historySize = checkedOption(options.historySize, 300, 1, MAX_HISTORY, 'historySize')
    this.#previous = sampleCounters(broker)
    this.#lag = monitorEventLoopDelay({ resolution: 10 })
    this.#lag.enable()
    this.#unlisten = [
      broker.events.on('connect', (c) => this.#publishEvent(SYS_SUBJECT.connect, c)),
      broker.events.on('disconnect', (c) => this.#publishEvent(SYS_SUBJECT.disconnect, c, c.code)),
      broker.events.on('slow_consumer', (c) => this.#onSlowConsumer(c)),
    ]
    // Unref'd: monitoring never keeps a process alive on its own.
    this.#timer = setInterval(this.#tick, this.#intervalMs)
    this.#timer.unref()
  }

  /** The samples of the last minutes, oldest first. */
  history(): HistorySample[] {
    return [...this.#history]
  }

  /** The current report, with a page of connections or none; rates are those of the last interval. */
  report(connections: { offset: number; limit: number } | null = null): StatsReport {
    const report = buildReport(this.#broker, {
      startedAt: this.#startedAt,
      previous: null,
      slowConsumers: this.#slowConsumers,
      eventLoopLagMs: this.#lagMs,
      connections,
    })
    const last = this.#history.at(-1)
    if (last !== undefined) report.rates = { published: last.published, delivered: last.delivered, bytesIn: last.bytesIn, bytesOut: last.bytesOut }
    return report
  }

  /** Stops publishing and listening. Idempotent; also happens by itself once the broker has closed. */
  close(): void {
    if (this.#timer === null) return
    clearInterval(this.#timer)
    this.#timer = null
    this.#lag.disable()
    for (const off of this.#unlisten.splice(0)) off()
  }

  readonly #tick = (): void => {
    if (this.#broker.state === 'closed') { this.close(); return }
    const now = sampleCounters(this.#broker)
    const rates = ratesBetween(this.#previous, now)
    this.#previous = now
    this.#measureLag()
    const stats = this.#broker.stats()
    this.#history.push({ at: now.at, ...rates, connections: stats.connections, subscriptions: stats.subscriptions, slowConsumers: stats.slowConsumers })
    if (this.#history.length > this.#historySize) this.#history.shift()
    if (this.#wanted(SYS_SUBJECT.stats)) this.#publish(SYS_SUBJECT.stats, this.report(null))
  }

  #measureLag(): void {
    const h = this.#lag
    // An interval with no sample yet reports NaN for the mean.
    if (h.count > 0) this.#lagMs = { mean: ms(h.mean), p99: ms(h.percentile(99)), max: ms(h.max) }
    h.reset()
  }

  #onSlowConsumer(conn: ConnectionSummary): void {
    this.#slowConsumers.unshift({ at: Date.now(), id: conn.id, name: conn.name, ip: conn.ip, pendingBytes: conn.pendingBytes })
    if (this.#slowConsumers.length > SLOW_CONSUMER_HISTORY) this.#slowConsumers.pop()
    this.#publishEvent(SYS_SUBJECT.slowConsumer, conn)
  }

  #publishEvent(subject: string, conn: ConnectionSummary, code?: number): void {
    if (!this.#wanted(subject)) return
    const event: ConnEvent = {
      at: Date.now(),
      server: this.#broker.serverId,
      id: conn.id,
      name: conn.name,
      ip: conn.ip,
      subprotocol: conn.subprotocol,
      connectedAt: conn.connectedAt,
      subscriptions: conn.subscriptionCount,
      pendingBytes: conn.pendingBytes,
      msgsIn: conn.msgsIn,
      msgsOut: conn.msgsOut,
    }
    if (code !== undefined) event.code = code
    this.#publish(subject, event)
  }

  /** True when the broker serves and some subscription matches (checked through the subject index's cache). */
  #wanted(subject: string): boolean {
    if (!this.#broker.ready) return false
    const m = this.#broker.router.index.match(subject)
    // A result may hold runs left empty (subject-index.ts): only a run with a subscription in it counts.
    // Local subscribers only: each node publishes its own `$SYS.stats` on the same subject, and a monitor on
    // one node must not get every node's reports interleaved (the cluster is in the report's `cluster`).
    return m.plain.some((run) => run.subs.length > 0) || m.groups.length > 0
  }

  #publish(subject: string, data: unknown): void {
    try {
      this.#broker.publish(subject, data)
    } catch (err) {
      // A report larger than maxPayload (a broker configured very small): say so rather than lose it silently.
      this.#broker.logger.warn({ err, subject }, 'could not publish a $SYS message')
    }
  }
}
