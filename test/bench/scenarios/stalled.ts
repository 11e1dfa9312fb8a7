/**
 * I: one stalled subscriber (behind a TCP proxy that stops reading) among 100. The 99 healthy ones'
 * delivery rate is compared with a run of the same 99 without the stalled one, plus the broker's RSS
 * and whether the broker cut the stalled connection.
 */
import { deliveriesInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { mib, runFloodScenario, type FloodOutcome } from './flood-run.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const HEALTHY = 99
const WINDOW_MSGS = 1000

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

export const stalledScenario: Scenario = {
  id: 'I',
  title: 'one stalled subscriber among 100',
  async run(ctx): Promise<Metric[]> {
    const reference = await run(ctx, false)
    ctx.log('I: reference run (99, none stalled) done; now with the stalled one')
    const withStall = await run(ctx, true)
    const healthyRate = perSubscriberRate(withStall)
    const referenceRate = perSubscriberRate(reference)
    const stall = withStall.stall
    return [
      { key: 'I.healthy', label: 'I stalled: msg/s per healthy subscriber', unit: '/s', value: healthyRate, better: 'higher' },
      { key: 'I.reference', label: 'I stalled: same, run without the stalled one', unit: '/s', value: referenceRate, better: 'higher' },
      { key: 'I.kept', label: 'I stalled: healthy rate kept vs reference', unit: '%', value: referenceRate > 0 ? (healthyRate / referenceRate) * 100 : null, better: 'higher' },
      { key: 'I.peakRss', label: 'I stalled: broker peak RSS', unit: 'MiB', value: mib(withStall.window.after.broker.peakRss), better: 'lower' },
      { key: 'I.refPeakRss', label: 'I stalled: broker peak RSS without it', unit: 'MiB', value: mib(reference.window.after.broker.peakRss), better: 'lower' },
      {
        key: 'I.backlog',
        label: 'I stalled: bytes queued for the stalled reader',
        unit: 'MiB',
        value: stall === undefined ? null : mib(stall.drainedBytes),
        better: 'lower',
        note: stall === undefined ? undefined : stall.closedByBroker ? 'broker closed it' : 'broker kept it open',
      },
    ]
  },
}
