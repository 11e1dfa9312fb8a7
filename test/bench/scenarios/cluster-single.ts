/**
 * One machine, one address (subwire only):
 *  - KS: what joining a cluster costs a node that has every subscriber itself: A's fan-out (1 → 100 on one
 *    node) with `cluster` off and on (one node on an in-memory redis-server, nobody else in the cluster),
 *    alternated off, on, off, on so that a drift of the machine falls on both; each figure is the mean of its
 *    two runs.
 *  - KW: the same fan-out against `subwire serve` alone and `subwire serve --cluster URL --workers 2` (every
 *    client connects to the one port; node:cluster hands connections to the workers in turn, so the publisher
 *    sits on one worker and the subscribers are split), one then the other. Each process's cores say what
 *    limits it: on 2 cores the load generators take their share too.
 */
import { deliveriesInWindow, type MeasuredWindow } from '../orchestrator/measure.ts'
import { clusterBusy, clusterCpuPerMillion } from '../orchestrator/cluster-measure.ts'
import { perSecond } from '../stats.ts'
import type { SystemName } from '../systems.ts'
import { runFloodScenario } from './flood-run.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

const SUBSCRIBERS = 100
const WINDOW_MSGS = 1000
const PAIRS = 2

interface Run {
  readonly rate: number
  readonly cpu: number | null
  readonly busy: string
}

async function fanout(ctx: ScenarioContext, clustered: boolean, serve?: { workers?: number }): Promise<Run> {
  const { window } = await runFloodScenario(ctx, {
    plan: { kind: 'fanout', subject: 'bench.fanout', count: SUBSCRIBERS, stalled: false, progress: 'min' },
    windowMsgs: WINDOW_MSGS,
    cluster: clustered ? { nodes: 1 } : undefined,
    serve,
  })
  return summarize(window)
}

function summarize(window: MeasuredWindow): Run {
  const delivered = deliveriesInWindow(window)
  return { rate: perSecond(delivered.total, delivered.elapsedMs), cpu: clusterCpuPerMillion(window, delivered.total, delivered.elapsedMs), busy: clusterBusy(window).note }
}

/** Mean of the figures that exist, or null when none does. */
export function meanOf(values: ReadonlyArray<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null)
  return present.length === 0 ? null : present.reduce((total, v) => total + v, 0) / present.length
}

/** `on` as a share of `off`, %. */
export function keptPercent(on: number | null, off: number | null): number | null {
  return on === null || off === null || off === 0 ? null : (on / off) * 100
}

export const clusterSingleNodeScenario: Scenario = {
  id: 'KS',
  title: `one node, fan-out 1 → ${SUBSCRIBERS}: cluster off vs on (off, on, off, on)`,
  systems: new Set<SystemName>(['subwire']),
  skipNote: (system) => (system === 'redis-streams' ? undefined : 'KS compares subwire with itself (cluster off vs on)'),
  async run(ctx): Promise<Metric[]> {
    const off: Run[] = []
    const on: Run[] = []
    for (let pair = 0; pair < PAIRS; pair++) {
      off.push(await fanout(ctx, false))
      on.push(await fanout(ctx, true))
      ctx.log(`KS pair ${pair + 1}: off ${off[pair]!.rate.toFixed(0)}/s, on ${on[pair]!.rate.toFixed(0)}/s`)
    }
    const offRate = meanOf(off.map((r) => r.rate))
    const onRate = meanOf(on.map((r) => r.rate))
    const offCpu = meanOf(off.map((r) => r.cpu))
    const onCpu = meanOf(on.map((r) => r.cpu))
    const list = (runs: Run[]): string => runs.map((r) => Math.round(r.rate).toLocaleString('en-US')).join(', ')
    return [
      { key: 'KS.off', label: 'KS one node fan-out 1→100, cluster off: deliveries/s', unit: '/s', value: offRate, better: 'higher', note: list(off) },
      { key: 'KS.on', label: 'KS one node fan-out 1→100, cluster on: deliveries/s', unit: '/s', value: onRate, better: 'higher', note: list(on) },
      { key: 'KS.kept', label: 'KS cluster on vs off: fan-out rate kept', unit: '%', value: keptPercent(onRate, offRate), better: 'higher' },
      { key: 'KS.offCpu', label: 'KS cluster off: broker CPU-s per 1M deliveries', unit: 's', value: offCpu, better: 'lower' },
      { key: 'KS.onCpu', label: 'KS cluster on: broker-side CPU-s per 1M deliveries (node + redis)', unit: 's', value: onCpu, better: 'lower' },
      // A broker-bound node's capacity is 1 / its CPU per delivery: this share holds where the rate row is at the
      // mercy of whatever else the machine runs during either window.
      { key: 'KS.keptCpu', label: 'KS cluster on vs off: capacity kept by CPU per delivery (off ÷ on)', unit: '%', value: keptPercent(offCpu, onCpu), better: 'higher' },
      { key: 'KS.onBusy', label: 'KS cluster on: CPU cores per process (last run)', unit: 'cores', value: null, better: 'info', note: on.at(-1)?.busy },
    ]
  },
}

const WORKERS = 2

export const workersScenario: Scenario = {
  id: 'KW',
  title: `subwire serve alone vs --cluster --workers ${WORKERS}, fan-out 1 → ${SUBSCRIBERS} on one port`,
  systems: new Set<SystemName>(['subwire']),
  skipNote: (system) => (system === 'redis-streams' ? undefined : 'KW measures subwire serve --workers (subwire only)'),
  async run(ctx): Promise<Metric[]> {
    const alone = await fanout(ctx, false, {})
    const workers = await fanout(ctx, true, { workers: WORKERS })
    ctx.log(`KW: serve alone ${alone.rate.toFixed(0)}/s, --workers ${WORKERS} ${workers.rate.toFixed(0)}/s`)
    return [
      { key: 'KW.alone', label: 'KW subwire serve (one process) fan-out 1→100: deliveries/s', unit: '/s', value: alone.rate, better: 'higher' },
      { key: 'KW.workers', label: `KW subwire serve --workers ${WORKERS} fan-out 1→100: deliveries/s`, unit: '/s', value: workers.rate, better: 'higher' },
      { key: 'KW.gain', label: `KW --workers ${WORKERS} vs one process`, unit: '%', value: keptPercent(workers.rate, alone.rate), better: 'higher' },
      { key: 'KW.aloneCpu', label: 'KW one process: broker CPU-s per 1M deliveries', unit: 's', value: alone.cpu, better: 'lower' },
      { key: 'KW.workersCpu', label: `KW --workers ${WORKERS}: broker-side CPU-s per 1M deliveries (primary + workers + redis)`, unit: 's', value: workers.cpu, better: 'lower' },
      { key: 'KW.aloneBusy', label: 'KW one process: CPU cores per process', unit: 'cores', value: null, better: 'info', note: alone.busy },
      { key: 'KW.workersBusy', label: `KW --workers ${WORKERS}: CPU cores per process (node 0 = the primary)`, unit: 'cores', value: null, better: 'info', note: workers.busy },
    ]
  },
}
