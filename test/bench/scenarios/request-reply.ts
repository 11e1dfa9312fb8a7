/**
 * F: request/reply round trips per second, one at a time and with 100 in flight. The responder (an echo)
 * is in the subscriber process, the requester in the publisher process.
 */
import type { ProcessSet } from '../orchestrator/process-set.ts'
import { cpuSecondsPerMillion, measureWindow, publisherInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const SUBJECT = 'bench.echo'
const CONCURRENCY = [1, 100] as const
const REQUEST_TIMEOUT_MS = 1000
const JOB_STOP_MS = 15_000

async function measureConcurrency(ctx: ScenarioContext, set: ProcessSet, concurrency: number): Promise<Metric[]> {
  const publisher = set.publisher
  if (publisher === undefined) throw new Error('request run without a requester')
  publisher.send({ type: 'job', job: { kind: 'requests', subject: SUBJECT, concurrency, timeoutMs: REQUEST_TIMEOUT_MS } })
  const window = await measureWindow(set, ctx.shape.warmupMs, ctx.shape.durationMs)
  await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'requests stop')
  const counts = publisherInWindow(window)
  const label = concurrency === 1 ? 'F request/reply sequential' : `F request/reply ${concurrency} in flight`
  return [
    {
      key: `F.${concurrency}.rate`,
      label: `${label}: round trips/s`,
      unit: '/s',
      value: perSecond(counts.completed, counts.elapsedMs),
      better: 'higher',
      note: counts.failed > 0 ? `${counts.failed} timed out` : undefined,
    },
    { key: `F.${concurrency}.cpu`, label: `${label}: broker CPU-s per 1M round trips`, unit: 's', value: cpuSecondsPerMillion(window, counts.completed, counts.elapsedMs), better: 'lower' },
  ]
}

export const requestReplyScenario: Scenario = {
  id: 'F',
  title: 'request/reply',
  async run(ctx): Promise<Metric[]> {
    const set = await ctx.start({ subscribers: { kind: 'responder', subject: SUBJECT }, publisher: {} })
    try {
      const metrics: Metric[] = []
      for (const concurrency of CONCURRENCY) metrics.push(...(await measureConcurrency(ctx, set, concurrency)))
      return metrics
    } finally {
      await set.close()
    }
  },
}
