/**
 * subwire itself, driven through its public entry points only (`subwire/server`, `subwire/client`), as an
 * application would. This module is loaded only when the subwire system is selected (see loadSystem).
 */
import { connect, type Client, type Msg, type SubscribeOptions } from 'subwire/client'
import type {
  BenchClient,
  BenchPublishAck,
  BenchSubscription,
  BenchSystem,
  BenchTopic,
  BrokerHandle,
  BrokerSpec,
  ClusterSystem,
  DeliveryHandler,
  SharedHandle,
  SubscribeSpec,
  TopicBenchClient,
} from '../systems.ts'

type Callback = NonNullable<SubscribeOptions['callback']>

/** Narrows a delivered payload: the bench only ever publishes raw bytes. */
function asBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data
  throw new Error(`subwire delivered ${typeof data} where raw bytes were published`)
}

/** Counting subscribers never touch msg.data, so subwire's lazy decode stays lazy for them. */
function deliveryCallback(spec: SubscribeSpec, onMessage: DeliveryHandler): Callback {
  if (spec.withData === true) {
    return (err, msg) => {
      if (err === null && msg !== null) onMessage(asBytes(msg.data))
    }
  }
  return (err) => {
    if (err === null) onMessage(undefined)
  }
}

function echo(err: unknown, msg: Msg | null): void {
  if (err === null && msg !== null) msg.respond(msg.data)
}

/** Topics through the public client API (README "Topics, replay and work queues"). */
class SubwireTopics implements TopicBenchClient {
  readonly #client: Client

  constructor(client: Client) {
    this.#client = client
  }

  async publishAck(subject: string, data: Uint8Array, timeoutMs: number): Promise<BenchPublishAck> {
    const { seq, duplicate } = await this.#client.publishAck(subject, data, { timeout: timeoutMs })
    return { seq, duplicate }
  }

  replay(subject: string, onMessage: (seq: number) => void, onError: (code: string) => void): BenchSubscription {
    const sub = this.#client.subscribe(subject, {
      deliver: 'all',
      callback: (err, msg) => {
        if (err !== null) onError(err.code)
        else if (msg !== null) onMessage(msg.seq)
      },
    })
    return { unsubscribe: () => sub.unsubscribe() }
  }

  work(subject: string, queue: string, maxInFlight: number, onMessage: (deliveryCount: number) => void, onError: (code: string) => void): void {
    this.#client.subscribe(subject, {
      queue,
      ack: true,
      maxInFlight,
      callback: (err, msg) => {
        if (err !== null) {
          onError(err.code)
          return
        }
        if (msg === null) return
        msg.ack()
        onMessage(msg.deliveryCount)
      },
    })
  }

  async info(topic: string): Promise<{ messages: number; bytes: number }> {
    const { messages, bytes } = await this.#client.topics.info(topic)
    return { messages, bytes }
  }
}

class SubwireBenchClient implements BenchClient {
  readonly topics: TopicBenchClient
  #client: Client

  constructor(client: Client) {
    this.#client = client
    this.topics = new SubwireTopics(client)
  }

  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void {
    this.#client.subscribe(subject, { queue: spec.queue, callback: deliveryCallback(spec, onMessage) })
  }

  respondWithEcho(subject: string): void {
    this.#client.subscribe(subject, { callback: echo })
  }

  publish(subject: string, data: Uint8Array): void {
    this.#client.publish(subject, data)
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const reply = await this.#client.request(subject, data, { timeout: timeoutMs })
    return asBytes(reply.data)
  }

  flush(): Promise<void> {
    return this.#client.flush()
  }

  pendingBytes(): number {
    return this.#client.pendingBytes
  }

  close(): Promise<void> {
    return this.#client.close()
  }
}

/**
 * The performance issue's targets hold "with every feature switched on": every bench connection
 * authenticates with a token whose permissions are checked on each publish, subscription and delivery
 * (deny lists included), and a topic the bench subjects do not fall under is always present. Slow-consumer
 * policies need nothing: `disconnect` with its pending-bytes bound is the default.
 */
const BENCH_TOKEN = 'bench-token'
const BENCH_PERMISSIONS = {
  publish: { allow: ['bench.>', 'p.>', 'acks.>', 'replay.>', 'jobs.>', 'dur.>', '_INBOX.>', '$SW.TOPIC.>'], deny: ['admin.>'] },
  // G subscribes to `*.a1.b2.z3` and `q1.a2.>`, which only `>` covers. A subscription a deny intersects is
  // refused, so the deny must not intersect G's patterns: with `admin.>` (or `$SYS.>`, which `*.a1.b2.z3` could
  // also match) a fifth of G's 100,000 were refused unnoticed and its index held 80,000. `$SYS` needs no deny:
  // reserved subjects are never covered by a wildcard grant.
  subscribe: { allow: ['>'], deny: ['admin.*'] },
}
const UNRELATED_TOPIC = { name: 'bench-audit', subjects: ['audit.>'] }

/**
 * A fresh, mutable copy: the broker's config type wants its own arrays. `storage` and `fsync` (scenario J)
 * are set only when asked for, so a broker without file topics sees exactly the H config.
 */
function topicConfig(topic: BenchTopic): { name: string; subjects: string[]; maxMsgs?: number; maxBytes?: number } {
  const config = { name: topic.name, subjects: [...topic.subjects], maxMsgs: topic.maxMsgs, maxBytes: topic.maxBytes }
  const fileTopic = { ...config, storage: topic.storage, fsync: topic.fsync }
  return topic.storage === undefined ? config : fileTopic
}

/** The broker options every bench broker gets (see BENCH_PERMISSIONS); J adds `dataDir`. */
function brokerOptions(spec: BrokerSpec): Record<string, unknown> {
  // Every bench client comes from 127.0.0.1 and the idle scenario opens 15,000 at once: with default options
  // loopback peers are not counted against per-address limits or the connect rate (README "Security"), so
  // nothing is raised; every limit stays at its default, as the performance issue asks.
  const options = {
    port: 0,
    host: '127.0.0.1',
    auth: { tokens: [{ token: BENCH_TOKEN, user: 'bench', permissions: BENCH_PERMISSIONS }] },
    topics: [UNRELATED_TOPIC, ...(spec.topics ?? []).map(topicConfig)],
  }
  // `dataDir` only for scenario J's file topics (the broker refuses a file topic without one).
  return spec.dataDir === undefined ? options : { ...options, dataDir: spec.dataDir }
}

type CreateBroker = (options: Record<string, unknown>) => Promise<{ readonly url: string; close(): Promise<void> }>

async function startWith(options: Record<string, unknown>): Promise<BrokerHandle> {
  // Imported here, not above: only the broker child loads the broker (see systems.ts, loadSystem).
  const createBroker: CreateBroker = (await import('subwire/server')).createBroker
  const broker = await createBroker(options)
  return { url: broker.url, close: () => broker.close() }
}

/** The cluster's name in Redis (keys and channels under `subwire:bench:`). */
const CLUSTER_NAME = 'bench'

/**
 * Issue 14's two nodes: each `createBroker({ …, cluster: { redis, name } })` with every cluster option at its
 * default, on one in-memory redis-server (no AOF: pub/sub and interest are never read back).
 */
const subwireCluster: ClusterSystem = {
  async startShared(): Promise<SharedHandle> {
    const redis = await (await import('./redis-streams/server.ts')).startMemoryRedisServer()
    return { info: redis.url, serverPid: redis.serverPid, close: () => redis.close() }
  },
  async startNode(_index: number, _nodes: number, shared: string, spec: BrokerSpec = {}): Promise<BrokerHandle> {
    if (spec.serve !== undefined) return (await import('./subwire-serve.ts')).startServe(brokerOptions(spec), shared, spec.serve.workers)
    return startWith({ ...brokerOptions(spec), cluster: { redis: shared, name: CLUSTER_NAME } })
  },
}

export const subwireSystem: BenchSystem = {
  name: 'subwire',
  async startBroker(spec: BrokerSpec = {}): Promise<BrokerHandle> {
    if (spec.serve !== undefined) return (await import('./subwire-serve.ts')).startServe(brokerOptions(spec), undefined, spec.serve.workers)
    return startWith(brokerOptions(spec))
  },
  cluster: subwireCluster,
  async connect(url: string, name: string): Promise<BenchClient> {
    return new SubwireBenchClient(await connect(url, { name, token: BENCH_TOKEN }))
  },
}
