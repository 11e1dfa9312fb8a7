/**
 * What a scenario is and what it reports. A scenario runs against one system at a time and returns
 * metrics keyed so the report can line the systems up row by row.
 */
import type { SystemName } from '../systems.ts'
import type { ProcessSet, ProcessSetSpec } from '../orchestrator/process-set.ts'

export const SCENARIO_IDS = ['A', 'B', 'C', 'D', 'D2', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'K1', 'KQ', 'KL', 'KS', 'KW'] as const
export type ScenarioId = (typeof SCENARIO_IDS)[number]

/** One figure of one scenario for one system. */
export interface Metric {
  /** Stable row key, e.g. `A.deliveriesPerSec`. */
  readonly key: string
  readonly label: string
  readonly unit: string
  /** null when the figure does not exist for this system (a failure, "saturated", n/a). */
  readonly value: number | null
  /** Which way is better; the report prints ratios either way but marks the direction. */
  readonly better: 'higher' | 'lower' | 'info'
  readonly note?: string
}

/** Durations and sizes of a run. */
export interface RunShape {
  readonly quick: boolean
  readonly warmupMs: number
  readonly durationMs: number
  /** Scenario E's connection counts. */
  readonly idleCounts: readonly number[]
  /** How long E holds the connections while sampling the broker's event loop. */
  readonly idleHoldMs: number
  /** Scenario J: GiB of payload to store for the replay/restart step (`--durable-gib`); undefined: the default count. */
  readonly durableGib?: number
}

export interface ScenarioContext {
  readonly system: SystemName
  readonly shape: RunShape
  /** A figure this system already produced in this run (scenario I's quick mode reuses A's rate). */
  earlier(key: string): number | null | undefined
  /** One progress line to stderr. */
  log(text: string): void
  /** Starts a process set for this system; the caller closes it. */
  start(spec: Omit<ProcessSetSpec, 'system'>): Promise<ProcessSet>
  /** Starts only the broker child of a set; the caller starts the clients and closes it. */
  startBroker(spec: Omit<ProcessSetSpec, 'system'>): Promise<ProcessSet>
}

export interface Scenario {
  readonly id: ScenarioId
  readonly title: string
  /** The systems it runs on (default: PUBSUB_SYSTEMS); the others are skipped with a note. */
  readonly systems?: ReadonlySet<SystemName>
  /** Why `system` (outside `systems`) does not run it, when the general reason would mislead. */
  skipNote?(system: SystemName): string | undefined
  run(ctx: ScenarioContext): Promise<Metric[]>
}
