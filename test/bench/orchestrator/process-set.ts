/**
 * The processes of one scenario run: a broker child, optionally a subscriber child and a publisher child,
 * all for the same system. Subscribers and publisher start in parallel once the broker has its URL.
 */
import type { BrokerSnapshot, PublisherSnapshot, SubscriberPlan, SubscribersSnapshot } from '../ipc.ts'
import type { BenchTopic, SystemName } from '../systems.ts'
import { Child } from './child.ts'
import { cpuSecondsOf } from './proc-stat.ts'

const BROKER_READY_MS = 30_000
const PUBLISHER_READY_MS = 30_000
const MARK_MS = 15_000

export interface ProcessSetSpec {
  readonly system: SystemName
  /** Topics the broker creates at start (scenarios H and J; systems with topics only). */
  readonly topics?: readonly BenchTopic[]
  /** The broker's data folder (scenario J), made and removed by the caller. */
  readonly dataDir?: string
  readonly subscribers?: SubscriberPlan
  /** How long the broker may take to start (a durable broker recovering gigabytes takes longer). */
  readonly brokerReadyMs?: number
  /** How long the subscriber child may take to connect and subscribe. */
  readonly subscribersReadyMs?: number
  /** `probeLast`: the probe subscribes only when asked (`attach-probe`), after the subscriber child is ready. */
  readonly publisher?: { readonly probeSubject?: string; readonly probeLast?: boolean }
}

/** Snapshots taken at the same moment in every child of the set. */
export interface Marks {
  /** The orchestrator's performance.now() when the marks were sent. */
  readonly at: number
  /** Broker CPU seconds read from /proc at `at`, when available (see proc-stat.ts). */
  readonly brokerCpuSeconds?: number
  readonly broker: BrokerSnapshot
  readonly subscribers?: SubscribersSnapshot
  readonly publisher?: PublisherSnapshot
}

export class ProcessSet {
  readonly broker: Child
  readonly url: string
  subscribers: Child | undefined
  publisher: Child | undefined
  /** How long the subscriber child took to connect and confirm every subscription. */
  subscribersConnectMs = 0
  /** The broker child's own time inside `startBroker` (a durable broker's recovery), and spawn → ready. */
  brokerStartMs = 0
  brokerReadyMs = 0
  /** Whose CPU the marks read from /proc: the broker child, or the server program it started. */
  brokerCpuPid: number | undefined
  readonly #verbose: boolean
  readonly #spec: ProcessSetSpec

  private constructor(spec: ProcessSetSpec, broker: Child, url: string, verbose: boolean) {
    this.#spec = spec
    this.broker = broker
    this.url = url
    this.#verbose = verbose
  }

  /** Starts the broker only; {@link startClients} adds the rest (E measures the broker in between). */
  static async startBroker(spec: ProcessSetSpec, verbose: boolean): Promise<ProcessSet> {
    const spawned = performance.now()
    const config = { role: 'broker', system: spec.system, topics: spec.topics, dataDir: spec.dataDir } as const
    const broker = Child.spawn(`${spec.system} broker`, 'broker.ts', config, { exposeGc: true, verbose })
    try {
      const ready = await broker.next('ready', spec.brokerReadyMs ?? BROKER_READY_MS, 'broker ready')
      if (ready.url === undefined) throw new Error('broker reported no url')
      const set = new ProcessSet(spec, broker, ready.url, verbose)
      set.brokerReadyMs = performance.now() - spawned
      set.brokerStartMs = ready.startMs ?? set.brokerReadyMs
      set.brokerCpuPid = ready.serverPid ?? broker.pid
      return set
    } catch (err) {
      await broker.stop()
      throw err
    }
  }

  /** Starts the whole set. */
  static async start(spec: ProcessSetSpec, verbose: boolean): Promise<ProcessSet> {
    const set = await ProcessSet.startBroker(spec, verbose)
    try {
      await set.startClients()
      return set
    } catch (err) {
      await set.close()
      throw err
    }
  }

  /** Starts the subscriber and publisher children of the spec and waits until both are ready. */
  async startClients(): Promise<void> {
    const { system, subscribers: plan, publisher } = this.#spec
    const waits: Promise<unknown>[] = []
    if (plan !== undefined) {
      const child = Child.spawn(`${system} subscribers`, 'subscribers.ts', { role: 'subscribers', system, url: this.url, plan }, { verbose: this.#verbose })
      this.subscribers = child
      waits.push(
        child.next('ready', this.#spec.subscribersReadyMs ?? 60_000, 'subscribers ready').then((ready) => {
          this.subscribersConnectMs = ready.connectMs ?? 0
        }),
      )
    }
    if (publisher !== undefined) {
      const child = Child.spawn(`${system} publisher`, 'publisher.ts', { role: 'publisher', system, url: this.url, probeSubject: publisher.probeSubject, probeLast: publisher.probeLast }, { verbose: this.#verbose })
      this.publisher = child
      waits.push(child.next('ready', PUBLISHER_READY_MS, 'publisher ready'))
    }
    await Promise.all(waits)
  }

  /** Relays the subscribers' progress to the publisher as end-to-end credit. */
  relayCredit(): void {
    const publisher = this.publisher
    this.subscribers?.on('progress', (message) => {
      // Best effort: during teardown the publisher may already be gone.
      publisher?.trySend({ type: 'credit', delivered: message.delivered })
    })
  }

  /** Snapshots every child at (nearly) the same moment. */
  async mark(gc = false): Promise<Marks> {
    const at = performance.now()
    const brokerCpuSeconds = cpuSecondsOf(this.brokerCpuPid)
    const [broker, subscribers, publisher] = await Promise.all([
      this.broker.ask({ type: 'mark', gc }, 'mark', MARK_MS, 'mark'),
      this.subscribers?.ask({ type: 'mark' }, 'mark', MARK_MS, 'mark'),
      this.publisher?.ask({ type: 'mark' }, 'mark', MARK_MS, 'mark'),
    ])
    if (broker.broker === undefined) throw new Error('broker mark without a snapshot')
    return { at, brokerCpuSeconds, broker: broker.broker, subscribers: subscribers?.subscribers, publisher: publisher?.publisher }
  }

  /** Stops every child; never throws. */
  async close(): Promise<void> {
    const clients = [this.publisher, this.subscribers].filter((child): child is Child => child !== undefined)
    await Promise.all(clients.map((child) => child.stop().catch(() => undefined)))
    await this.broker.stop().catch(() => undefined)
  }
}
