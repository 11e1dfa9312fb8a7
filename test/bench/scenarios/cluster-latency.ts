/**
 * KL: cross-node latency, issue 14's target topology: the publisher on node 0, 100 subscribers alternating
 * between node 0 and node 1, and the probe (in the publisher's process, one clock) on node 1, so every probed
 * message crossed the cluster. D's pacing, stamp, histogram, saturation rule and stall rows (latency.ts).
 *
 * A full run measures each rate for 10 s, as D2 does, after 3 s at that rate. In the first second after the
 * rate goes from 200 to 2,000 msg/s every system's tail is at its worst (measured with the probe's samples
 * kept: subwire had 25–66 of its >5 ms samples in the second quarter-second of a window opened 1 s after the
 * change, 0–23 in any later one, and a second window at 2,000/s right after the first had a p99 of 3.95–4.64 ms
 * against 6.03–8.65; nats-server's first second held two to four times as many as its later ones). That
 * second holds the JIT's work on the new rate's paths (29 optimisations on a node in it, 3–12 in each later
 * one) and the kernel's on the sockets: a steady-state p99 is what the target is about. Quick runs keep the
 * run's warm-up and window.
 */
import { CLUSTER_SYSTEMS } from '../systems.ts'
import { D2_WINDOW_MS, runTopology, type Topology } from './latency.ts'
import type { Scenario } from './types.ts'

const WARMUP_MS = 3000

const KL: Topology = {
  id: 'KL',
  subscribers: 100,
  probeLast: false,
  label: (rate) => `KL cross-node latency @${rate}/s→100 (50+50), probe on node 1`,
  windowMs: (ctx) => (ctx.shape.quick ? ctx.shape.durationMs : D2_WINDOW_MS),
  warmupMs: (ctx) => (ctx.shape.quick ? ctx.shape.warmupMs : WARMUP_MS),
  cluster: { nodes: 2 },
  probeNode: 1,
}

export const clusterLatencyScenario: Scenario = {
  id: 'KL',
  title: 'cross-node latency at 200 and 2,000 msg/s to 100 (split) + the probe on node 1, 10 s per rate after 3 s at it',
  systems: CLUSTER_SYSTEMS,
  run: (ctx) => runTopology(ctx, KL),
}
