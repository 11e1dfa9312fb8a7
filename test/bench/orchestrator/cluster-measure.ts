/**
 * Figures of a window whose broker is several processes (scenarios K…): node 0 (the set's `broker`), the other
 * nodes and the shared redis-server (the marks' `others`). A cluster's cost per message is what all of them
 * spent together; which one ran out of core is what limits the figure, so each is listed.
 */
import type { BrokerSnapshot } from '../ipc.ts'
import { perSecond } from '../stats.ts'
import { brokerCpuRate, coresBusy, type MeasuredWindow } from './measure.ts'
import type { OtherMark } from './process-set.ts'

/** A process's CPU cores over the window. */
export interface ProcessCores {
  readonly name: string
  readonly cores: number
}

function snapshotCpu(b: BrokerSnapshot): number {
  return (b.cpuUserUs + b.cpuSystemUs) / 1e6
}

/** Cores one other process kept busy: its /proc reading on the orchestrator's clock, else its own snapshots. */
export function otherCores(before: OtherMark, after: OtherMark, elapsedMs: number): number {
  if (before.cpuSeconds !== undefined && after.cpuSeconds !== undefined && elapsedMs > 0) return (after.cpuSeconds - before.cpuSeconds) / (elapsedMs / 1000)
  if (before.broker === undefined || after.broker === undefined) return 0
  const ms = after.broker.t - before.broker.t
  return ms > 0 ? (snapshotCpu(after.broker) - snapshotCpu(before.broker)) / (ms / 1000) : 0
}

/** Every broker-side process of the window (a stand-alone broker: just `node 0`), in the marks' order. */
export function brokerSideCores(w: MeasuredWindow): ProcessCores[] {
  const list: ProcessCores[] = [{ name: 'node 0', cores: brokerCpuRate(w) }]
  const before = w.before.others ?? []
  const after = w.after.others ?? []
  const elapsedMs = w.after.at - w.before.at
  for (const [i, mark] of after.entries()) {
    const start = before[i]
    if (start === undefined || start.name !== mark.name) throw new Error(`window marks disagree on process ${i} (${start?.name} vs ${mark.name})`)
    list.push({ name: mark.name, cores: otherCores(start, mark, elapsedMs) })
  }
  return list
}

/** CPU seconds every broker-side process spent together per million events counted over `elapsedMs`. */
export function clusterCpuPerMillion(w: MeasuredWindow, events: number, elapsedMs: number): number | null {
  const rate = perSecond(events, elapsedMs)
  if (rate <= 0) return null
  const cores = brokerSideCores(w).reduce((total, p) => total + p.cores, 0)
  return (cores / rate) * 1e6
}

/**
 * The busiest process's cores, and every process's in the note (`node 0 0.97 · node 1 0.41 · shared 0.12 ·
 * subscribers 0.88 · publisher 0.30 · machine 1.95`): on 2 cores, a process near 1.0 is the limit, and the
 * machine's busy cores beyond the sum of ours are what other programs took from the run.
 */
export function clusterBusy(w: MeasuredWindow): { value: number; note: string } {
  const c = coresBusy(w)
  const all: Array<{ name: string; cores: number | undefined }> = [...brokerSideCores(w), { name: 'subscribers', cores: c.subscribers }, { name: 'publisher', cores: c.publisher }]
  const busy = formatBusy(all)
  const machine = machineCores(w)
  return machine === undefined ? busy : { ...busy, note: `${busy.note} · machine ${machine.toFixed(2)}` }
}

/** Cores the whole machine kept busy over the window (every process), when /proc/stat was read. */
export function machineCores(w: MeasuredWindow): number | undefined {
  const before = w.before.machineBusySeconds
  const after = w.after.machineBusySeconds
  const seconds = (w.after.at - w.before.at) / 1000
  return before === undefined || after === undefined || seconds <= 0 ? undefined : (after - before) / seconds
}

/** See {@link clusterBusy}; `undefined` cores print as `?` and do not count for the maximum. */
export function formatBusy(all: ReadonlyArray<{ readonly name: string; readonly cores: number | undefined }>): { value: number; note: string } {
  const value = Math.max(0, ...all.map((p) => p.cores ?? 0))
  const note = all.map((p) => `${p.name} ${p.cores === undefined ? '?' : p.cores.toFixed(2)}`).join(' · ')
  return { value, note }
}

/** The broker-side processes' peak RSS added up (bytes), and each one's in MiB for the note. */
export function clusterPeakRss(w: MeasuredWindow): { bytes: number; note: string } {
  const peaks = [{ name: 'node 0', bytes: w.after.broker.peakRss }, ...(w.after.others ?? []).map((o) => ({ name: o.name, bytes: o.broker?.peakRss ?? o.peakRss ?? 0 }))]
  const bytes = peaks.reduce((total, p) => total + p.bytes, 0)
  return { bytes, note: peaks.map((p) => `${p.name} ${(p.bytes / (1 << 20)).toFixed(0)}`).join(' · ') }
}
