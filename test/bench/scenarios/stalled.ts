/**
 * I: one stalled subscriber (behind a TCP proxy that stops reading) among 100. The 99 healthy ones'
 * delivery rate is compared with a run without the stalled one, plus the broker's RSS and whether the
 * broker cut the stalled connection. The reference is a run of the same 99 alone; in --quick mode, when
 * A ran for this system, A's per-subscriber rate stands in for it to save a run.
 */
import { deliveriesInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { mib, runFloodScenario, type FloodOutcome } from './flood-run.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const HEALTHY = 99
/** Same window as A, so the quick-mode reference is comparable. */
const WINDOW_MSGS = 1000
const A_SUBSCRIBERS = 100

function run(ctx: ScenarioContext, stalled: boolean): Promise<FloodOutcome> {
  return runFloodScenario(ctx, {
    plan: { kind: 'fanout', subject: 'bench.stall', count: HEALTHY, stalled, progress: 'min' },
    windowMsgs: WINDOW_MSGS,
  })
}

function perSubscriberRate(outcome: FloodOutcome): number {
  const delivered = deliveriesInWindow(outcome.window)
  return perSecond(delivered.total, delivered.elapsedMs) / HEALTHY
}

/** The reference run's per-subscriber rate and broker peak RSS (RSS unknown when A stands in). */
async function reference(ctx: ScenarioContext): Promise<{ rate: number; peakRss: number | null; source: string }> {
  const fromA = ctx.earlier('A.deliveries')
  if (ctx.shape.quick && typeof fromA === 'number') {
    return { rate: fromA / A_SUBSCRIBERS, peakRss: ctx.earlier('A.peakRss') ?? null, source: 'A' }
  }
  const outcome = await run(ctx, false)
  ctx.log('I: reference run (99, none stalled) done; now with the stalled one')
  return { rate: perSubscriberRate(outcome), peakRss: mib(outcome.window.after.broker.peakRss), source: '99 alone' }
}

export const stalledScenario: Scenario = {
  id: 'I',
  title: 'one stalled subscriber among 100',
  async run(ctx): Promise<Metric[]> {
    const ref = await reference(ctx)
    const withStall = await run(ctx, true)
    const healthyRate = perSubscriberRate(withStall)
    const stall = withStall.stall
    return [
      { key: 'I.healthy', label: 'I stalled: msg/s per healthy subscriber', unit: '/s', value: healthyRate, better: 'higher' },
      { key: 'I.reference', label: 'I stalled: same, without the stalled one', unit: '/s', value: ref.rate, better: 'higher', note: ref.source === '99 alone' ? undefined : `${ref.source}÷100` },
      { key: 'I.kept', label: 'I stalled: healthy rate kept vs reference', unit: '%', value: ref.rate > 0 ? (healthyRate / ref.rate) * 100 : null, better: 'higher' },
      { key: 'I.peakRss', label: 'I stalled: broker peak RSS', unit: 'MiB', value: mib(withStall.window.after.broker.peakRss), better: 'lower' },
      { key: 'I.refPeakRss', label: 'I stalled: broker peak RSS without it', unit: 'MiB', value: ref.peakRss, better: 'lower' },
      {
        key: 'I.backlog',
        label: 'I stalled: queued for the stalled reader (closed by broker?)',
        unit: 'MiB',
        value: stall === undefined ? null : mib(stall.drainedBytes),
        better: 'lower',
        note: stall === undefined ? undefined : stall.closedByBroker ? 'closed' : 'kept open',
      },
    ]
  },
}
