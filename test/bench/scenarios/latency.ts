/**
 * D: publish → delivery latency at fixed rates to 100 subscribers. The probe subscription sits in the
 * publisher's process (one clock for both ends); the 100 subscribers are in the subscriber process and
 * tell whether the system kept up.
 */
import type { ProcessSet } from '../orchestrator/process-set.ts'
import { StallWitness } from '../orchestrator/stall-witness.ts'
import { sleep } from '../time.ts'
import { perSecond } from '../stats.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const SUBJECT = 'bench.latency'
const SUBSCRIBERS = 100
const RATES = [200, 2000] as const
const JOB_STOP_MS = 15_000
const MARK_MS = 15_000
/** Below this share of messages delivered (or of the target send rate) the system is saturated. */
const KEPT_UP = 0.9
const SATURATED_P99_MS = 1000

async function measureRate(ctx: ScenarioContext, set: ProcessSet, rate: number): Promise<Metric[]> {
  const publisher = set.publisher
  if (publisher === undefined) throw new Error('latency run without a publisher')
  const start = await set.mark()
  publisher.send({ type: 'job', job: { kind: 'paced', subject: SUBJECT, rate } })
  await sleep(ctx.shape.warmupMs)
  await publisher.ask({ type: 'mark' }, 'mark', MARK_MS, 'window open')
  const witness = new StallWitness()
  witness.start()
  await sleep(ctx.shape.durationMs)
  const stalls = witness.stop()
  await publisher.ask({ type: 'mark' }, 'mark', MARK_MS, 'window close')
  const done = await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'paced stop')
  const end = await set.mark()
  const window = done.result.window
  if (window === undefined) throw new Error('paced job returned no window')

  const sent = (end.publisher?.sent ?? 0) - (start.publisher?.sent ?? 0)
  const deliveries = sumCounts(end.subscribers?.counts) - sumCounts(start.subscribers?.counts)
  const deliveredShare = sent > 0 ? deliveries / (sent * SUBSCRIBERS) : 0
  const probedShare = window.sent > 0 ? window.probed / window.sent : 0
  const sendRate = perSecond(window.sent, window.elapsedMs)
  const saturated =
    deliveredShare < KEPT_UP || probedShare < KEPT_UP || sendRate < rate * KEPT_UP || window.latency.p99Ms > SATURATED_P99_MS
  const note = saturated ? 'saturated' : undefined
  const label = `D latency @${rate}/s→${SUBSCRIBERS}`
  ctx.log(`D @${rate}/s: p99 ${window.latency.p99Ms.toFixed(2)} ms, delivered ${(deliveredShare * 100).toFixed(1)} %${saturated ? ' (saturated)' : ''}; machine stalls: ${stalls.count}, longest ${stalls.longestMs.toFixed(0)} ms`)
  return [
    { key: `D.${rate}.p50`, label: `${label}: p50`, unit: 'ms', value: window.latency.p50Ms, better: 'lower', note },
    { key: `D.${rate}.p99`, label: `${label}: p99`, unit: 'ms', value: window.latency.p99Ms, better: 'lower', note },
    { key: `D.${rate}.p999`, label: `${label}: p99.9`, unit: 'ms', value: window.latency.p999Ms, better: 'lower', note },
    { key: `D.${rate}.delivered`, label: `${label}: delivered to the 100`, unit: '%', value: deliveredShare * 100, better: 'higher', note },
    // Same machine, same window, whichever system runs: read next to the p99 (see stall-witness.ts).
    { key: `D.${rate}.machineStalls`, label: `${label}: machine stalls >10 ms seen by the idle orchestrator`, unit: 'count', value: stalls.count, better: 'info' },
    { key: `D.${rate}.longestStall`, label: `${label}: longest machine stall`, unit: 'ms', value: stalls.longestMs, better: 'info' },
  ]
}

function sumCounts(counts: readonly number[] | undefined): number {
  let total = 0
  for (const count of counts ?? []) total += count
  return total
}

export const latencyScenario: Scenario = {
  id: 'D',
  title: `latency at ${RATES.join(' and ')} msg/s to ${SUBSCRIBERS}`,
  async run(ctx): Promise<Metric[]> {
    const set = await ctx.start({
      subscribers: { kind: 'fanout', subject: SUBJECT, count: SUBSCRIBERS, stalled: false, progress: 'min' },
      publisher: { probeSubject: SUBJECT },
    })
    try {
      const metrics: Metric[] = []
      for (const rate of RATES) metrics.push(...(await measureRate(ctx, set, rate)))
      return metrics
    } finally {
      await set.close()
    }
  },
}
