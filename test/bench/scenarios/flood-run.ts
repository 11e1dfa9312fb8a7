/**
 * The run shared by the throughput scenarios (A, B, C, I): subscribers on one subject, one publisher
 * flooding it under an end-to-end credit window, a measured window after warm-up.
 */
import type { StallReport, SubscriberPlan } from '../ipc.ts'
import { measureWindow, type MeasuredWindow } from '../orchestrator/measure.ts'
import type { ProcessSet } from '../orchestrator/process-set.ts'
import { sleep } from '../time.ts'
import type { ScenarioContext } from './types.ts'

const JOB_STOP_MS = 15_000
const TRICKLE_EVERY_MS = 5
const SETTLE_POLL_MS = 25
const SETTLE_MS = 15_000
const QUEUE_SETTLE_MS = 500
const UNSTALL_MS = 5_000
/** Fallback flush cadence for clients that cannot report pending bytes: 8 bursts of 256 messages. */
const FLUSH_EVERY_BURSTS = 8

export interface FloodSpec {
  readonly plan: Extract<SubscriberPlan, { kind: 'fanout' }>
  /** Messages in flight end to end (sent and not yet delivered everywhere). */
  readonly windowMsgs: number
  /** Scenarios K…: the broker is a cluster of this many nodes (publisher on node 0). */
  readonly cluster?: { readonly nodes: number }
  /** Cluster runs: the nodes the subscriber connections go to, in turn (default: every node). */
  readonly subscriberNodes?: readonly number[]
  /** Scenario KW: the broker runs as `subwire serve` (with `--workers N` when set). */
  readonly serve?: { readonly workers?: number }
}

export interface FloodOutcome {
  readonly window: MeasuredWindow
  readonly stall?: StallReport
}

export async function runFloodScenario(ctx: ScenarioContext, spec: FloodSpec): Promise<FloodOutcome> {
  const set = await ctx.start({ subscribers: spec.plan, publisher: {}, cluster: spec.cluster, subscriberNodes: spec.subscriberNodes, serve: spec.serve })
  try {
    const publisher = set.publisher
    if (publisher === undefined) throw new Error('flood run without a publisher')
    if (spec.cluster !== undefined) await settleInterest(set, spec.plan.subject, spec.plan.progress)
    set.relayCredit()
    publisher.send({
      type: 'job',
      job: { kind: 'flood', subjects: [spec.plan.subject], windowMsgs: spec.windowMsgs, flush: 'fallback', flushEveryBursts: FLUSH_EVERY_BURSTS },
    })
    const window = await measureWindow(set, ctx.shape.warmupMs, ctx.shape.durationMs)
    await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'flood stop')
    if (!spec.plan.stalled) return { window }
    const unstalled = await set.subscribers?.ask({ type: 'unstall' }, 'unstalled', UNSTALL_MS, 'unstall')
    return { window, stall: unstalled?.report }
  } finally {
    await set.close()
  }
}

/**
 * Trickles messages until every subscriber connection has one (`min`): a cluster learns a far node's
 * subscriptions some time after that node confirmed them, and a flood started before would lose its first
 * messages there, which the `min` credit never gets back (the publisher would wait on them for good). What the
 * trickle loses is a few messages, well inside any credit window. A queue group (`sum`) loses nothing meanwhile
 * (the publishing node serves its own members), and need not reach every member (nats-server prefers members
 * on the publisher's node): there, one delivery and QUEUE_SETTLE_MS more for the far node's members to be known.
 */
export async function settleInterest(set: ProcessSet, subject: string, fold: 'min' | 'sum'): Promise<void> {
  const publisher = set.publisher
  const subscribers = set.subscribers
  if (publisher === undefined || subscribers === undefined) throw new Error('settling a set without publisher and subscribers')
  publisher.send({ type: 'job', job: { kind: 'trickle', subject, everyMs: TRICKLE_EVERY_MS } })
  const deadline = performance.now() + SETTLE_MS
  let settled = false
  while (!settled && performance.now() < deadline) {
    await sleep(SETTLE_POLL_MS)
    const mark = await subscribers.ask({ type: 'mark' }, 'mark', SETTLE_MS, 'settle mark')
    const counts = mark.subscribers?.counts ?? []
    settled = fold === 'min' ? everyConnectionHasOne(counts) : counts.some((count) => count > 0)
  }
  if (settled && fold === 'sum') await sleep(QUEUE_SETTLE_MS)
  await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'trickle stop')
  if (!settled) throw new Error(`interest did not cross the cluster within ${SETTLE_MS} ms: some subscriber got no message`)
}

/** True once every connection has received at least one message. */
export function everyConnectionHasOne(counts: readonly number[]): boolean {
  return counts.length > 0 && counts.every((count) => count > 0)
}

/** Bytes to MiB. */
export function mib(bytes: number): number {
  return bytes / (1 << 20)
}
