/**
 * C: queue group, 1 publisher → 4 members: messages per second and each member's share.
 */
import { busiest, cpuSecondsPerMillion, deliveriesInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { runFloodScenario } from './flood-run.ts'
import type { Metric, Scenario } from './types.ts'

const MEMBERS = 4
/**
 * Messages in flight end to end. At 20,000 the publisher waited for credit about 90 times a second (the
 * subscriber child reports every 10 ms): the window, not a process, capped subwire near 1.8M msg/s while the
 * machine sat 28 % idle. At 100,000 the credit waits stop; the raw-ws figure did not move.
 */
const WINDOW_MSGS = 100_000

export const queueGroupScenario: Scenario = {
  id: 'C',
  title: `queue group 1 → ${MEMBERS}`,
  async run(ctx): Promise<Metric[]> {
    const { window } = await runFloodScenario(ctx, {
      plan: { kind: 'fanout', subject: 'bench.work', queue: 'workers', count: MEMBERS, stalled: false, progress: 'sum' },
      windowMsgs: WINDOW_MSGS,
    })
    const delivered = deliveriesInWindow(window)
    const shares = delivered.perConnection.map((count) => (delivered.total > 0 ? (count / delivered.total) * 100 : 0))
    const fair = 100 / MEMBERS
    const worst = Math.max(...shares.map((share) => Math.abs(share - fair)))
    return [
      { key: 'C.rate', label: 'C queue 1→4: msg/s', unit: '/s', value: perSecond(delivered.total, delivered.elapsedMs), better: 'higher' },
      { key: 'C.cpu', label: 'C queue: broker CPU-s per 1M messages', unit: 's', value: cpuSecondsPerMillion(window, delivered.total, delivered.elapsedMs), better: 'lower' },
      { key: 'C.busy', label: 'C queue: busiest process, CPU cores (broker/subscribers/publisher)', unit: 'cores', better: 'info', ...busiest(window) },
      {
        key: 'C.share',
        label: 'C queue: worst member share off 25% (shares %)',
        unit: 'pp',
        value: worst,
        better: 'info',
        note: shares.map((share) => share.toFixed(1)).join('/'),
      },
    ]
  },
}
