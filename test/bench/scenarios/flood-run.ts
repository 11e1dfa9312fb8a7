/**
 * The run shared by the throughput scenarios (A, B, C, I): subscribers on one subject, one publisher
 * flooding it under an end-to-end credit window, a measured window after warm-up.
 */
import type { StallReport, SubscriberPlan } from '../ipc.ts'
import { measureWindow, type MeasuredWindow } from '../orchestrator/measure.ts'
import type { ScenarioContext } from './types.ts'

const JOB_STOP_MS = 15_000
const UNSTALL_MS = 5_000
/** Fallback flush cadence for clients that cannot report pending bytes: 8 bursts of 256 messages. */
const FLUSH_EVERY_BURSTS = 8

export interface FloodSpec {
  readonly plan: Extract<SubscriberPlan, { kind: 'fanout' }>
  /** Messages in flight end to end (sent and not yet delivered everywhere). */
  readonly windowMsgs: number
}

export interface FloodOutcome {
  readonly window: MeasuredWindow
  readonly stall?: StallReport
}

export async function runFloodScenario(ctx: ScenarioContext, spec: FloodSpec): Promise<FloodOutcome> {
  const set = await ctx.start({ subscribers: spec.plan, publisher: {} })
  try {
    const publisher = set.publisher
    if (publisher === undefined) throw new Error('flood run without a publisher')
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

/** Bytes to MiB. */
export function mib(bytes: number): number {
  return bytes / (1 << 20)
}
