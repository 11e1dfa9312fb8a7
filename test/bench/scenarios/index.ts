/** Every scenario, in report order. */
import type { Scenario } from './types.ts'
import { fanoutScenario } from './fanout.ts'
import { oneToOneScenario } from './one-to-one.ts'
import { queueGroupScenario } from './queue-group.ts'
import { latencyProbeLastScenario, latencyScenario } from './latency.ts'
import { idleScenario } from './idle.ts'
import { requestReplyScenario } from './request-reply.ts'
import { subjectIndexScenario } from './subject-index.ts'
import { topicsScenario } from './topics.ts'
import { stalledScenario } from './stalled.ts'
import { durableScenario } from './durable.ts'
import { clusterFanoutScenario, clusterOneToOneScenario, clusterQueueScenario } from './cluster.ts'
import { clusterLatencyScenario } from './cluster-latency.ts'
import { clusterSingleNodeScenario, workersScenario } from './cluster-single.ts'

export const SCENARIOS: readonly Scenario[] = [
  fanoutScenario,
  oneToOneScenario,
  queueGroupScenario,
  latencyScenario,
  latencyProbeLastScenario,
  idleScenario,
  requestReplyScenario,
  subjectIndexScenario,
  topicsScenario,
  stalledScenario,
  durableScenario,
  clusterFanoutScenario,
  clusterOneToOneScenario,
  clusterQueueScenario,
  clusterLatencyScenario,
  clusterSingleNodeScenario,
  workersScenario,
]
