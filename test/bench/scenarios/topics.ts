/**
 * H: topics (retained logs), three runs, each with its own processes and a broker created with one topic:
 *  1. publish confirms: one publisher keeps PUBLISH_ACK_IN_FLIGHT `publishAck`s outstanding to a topic;
 *     confirms per second over the measured window;
 *  2. replay: the publisher stores a fixed number of 128-byte messages, then one subscriber connection
 *     replays the topic from its first message (`deliver: 'all'`) REPLAYS times after a warm-up replay;
 *     messages per second from sending the subscription to the last message, on the subscriber's clock;
 *  3. acked work queue: WORKERS members of one group (`ack: true`, `maxInFlight` WORK_MAX_IN_FLIGHT) in
 *     the subscriber process ack every job in their callback, the publisher floods a subject the topic
 *     covers under end-to-end credit (as in C); jobs per second over the measured window.
 * The baselines have no retained topics: every row is n/a for them, with no ratio.
 */
import type { ProcessSet } from '../orchestrator/process-set.ts'
import { brokerCpuSeconds, cpuSecondsPerMillion, deliveriesInWindow, measureWindow, publisherInWindow } from '../orchestrator/measure.ts'
import { perSecond, sum } from '../stats.ts'
import { SYSTEMS_WITH_TOPICS, type BenchTopic } from '../systems.ts'
import type { ReplayReport } from '../ipc.ts'
import type { Metric, Scenario, ScenarioContext } from './types.ts'

/**
 * Every topic gets this much room: without `maxBytes` the broker caps a topic at 64 MiB
 * (`defaultTopicMaxBytes`), which a full-length confirm or work-queue run would reach and then evict.
 */
const TOPIC_MAX_BYTES = 256 * 1024 * 1024
const ACK_TOPIC: BenchTopic = { name: 'bench-acks', subjects: ['acks.>'], maxBytes: TOPIC_MAX_BYTES }
const REPLAY_TOPIC: BenchTopic = { name: 'bench-replay', subjects: ['replay.>'], maxBytes: TOPIC_MAX_BYTES }
const JOBS_TOPIC: BenchTopic = { name: 'bench-jobs', subjects: ['jobs.>'], maxBytes: TOPIC_MAX_BYTES }

const PUBLISH_ACK_IN_FLIGHT = 256
/** Count bound of the confirm loops: far above what a window can reach (the note says if it was hit). */
const PUBLISH_ACK_MAX_MSGS = 10_000_000
const PUBLISH_ACK_TIMEOUT_MS = 5000

const REPLAY_MSGS = { full: 200_000, quick: 50_000 }
const REPLAYS = 3
const FILL_DEADLINE_MS = 60_000
const REPLAY_TIMEOUT_MS = 30_000

const WORKERS = 4
const WORK_MAX_IN_FLIGHT = 256
const WORK_QUEUE = 'workers'
/** Jobs sent and not yet delivered to a member; each is also stored, so this bounds the topic's backlog (C's window was 20,000 before it grew; this one stays, since members never hold more than maxInFlight). */
const WORK_WINDOW_MSGS = 20_000
const FLUSH_EVERY_BURSTS = 8

const JOB_STOP_MS = 15_000
const IPC_SLACK_MS = 5000
const NO_TOPICS = 'n/a (no topics)'

/** The rows of H, in report order; the baselines get each of them as n/a. */
const ROWS = {
  ackRate: { key: 'H.ack.rate', label: `H topic publishAck, ${PUBLISH_ACK_IN_FLIGHT} in flight: confirms/s`, unit: '/s', better: 'higher' },
  ackCpu: { key: 'H.ack.cpu', label: 'H publishAck: broker CPU-s per 1M confirms', unit: 's', better: 'lower' },
  fillRate: { key: 'H.fill.rate', label: 'H fill (plain publishes into a topic): stored msg/s', unit: '/s', better: 'info' },
  storedRss: { key: 'H.fill.rssPerMsg', label: 'H broker RSS per stored 128-byte message (after GC)', unit: 'B', better: 'info' },
  replayRate: { key: 'H.replay.rate', label: 'H replay deliver all: msg/s', unit: '/s', better: 'higher' },
  replayCpu: { key: 'H.replay.cpu', label: 'H replay: broker CPU-s per 1M messages', unit: 's', better: 'lower' },
  workRate: { key: 'H.work.rate', label: `H acked work queue 1→${WORKERS}: jobs/s`, unit: '/s', better: 'higher' },
  workCpu: { key: 'H.work.cpu', label: 'H work queue: broker CPU-s per 1M jobs', unit: 's', better: 'lower' },
  workShare: { key: 'H.work.share', label: `H work queue: worst member share off ${100 / WORKERS}% (shares %)`, unit: 'pp', better: 'info' },
} as const satisfies Record<string, Omit<Metric, 'value' | 'note'>>

type RowName = keyof typeof ROWS

function row(name: RowName, value: number | null, note?: string): Metric {
  return { ...ROWS[name], value, note }
}

/** Joins the non-empty parts of a note; undefined when there are none. */
function noteOf(parts: ReadonlyArray<string | false | undefined>): string | undefined {
  const kept = parts.filter((part): part is string => typeof part === 'string' && part !== '')
  return kept.length === 0 ? undefined : kept.join('; ')
}

async function withSet<T>(ctx: ScenarioContext, spec: Parameters<ScenarioContext['start']>[0], body: (set: ProcessSet) => Promise<T>): Promise<T> {
  const set = await ctx.start(spec)
  try {
    return await body(set)
  } finally {
    await set.close()
  }
}

// ---- 1. publish confirms ------------------------------------------------------------------------------------

function measurePublishAck(ctx: ScenarioContext): Promise<Metric[]> {
  return withSet(ctx, { topics: [ACK_TOPIC], publisher: {} }, async (set) => {
    const publisher = set.publisher
    if (publisher === undefined) throw new Error('publishAck run without a publisher')
    const deadlineMs = ctx.shape.warmupMs + ctx.shape.durationMs + JOB_STOP_MS
    publisher.send({
      type: 'job',
      job: { kind: 'publish-ack', subject: 'acks.bench', inFlight: PUBLISH_ACK_IN_FLIGHT, maxMsgs: PUBLISH_ACK_MAX_MSGS, deadlineMs, timeoutMs: PUBLISH_ACK_TIMEOUT_MS },
    })
    const window = await measureWindow(set, ctx.shape.warmupMs, ctx.shape.durationMs)
    const { result } = await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS + PUBLISH_ACK_TIMEOUT_MS, 'publishAck stop')
    const counts = publisherInWindow(window)
    const note = noteOf([
      counts.failed > 0 && `${counts.failed} failed (${result.firstError ?? '?'})`,
      (result.duplicates ?? 0) > 0 && `${result.duplicates} duplicates`,
      (result.outOfOrder ?? 0) > 0 && `${result.outOfOrder} out of sequence`,
      result.sent >= PUBLISH_ACK_MAX_MSGS && 'hit the count bound',
    ])
    ctx.log(`H: publishAck ${Math.round(perSecond(counts.completed, counts.elapsedMs)).toLocaleString('en-US')} confirms/s`)
    return [
      row('ackRate', perSecond(counts.completed, counts.elapsedMs), note),
      row('ackCpu', cpuSecondsPerMillion(window, counts.completed, counts.elapsedMs)),
    ]
  })
}

// ---- 2. replay ----------------------------------------------------------------------------------------------

interface Filled {
  readonly elapsedMs: number
  /** Broker RSS growth (after a forced GC on both sides) per stored message. */
  readonly rssPerMsg: number
}

/** Stores `count` messages and checks that the topic holds exactly those. */
async function fill(set: ProcessSet, count: number): Promise<Filled> {
  const publisher = set.publisher
  if (publisher === undefined) throw new Error('replay run without a publisher')
  const before = await set.mark(true)
  const job = { kind: 'fill', topic: REPLAY_TOPIC.name, subject: 'replay.bench', count, deadlineMs: FILL_DEADLINE_MS } as const
  const { result } = await publisher.ask({ type: 'job', job }, 'job-done', FILL_DEADLINE_MS + IPC_SLACK_MS, 'topic fill')
  const after = await set.mark(true)
  const stored = result.stored
  if (stored === undefined) throw new Error('fill job reported nothing stored')
  if (result.completed !== count || stored.messages !== count) {
    throw new Error(`fill: expected ${count} messages, the last confirm said seq ${result.completed} and the topic holds ${stored.messages}`)
  }
  return { elapsedMs: stored.elapsedMs, rssPerMsg: (after.broker.rss - before.broker.rss) / count }
}

interface TimedReplay {
  readonly report: ReplayReport
  readonly cpuSeconds: number
}

async function replay(set: ProcessSet, expected: number): Promise<TimedReplay> {
  const subscribers = set.subscribers
  if (subscribers === undefined) throw new Error('replay run without a subscriber')
  const before = await set.mark()
  const { report } = await subscribers.ask({ type: 'replay', subject: 'replay.>', expected, timeoutMs: REPLAY_TIMEOUT_MS }, 'replayed', REPLAY_TIMEOUT_MS + IPC_SLACK_MS, 'replay')
  const after = await set.mark()
  if (report.delivered !== expected) {
    throw new Error(`replay: ${report.delivered} of ${expected} messages in ${Math.round(report.elapsedMs)} ms${report.timedOut ? ' (timed out)' : ''}; errors: ${report.errors.join(', ') || 'none'}`)
  }
  return { report, cpuSeconds: brokerCpuSeconds({ before, after }) }
}

function measureReplay(ctx: ScenarioContext): Promise<Metric[]> {
  const count = ctx.shape.quick ? REPLAY_MSGS.quick : REPLAY_MSGS.full
  return withSet(ctx, { topics: [REPLAY_TOPIC], subscribers: { kind: 'replay' }, publisher: {} }, async (set) => {
    const stored = await fill(set, count)
    ctx.log(`H: stored ${count.toLocaleString('en-US')} messages in ${Math.round(stored.elapsedMs)} ms; replaying`)
    await replay(set, count) // warm-up: the first replay also pays for compiling the replay path
    const runs: TimedReplay[] = []
    for (let i = 0; i < REPLAYS; i++) runs.push(await replay(set, count))
    const delivered = sum(runs.map((r) => r.report.delivered))
    const elapsedMs = sum(runs.map((r) => r.report.elapsedMs))
    const rates = runs.map((r) => perSecond(r.report.delivered, r.report.elapsedMs))
    const outOfOrder = sum(runs.map((r) => r.report.outOfOrder))
    const errors = [...new Set(runs.flatMap((r) => r.report.errors))]
    const k = (rate: number): string => `${Math.round(rate / 1000)}k`
    const note = noteOf([
      `${count.toLocaleString('en-US')} msgs ×${REPLAYS}: ${rates.map(k).join('/')}`,
      outOfOrder > 0 && `${outOfOrder} out of sequence`,
      errors.length > 0 && `errors: ${errors.join(', ')}`,
    ])
    return [
      row('fillRate', perSecond(count, stored.elapsedMs)),
      row('storedRss', stored.rssPerMsg),
      row('replayRate', perSecond(delivered, elapsedMs), note),
      row('replayCpu', delivered > 0 ? (sum(runs.map((r) => r.cpuSeconds)) / delivered) * 1e6 : null),
    ]
  })
}

// ---- 3. acked work queue ------------------------------------------------------------------------------------

function measureWorkQueue(ctx: ScenarioContext): Promise<Metric[]> {
  const plan = { kind: 'work-queue', subject: 'jobs.>', queue: WORK_QUEUE, count: WORKERS, maxInFlight: WORK_MAX_IN_FLIGHT } as const
  return withSet(ctx, { topics: [JOBS_TOPIC], subscribers: plan, publisher: {} }, async (set) => {
    const publisher = set.publisher
    if (publisher === undefined) throw new Error('work-queue run without a publisher')
    set.relayCredit()
    publisher.send({ type: 'job', job: { kind: 'flood', subjects: ['jobs.bench'], windowMsgs: WORK_WINDOW_MSGS, flush: 'fallback', flushEveryBursts: FLUSH_EVERY_BURSTS } })
    const window = await measureWindow(set, ctx.shape.warmupMs, ctx.shape.durationMs)
    await publisher.ask({ type: 'stop-job' }, 'job-done', JOB_STOP_MS, 'work-queue flood stop')
    const delivered = deliveriesInWindow(window)
    const shares = delivered.perConnection.map((n) => (delivered.total > 0 ? (n / delivered.total) * 100 : 0))
    const worst = Math.max(...shares.map((share) => Math.abs(share - 100 / WORKERS)))
    const redelivered = (window.after.subscribers?.redelivered ?? 0) - (window.before.subscribers?.redelivered ?? 0)
    const errors = window.after.subscribers?.errors ?? []
    const note = noteOf([redelivered > 0 && `${redelivered} redeliveries`, errors.length > 0 && `errors: ${errors.join(', ')}`])
    return [
      row('workRate', perSecond(delivered.total, delivered.elapsedMs), note),
      row('workCpu', cpuSecondsPerMillion(window, delivered.total, delivered.elapsedMs)),
      row('workShare', worst, shares.map((share) => share.toFixed(1)).join('/')),
    ]
  })
}

export const topicsScenario: Scenario = {
  id: 'H',
  title: 'topics: publishAck, replay, acked work queue',
  async run(ctx): Promise<Metric[]> {
    if (!SYSTEMS_WITH_TOPICS.has(ctx.system)) {
      ctx.log(`H: ${NO_TOPICS}`)
      return (Object.keys(ROWS) as RowName[]).map((name) => row(name, null, NO_TOPICS))
    }
    const metrics = [...(await measurePublishAck(ctx)), ...(await measureReplay(ctx)), ...(await measureWorkQueue(ctx))]
    return (Object.keys(ROWS) as RowName[]).map((name) => {
      const metric = metrics.find((m) => m.key === ROWS[name].key)
      if (metric === undefined) throw new Error(`H produced no ${ROWS[name].key}`)
      return metric
    })
  },
}
