/**
 * The subscriber child's topic plans (scenario H): acked work-queue members that ack every job in their
 * callback, and a replay connection that reads a topic from its first message, timed on this child's clock.
 */
import type { BenchClient, BenchSystem, TopicBenchClient } from '../systems.ts'
import type { ReplayReport, SubscriberPlan } from '../ipc.ts'

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
  await Promise.all(clients.map((client) => client.flush()))
  return clients
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
