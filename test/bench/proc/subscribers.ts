/**
 * Subscriber child: opens the connections of one plan (fan-out, idle, responder, index, scenario H's
 * work queue and replay, or scenario J's drain), confirms every subscription with a flush, reports `ready`, then counts deliveries
 * per connection. With a fan-out or work-queue plan it also reports `progress` every 10 ms, which the
 * orchestrator relays to the publisher as credit. A replay plan replays a topic on each `replay` message.
 */
import { loadSystem, type BenchClient, type BenchSystem } from '../systems.ts'
import type { SubscriberPlan, SubscribersConfig } from '../ipc.ts'
import { indexConnections, indexSubscriptions } from '../workloads.ts'
import { forEachLimited, within } from '../time.ts'
import { StallProxy } from './stall-proxy.ts'
import { TopicCounters, drainOnce, replayOnce, setUpWorkQueue, topicsOf } from './topic-subscribers.ts'
import { fail, installChildGuards, onMessage, readConfig, send } from './child-ipc.ts'

const PROGRESS_EVERY_MS = 10
const CONNECT_CONCURRENCY = 20
const SETUP_DEADLINE_MS = 300_000
/** Subscriptions sent per connection before a flush, so a big index is not one huge burst. */
const SUBSCRIBE_BATCH = 1000
/** How long a resumed stalled reader waits for the broker's close before concluding it was kept. */
const UNSTALL_WAIT_MS = 1000

/** What a plan leaves behind: delivery counters per connection and, for scenarios I and H, the proxy or topic counters. */
interface Setup {
  readonly counts: number[]
  readonly clients: BenchClient[]
  readonly proxy?: StallProxy
  readonly topic?: TopicCounters
}

/** `urls`: connection i goes to `urls[i % urls.length]` (a cluster's nodes in turn). */
async function connectMany(system: BenchSystem, urls: string | readonly string[], count: number, concurrency: number): Promise<BenchClient[]> {
  const clients: BenchClient[] = new Array<BenchClient>(count)
  const list = typeof urls === 'string' ? [urls] : urls
  await forEachLimited(count, concurrency, async (i) => {
    clients[i] = await system.connect(list[i % list.length]!, `sub-${i}`)
  })
  return clients
}

async function setUpFanout(system: BenchSystem, config: SubscribersConfig, plan: Extract<SubscriberPlan, { kind: 'fanout' }>): Promise<Setup> {
  const counts = new Array<number>(plan.count).fill(0)
  const clients = await connectMany(system, config.urls ?? config.url, plan.count, CONNECT_CONCURRENCY)
  clients.forEach((client, i) => {
    client.subscribe(plan.subject, { queue: plan.queue }, () => {
      counts[i]!++
    })
  })
  await Promise.all(clients.map((client) => client.flush()))
  if (!plan.stalled) return { counts, clients }
  const proxy = await StallProxy.start(config.url)
  const stalled = await system.connect(proxy.url, 'stalled')
  stalled.subscribe(plan.subject, { queue: plan.queue }, () => undefined)
  await stalled.flush()
  proxy.stall()
  return { counts, clients: [...clients, stalled], proxy }
}

async function setUpIdle(system: BenchSystem, url: string, count: number, concurrency: number): Promise<Setup> {
  const clients: BenchClient[] = new Array<BenchClient>(count)
  await forEachLimited(count, concurrency, async (i) => {
    const client = await system.connect(url, `idle-${i}`)
    client.subscribe(`idle.${i}`, {}, () => undefined)
    await client.flush()
    clients[i] = client
  })
  return { counts: [], clients }
}

async function setUpResponder(system: BenchSystem, url: string, subject: string): Promise<Setup> {
  const client = await system.connect(url, 'responder')
  client.respondWithEcho(subject)
  await client.flush()
  return { counts: [], clients: [client] }
}

async function setUpIndex(system: BenchSystem, url: string, plan: Extract<SubscriberPlan, { kind: 'index' }>): Promise<Setup> {
  const connections = indexConnections(plan.variant)
  const counts = new Array<number>(connections).fill(0)
  const clients = await connectMany(system, url, connections, CONNECT_CONCURRENCY)
  const counters = counts.map((_, i) => () => {
    counts[i]!++
  })
  const subjects = indexSubscriptions(plan.variant)
  for (let start = 0; start < subjects.length; start += SUBSCRIBE_BATCH * connections) {
    const end = Math.min(subjects.length, start + SUBSCRIBE_BATCH * connections)
    for (let s = start; s < end; s++) clients[s % connections]!.subscribe(subjects[s]!, {}, counters[s % connections]!)
    await Promise.all(clients.map((client) => client.flush()))
  }
  return { counts, clients }
}

async function setUpReplay(system: BenchSystem, url: string): Promise<Setup> {
  const client = await system.connect(url, 'replay')
  topicsOf(client) // fail at setup, not at the first replay, on a system without topics
  return { counts: [0], clients: [client] }
}

async function setUpWork(system: BenchSystem, url: string, plan: Extract<SubscriberPlan, { kind: 'work-queue' }>): Promise<Setup> {
  const counts = new Array<number>(plan.count).fill(0)
  const topic = new TopicCounters()
  const clients = await setUpWorkQueue(system, url, plan, counts, topic)
  return { counts, clients, topic }
}

/** Drain members connect now and join on the `drain` message (scenario J: the backlog is stored first). */
async function setUpDrain(system: BenchSystem, url: string, count: number): Promise<Setup> {
  const clients = await Promise.all(Array.from({ length: count }, (_, i) => system.connect(url, `worker-${i}`)))
  for (const client of clients) topicsOf(client)
  return { counts: new Array<number>(count).fill(0), clients }
}

function setUp(system: BenchSystem, config: SubscribersConfig): Promise<Setup> {
  const plan = config.plan
  switch (plan.kind) {
    case 'fanout':
      return setUpFanout(system, config, plan)
    case 'idle':
      return setUpIdle(system, config.url, plan.count, plan.concurrency)
    case 'responder':
      return setUpResponder(system, config.url, plan.subject)
    case 'index':
      return setUpIndex(system, config.url, plan)
    case 'replay':
      return setUpReplay(system, config.url)
    case 'work-queue':
      return setUpWork(system, config.url, plan)
    case 'drain':
      return setUpDrain(system, config.url, plan.count)
    default:
      return assertNever(plan)
  }
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** Messages every subscriber has (min) or that some subscriber has (sum): the publisher's credit. */
function startProgress(counts: readonly number[], fold: 'min' | 'sum'): void {
  let last = -1
  setInterval(() => {
    let delivered = fold === 'min' ? Infinity : 0
    for (const count of counts) delivered = fold === 'min' ? Math.min(delivered, count) : delivered + count
    if (delivered === last || !Number.isFinite(delivered)) return
    last = delivered
    send({ type: 'progress', delivered })
  }, PROGRESS_EVERY_MS)
}

async function main(): Promise<void> {
  installChildGuards()
  const config = readConfig('subscribers')
  const system = await loadSystem(config.system)
  const started = performance.now()
  const setup = await within(SETUP_DEADLINE_MS, setUp(system, config), `${config.plan.kind} subscriber setup`)
  const connectMs = performance.now() - started
  if (config.plan.kind === 'fanout') startProgress(setup.counts, config.plan.progress)
  if (config.plan.kind === 'work-queue') startProgress(setup.counts, 'sum')

  onMessage(async (message) => {
    if (message.type === 'mark') {
      const topic = setup.topic
      send({ type: 'mark', subscribers: { t: performance.now(), cpuUs: cpuMicros(), counts: [...setup.counts], redelivered: topic?.redelivered, errors: topic && [...topic.errors] } })
    }
    if (message.type === 'replay') {
      const client = setup.clients[0]
      if (config.plan.kind !== 'replay' || client === undefined) throw new Error('replay asked of a child without a replay plan')
      const report = await replayOnce(topicsOf(client), message.subject, message.expected, message.timeoutMs, setup.counts)
      send({ type: 'replayed', report })
    }
    if (message.type === 'drain') {
      if (config.plan.kind !== 'drain') throw new Error('drain asked of a child without a drain plan')
      const report = await drainOnce(setup.clients, config.plan, message.expected, message.timeoutMs, setup.counts)
      send({ type: 'drained', report })
    }
    if (message.type === 'unstall') {
      const report = (await setup.proxy?.unstall(UNSTALL_WAIT_MS)) ?? { closedByBroker: false, drainedBytes: 0 }
      send({ type: 'unstalled', report })
    }
    // Sockets close with the process; closing 15,000 of them one by one would only slow the run.
    if (message.type === 'shutdown') process.exit(0)
  })
  send({ type: 'ready', connectMs })
}

function assertNever(value: never): never {
  throw new Error(`unknown plan: ${JSON.stringify(value)}`)
}

main().catch(fail)
