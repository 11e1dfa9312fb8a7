/**
 * The microservices demo's client: requests quotes at a steady rate, counts which worker answered each, and
 * every second publishes the spread on `demo.pool.stats` (the dashboard page draws it) and returns it.
 */
import type { Client } from '../../client/index.ts'
import { QUOTE_SUBJECT, settle, type QuoteReply } from './pool.ts'

const REQUEST_TIMEOUT_MS = 2000

export const POOL_STATS_SUBJECT = 'demo.pool.stats'

/** One second of the pool, as published on `demo.pool.stats`. */
export interface PoolStats {
  at: number
  /** Replies per worker in the last second. */
  perWorker: Record<string, number>
  /** Workers in the pool now. */
  workers: string[]
  failed: number
  p50Ms: number
  p99Ms: number
  /** A join or leave that happened in the last second, for the page's log. */
  events: string[]
}

export class Requester {
  readonly #c: Client
  readonly #timer: NodeJS.Timeout
  readonly total: Record<string, number> = {}
  answered = 0
  failed = 0
  #perWorker: Record<string, number> = {}
  #latencies: number[] = []
  #failedThisSecond = 0
  #inFlight = 0

  /** Sends `perSecond` requests a second (in ticks of 10 ms). */
  constructor(c: Client, perSecond: number) {
    this.#c = c
    const perTick = perSecond / 100
    let owed = 0
    this.#timer = setInterval(() => {
      owed += perTick
      for (; owed >= 1; owed--) void this.#one()
    }, 10)
  }

  async #one(): Promise<void> {
    const started = performance.now()
    this.#inFlight++
    try {
      const r = await this.#c.request(QUOTE_SUBJECT, { sku: 'sku-42', qty: 1 + Math.floor(Math.random() * 5) }, { timeout: REQUEST_TIMEOUT_MS })
      const { worker } = r.data as QuoteReply
      this.#latencies.push(performance.now() - started)
      this.#perWorker[worker] = (this.#perWorker[worker] ?? 0) + 1
      this.total[worker] = (this.total[worker] ?? 0) + 1
      this.answered++
    } catch {
      this.failed++
      this.#failedThisSecond++
    } finally {
      this.#inFlight--
    }
  }

  /** Closes the current second: publishes and returns its stats. */
  second(workers: string[], events: string[]): PoolStats {
    const sorted = this.#latencies.sort((a, b) => a - b)
    const pick = (q: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 100) / 100
    const stats: PoolStats = { at: Date.now(), perWorker: this.#perWorker, workers, failed: this.#failedThisSecond, p50Ms: pick(0.5), p99Ms: pick(0.99), events }
    this.#perWorker = {}
    this.#latencies = []
    this.#failedThisSecond = 0
    try {
      this.#c.publish(POOL_STATS_SUBJECT, stats)
    } catch {
      // the broker is away and the offline buffer is full: the page misses one second
    }
    return stats
  }

  /**
   * Stops sending and waits (up to the request timeout) for the requests still in flight. Closing the clients
   * right away failed those requests, and the demo counted them as failures (the demo test's "0 failed" failed
   * about one clean-clone CI run in two).
   */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await settle(() => this.#inFlight === 0, REQUEST_TIMEOUT_MS)
  }
}
