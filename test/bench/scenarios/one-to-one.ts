/**
 * B: 1 publisher → 1 subscriber, messages per second.
 */
import { busiest, cpuSecondsPerMillion, deliveriesInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { runFloodScenario } from './flood-run.ts'
import type { Metric, Scenario } from './types.ts'

/**
 * Messages in flight end to end. At 20,000 the publisher waited for credit about 90 times a second (the
 * subscriber child reports every 10 ms): the window, not a process, capped subwire near 1.8M msg/s while the
 * machine sat 28 % idle. At 100,000 the credit waits stop; the raw-ws figure did not move.
 */
const WINDOW_MSGS = 100_000

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
