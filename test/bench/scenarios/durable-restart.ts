/**
 * J's restart step, subwire only. A broker on a fresh data folder stores REPLAY_MSGS 128-byte messages in a
 * file topic (plain publishes under the socket brake, the last one confirmed, then `info()` must say they are
 * all there) and is stopped; the folder's size gives bytes on disk per message. A new broker child is started
 * on the same folder: its time inside `createBroker` is the recovery (per GiB on disk), its RSS after a forced
 * GC what holding the messages costs; then one connection replays the topic from its first message
 * (`deliver: 'all'`, sequences checked 1, 2, 3, …), cold, as the first reader after the restart.
 * `--durable-gib N` stores N GiB of payload instead (the RSS check at 2 GiB).
 */
import type { ProcessSet } from '../orchestrator/process-set.ts'
import { perSecond } from '../stats.ts'
import type { ReplayReport } from '../ipc.ts'
import type { Metric, ScenarioContext } from './types.ts'
import { PAYLOAD_BYTES } from '../workloads.ts'
import { GIB, MIB, REPLAY_MSGS, STORAGE_MODE, diskUse, durableTopic, kilo, noteOf, row, withDataDir, type RowName } from './durable-rows.ts'

const SUBJECT = 'dur.replay.bench'
const PATTERN = 'dur.replay.>'
const IPC_SLACK_MS = 5000
/** Deadlines scale with the volume: at least these, or the volume at these (pessimistic) rates. */
const FILL = { minMs: 60_000, slowestPerSec: 10_000 }
const REPLAY = { minMs: 30_000, slowestPerSec: 20_000 }
const READY = { minMs: 30_000, msPerGib: 30_000 }

const RESTART_ROWS: readonly RowName[] = ['fillRate', 'diskPerMsg', 'recovery', 'rss', 'replayRate']

/** The restart rows, all with the same value and note (systems or modes that do not measure them). */
export function restartRows(value: null, note: string): Metric[] {
  return RESTART_ROWS.map((name) => row(name, value, note))
}

interface Volume {
  readonly count: number
  readonly fillDeadlineMs: number
  readonly replayTimeoutMs: number
  readonly readyMs: number
}

function volumeOf(ctx: ScenarioContext): Volume {
  const gib = ctx.shape.durableGib
  const count = gib !== undefined ? Math.ceil((gib * GIB) / PAYLOAD_BYTES) : ctx.shape.quick ? REPLAY_MSGS.quick : REPLAY_MSGS.full
  const scaled = (base: { minMs: number; slowestPerSec: number }): number => Math.max(base.minMs, (count / base.slowestPerSec) * 1000)
  return { count, fillDeadlineMs: scaled(FILL), replayTimeoutMs: scaled(REPLAY), readyMs: READY.minMs + ((count * PAYLOAD_BYTES) / GIB) * READY.msPerGib }
}

/** Room for the volume with generous per-record overhead, so retention never evicts during the step. */
function topicFor(count: number): ReturnType<typeof durableTopic> {
  return durableTopic('dur-replay', PATTERN, Math.max(256 * MIB, count * 1024))
}

async function fill(set: ProcessSet, volume: Volume): Promise<number> {
  const publisher = set.publisher
  if (publisher === undefined) throw new Error('fill without a publisher')
  const job = { kind: 'fill', topic: 'dur-replay', subject: SUBJECT, count: volume.count, deadlineMs: volume.fillDeadlineMs } as const
  const { result } = await publisher.ask({ type: 'job', job }, 'job-done', volume.fillDeadlineMs + IPC_SLACK_MS, 'durable fill')
  const stored = result.stored
  if (stored === undefined) throw new Error('fill job reported nothing stored')
  if (result.completed !== volume.count || stored.messages !== volume.count) {
    throw new Error(`fill: expected ${volume.count} messages, the last confirm said seq ${result.completed} and the topic holds ${stored.messages}`)
  }
  return perSecond(volume.count, stored.elapsedMs)
}

async function replay(set: ProcessSet, volume: Volume): Promise<ReplayReport> {
  const subscribers = set.subscribers
  if (subscribers === undefined) throw new Error('replay without a subscriber')
  const ask = { type: 'replay', subject: PATTERN, expected: volume.count, timeoutMs: volume.replayTimeoutMs } as const
  const { report } = await subscribers.ask(ask, 'replayed', volume.replayTimeoutMs + IPC_SLACK_MS, 'durable replay')
  if (report.delivered !== volume.count) {
    throw new Error(`replay: ${report.delivered} of ${volume.count} messages in ${Math.round(report.elapsedMs)} ms${report.timedOut ? ' (timed out)' : ''}; errors: ${report.errors.join(', ') || 'none'}`)
  }
  return report
}

function replayRow(report: ReplayReport, count: number): Metric {
  const rate = perSecond(report.delivered, report.elapsedMs)
  const note = noteOf([
    `${count.toLocaleString('en-US')} msgs in ${(report.elapsedMs / 1000).toFixed(2)} s`,
    report.outOfOrder > 0 && `${report.outOfOrder} out of sequence`,
    report.errors.length > 0 && `errors: ${report.errors.join(', ')}`,
  ])
  return row('replayRate', rate, note)
}

/** Memory topics (BENCH_J_STORAGE=memory): fill and replay in one broker; nothing survives a restart to measure. */
async function measureInMemory(ctx: ScenarioContext, volume: Volume): Promise<Metric[]> {
  const note = 'n/a (memory topic: BENCH_J_STORAGE=memory)'
  const set = await ctx.start({ topics: [topicFor(volume.count)], publisher: {}, subscribers: { kind: 'replay' } })
  try {
    const fillRate = await fill(set, volume)
    const held = await set.mark(true)
    const report = await replay(set, volume)
    return [row('fillRate', fillRate), row('diskPerMsg', null, note), row('recovery', null, note), row('rss', held.broker.rss / MIB, 'no restart'), replayRow(report, volume.count)]
  } finally {
    await set.close()
  }
}

export function measureRestart(ctx: ScenarioContext): Promise<Metric[]> {
  const volume = volumeOf(ctx)
  if (STORAGE_MODE === 'memory') return measureInMemory(ctx, volume)
  const topics = [topicFor(volume.count)]
  return withDataDir(async (dataDir) => {
    const first = await ctx.start({ topics, dataDir, publisher: {} })
    let fillRate: number
    let emptyStartMs: number
    let filledRss: number
    try {
      emptyStartMs = first.brokerStartMs
      fillRate = await fill(first, volume)
      filledRss = (await first.mark(true)).broker.rss
    } finally {
      await first.close()
    }
    const disk = await diskUse(dataDir)
    ctx.log(`J: stored ${volume.count.toLocaleString('en-US')} at ${kilo(fillRate)} msg/s, ${(disk.allocated / MIB).toFixed(0)} MiB on disk; restarting`)
    const second = await ctx.startBroker({ topics, dataDir, subscribers: { kind: 'replay' }, brokerReadyMs: volume.readyMs })
    try {
      const recoveryMs = second.brokerStartMs
      const held = await second.mark(true)
      await second.startClients()
      const report = await replay(second, volume)
      const after = await second.mark()
      const gib = disk.allocated / GIB
      ctx.log(`J: recovered in ${Math.round(recoveryMs)} ms, RSS ${(held.broker.rss / MIB).toFixed(0)} MiB, replayed at ${kilo(perSecond(report.delivered, report.elapsedMs))} msg/s`)
      return [
        row('fillRate', fillRate),
        row('diskPerMsg', disk.allocated / volume.count, `apparent ${(disk.apparent / volume.count).toFixed(0)} B, ${disk.files} files, ${(disk.allocated / MIB).toFixed(0)} MiB`),
        row('recovery', gib > 0 ? recoveryMs / 1000 / gib : null, `${Math.round(recoveryMs)} ms for ${gib.toFixed(3)} GiB; empty folder ${Math.round(emptyStartMs)} ms; spawn → ready ${Math.round(second.brokerReadyMs)} ms`),
        row('rss', held.broker.rss / MIB, `${volume.count.toLocaleString('en-US')} msgs; before the restart ${(filledRss / MIB).toFixed(0)} MiB; peak during replay ${(after.broker.peakRssSinceMark / MIB).toFixed(0)} MiB`),
        replayRow(report, volume.count),
      ]
    } finally {
      await second.close()
    }
  })
}
