/**
 * Everything `npm run demo` runs, as a function the browser test can start too: a broker with its monitor and
 * a `sensors` topic that keeps the last reading of every sensor, the sensor simulator (32 sensors at 50 Hz), the
 * microservices demo (a worker pool in a queue group that grows and shrinks while a client requests quotes), and
 * the dashboard's web server.
 */
import { createBroker, type Broker, type BrokerOptions } from '../server/index.ts'
import { attachMonitoring, type Monitoring } from '../server/monitoring/monitoring.ts'
import { connect, type Client } from '../client/index.ts'
import { startSimulator, type Reading, type Simulator } from './dashboard/simulator.ts'
import { WorkerPool } from './microservices/pool.ts'
import { Requester, type PoolStats } from './microservices/requester.ts'
import { startWebServer, type WebServer } from './web-server.ts'

/** Options of the demo. */
export interface DemoOptions {
  brokerPort: number
  webPort: number
  /** Requests per second to the worker pool. @default 200 */
  requestsPerSecond?: number
  /** How often a worker joins or leaves. @default 6000 */
  churnMs?: number
  /** Called every second with the pool's spread (the CLI prints it). */
  onSecond?: (stats: PoolStats) => void
}

/**
 * The broker of the demo. The `sensors` topic is a last-value cache: it keeps the newest reading of each
 * `sensors.<site>.<kind>` (32 messages, whatever the rate), so a dashboard that opens subscribes with
 * `deliver: 'last_per_subject'` and draws every sensor at once, then goes on live.
 */
export const DEMO_BROKER_OPTIONS: Readonly<BrokerOptions> = {
  host: '127.0.0.1',
  topics: [{ name: 'sensors', subjects: ['sensors.>'], maxMsgsPerSubject: 1 }],
}

function demoBroker(port: number): Promise<Broker> {
  return createBroker({ ...DEMO_BROKER_OPTIONS, port })
}

/** The pool grows to this many workers, then shrinks to MIN_WORKERS, and again. */
const MAX_WORKERS = 5
const MIN_WORKERS = 2

export class Demo {
  broker: Broker
  #monitoring: Monitoring
  readonly web: WebServer
  readonly #clients: Client[]
  readonly pool: WorkerPool
  readonly requester: Requester
  readonly #simulator: Simulator
  readonly #timers: NodeJS.Timeout[] = []
  readonly #events: string[] = []

  private constructor(broker: Broker, monitoring: Monitoring, web: WebServer, clients: Client[], pool: WorkerPool, requester: Requester, simulator: Simulator) {
    this.broker = broker
    this.#monitoring = monitoring
    this.web = web
    this.#clients = clients
    this.pool = pool
    this.requester = requester
    this.#simulator = simulator
  }

  static async start(options: DemoOptions): Promise<Demo> {
    const broker = await demoBroker(options.brokerPort)
    const monitoring = attachMonitoring(broker)
    const sensors = await connect(broker.url, { name: 'sensor-simulator' })
    const shop = await connect(broker.url, { name: 'quote-requester' })
    const pool = new WorkerPool(broker.url)
    for (let i = 0; i < 3; i++) await pool.join()
    const web = await startWebServer(broker.url, options.webPort)
    const demo = new Demo(broker, monitoring, web, [sensors, shop], pool, new Requester(shop, options.requestsPerSecond ?? 200), startSimulator(sensors))
    demo.#schedule(options)
    return demo
  }

  /** Readings published so far. */
  get readings(): number {
    return this.#simulator.published
  }

  /** The last reading published for a sensor. */
  lastReading(site: string, kind: string): Reading | undefined {
    return this.#simulator.last(`sensors.${site}.${kind}`)
  }

  /** Silences the sensors, once the broker has stored what they sent (a test opens a page on a quiet topic). */
  async pauseSensors(): Promise<void> {
    this.#simulator.pause()
    await this.#clients[0]?.flush()
  }

  resumeSensors(): void {
    this.#simulator.resume()
  }

  /** Messages the `sensors` topic holds: one per sensor that has sent a reading. */
  get sensorsHeld(): number {
    return this.broker.topics.info('sensors').messages
  }

  #schedule(options: DemoOptions): void {
    let growing = true
    // A join still in flight when the demo stops fails against the closed broker: it is simply not counted.
    this.#timers.push(setInterval(() => void this.#churn(growing).then((g) => { growing = g }, () => undefined), options.churnMs ?? 6000))
    this.#timers.push(setInterval(() => {
      const stats = this.requester.second(this.pool.names, this.#events.splice(0))
      options.onSecond?.(stats)
    }, 1000))
  }

  /** One worker joins (while growing) or leaves (while shrinking); returns whether the pool still grows. */
  async #churn(growing: boolean): Promise<boolean> {
    if (growing) {
      this.#events.push(`${await this.pool.join()} joined`)
      return this.pool.names.length < MAX_WORKERS
    }
    const left = await this.pool.leave()
    if (left !== null) this.#events.push(`${left} left`)
    return this.pool.names.length <= MIN_WORKERS
  }

  /** Closes the broker and starts a new one on the same port (the clients and pages reconnect by themselves). */
  async restartBroker(): Promise<void> {
    const port = this.broker.port
    this.#monitoring.close()
    await this.broker.close()
    // The new broker starts with an empty `sensors` topic; it fills again with the next reading of each sensor.
    this.broker = await demoBroker(port)
    this.#monitoring = attachMonitoring(this.broker)
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t)
    this.#simulator.stop()
    await this.requester.stop()
    await this.pool.close()
    await Promise.all(this.#clients.map((c) => c.drain().catch(() => undefined)))
    await this.web.close()
    this.#monitoring.close()
    await this.broker.close()
  }
}
