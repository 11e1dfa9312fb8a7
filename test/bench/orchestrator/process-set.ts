/**
 * The processes of one scenario run: a broker child, optionally a subscriber child and a publisher child,
 * all for the same system. Subscribers and publisher start in parallel once the broker has its URL.
 */
import type { BrokerSnapshot, PublisherSnapshot, SubscriberPlan, SubscribersSnapshot } from '../ipc.ts'
import type { BenchTopic, SystemName } from '../systems.ts'
import { Child } from './child.ts'
import { cpuSecondsOf, machineBusySeconds, memoryOf } from './proc-stat.ts'

const BROKER_READY_MS = 30_000
const PUBLISHER_READY_MS = 30_000
const MARK_MS = 15_000

export interface ProcessSetSpec {
  readonly system: SystemName
  /** Topics the broker creates at start (scenarios H and J; systems with topics only). */
  readonly topics?: readonly BenchTopic[]
  /** The broker's data folder (scenario J), made and removed by the caller. */
  readonly dataDir?: string
  /** Scenario KW: the broker (every node) runs as `subwire serve`, with `--workers N` when set. */
  readonly serve?: { readonly workers?: number }
  readonly subscribers?: SubscriberPlan
  /** How long the broker may take to start (a durable broker recovering gigabytes takes longer). */
  readonly brokerReadyMs?: number
  /** How long the subscriber child may take to connect and subscribe. */
  readonly subscribersReadyMs?: number
  /**
   * `probeLast`: the probe subscribes only when asked (`attach-probe`), after the subscriber child is ready.
   * `probeNode`: the cluster node the probe connects to (the publisher is always on node 0).
   */
  readonly publisher?: { readonly probeSubject?: string; readonly probeLast?: boolean; readonly probeNode?: number }
  /**
   * Scenarios K…: the broker is `nodes` nodes, each in a broker child of its own, joined through what a
   * shared broker child starts first (a redis-server; nats: the route ports). Node 0 is `broker` and `url`.
   */
  readonly cluster?: { readonly nodes: number }
  /** Cluster runs: the nodes the subscriber connections go to, in turn (default: every node). */
  readonly subscriberNodes?: readonly number[]
}

/**
 * A broker-side process besides node 0 (another node, the shared redis-server, a worker of node 0), marked with
 * it: a child's own snapshot, or for a bare process (a worker) its peak RSS from /proc.
 */
export interface OtherMark {
  readonly name: string
  /** CPU seconds read from /proc at the mark, when available. */
  readonly cpuSeconds?: number
  readonly broker?: BrokerSnapshot
  readonly peakRss?: number
}

/** A broker-side process besides node 0 (a child of ours, or a bare pid), and whose CPU the marks read. */
interface OtherChild {
  readonly name: string
  readonly child?: Child
  readonly cpuPid: number | undefined
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
  /** Cluster runs: the other nodes, then the shared server program (when there is one). */
  readonly others?: readonly OtherMark[]
  /** CPU seconds the whole machine has spent busy, every process included (see proc-stat.ts). */
  readonly machineBusySeconds?: number
}

/** The workers of node 0 (`subwire serve --workers N`), measured by pid. */
function workersOf(pids: readonly number[] | undefined): OtherChild[] {
  return (pids ?? []).map((pid, i) => ({ name: `worker ${i + 1}`, cpuPid: pid }))
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
  /** Every node's URL (a stand-alone broker: `url` alone). */
  nodeUrls: readonly string[]
  #others: OtherChild[] = []
  #idleShared: Child | undefined
  readonly #verbose: boolean
  readonly #spec: ProcessSetSpec

  private constructor(spec: ProcessSetSpec, broker: Child, url: string, verbose: boolean) {
    this.#spec = spec
    this.broker = broker
    this.url = url
    this.nodeUrls = [url]
    this.#verbose = verbose
  }

  /** Starts the broker only; {@link startClients} adds the rest (E measures the broker in between). */
  static async startBroker(spec: ProcessSetSpec, verbose: boolean): Promise<ProcessSet> {
    if (spec.cluster !== undefined) return ProcessSet.#startCluster(spec, spec.cluster.nodes, verbose)
    const spawned = performance.now()
    const config = { role: 'broker', system: spec.system, topics: spec.topics, dataDir: spec.dataDir, serve: spec.serve } as const
    const broker = Child.spawn(`${spec.system} broker`, 'broker.ts', config, { exposeGc: true, verbose })
    try {
      const ready = await broker.next('ready', spec.brokerReadyMs ?? BROKER_READY_MS, 'broker ready')
      if (ready.url === undefined) throw new Error('broker reported no url')
      const set = new ProcessSet(spec, broker, ready.url, verbose)
      set.brokerReadyMs = performance.now() - spawned
      set.brokerStartMs = ready.startMs ?? set.brokerReadyMs
      set.brokerCpuPid = ready.serverPid ?? broker.pid
      set.#others = workersOf(ready.workerPids)
      return set
    } catch (err) {
      await broker.stop()
      throw err
    }
  }

  /** The shared part first (its `url` is what the nodes join through), then every node at once. */
  static async #startCluster(spec: ProcessSetSpec, nodes: number, verbose: boolean): Promise<ProcessSet> {
    const readyMs = spec.brokerReadyMs ?? BROKER_READY_MS
    const shared = Child.spawn(`${spec.system} shared`, 'broker.ts', { role: 'broker', system: spec.system, cluster: { part: 'shared', nodes } }, { exposeGc: true, verbose })
    const children: Child[] = [shared]
    try {
      const sharedReady = await shared.next('ready', readyMs, 'cluster shared part ready')
      if (sharedReady.url === undefined) throw new Error('shared part reported nothing to join through')
      const info = sharedReady.url
      const spawned = performance.now()
      const nodeChildren = Array.from({ length: nodes }, (_, index) => {
        const config = { role: 'broker', system: spec.system, topics: spec.topics, serve: spec.serve, cluster: { part: 'node', index, nodes, shared: info } } as const
        const child = Child.spawn(`${spec.system} node ${index}`, 'broker.ts', config, { exposeGc: true, verbose })
        children.push(child)
        return child
      })
      const ready = await Promise.all(nodeChildren.map((child, i) => child.next('ready', readyMs, `node ${i} ready`)))
      const urls = ready.map((r, i) => {
        if (r.url === undefined) throw new Error(`node ${i} reported no url`)
        return r.url
      })
      const set = new ProcessSet(spec, nodeChildren[0]!, urls[0]!, verbose)
      set.nodeUrls = urls
      set.brokerReadyMs = performance.now() - spawned
      set.brokerStartMs = ready[0]?.startMs ?? set.brokerReadyMs
      set.brokerCpuPid = ready[0]?.serverPid ?? nodeChildren[0]?.pid
      set.#others = [
        ...workersOf(ready[0]?.workerPids),
        ...nodeChildren.slice(1).map((child, i) => ({ name: `node ${i + 1}`, child, cpuPid: ready[i + 1]?.serverPid ?? child.pid })),
      ]
      // A shared child that only handed out ports (nats) runs no server: nothing of the broker's to measure.
      if (sharedReady.serverPid !== undefined) set.#others.push({ name: 'shared', child: shared, cpuPid: sharedReady.serverPid })
      else set.#idleShared = shared
      return set
    } catch (err) {
      await Promise.all(children.map((child) => child.stop().catch(() => undefined)))
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
      const nodes = this.#spec.subscriberNodes
      const urls = this.#spec.cluster === undefined ? undefined : (nodes ?? this.nodeUrls.map((_, i) => i)).map((i) => this.#nodeUrl(i))
      const child = Child.spawn(`${system} subscribers`, 'subscribers.ts', { role: 'subscribers', system, url: this.url, urls, plan }, { verbose: this.#verbose })
      this.subscribers = child
      waits.push(
        child.next('ready', this.#spec.subscribersReadyMs ?? 60_000, 'subscribers ready').then((ready) => {
          this.subscribersConnectMs = ready.connectMs ?? 0
        }),
      )
    }
    if (publisher !== undefined) {
      const child = Child.spawn(`${system} publisher`, 'publisher.ts', { role: 'publisher', system, url: this.url, probeSubject: publisher.probeSubject, probeLast: publisher.probeLast, probeUrl: this.#nodeUrl(publisher.probeNode ?? 0) }, { verbose: this.#verbose })
      this.publisher = child
      waits.push(child.next('ready', PUBLISHER_READY_MS, 'publisher ready'))
    }
    await Promise.all(waits)
  }

  #nodeUrl(index: number): string {
    const url = this.nodeUrls[index]
    if (url === undefined) throw new Error(`no node ${index} in a set of ${this.nodeUrls.length}`)
    return url
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
    const othersCpu = this.#others.map((other) => cpuSecondsOf(other.cpuPid))
    const machineBusy = machineBusySeconds()
    const [broker, subscribers, publisher, others] = await Promise.all([
      this.broker.ask({ type: 'mark', gc }, 'mark', MARK_MS, 'mark'),
      this.subscribers?.ask({ type: 'mark' }, 'mark', MARK_MS, 'mark'),
      this.publisher?.ask({ type: 'mark' }, 'mark', MARK_MS, 'mark'),
      Promise.all(this.#others.map((other) => other.child?.ask({ type: 'mark', gc }, 'mark', MARK_MS, `${other.name} mark`))),
    ])
    if (broker.broker === undefined) throw new Error('broker mark without a snapshot')
    const otherMarks = others.map((reply, i): OtherMark => {
      const other = this.#others[i]!
      if (other.child === undefined) return { name: other.name, cpuSeconds: othersCpu[i], peakRss: other.cpuPid === undefined ? 0 : memoryOf(other.cpuPid).peak }
      if (reply?.broker === undefined) throw new Error(`${other.name} mark without a snapshot`)
      return { name: other.name, cpuSeconds: othersCpu[i], broker: reply.broker }
    })
    const marks = { at, brokerCpuSeconds, machineBusySeconds: machineBusy, broker: broker.broker, subscribers: subscribers?.subscribers, publisher: publisher?.publisher }
    return this.#others.length === 0 ? marks : { ...marks, others: otherMarks }
  }

  /**
   * Snapshots the load generators only. For figures that need nothing of the broker (D's delivered share): a
   * broker drowning in a backlog (Socket.IO's nodes at 2,000 msg/s across Redis) may not answer a mark for
   * seconds, which would fail the whole scenario instead of marking that rate saturated.
   */
  async markClients(): Promise<Pick<Marks, 'subscribers' | 'publisher'>> {
    const [subscribers, publisher] = await Promise.all([
      this.subscribers?.ask({ type: 'mark' }, 'mark', MARK_MS, 'mark'),
      this.publisher?.ask({ type: 'mark' }, 'mark', MARK_MS, 'mark'),
    ])
    return { subscribers: subscribers?.subscribers, publisher: publisher?.publisher }
  }

  /** Stops every child; never throws. */
  async close(): Promise<void> {
    const clients = [this.publisher, this.subscribers].filter((child): child is Child => child !== undefined)
    await Promise.all(clients.map((child) => child.stop().catch(() => undefined)))
    // Nodes before what they share, so no node sees its Redis (or its routes) go first.
    const nodes = [this.broker, ...this.#others.filter((o) => o.name !== 'shared').map((o) => o.child)]
    await Promise.all(nodes.map((child) => child?.stop().catch(() => undefined)))
    const shared = [...this.#others.filter((o) => o.name === 'shared').map((o) => o.child), this.#idleShared]
    await Promise.all(shared.map((child) => child?.stop().catch(() => undefined)))
  }
}
