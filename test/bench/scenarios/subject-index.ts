/**
 * G: publish cost against a subject index of 100,000 subscriptions (mostly wildcards; see workloads.ts)
 * versus the same 10 matching subscriptions alone. The publisher cycles over 10,000 subjects with a
 * flush round trip every 4 bursts, so its rate is what the broker actually processed.
 */
import type { IndexVariant } from '../workloads.ts'
import { indexPublishSubjects, indexSubscriptions } from '../workloads.ts'
import { cpuSecondsPerMillion, deliveriesInWindow, measureWindow, publisherInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const FLUSH_EVERY_BURSTS = 4
const JOB_STOP_MS = 15_000
const SUBSCRIBE_DEADLINE_MS = 180_000

interface IndexRun {
  readonly rate: number
  readonly cpuUsPerPublish: number | null
  readonly deliveryRate: number
  readonly setupMs: number
}

async function measureIndex(ctx: ScenarioContext, variant: IndexVariant): Promise<IndexRun> {
  const set = await ctx.start({ subscribers: { kind: 'index', variant }, subscribersReadyMs: SUBSCRIBE_DEADLINE_MS, publisher: {} })
  try {
    const publisher = set.publisher
    if (publisher === undefined) throw new Error('index run without a publisher')
    publisher.send({ type: 'job', job: { kind: 'flood', subjects: indexPublishSubjects(), flush: 'always', flushEveryBursts: FLUSH_EVERY_BURSTS } })
    const window = await measureWindow(set, ctx.shape.warmupMs, ctx.shape.durationMs)
    await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'index flood stop')
    const published = publisherInWindow(window)
    const delivered = deliveriesInWindow(window)
    return {
      rate: perSecond(published.sent, published.elapsedMs),
      // CPU-s per million publishes is CPU-µs per publish.
      cpuUsPerPublish: cpuSecondsPerMillion(window, published.sent, published.elapsedMs),
      deliveryRate: perSecond(delivered.total, delivered.elapsedMs),
      setupMs: set.subscribersConnectMs,
    }
  } finally {
    await set.close()
  }
}

export const subjectIndexScenario: Scenario = {
  id: 'G',
  title: 'subject index: 100,000 subscriptions vs 10',
  async run(ctx): Promise<Metric[]> {
    const small = await measureIndex(ctx, 'small')
    const large = await measureIndex(ctx, 'large')
    const size = indexSubscriptions('large').length.toLocaleString('en-US')
    return [
      { key: 'G.small.rate', label: 'G index 10 subs: publishes/s', unit: '/s', value: small.rate, better: 'higher' },
      { key: 'G.large.rate', label: `G index ${size} subs: publishes/s`, unit: '/s', value: large.rate, better: 'higher' },
      { key: 'G.kept', label: 'G index: large rate vs small', unit: '%', value: small.rate > 0 ? (large.rate / small.rate) * 100 : null, better: 'higher' },
      { key: 'G.small.cpu', label: 'G index 10 subs: broker CPU per publish', unit: 'µs', value: small.cpuUsPerPublish, better: 'lower' },
      { key: 'G.large.cpu', label: `G index ${size} subs: broker CPU per publish`, unit: 'µs', value: large.cpuUsPerPublish, better: 'lower' },
      { key: 'G.large.setup', label: `G index: time to subscribe ${size}`, unit: 's', value: large.setupMs / 1000, better: 'lower' },
      { key: 'G.large.deliveries', label: 'G index: deliveries/s (0.1 % of publishes match)', unit: '/s', value: large.deliveryRate, better: 'info' },
    ]
  },
}
