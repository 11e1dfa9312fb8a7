/**
 * Scenario J's rows, shared by its steps (durable.ts: confirms and drain on both systems; durable-restart.ts:
 * subwire's fill, restart and replay), and the folders its brokers keep their files in.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BenchTopic } from '../systems.ts'
import type { Metric } from './types.ts'

export const CONFIRM_IN_FLIGHT = 256
export const WORKERS = 4
export const DRAIN_MSGS = 50_000
export const REPLAY_MSGS = { full: 1_000_000, quick: 100_000 } as const

/**
 * `BENCH_J_STORAGE=memory` runs J's subwire side on memory topics (no dataDir, no restart): a development
 * aid for a tree whose file store is not there yet; the default is the issue's `storage: 'file'`.
 */
export const STORAGE_MODE: 'file' | 'memory' = process.env.BENCH_J_STORAGE === 'memory' ? 'memory' : 'file'

/** A topic of J: a file topic with `fsync: 'always'` (or memory, see STORAGE_MODE) with room for `maxBytes`. */
export function durableTopic(name: string, subject: string, maxBytes: number): BenchTopic {
  const topic = { name, subjects: [subject], maxBytes }
  return STORAGE_MODE === 'file' ? { ...topic, storage: 'file', fsync: 'always' } : topic
}

/** The rows of J, in report order. */
export const ROWS = {
  ackRate: { key: 'J.ack.rate', label: `J durable publishAck (fsync always), ${CONFIRM_IN_FLIGHT} in flight: confirms/s`, unit: '/s', better: 'higher' },
  ackP50: { key: 'J.ack.p50', label: 'J durable publishAck: confirm latency p50', unit: 'ms', better: 'lower' },
  ackP99: { key: 'J.ack.p99', label: 'J durable publishAck: confirm latency p99', unit: 'ms', better: 'lower' },
  drainRate: { key: 'J.drain.rate', label: `J ${WORKERS} acked workers draining ${DRAIN_MSGS.toLocaleString('en-US')} stored: jobs/s`, unit: '/s', better: 'higher' },
  fillRate: { key: 'J.fill.rate', label: 'J fill before restart (plain publishes, last one confirmed): stored msg/s', unit: '/s', better: 'info' },
  diskPerMsg: { key: 'J.disk.perMsg', label: 'J bytes on disk per stored 128-byte message (du of the data folder)', unit: 'B', better: 'lower' },
  recovery: { key: 'J.restart.recovery', label: 'J restart: recovery (broker start → ready) per GiB on disk', unit: 's/GiB', better: 'lower' },
  rss: { key: 'J.restart.rss', label: 'J restart: broker RSS holding the stored messages (after GC)', unit: 'MiB', better: 'lower' },
  replayRate: { key: 'J.replay.rate', label: 'J replay deliver all after the restart: msg/s', unit: '/s', better: 'higher' },
} as const satisfies Record<string, Omit<Metric, 'value' | 'note'>>

export type RowName = keyof typeof ROWS

export function row(name: RowName, value: number | null, note?: string): Metric {
  return { ...ROWS[name], value, note }
}

/** Joins the non-empty parts of a note; undefined when there are none. */
export function noteOf(parts: ReadonlyArray<string | false | undefined>): string | undefined {
  const kept = parts.filter((part): part is string => typeof part === 'string' && part !== '')
  return kept.length === 0 ? undefined : kept.join('; ')
}

/** Thousands, as `312k`. */
export function kilo(value: number): string {
  return `${Math.round(value / 1000).toLocaleString('en-US')}k`
}

/** Runs `body` with a fresh folder under the OS temp dir, removed afterwards whatever happens. */
export async function withDataDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'subwire-bench-J-'))
  try {
    return await body(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** What a folder uses on disk: allocated (what `du` reports, 512-byte blocks) and apparent bytes. */
export interface DiskUse {
  readonly allocated: number
  readonly apparent: number
  readonly files: number
}

/** Walks `dir` (bounded by what it holds: a bench data folder). */
export async function diskUse(dir: string): Promise<DiskUse> {
  let allocated = 0
  let apparent = 0
  let files = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const info = await stat(join(entry.parentPath, entry.name))
    allocated += info.blocks * 512
    apparent += info.size
    files++
  }
  return { allocated, apparent, files }
}

export const GIB = 2 ** 30
export const MIB = 2 ** 20
