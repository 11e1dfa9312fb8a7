/**
 * KL: cross-node latency, issue 14's target topology: the publisher on node 0, 100 subscribers alternating
 * between node 0 and node 1, and the probe (in the publisher's process, one clock) on node 1, so every probed
 * message crossed the cluster. D's pacing, stamp, histogram, saturation rule and stall rows (latency.ts).
 */
import { CLUSTER_SYSTEMS } from '../systems.ts'
import { runTopology, type Topology } from './latency.ts'
import type { Scenario } from './types.ts'

const KL: Topology = {
  id: 'KL',
  subscribers: 100,
  probeLast: false,
  label: (rate) => `KL cross-node latency @${rate}/s→100 (50+50), probe on node 1`,
  windowMs: (ctx) => ctx.shape.durationMs,
  cluster: { nodes: 2 },
  probeNode: 1,
}

export const clusterLatencyScenario: Scenario = {
  id: 'KL',
  title: 'cross-node latency at 200 and 2,000 msg/s to 100 (split) + the probe on node 1',
  systems: CLUSTER_SYSTEMS,
  run: (ctx) => runTopology(ctx, KL),
}
