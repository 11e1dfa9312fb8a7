/**
 * Fixtures of the file store's own tests: a temporary data directory, removed after each test, and stores
 * opened and reopened on it (through the real file system or a fault layer).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EngineTopicStore } from '../../../server/store/engine/engine-store.ts'
import type { DiskIo } from '../../../server/store/file/disk-io.ts'
import { openTopicStore, type StoreLog } from '../../../server/store/file/file-store.ts'
import type { RecoveryReport } from '../../../server/store/file/recovery.ts'
import type { StoredMessage } from '../../../server/store/topic-store.ts'

/** A log that keeps what the store reported, so tests can check it said so. */
export class RecordingLog implements StoreLog {
  readonly lines: Array<{ level: string; msg: string; obj: object }> = []
  info(obj: object, msg: string): void { this.lines.push({ level: 'info', msg, obj }) }
  warn(obj: object, msg: string): void { this.lines.push({ level: 'warn', msg, obj }) }
  error(obj: object, msg: string): void { this.lines.push({ level: 'error', msg, obj }) }
}

export interface Opened {
  readonly store: EngineTopicStore
  readonly reports: RecoveryReport[]
  readonly log: RecordingLog
}

/** A data directory for one test. */
export class DataDir {
  readonly path = mkdtempSync(join(tmpdir(), 'subwire-file-'))
  readonly #open: EngineTopicStore[] = []

  /** Opens a store (file topics by default) on this directory. */
  open(options: { io?: DiskIo; now?: () => number; segmentBytes?: number; defaultFsync?: 'always' | 'never' | number } = {}): Opened {
    const log = new RecordingLog()
    const { store, reports } = openTopicStore({ dataDir: this.path, defaultStorage: 'file', log, ...options })
    this.#open.push(store)
    return { store, reports, log }
  }

  /** Segment files of a topic, oldest first (absolute paths). */
  segments(topic: string): string[] {
    const dir = join(this.path, 'topics', topic)
    return readdirSync(dir).filter((n) => n.endsWith('.seg')).sort().map((n) => join(dir, n))
  }

  /** Closes what is still open and removes the directory. */
  remove(): void {
    for (const store of this.#open.splice(0)) {
      try { store.close() } catch { /* a store on a dead fault layer cannot close */ }
    }
    rmSync(this.path, { recursive: true, force: true })
  }
}

/** Reads a whole topic, page by page (bounded), with the gaps it reports. */
export function readAll(store: EngineTopicStore, topic: string): { messages: StoredMessage[]; gaps: Array<{ fromSeq: number; toSeq: number }> } {
  const messages: StoredMessage[] = []
  const gaps: Array<{ fromSeq: number; toSeq: number }> = []
  let next = 1
  for (let pages = 0; pages < 100_000; pages++) {
    const page = store.read(topic, { startSeq: next })
    if (page.gap !== null) gaps.push(page.gap)
    messages.push(...page.messages)
    next = page.nextSeq
    if (next > page.lastSeq) break
  }
  return { messages, gaps }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
export const text = (m: StoredMessage): string => new TextDecoder().decode(m.payload)
