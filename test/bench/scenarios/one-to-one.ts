/**
 * B: 1 publisher → 1 subscriber, messages per second.
 */
import { busiest, cpuSecondsPerMillion, deliveriesInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { runFloodScenario } from './flood-run.ts'
import type { Metric, Scenario } from './types.ts'

/** A single subscriber drains fast, so the window is larger than A's to cover the credit relay delay. */
const WINDOW_MSGS = 20_000

export const oneToOneScenario: Scenario = {
  id: 'B',
  title: '1 → 1',
  async run(ctx): Promise<Metric[]> {
    const { window } = await runFloodScenario(ctx, {
      plan: { kind: 'fanout', subject: 'bench.one', count: 1, stalled: false, progress: 'min' },
      windowMsgs: WINDOW_MSGS,
    })
    const delivered = deliveriesInWindow(window)
    return [
      { key: 'B.rate', label: 'B 1→1: msg/s', unit: '/s', value: perSecond(delivered.total, delivered.elapsedMs), better: 'higher' },
      { key: 'B.cpu', label: 'B 1→1: broker CPU-s per 1M messages', unit: 's', value: cpuSecondsPerMillion(window, delivered.total, delivered.elapsedMs), better: 'lower' },
      { key: 'B.busy', label: 'B 1→1: busiest process, CPU cores (broker/subscribers/publisher)', unit: 'cores', better: 'info', ...busiest(window) },
    ]
  },
}
