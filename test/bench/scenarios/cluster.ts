/**
 * Issue 14's cross-node throughput, each system as two nodes in one run (subwire and Socket.IO on one
 * redis-server, nats-server joined by routes), the publisher always on node 0:
 *  - K: fan-out 1 → 100, the subscribers alternating between node 0 and node 1 (50 each);
 *  - K1: 1 → 1, the subscriber on node 1 (every message crosses);
 *  - KQ: queue group 1 → 4, members alternating between the nodes (Socket.IO has no cluster-wide one).
 * Broker CPU is every broker-side process's together (both nodes and the shared redis-server).
 */
import { deliveriesInWindow, publisherInWindow, type MeasuredWindow } from '../orchestrator/measure.ts'
import { clusterBusy, clusterCpuPerMillion, clusterPeakRss } from '../orchestrator/cluster-measure.ts'
import { perSecond } from '../stats.ts'
import { CLUSTER_SYSTEMS, type SystemName } from '../systems.ts'
import { mib, runFloodScenario } from './flood-run.ts'
import type { Metric, Scenario } from './types.ts'

const NODES = { nodes: 2 } as const
const SUBSCRIBERS = 100
const MEMBERS = 4
/** A's and B/C's windows (fanout.ts, one-to-one.ts), so K compares with A and K1/KQ with B/C. */
const FANOUT_WINDOW_MSGS = 1000
const RATE_WINDOW_MSGS = 100_000

/** Deliveries per connection on the far node (odd indexes) against the near one's, %. */
export function farShare(perConnection: readonly number[]): number | null {
  let near = 0
  let far = 0
  let nearCount = 0
  let farCount = 0
  perConnection.forEach((count, i) => {
    if (i % 2 === 0) {
      near += count
      nearCount++
    } else {
      far += count
      farCount++
    }
  })
  if (nearCount === 0 || farCount === 0 || near === 0) return null
  return (far / farCount / (near / nearCount)) * 100
}

function busyRow(key: string, label: string, w: MeasuredWindow): Metric {
  return { key, label: `${label}: busiest process, CPU cores`, unit: 'cores', better: 'info', ...clusterBusy(w) }
}

export const clusterFanoutScenario: Scenario = {
  id: 'K',
  title: `cross-node fan-out 1 → ${SUBSCRIBERS} (2 nodes, subscribers split)`,
  systems: CLUSTER_SYSTEMS,
  async run(ctx): Promise<Metric[]> {
    const { window } = await runFloodScenario(ctx, {
      plan: { kind: 'fanout', subject: 'bench.fanout', count: SUBSCRIBERS, stalled: false, progress: 'min' },
      windowMsgs: FANOUT_WINDOW_MSGS,
      cluster: NODES,
    })
    const delivered = deliveriesInWindow(window)
    const published = publisherInWindow(window)
    const mean = delivered.total / SUBSCRIBERS
    const rss = clusterPeakRss(window)
    return [
      { key: 'K.deliveries', label: 'K cross-node fan-out 1→100 (50+50): deliveries/s', unit: '/s', value: perSecond(delivered.total, delivered.elapsedMs), better: 'higher' },
      { key: 'K.published', label: 'K cross-node fan-out: messages published/s', unit: '/s', value: perSecond(published.sent, published.elapsedMs), better: 'higher' },
      { key: 'K.cpu', label: 'K cross-node fan-out: broker-side CPU-s per 1M deliveries (both nodes + redis)', unit: 's', value: clusterCpuPerMillion(window, delivered.total, delivered.elapsedMs), better: 'lower' },
      busyRow('K.busy', 'K cross-node fan-out', window),
      { key: 'K.peakRss', label: 'K cross-node fan-out: broker-side peak RSS, all processes', unit: 'MiB', value: mib(rss.bytes), better: 'lower', note: rss.note },
      { key: 'K.far', label: 'K cross-node fan-out: per-subscriber deliveries on node 1 vs node 0', unit: '%', value: farShare(delivered.perConnection), better: 'info' },
      { key: 'K.slowest', label: 'K cross-node fan-out: slowest subscriber vs mean', unit: '%', value: mean > 0 ? (Math.min(...delivered.perConnection) / mean) * 100 : null, better: 'higher' },
    ]
  },
}

export const clusterOneToOneScenario: Scenario = {
  id: 'K1',
  title: '1 → 1 across nodes (publisher on node 0, subscriber on node 1)',
  systems: CLUSTER_SYSTEMS,
  async run(ctx): Promise<Metric[]> {
    const { window } = await runFloodScenario(ctx, {
      plan: { kind: 'fanout', subject: 'bench.one', count: 1, stalled: false, progress: 'min' },
      windowMsgs: RATE_WINDOW_MSGS,
      cluster: NODES,
      subscriberNodes: [1],
    })
    const delivered = deliveriesInWindow(window)
    return [
      { key: 'K1.rate', label: 'K1 1→1 across nodes: msg/s', unit: '/s', value: perSecond(delivered.total, delivered.elapsedMs), better: 'higher' },
      { key: 'K1.cpu', label: 'K1 1→1 across nodes: broker-side CPU-s per 1M messages', unit: 's', value: clusterCpuPerMillion(window, delivered.total, delivered.elapsedMs), better: 'lower' },
      busyRow('K1.busy', 'K1 1→1 across nodes', window),
    ]
  },
}

/** Socket.IO's queue groups are the baseline's own round-robin per node (broker.ts): none across nodes. */
const QUEUE_SYSTEMS: ReadonlySet<SystemName> = new Set<SystemName>(['subwire', 'nats'])

export const clusterQueueScenario: Scenario = {
  id: 'KQ',
  title: `queue group 1 → ${MEMBERS} across nodes (members split)`,
  systems: QUEUE_SYSTEMS,
  skipNote: (system) => (system === 'socketio' ? 'the Socket.IO baseline has no queue group across nodes (its round-robin list is per server)' : undefined),
  async run(ctx): Promise<Metric[]> {
    const { window } = await runFloodScenario(ctx, {
      plan: { kind: 'fanout', subject: 'bench.work', queue: 'workers', count: MEMBERS, stalled: false, progress: 'sum' },
      windowMsgs: RATE_WINDOW_MSGS,
      cluster: NODES,
    })
    const delivered = deliveriesInWindow(window)
    const shares = delivered.perConnection.map((count) => (delivered.total > 0 ? (count / delivered.total) * 100 : 0))
    const onFar = shares.filter((_, i) => i % 2 === 1).reduce((total, share) => total + share, 0)
    return [
      { key: 'KQ.rate', label: 'KQ queue 1→4 across nodes (2+2): msg/s', unit: '/s', value: perSecond(delivered.total, delivered.elapsedMs), better: 'higher' },
      { key: 'KQ.cpu', label: 'KQ queue across nodes: broker-side CPU-s per 1M messages', unit: 's', value: clusterCpuPerMillion(window, delivered.total, delivered.elapsedMs), better: 'lower' },
      busyRow('KQ.busy', 'KQ queue across nodes', window),
      {
        key: 'KQ.far',
        label: 'KQ queue across nodes: share taken by node 1\'s 2 members (shares % n0/n1/n0/n1)',
        unit: '%',
        value: onFar,
        better: 'info',
        note: shares.map((share) => share.toFixed(1)).join('/'),
      },
    ]
  },
}
