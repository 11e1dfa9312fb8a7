/**
 * J: durable topics, subwire's file topics (`storage: 'file'`, `fsync: 'always'`, broker `dataDir` a fresh temp
 * folder) beside Redis Streams (`redis-server --appendonly yes --appendfsync always`) in the same run:
 *  1. confirms: one publisher keeps CONFIRM_IN_FLIGHT confirmed publishes outstanding (subwire `publishAck`,
 *     Redis XADD pipelined on one connection); confirms/s over the measured window and the send → confirm
 *     latency of those sent inside it (HdrHistogram, as D);
 *  2. drain: DRAIN_MSGS messages are stored first (confirmed, 256 in flight), then WORKERS acked members
 *     (subwire: one group, `ack: true`, maxInFlight 256; Redis: XREADGROUP COUNT 256 + XACK) join at once;
 *     jobs/s from the joins to the last delivery, on the subscriber child's clock;
 *  3. subwire only (durable-restart.ts): store REPLAY_MSGS, stop the broker, start a new one on the same
 *     dataDir: recovery time per GiB, bytes on disk per message, RSS holding them, then a replay.
 * Every broker gets its own data folder, removed after. The pub/sub baselines do not run J.
 */
import type { ProcessSet, ProcessSetSpec } from '../orchestrator/process-set.ts'
import { measureWindow, publisherInWindow } from '../orchestrator/measure.ts'
import { perSecond } from '../stats.ts'
import { DURABLE_SYSTEMS } from '../systems.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'
import { measureRestart, restartRows } from './durable-restart.ts'
import { CONFIRM_IN_FLIGHT, DRAIN_MSGS, MIB, ROWS, STORAGE_MODE, WORKERS, durableTopic, kilo, noteOf, row, withDataDir, type RowName } from './durable-rows.ts'

const ACK_SUBJECT = 'dur.acks.bench'
const JOBS_SUBJECT = 'dur.jobs.bench'
/** Room for a full-length confirm window (~100k/s × 6 s of ~200-byte records) without eviction. */
const TOPIC_MAX_BYTES = 1024 * MIB
const ACK_TOPIC = durableTopic('dur-acks', 'dur.acks.>', TOPIC_MAX_BYTES)
const JOBS_TOPIC = durableTopic('dur-jobs', 'dur.jobs.>', TOPIC_MAX_BYTES)
const WORK_QUEUE = 'dur-workers'
const WORK_MAX_IN_FLIGHT = 256

/** Count bound of the confirm loops: far above what a window reaches (the note says if it was hit). */
const CONFIRM_MAX_MSGS = 10_000_000
const CONFIRM_TIMEOUT_MS = 5000
const JOB_STOP_MS = 15_000
const FILL_DEADLINE_MS = 60_000
const DRAIN_TIMEOUT_MS = 60_000
const IPC_SLACK_MS = 5000

/** The spec of a set for `system`: subwire gets its file topic; redis-streams makes its stream on the first XADD. */
function specFor(ctx: ScenarioContext, which: 'acks' | 'jobs', dataDir: string | undefined, rest: Omit<ProcessSetSpec, 'system' | 'topics' | 'dataDir'>): Omit<ProcessSetSpec, 'system'> {
  if (ctx.system !== 'subwire') return { ...rest, dataDir }
  const topic = which === 'acks' ? ACK_TOPIC : JOBS_TOPIC
  return { ...rest, topics: [topic], dataDir: STORAGE_MODE === 'file' ? dataDir : undefined }
}

async function withSet<T>(ctx: ScenarioContext, spec: Omit<ProcessSetSpec, 'system'>, body: (set: ProcessSet) => Promise<T>): Promise<T> {
  const set = await ctx.start(spec)
  try {
    return await body(set)
  } finally {
    await set.close()
  }
}

// ---- 1. confirms --------------------------------------------------------------------------------------------

function measureConfirms(ctx: ScenarioContext): Promise<Metric[]> {
  return withDataDir((dir) =>
    withSet(ctx, specFor(ctx, 'acks', dir, { publisher: {} }), async (set) => {
      const publisher = set.publisher
      if (publisher === undefined) throw new Error('confirm run without a publisher')
      const deadlineMs = ctx.shape.warmupMs + ctx.shape.durationMs + JOB_STOP_MS
      const job = { kind: 'publish-ack', subject: ACK_SUBJECT, inFlight: CONFIRM_IN_FLIGHT, maxMsgs: CONFIRM_MAX_MSGS, deadlineMs, timeoutMs: CONFIRM_TIMEOUT_MS, latency: true } as const
      publisher.send({ type: 'job', job })
      const window = await measureWindow(set, ctx.shape.warmupMs, ctx.shape.durationMs)
      const { result } = await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS + CONFIRM_TIMEOUT_MS, 'confirms stop')
      const counts = publisherInWindow(window)
      const latency = result.confirmLatency
      const rate = perSecond(counts.completed, counts.elapsedMs)
      const note = noteOf([
        counts.failed > 0 && `${counts.failed} failed (${result.firstError ?? '?'})`,
        (result.duplicates ?? 0) > 0 && `${result.duplicates} duplicates`,
        (result.outOfOrder ?? 0) > 0 && `${result.outOfOrder} out of sequence`,
        result.sent >= CONFIRM_MAX_MSGS && 'hit the count bound',
      ])
      ctx.log(`J: ${kilo(rate)} confirms/s, p50 ${latency?.p50Ms.toFixed(2) ?? '?'} ms, p99 ${latency?.p99Ms.toFixed(2) ?? '?'} ms`)
      return [
        row('ackRate', rate, note),
        row('ackP50', latency?.p50Ms ?? null),
        row('ackP99', latency?.p99Ms ?? null, latency && `p99.9 ${latency.p999Ms.toFixed(2)}, max ${latency.maxMs.toFixed(1)} ms, ${latency.count.toLocaleString('en-US')} confirms`),
      ]
    }),
  )
}

// ---- 2. drain -----------------------------------------------------------------------------------------------

function measureDrain(ctx: ScenarioContext): Promise<Metric[]> {
  const plan = { kind: 'drain', subject: 'dur.jobs.>', queue: WORK_QUEUE, count: WORKERS, maxInFlight: WORK_MAX_IN_FLIGHT } as const
  return withDataDir((dir) =>
    withSet(ctx, specFor(ctx, 'jobs', dir, { publisher: {}, subscribers: plan }), async (set) => {
      const { publisher, subscribers } = set
      if (publisher === undefined || subscribers === undefined) throw new Error('drain run without its children')
      const job = { kind: 'publish-ack', subject: JOBS_SUBJECT, inFlight: CONFIRM_IN_FLIGHT, maxMsgs: DRAIN_MSGS, deadlineMs: FILL_DEADLINE_MS, timeoutMs: CONFIRM_TIMEOUT_MS } as const
      const { result } = await publisher.ask({ type: 'job', job }, 'job-done', FILL_DEADLINE_MS + IPC_SLACK_MS, 'drain fill')
      if (result.completed !== DRAIN_MSGS) throw new Error(`drain fill: ${result.completed} of ${DRAIN_MSGS} confirmed (${result.failed} failed: ${result.firstError ?? '?'})`)
      const { report } = await subscribers.ask({ type: 'drain', expected: DRAIN_MSGS, timeoutMs: DRAIN_TIMEOUT_MS }, 'drained', DRAIN_TIMEOUT_MS + IPC_SLACK_MS, 'drain')
      if (report.delivered < DRAIN_MSGS) {
        throw new Error(`drain: ${report.delivered} of ${DRAIN_MSGS} jobs in ${Math.round(report.elapsedMs)} ms${report.timedOut ? ' (timed out)' : ''}; errors: ${report.errors.join(', ') || 'none'}`)
      }
      const rate = perSecond(report.delivered, report.elapsedMs)
      const shares = report.perMember.map((n) => ((n / report.delivered) * 100).toFixed(0)).join('/')
      ctx.log(`J: drained ${DRAIN_MSGS.toLocaleString('en-US')} in ${Math.round(report.elapsedMs)} ms (${kilo(rate)} jobs/s)`)
      const note = noteOf([
        `shares ${shares} %`,
        report.redelivered > 0 && `${report.redelivered} redeliveries`,
        report.delivered > DRAIN_MSGS && `${report.delivered - DRAIN_MSGS} deliveries past the backlog`,
        report.errors.length > 0 && `errors: ${report.errors.join(', ')}`,
      ])
      return [row('drainRate', rate, note)]
    }),
  )
}

// ---- the scenario -------------------------------------------------------------------------------------------

/** A broker that refuses file topics (the tree's file store not there yet) is a skip with its reason, not a failure. */
function refusal(ctx: ScenarioContext, err: unknown): string | undefined {
  if (ctx.system !== 'subwire' || STORAGE_MODE !== 'file') return undefined
  const message = err instanceof Error ? err.message : String(err)
  if (!/broker (failed|exited)/.test(message) || !/storage|dataDir|file/i.test(message)) return undefined
  const line = message.split('\n').find((text) => /storage|dataDir|file/i.test(text)) ?? message.split('\n')[0] ?? ''
  const reason = line.replace(/^.*broker failed: /, '').replace(/^\w*Error: /, '').trim().slice(0, 160)
  return `skipped: the broker refused a file topic (${reason})`
}

function allRows(metrics: readonly Metric[], fill: (name: RowName) => Metric): Metric[] {
  return (Object.keys(ROWS) as RowName[]).map((name) => metrics.find((m) => m.key === ROWS[name].key) ?? fill(name))
}

export const durableScenario: Scenario = {
  id: 'J',
  title: 'durable topics: fsynced confirms, acked drain, restart and replay',
  systems: DURABLE_SYSTEMS,
  async run(ctx): Promise<Metric[]> {
    const metrics: Metric[] = []
    try {
      metrics.push(...(await measureConfirms(ctx)))
    } catch (err) {
      const skip = refusal(ctx, err)
      if (skip === undefined) throw err
      ctx.log(`J: ${skip}`)
      return allRows([row('ackRate', null, skip)], (name) => row(name, null, 'skipped (file topics refused: see the first J row)'))
    }
    metrics.push(...(await measureDrain(ctx)))
    if (ctx.system === 'subwire') metrics.push(...(await measureRestart(ctx)))
    else metrics.push(...restartRows(null, 'n/a (anchor: confirms and drain only)'))
    return allRows(metrics, (name) => {
      throw new Error(`J produced no ${ROWS[name].key}`)
    })
  },
}
