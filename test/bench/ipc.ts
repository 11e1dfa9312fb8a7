/**
 * Messages between the orchestrator (run.ts) and its child processes. Each child reads its config from
 * the BENCH_CONFIG environment variable, answers `ready`, then serves `mark` (a snapshot of its counters,
 * so rates are deltas measured on the child's own clock) until `shutdown`.
 */
import type { BenchTopic, SystemName } from './systems.ts'
import type { IndexVariant } from './workloads.ts'

/** Percentiles of a latency distribution, in milliseconds. */
export interface LatencySummary {
  readonly count: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
}

// ---- configs -------------------------------------------------------------------------------------------

export interface BrokerConfig {
  readonly role: 'broker'
  readonly system: SystemName
  /** Topics the broker creates at start (scenarios H and J). */
  readonly topics?: readonly BenchTopic[]
  /** Where a durable system keeps its files (scenario J). */
  readonly dataDir?: string
  /**
   * One part of a cluster (scenarios K…): what the nodes share, or node `index` of `nodes` joined through
   * `shared` (the shared part's `url`). Unset: a stand-alone broker.
   */
  readonly cluster?: ClusterPart
  /** Scenario KW: the broker runs as `subwire serve` (see BrokerSpec.serve). */
  readonly serve?: { readonly workers?: number }
}

export type ClusterPart =
  | { readonly part: 'shared'; readonly nodes: number }
  | { readonly part: 'node'; readonly index: number; readonly nodes: number; readonly shared: string }

/** What the subscriber child sets up before it reports ready. */
export type SubscriberPlan =
  /** `count` connections, one subscription each on `subject` (in `queue` if set). */
  | {
      readonly kind: 'fanout'
      readonly subject: string
      readonly count: number
      readonly queue?: string
      /** Adds one more subscriber behind a TCP proxy that stops reading once it is subscribed. */
      readonly stalled: boolean
      /** How `progress` folds the per-connection counts: every subscriber got it (min) or one did (sum). */
      readonly progress: 'min' | 'sum'
    }
  /** `count` idle connections, each subscribed to its own subject. */
  | { readonly kind: 'idle'; readonly count: number; readonly concurrency: number }
  /** One connection answering requests on `subject` with their own payload. */
  | { readonly kind: 'responder'; readonly subject: string }
  /** The subscription set of scenario G. */
  | { readonly kind: 'index'; readonly variant: IndexVariant }
  /** One connection that replays a topic on each `replay` message (scenario H). */
  | { readonly kind: 'replay' }
  /** `count` connections, each one member of the acked work-queue group `queue` on `subject` (scenario H). */
  | { readonly kind: 'work-queue'; readonly subject: string; readonly queue: string; readonly count: number; readonly maxInFlight: number }
  /** `count` connections that join the acked group `queue` on `subject` only on each `drain` message (scenario J). */
  | { readonly kind: 'drain'; readonly subject: string; readonly queue: string; readonly count: number; readonly maxInFlight: number }

export interface SubscribersConfig {
  readonly role: 'subscribers'
  readonly system: SystemName
  readonly url: string
  /** Cluster runs: connection i goes to `urls[i % urls.length]` (and `url` is unused). */
  readonly urls?: readonly string[]
  readonly plan: SubscriberPlan
}

export interface PublisherConfig {
  readonly role: 'publisher'
  readonly system: SystemName
  readonly url: string
  /** Subject of the latency probe subscription held in the publisher's own process (one clock). */
  readonly probeSubject?: string
  /** The probe connects and subscribes only on `attach-probe` (scenario D2: after every other subscriber). */
  readonly probeLast?: boolean
  /** Where the probe connects (cluster runs: another node than the publisher's); default `url`. */
  readonly probeUrl?: string
}

export type ChildConfig = BrokerConfig | SubscribersConfig | PublisherConfig

/** A unit of work the publisher runs until told to stop. */
export type PublisherJob =
  /** As fast as backpressure allows, cycling over `subjects`; bounded by `windowMsgs` of end-to-end credit when set. */
  | {
      readonly kind: 'flood'
      readonly subjects: readonly string[]
      readonly windowMsgs?: number
      /** `always`: a flush round trip every `flushEveryBursts` bursts; `fallback`: only when pendingBytes is unknown. */
      readonly flush: 'always' | 'fallback'
      readonly flushEveryBursts: number
    }
  /** One message every `everyMs` until stopped: lets interest cross a cluster before a measured run. */
  | { readonly kind: 'trickle'; readonly subject: string; readonly everyMs: number }
  /** `rate` messages per second carrying a send timestamp, for the probe to measure latency. */
  | { readonly kind: 'paced'; readonly subject: string; readonly rate: number }
  /** `concurrency` request loops. */
  | { readonly kind: 'requests'; readonly subject: string; readonly concurrency: number; readonly timeoutMs: number }
  /**
   * Confirmed publishes to a topic, `inFlight` at a time, until stopped, `maxMsgs` sent or `deadlineMs` passed;
   * with `latency`, the confirm latency of those sent between the job's first two marks is recorded.
   */
  | {
      readonly kind: 'publish-ack'
      readonly subject: string
      readonly inFlight: number
      readonly maxMsgs: number
      readonly deadlineMs: number
      readonly timeoutMs: number
      readonly latency?: boolean
    }
  /**
   * Stores `count` messages in `topic` (through `subject`): plain publishes under the socket brake and a flush
   * round trip every few bursts, the last one confirmed; then reports what the topic holds. Fails past `deadlineMs`.
   */
  | { readonly kind: 'fill'; readonly topic: string; readonly subject: string; readonly count: number; readonly deadlineMs: number }

// ---- snapshots and results -------------------------------------------------------------------------------

export interface BrokerSnapshot {
  /** performance.now() in the broker process. */
  readonly t: number
  readonly cpuUserUs: number
  readonly cpuSystemUs: number
  readonly rss: number
  /** Highest 50 ms RSS sample since the previous mark, and since start. */
  readonly peakRssSinceMark: number
  readonly peakRss: number
  /** Event-loop delay since the previous mark (the broker child's own: meaningless when `server` is set). */
  readonly eventLoopP99Ms: number
  readonly eventLoopMaxMs: number
  /** Set when the broker is another program (nats-server, redis-server) whose CPU and memory these are. */
  readonly server?: string
}

export interface SubscribersSnapshot {
  readonly t: number
  /** Deliveries so far, per healthy connection (the stalled one is never counted). */
  readonly counts: readonly number[]
  /** The child's own CPU time so far (user + system), µs. */
  readonly cpuUs?: number
  /** Work queues: deliveries that were redeliveries (delivery count above 1), and subscription errors. */
  readonly redelivered?: number
  readonly errors?: readonly string[]
}

export interface PublisherSnapshot {
  readonly t: number
  /** The child's own CPU time so far (user + system), µs. */
  readonly cpuUs?: number
  readonly sent: number
  readonly completed: number
  readonly failed: number
}

export interface PublisherJobResult {
  readonly sent: number
  readonly completed: number
  readonly failed: number
  /** Paced jobs: messages sent between the first two marks, how many the probe saw, and their latency. */
  readonly window?: { readonly sent: number; readonly probed: number; readonly elapsedMs: number; readonly latency: LatencySummary }
  /** Fill jobs: what the topic holds afterwards and how long filling took. */
  readonly stored?: { readonly messages: number; readonly bytes: number; readonly elapsedMs: number }
  /** Publish-ack jobs: confirms that said `duplicate`, and confirms whose sequence did not follow the previous one. */
  readonly duplicates?: number
  readonly outOfOrder?: number
  /** Publish-ack jobs: the first failure, as `code: message`. */
  readonly firstError?: string
  /** Publish-ack jobs with `latency`: send → confirm of the confirms sent inside the measured window. */
  readonly confirmLatency?: LatencySummary
}

/** One replay of a topic from its first message, timed on the subscriber child's clock. */
export interface ReplayReport {
  /** Messages delivered until `expected` arrived or the deadline passed. */
  readonly delivered: number
  /** From sending the subscription to the `expected`-th message (or to the deadline). */
  readonly elapsedMs: number
  /** Deliveries whose sequence was not the previous one + 1 (a replay from the start should have none). */
  readonly outOfOrder: number
  readonly errors: readonly string[]
  readonly timedOut: boolean
}

/** One drain of a stored backlog by an acked group, timed on the subscriber child's clock (scenario J). */
export interface DrainReport {
  /** Deliveries until `expected` arrived or the deadline passed (redeliveries included). */
  readonly delivered: number
  /** From sending the first join to the `expected`-th delivery (or to the deadline). */
  readonly elapsedMs: number
  /** Deliveries per member. */
  readonly perMember: readonly number[]
  readonly redelivered: number
  readonly errors: readonly string[]
  readonly timedOut: boolean
}

export interface StallReport {
  /** Whether the broker closed the stalled connection (seen once the proxy reads again). */
  readonly closedByBroker: boolean
  /** Bytes that were waiting for the stalled reader when it resumed. */
  readonly drainedBytes: number
}

// ---- messages --------------------------------------------------------------------------------------------

export type ToChild =
  | { readonly type: 'mark'; readonly gc?: boolean }
  | { readonly type: 'job'; readonly job: PublisherJob }
  | { readonly type: 'stop-job' }
  | { readonly type: 'credit'; readonly delivered: number }
  /** Connect the latency probe and confirm its subscription now (a publisher started with `probeLast`). */
  | { readonly type: 'attach-probe' }
  | { readonly type: 'unstall' }
  /** Replay `subject` from the start until `expected` messages arrived (or `timeoutMs`), then unsubscribe. */
  | { readonly type: 'replay'; readonly subject: string; readonly expected: number; readonly timeoutMs: number }
  /** Join every member of a drain plan and report once `expected` jobs were delivered (or `timeoutMs`). */
  | { readonly type: 'drain'; readonly expected: number; readonly timeoutMs: number }
  | { readonly type: 'shutdown' }

export type FromChild =
  /**
   * `startMs`: the broker child's time inside `startBroker` (scenario J reads a restart's recovery from it);
   * `serverPid`: the broker program's pid when it is not the broker child (the orchestrator reads its CPU).
   */
  | {
      readonly type: 'ready'
      readonly url?: string
      readonly connectMs?: number
      readonly startMs?: number
      readonly serverPid?: number
      /** Processes doing the broker's work beside `serverPid` (`subwire serve --workers N`'s workers). */
      readonly workerPids?: readonly number[]
    }
  | { readonly type: 'mark'; readonly broker?: BrokerSnapshot; readonly subscribers?: SubscribersSnapshot; readonly publisher?: PublisherSnapshot }
  | { readonly type: 'progress'; readonly delivered: number }
  | { readonly type: 'job-done'; readonly result: PublisherJobResult }
  | { readonly type: 'probe-attached' }
  | { readonly type: 'unstalled'; readonly report: StallReport }
  | { readonly type: 'replayed'; readonly report: ReplayReport }
  | { readonly type: 'drained'; readonly report: DrainReport }
  | { readonly type: 'error'; readonly message: string }

export type FromChildType = FromChild['type']
/** The message of a given type. */
export type FromChildOf<T extends FromChildType> = Extract<FromChild, { type: T }>
