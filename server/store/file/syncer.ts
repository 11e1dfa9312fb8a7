/**
 * What a file topic must make durable, and the one sync in flight at a time: the files written since the last
 * sync (segments, journal), the directories whose entries changed, and the fds of deleted segments, closed only
 * once no sync holds them (a closed fd's number is reused by the next open).
 */
import type { DiskIo } from './disk-io.ts'

export class Syncer {
  readonly #io: DiskIo
  readonly #dirs = new Set<string>()
  readonly #dirty = new Set<number>()
  #closeLater: number[] = []
  #running = false
  #timer: NodeJS.Timeout | null = null

  constructor(io: DiskIo) {
    this.#io = io
  }

  /** True while a sync runs. */
  get running(): boolean {
    return this.#running
  }

  /** True when something waits to be synced. */
  get pending(): boolean {
    return this.#dirty.size > 0 || this.#dirs.size > 0
  }

  /** True when `fd` waits for a sync, or a sync runs (it may hold any fd). */
  needs(fd: number): boolean {
    return this.#running || this.#dirty.has(fd)
  }

  /** `fd` was written. */
  wrote(fd: number): void {
    this.#dirty.add(fd)
  }

  /** An entry of directory `dir` changed (a file created, renamed or deleted in it). */
  dirChanged(dir: string): void {
    this.#dirs.add(dir)
  }

  /** `fd` is gone (its file deleted or replaced): never synced, closed once no sync holds it. */
  drop(fd: number, close: boolean): void {
    this.#dirty.delete(fd)
    if (!close) return
    if (this.#running) this.#closeLater.push(fd)
    else this.#close(fd)
  }

  /** Syncs everything pending; null when a sync runs already. Settles once every file is durable. */
  start(): Promise<void> | null {
    if (this.#running) return null
    const syncs = [...this.#dirty].map((fd) => this.#io.datasync(fd))
    for (const dir of this.#dirs) syncs.push(this.#io.syncDir(dir))
    this.#dirty.clear()
    this.#dirs.clear()
    this.#running = true
    const done = (): void => {
      this.#running = false
      for (const fd of this.#closeLater.splice(0)) this.#close(fd)
    }
    return Promise.all(syncs).then(done, (err: unknown) => { done(); throw err })
  }

  /** Syncs every fd in `fds` now, blocking (a clean shutdown). */
  now(fds: Iterable<number>): void {
    for (const fd of fds) this.#io.datasyncNow(fd)
    this.#dirty.clear()
  }

  /** Runs `fn` every `ms` (fsync: <ms>), or stops the timer (null). */
  every(ms: number | null, fn: () => void): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
    if (ms === null) return
    this.#timer = setInterval(fn, ms)
    this.#timer.unref()
  }

  /** Closes what waits to be closed. */
  end(): void {
    for (const fd of this.#closeLater.splice(0)) this.#close(fd)
  }

  #close(fd: number): void {
    try { this.#io.close(fd) } catch { /* closed with the store */ }
  }
}
