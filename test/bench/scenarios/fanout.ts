/**
 * A: fan-out, 1 publisher → 100 subscribers on one subject (all subscribers in one process).
 */
import { busiest, cpuSecondsPerMillion, deliveriesInWindow, publisherInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { mib, runFloodScenario } from './flood-run.ts'
import type { Metric, Scenario } from './types.ts'

const SUBSCRIBERS = 100
/**
 * 1,000 messages = 100,000 deliveries in flight. Measured on 2 cores: below ~500 Socket.IO is starved of
 * work, above ~2,000 the raw-ws forwarder spends seconds in one event-loop turn; 1,000 is near the best
 * of both.
 */
const WINDOW_MSGS = 1000

export const fanoutScenario: Scenario = {
  id: 'A',
  title: `fan-out 1 → ${SUBSCRIBERS}`,
  async run(ctx): Promise<Metric[]> {
    const { window } = await runFloodScenario(ctx, {
      plan: { kind: 'fanout', subject: 'bench.fanout', count: SUBSCRIBERS, stalled: false, progress: 'min' },
      windowMsgs: WINDOW_MSGS,
    })
    const delivered = deliveriesInWindow(window)
    const published = publisherInWindow(window)
    const slowest = Math.min(...delivered.perConnection)
    const mean = delivered.total / SUBSCRIBERS
    return [
      { key: 'A.deliveries', label: 'A fan-out 1→100: deliveries/s', unit: '/s', value: perSecond(delivered.total, delivered.elapsedMs), better: 'higher' },
      { key: 'A.published', label: 'A fan-out: messages published/s', unit: '/s', value: perSecond(published.sent, published.elapsedMs), better: 'higher' },
      { key: 'A.cpu', label: 'A fan-out: broker CPU-s per 1M deliveries', unit: 's', value: cpuSecondsPerMillion(window, delivered.total, delivered.elapsedMs), better: 'lower' },
      { key: 'A.busy', label: 'A fan-out: busiest process, CPU cores (broker/subscribers/publisher)', unit: 'cores', better: 'info', ...busiest(window) },
      { key: 'A.peakRss', label: 'A fan-out: broker peak RSS', unit: 'MiB', value: mib(window.after.broker.peakRss), better: 'lower' },
      { key: 'A.slowest', label: 'A fan-out: slowest subscriber vs mean', unit: '%', value: mean > 0 ? (slowest / mean) * 100 : null, better: 'higher' },
    ]
  },
}
