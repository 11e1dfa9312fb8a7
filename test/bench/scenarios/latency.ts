/**
 * D: publish → delivery latency at fixed rates. The probe subscription sits in the publisher's process (one
 * clock for both ends) on a connection of its own; the other subscribers are in the subscriber process and
 * tell whether the system kept up. Two topologies:
 *  - D: 100 subscribers plus the probe, which subscribes while they connect (in practice before most);
 *  - D2: 100 subscribers in all, 99 in the subscriber process and the probe, which connects and subscribes
 *    only once the 99 are confirmed: a broker that writes to subscribers in subscription order serves it
 *    last every time, so its p50 holds the serial cost of 99 writes and every stall of the broker lands in
 *    the tail (the topology of issue 15). 10 s per rate (quick: the run's window).
 */
import type { ProcessSet } from '../orchestrator/process-set.ts'
import { StallWitness } from '../orchestrator/stall-witness.ts'
import { sleep } from '../time.ts'
import { perSecond } from '../stats.ts'
import { settleInterest } from './flood-run.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const SUBJECT = 'bench.latency'
const RATES = [200, 2000] as const
const PROBE_ATTACH_MS = 15_000
/** D2's measured window per rate in a full run (issue 15's topology: 10 s per rate). */
export const D2_WINDOW_MS = 10_000

/** What differs between D, D2 and the cluster's KL (cluster-latency.ts). */
export interface Topology {
  readonly id: 'D' | 'D2' | 'KL'
  /** Subscribers in the subscriber process (the probe comes on top). */
  readonly subscribers: number
  /** The probe subscribes only after the subscriber process has confirmed every subscription. */
  readonly probeLast: boolean
  readonly label: (rate: number) => string
  readonly windowMs: (ctx: ScenarioContext) => number
  /** KL: the broker is a cluster of this many nodes; subscribers alternate between them. */
  readonly cluster?: { readonly nodes: number }
  /** KL: the node the probe connects to (the publisher is on node 0). */
  readonly probeNode?: number
  /** The rates measured (default 200 and 2,000 msg/s). */
  readonly rates?: readonly number[]
  /** Time at each rate before its window opens (default: the run's warm-up). */
  readonly warmupMs?: (ctx: ScenarioContext) => number
}

const D: Topology = {
  id: 'D',
  subscribers: 100,
  probeLast: false,
  label: (rate) => `D latency @${rate}/s→100`,
  windowMs: (ctx) => ctx.shape.durationMs,
}

const D2: Topology = {
  id: 'D2',
  subscribers: 99,
  probeLast: true,
  label: (rate) => `D2 probe in publisher, subscribed last @${rate}/s→99+probe`,
  windowMs: (ctx) => (ctx.shape.quick ? ctx.shape.durationMs : D2_WINDOW_MS),
}
const JOB_STOP_MS = 15_000
const MARK_MS = 15_000
/** Below this share of messages delivered (or of the target send rate) the system is saturated. */
const KEPT_UP = 0.9
const SATURATED_P99_MS = 1000

async function measureRate(ctx: ScenarioContext, set: ProcessSet, topology: Topology, rate: number): Promise<Metric[]> {
  const publisher = set.publisher
  if (publisher === undefined) throw new Error('latency run without a publisher')
  const start = await set.markClients()
  publisher.send({ type: 'job', job: { kind: 'paced', subject: SUBJECT, rate } })
  await sleep(topology.warmupMs?.(ctx) ?? ctx.shape.warmupMs)
  await publisher.ask({ type: 'mark' }, 'mark', MARK_MS, 'window open')
  const witness = new StallWitness()
  witness.start()
  await sleep(topology.windowMs(ctx))
  const stalls = witness.stop()
  await publisher.ask({ type: 'mark' }, 'mark', MARK_MS, 'window close')
  const done = await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'paced stop')
  const end = await set.markClients()
  const window = done.result.window
  if (window === undefined) throw new Error('paced job returned no window')

  const sent = (end.publisher?.sent ?? 0) - (start.publisher?.sent ?? 0)
  const deliveries = sumCounts(end.subscribers?.counts) - sumCounts(start.subscribers?.counts)
  const deliveredShare = sent > 0 ? deliveries / (sent * topology.subscribers) : 0
  const probedShare = window.sent > 0 ? window.probed / window.sent : 0
  const sendRate = perSecond(window.sent, window.elapsedMs)
  const saturated =
    deliveredShare < KEPT_UP || probedShare < KEPT_UP || sendRate < rate * KEPT_UP || window.latency.p99Ms > SATURATED_P99_MS
  const note = saturated ? 'saturated' : undefined
  const label = topology.label(rate)
  const key = `${topology.id}.${rate}`
  ctx.log(`${topology.id} @${rate}/s: p50 ${window.latency.p50Ms.toFixed(2)} ms, p99 ${window.latency.p99Ms.toFixed(2)} ms, delivered ${(deliveredShare * 100).toFixed(1)} %${saturated ? ' (saturated)' : ''}; machine stalls: ${stalls.count}, longest ${stalls.longestMs.toFixed(0)} ms`)
  return [
    { key: `${key}.p50`, label: `${label}: p50`, unit: 'ms', value: window.latency.p50Ms, better: 'lower', note },
    { key: `${key}.p99`, label: `${label}: p99`, unit: 'ms', value: window.latency.p99Ms, better: 'lower', note },
    { key: `${key}.p999`, label: `${label}: p99.9`, unit: 'ms', value: window.latency.p999Ms, better: 'lower', note },
    { key: `${key}.delivered`, label: `${label}: delivered to the ${topology.subscribers}`, unit: '%', value: deliveredShare * 100, better: 'higher', note },
    // Same machine, same window, whichever system runs: read next to the p99 (see stall-witness.ts).
    { key: `${key}.machineStalls`, label: `${label}: machine stalls >10 ms seen by the idle orchestrator`, unit: 'count', value: stalls.count, better: 'info' },
    { key: `${key}.longestStall`, label: `${label}: longest machine stall`, unit: 'ms', value: stalls.longestMs, better: 'info' },
  ]
}

function sumCounts(counts: readonly number[] | undefined): number {
  let total = 0
  for (const count of counts ?? []) total += count
  return total
}

export async function runTopology(ctx: ScenarioContext, topology: Topology): Promise<Metric[]> {
  const set = await ctx.start({
    subscribers: { kind: 'fanout', subject: SUBJECT, count: topology.subscribers, stalled: false, progress: 'min' },
    publisher: { probeSubject: SUBJECT, probeLast: topology.probeLast, probeNode: topology.probeNode },
    cluster: topology.cluster,
  })
  try {
    if (topology.cluster !== undefined) await settleInterest(set, SUBJECT, 'min')
    // start() returns once the subscriber child has confirmed every subscription with a flush.
    if (topology.probeLast) await set.publisher?.ask({ type: 'attach-probe' }, 'probe-attached', PROBE_ATTACH_MS, 'probe attach')
    const metrics: Metric[] = []
    for (const rate of topology.rates ?? RATES) metrics.push(...(await measureRate(ctx, set, topology, rate)))
    return metrics
  } finally {
    await set.close()
  }
}

export const latencyScenario: Scenario = {
  id: 'D',
  title: `latency at ${RATES.join(' and ')} msg/s to 100 + the probe`,
  run: (ctx) => runTopology(ctx, D),
}

export const latencyProbeLastScenario: Scenario = {
  id: 'D2',
  title: `latency at ${RATES.join(' and ')} msg/s to 99 + the probe in the publisher's process, subscribed last`,
  run: (ctx) => runTopology(ctx, D2),
}
