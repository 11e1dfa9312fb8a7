/**
 * The subscriber child's topic plans (scenarios H and J): acked work-queue members that ack every job in
 * their callback, a replay connection that reads a topic from its first message, and (J) members that join
 * only when told and drain a stored backlog, each timed on this child's clock.
 */
import type { BenchClient, BenchSystem, TopicBenchClient } from '../systems.ts'
import type { DrainReport, ReplayReport, SubscriberPlan } from '../ipc.ts'

/** At most this many distinct error codes are kept for the report. */
const MAX_ERRORS = 10

/** Counters the topic plans keep besides per-connection deliveries. */
export class TopicCounters {
  /** Deliveries with a delivery count above 1. */
  redelivered = 0
  readonly errors: string[] = []

  error(code: string): void {
    if (this.errors.length < MAX_ERRORS && !this.errors.includes(code)) this.errors.push(code)
  }
}

export function topicsOf(client: BenchClient): TopicBenchClient {
  if (client.topics === undefined) throw new Error('this system has no topics')
  return client.topics
}

/** Connects `plan.count` members and confirms their group memberships with a flush. */
export async function setUpWorkQueue(
  system: BenchSystem,
  url: string,
  plan: Extract<SubscriberPlan, { kind: 'work-queue' }>,
  counts: number[],
  counters: TopicCounters,
): Promise<BenchClient[]> {
  const clients = await Promise.all(Array.from({ length: plan.count }, (_, i) => system.connect(url, `worker-${i}`)))
  joinAll(clients, plan, counts, counters)
  await Promise.all(clients.map((client) => client.flush()))
  return clients
}

/** Every client joins the acked group of `plan`; deliveries count per member, redeliveries and errors in `counters`. */
function joinAll(clients: readonly BenchClient[], plan: Extract<SubscriberPlan, { kind: 'work-queue' | 'drain' }>, counts: number[], counters: TopicCounters): void {
  clients.forEach((client, i) => {
    topicsOf(client).work(
      plan.subject,
      plan.queue,
      plan.maxInFlight,
      (deliveryCount) => {
        counts[i]!++
        if (deliveryCount > 1) counters.redelivered++
      },
      (code) => counters.error(code),
    )
  })
}

/** How often a drain checks whether the backlog is delivered. */
const DRAIN_POLL_MS = 1

/**
 * Joins every member of a drain plan at once and resolves when `expected` deliveries arrived (or after
 * `timeoutMs`): one drain per child, since the members stay in the group. `counts` is the child's
 * per-connection counters, so marks see the drain's progress.
 */
export function drainOnce(clients: readonly BenchClient[], plan: Extract<SubscriberPlan, { kind: 'drain' }>, expected: number, timeoutMs: number, counts: number[]): Promise<DrainReport> {
  return new Promise((resolve) => {
    const counters = new TopicCounters()
    const base = [...counts]
    const started = performance.now()
    const delivered = (): number => counts.reduce((total, n, i) => total + n - (base[i] ?? 0), 0)
    const poll = setInterval(() => {
      const timedOut = performance.now() - started > timeoutMs
      if (delivered() < expected && !timedOut) return
      clearInterval(poll)
      resolve({
        delivered: delivered(),
        elapsedMs: performance.now() - started,
        perMember: counts.map((n, i) => n - (base[i] ?? 0)),
        redelivered: counters.redelivered,
        errors: counters.errors,
        timedOut,
      })
    }, DRAIN_POLL_MS)
    joinAll(clients, plan, counts, counters)
  })
}

/**
 * Replays `subject` from the start until `expected` messages have arrived or `timeoutMs` passed, then
 * unsubscribes. Each delivery also counts in `counts[0]`, so marks see the replay's progress.
 */
export function replayOnce(topics: TopicBenchClient, subject: string, expected: number, timeoutMs: number, counts: number[]): Promise<ReplayReport> {
  return new Promise((resolve) => {
    const errors = new TopicCounters()
    const started = performance.now()
    let delivered = 0
    let lastSeq = 0
    let outOfOrder = 0
    let done = false
    function finish(timedOut: boolean): void {
      if (done) return
      done = true
      const elapsedMs = performance.now() - started
      clearTimeout(timer)
      sub.unsubscribe()
      resolve({ delivered, elapsedMs, outOfOrder, errors: errors.errors, timedOut })
    }
    const timer = setTimeout(() => finish(true), timeoutMs)
    const sub = topics.replay(
      subject,
      (seq) => {
        if (done) return
        delivered++
        counts[0]!++
        // A fresh topic numbers from 1 and a replay from the start hands over in sequence order.
        if (seq !== lastSeq + 1) outOfOrder++
        lastSeq = seq
        if (delivered === expected) finish(false)
      },
      (code) => errors.error(code),
    )
  })
}
