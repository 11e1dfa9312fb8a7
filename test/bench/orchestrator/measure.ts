/**
 * Measurement windows: mark every child, wait, mark again. Rates are deltas between two snapshots taken
 * on one child's own clock, so orchestrator and IPC delays do not enter a figure.
 */
import { sleep } from '../time.ts'
import { perSecond, sum } from '../stats.ts'
import type { Marks, ProcessSet } from './process-set.ts'

export interface MeasuredWindow {
  readonly before: Marks
  readonly after: Marks
}

/**
 * Waits `warmupMs`, then measures for `durationMs` on the orchestrator's clock. The window does not wait
 * for the replies to its opening mark: a saturated broker may answer seconds late (see proc-stat.ts), and
 * every figure is computed on the clock of the child that took the snapshot, or on the orchestrator's.
 */
export async function measureWindow(set: ProcessSet, warmupMs: number, durationMs: number): Promise<MeasuredWindow> {
  await sleep(warmupMs)
  const before = set.mark()
  before.catch(() => undefined) // awaited below; this only keeps a failure from being "unhandled" meanwhile
  await sleep(durationMs)
  const after = set.mark()
  return { before: await before, after: await after }
}

/**
 * Broker CPU seconds per wall-clock second over the window: from /proc on the orchestrator's clock when
 * available, else from the broker's own snapshots on its clock.
 */
export function brokerCpuRate(w: MeasuredWindow): number {
  const before = w.before.brokerCpuSeconds
  const after = w.after.brokerCpuSeconds
  if (before !== undefined && after !== undefined) return (after - before) / ((w.after.at - w.before.at) / 1000)
  const cpu = (m: Marks): number => (m.broker.cpuUserUs + m.broker.cpuSystemUs) / 1e6
  return (cpu(w.after) - cpu(w.before)) / ((w.after.broker.t - w.before.broker.t) / 1000)
}

/**
 * Broker CPU seconds spent between the window's two marks: from /proc when available, else the broker's
 * own snapshots. For finite jobs (a replay) that the window brackets, where a rate would count idle edges.
 */
export function brokerCpuSeconds(w: MeasuredWindow): number {
  const before = w.before.brokerCpuSeconds
  const after = w.after.brokerCpuSeconds
  if (before !== undefined && after !== undefined) return after - before
  const cpu = (m: Marks): number => (m.broker.cpuUserUs + m.broker.cpuSystemUs) / 1e6
  return cpu(w.after) - cpu(w.before)
}

/** Deliveries per subscriber connection in the window, and the subscriber child's elapsed time. */
export function deliveriesInWindow(w: MeasuredWindow): { perConnection: number[]; total: number; elapsedMs: number } {
  const before = w.before.subscribers
  const after = w.after.subscribers
  if (before === undefined || after === undefined) throw new Error('no subscriber child in this window')
  const perConnection = after.counts.map((count, i) => count - (before.counts[i] ?? 0))
  return { perConnection, total: sum(perConnection), elapsedMs: after.t - before.t }
}

/** The publisher's counter deltas in the window and its elapsed time. */
export function publisherInWindow(w: MeasuredWindow): { sent: number; completed: number; failed: number; elapsedMs: number } {
  const before = w.before.publisher
  const after = w.after.publisher
  if (before === undefined || after === undefined) throw new Error('no publisher child in this window')
  return {
    sent: after.sent - before.sent,
    completed: after.completed - before.completed,
    failed: after.failed - before.failed,
    elapsedMs: after.t - before.t,
  }
}

/**
 * Broker CPU seconds per million events (deliveries, publishes or round trips) counted over `elapsedMs`
 * by another child. A ratio of two rates, so the two windows need not start at the same instant.
 */
export function cpuSecondsPerMillion(w: MeasuredWindow, events: number, elapsedMs: number): number | null {
  const eventRate = perSecond(events, elapsedMs)
  return eventRate > 0 ? (brokerCpuRate(w) / eventRate) * 1e6 : null
}

/** Events per second over the subscriber child's clock. */
export function deliveryRate(w: MeasuredWindow): number {
  const d = deliveriesInWindow(w)
  return perSecond(d.total, d.elapsedMs)
}

/**
 * CPU cores each process kept busy over the window (broker from /proc or its snapshots; load generators
 * from their own snapshots), so a figure says which process limits it: on 2 cores, a process near 1.0 is
 * the bottleneck. Undefined where a child does not report its CPU.
 */
export function coresBusy(w: MeasuredWindow): { broker: number; subscribers?: number; publisher?: number } {
  const rate = (before: { t: number; cpuUs?: number } | undefined, after: { t: number; cpuUs?: number } | undefined): number | undefined =>
    before?.cpuUs === undefined || after?.cpuUs === undefined ? undefined : (after.cpuUs - before.cpuUs) / 1000 / (after.t - before.t)
  return { broker: brokerCpuRate(w), subscribers: rate(w.before.subscribers, w.after.subscribers), publisher: rate(w.before.publisher, w.after.publisher) }
}

/** `coresBusy` as a row's value and note: the busiest process's cores, and all three. */
export function busiest(w: MeasuredWindow): { value: number; note: string } {
  const c = coresBusy(w)
  const f = (x: number | undefined): string => (x === undefined ? '?' : x.toFixed(2))
  return { value: Math.max(c.broker, c.subscribers ?? 0, c.publisher ?? 0), note: `${f(c.broker)}/${f(c.subscribers)}/${f(c.publisher)}` }
}
