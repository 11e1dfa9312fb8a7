/**
 * What a benchmarked system must provide. The same scenario drivers (proc/*.ts) run against every system
 * through these two interfaces, so subwire and the baselines do exactly the same work per message.
 */

/**
 * The systems the bench knows. `subwire` is the project; `nats` (nats-server over its websocket listener,
 * nats.ws clients), `raw-ws` and `socketio` are same-run pub/sub baselines; `redis-streams` is the durable
 * anchor of scenario J only (no pub/sub: every other scenario skips it).
 */
export const SYSTEM_NAMES = ['subwire', 'nats', 'raw-ws', 'socketio', 'redis-streams'] as const
export type SystemName = (typeof SYSTEM_NAMES)[number]

/** Systems with subjects, pub/sub and request/reply: every scenario but J runs on these only. */
export const PUBSUB_SYSTEMS: ReadonlySet<SystemName> = new Set<SystemName>(['subwire', 'nats', 'raw-ws', 'socketio'])

/** Systems with retained topics (scenario H); the baselines have none and report it as n/a. */
export const SYSTEMS_WITH_TOPICS: ReadonlySet<SystemName> = new Set<SystemName>(['subwire'])

/** Systems with a durable, fsynced log (scenario J): subwire's file topics and the Redis Streams anchor. */
export const DURABLE_SYSTEMS: ReadonlySet<SystemName> = new Set<SystemName>(['subwire', 'redis-streams'])

/**
 * Systems that run as two nodes joined into one broker (scenarios K…, issue 14): subwire and Socket.IO
 * through one redis-server, nats-server through routes.
 */
export const CLUSTER_SYSTEMS: ReadonlySet<SystemName> = new Set<SystemName>(['subwire', 'nats', 'socketio'])

/** A running broker inside the broker child process. */
export interface BrokerHandle {
  /** What clients pass to {@link BenchSystem.connect}. Always a loopback address. */
  readonly url: string
  /**
   * The pid of the program that does the broker's work when it is not the broker child itself (nats-server,
   * redis-server): the bench then reads that process's CPU and memory, not the Node wrapper's.
   */
  readonly serverPid?: number
  /**
   * Processes that do the broker's work beside `serverPid` (the workers of `subwire serve --workers N`, whose
   * primary is `serverPid`): measured from /proc, each on its own.
   */
  readonly workerPids?: readonly number[]
  close(): Promise<void>
}

/** What the nodes of a cluster share, started once before them (a redis-server; nats: the route ports). */
export interface SharedHandle {
  /** Handed to every node's {@link ClusterSystem.startNode}: a Redis URL, or the nats route ports as JSON. */
  readonly info: string
  /** The server program's pid when there is one (redis-server), measured beside the nodes. */
  readonly serverPid?: number
  close(): Promise<void>
}

/** A system that runs as several nodes joined into one broker. Each node runs in a broker child of its own. */
export interface ClusterSystem {
  /** Runs in a broker child of its own, before any node. */
  startShared(nodes: number): Promise<SharedHandle>
  /** Starts node `index` of `nodes`, joined through `shared` (the {@link SharedHandle.info}); resolves once it is joined. */
  startNode(index: number, nodes: number, shared: string, spec?: BrokerSpec): Promise<BrokerHandle>
}

/** Options of one benchmark subscription. */
export interface SubscribeSpec {
  /** Queue group: each message goes to one member of the group. */
  readonly queue?: string
  /** Hand the payload to the handler (latency probes). Counting subscribers leave it undecoded. */
  readonly withData?: boolean
}

/** Called once per delivered message; `data` is set only when the subscription asked for it. */
export type DeliveryHandler = (data: Uint8Array | undefined) => void

/** A retained topic the broker creates at start (scenario H). */
export interface BenchTopic {
  readonly name: string
  readonly subjects: readonly string[]
  readonly maxMsgs?: number
  readonly maxBytes?: number
  /** Scenario J: a file topic (`'file'`) under the broker's `dataDir`, with this fsync policy. */
  readonly storage?: 'file'
  readonly fsync?: 'always'
}

/** What the broker child asks of {@link BenchSystem.startBroker}. */
export interface BrokerSpec {
  /** Topics to create at start; only systems in {@link SYSTEMS_WITH_TOPICS} accept them. */
  readonly topics?: readonly BenchTopic[]
  /** Where a durable system keeps its files (scenario J); created and removed by the scenario. */
  readonly dataDir?: string
  /** Scenario KW (subwire only): run the broker as `subwire serve` (a child process), with `--workers N` when set. */
  readonly serve?: { readonly workers?: number }
}

/** A subscription that can be ended (replays are repeated on one connection). */
export interface BenchSubscription {
  unsubscribe(): void
}

/** The broker's answer to a confirmed publish. */
export interface BenchPublishAck {
  /** The message's sequence in its topic (redis-streams: confirms so far on this connection, see its client). */
  readonly seq: number
  readonly duplicate: boolean
}

/**
 * Topic operations, for systems that have retained topics (scenario H). Handlers are called once per
 * message; `onError` gets the error code of a failed subscription or of an event such as a gap.
 */
export interface TopicBenchClient {
  /** Publishes and resolves once the broker has stored the message. */
  publishAck(subject: string, data: Uint8Array, timeoutMs: number): Promise<BenchPublishAck>
  /** Replays every stored message matching `subject`, then goes on live; `onMessage` gets each one's sequence. */
  replay(subject: string, onMessage: (seq: number) => void, onError: (code: string) => void): BenchSubscription
  /**
   * Joins acked work-queue group `queue` on `subject`; every message is acked in the callback, and
   * `onMessage` gets its delivery count (1 on the first attempt).
   */
  work(subject: string, queue: string, maxInFlight: number, onMessage: (deliveryCount: number) => void, onError: (code: string) => void): void
  /** What a topic holds now. */
  info(topic: string): Promise<{ readonly messages: number; readonly bytes: number }>
}

/** One client connection of a system, as the scenario drivers use it. */
export interface BenchClient {
  /** Retained topics, replay and acked work queues; undefined for systems without them. */
  readonly topics?: TopicBenchClient
  /** Registers a subscription; it is in force at the broker once a following {@link flush} resolves. */
  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void
  /** Answers every request on `subject` with the request's own payload. */
  respondWithEcho(subject: string): void
  /** Fire-and-forget publish of raw bytes. */
  publish(subject: string, data: Uint8Array): void
  /** One request/reply round trip; rejects after `timeoutMs`. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>
  /** Resolves when the broker has processed everything sent before it (one round trip). */
  flush(): Promise<void>
  /** Bytes accepted by the client but not yet by the socket, or undefined if the system cannot tell. */
  pendingBytes(): number | undefined
  close(): Promise<void>
}

/** One benchmarked system: its broker (run in the broker child) and its client (run in the driver children). */
export interface BenchSystem {
  readonly name: SystemName
  startBroker(spec?: BrokerSpec): Promise<BrokerHandle>
  /** Systems in {@link CLUSTER_SYSTEMS}: how their nodes start and join. */
  readonly cluster?: ClusterSystem
  connect(url: string, name: string): Promise<BenchClient>
}

/**
 * Loads a system lazily, so that a run without subwire never imports the (possibly unfinished) broker. Each
 * system imports its broker inside `startBroker`, so the load-generating children load only the client, as an
 * application would. This matters beyond start-up: with subwire's broker code loaded as well, the subscribers
 * child's old generation sat just above 8 MiB, past which V8 starts incremental marking after nearly every
 * scavenge when 700 MB/s of socket reads force a scavenge every ~35 ms (149 mark-compacts in scenario A).
 */
export async function loadSystem(name: SystemName): Promise<BenchSystem> {
  switch (name) {
    case 'subwire':
      return (await import('./systems/subwire.ts')).subwireSystem
    case 'nats':
      return (await import('./systems/nats/index.ts')).natsSystem
    case 'raw-ws':
      return (await import('./systems/raw-ws/index.ts')).rawWsSystem
    case 'socketio':
      return (await import('./systems/socketio/index.ts')).socketIoSystem
    case 'redis-streams':
      return (await import('./systems/redis-streams/index.ts')).redisStreamsSystem
    default:
      return assertNever(name)
  }
}

/** Type guard for a CLI-provided system name. */
export function isSystemName(value: string): value is SystemName {
  return (SYSTEM_NAMES as readonly string[]).includes(value)
}

function assertNever(value: never): never {
  throw new Error(`unknown system: ${String(value)}`)
}
