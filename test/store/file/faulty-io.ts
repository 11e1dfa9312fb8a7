/**
 * A fault layer in front of the real file system, through the file store's DiskIo seam (what LazyFS does for
 * Jepsen): it remembers how much of each file was last synced, and `powerLoss()` cuts every file back to
 * that, as a power cut would (a SIGKILL alone tests nothing about fsync: the page cache survives it). It also
 * fails writes with ENOSPC (optionally after writing part of the data) and syncs with EIO on demand.
 *
 * Its model of a power cut: data written and not yet fdatasync'ed is lost; a file replaced atomically
 * (`replace`, which syncs) is kept; directory entries are assumed durable (it does not model losing a created
 * file's name, which the store syncs the directory for anyway).
 */
import { nodeDiskIo, type DiskIo } from '../../../server/store/file/disk-io.ts'

function errno(code: string, message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${message}`)
  err.code = code
  return err
}

export class FaultyIo implements DiskIo {
  readonly #inner: DiskIo
  /** fd → path of files open through this layer. */
  readonly #paths = new Map<number, string>()
  /** path → bytes known durable. */
  readonly #durable = new Map<string, number>()
  /** Set: writes throw this errno (after writing `partialBytes` of the data, if any). */
  failWrites: 'ENOSPC' | 'EIO' | null = null
  partialBytes = 0
  /** Set: fdatasync rejects with this errno. */
  failSync: 'EIO' | null = null
  /** Set: fdatasync waits until `releaseSyncs()` (a slow disk). */
  holdSyncs = false
  #gates: Array<() => void> = []
  /** After `powerLoss()`: every call fails, as the dead process's would. */
  #dead = false
  syncs = 0

  constructor(inner: DiskIo = nodeDiskIo) {
    this.#inner = inner
  }

  #alive(): void {
    if (this.#dead) throw errno('EIO', 'the machine lost power')
  }

  /** Cuts every file written through this layer back to what was synced, and kills this layer. */
  powerLoss(): void {
    this.#dead = true
    for (const fd of this.#paths.keys()) {
      try { this.#inner.close(fd) } catch { /* closed already */ }
    }
    // Every file written through this layer, open or closed since: closing a file syncs nothing.
    for (const [path, keep] of this.#durable) {
      if (!this.#inner.exists(path)) continue
      const cut = this.#inner.open(path, false)
      try {
        if (this.#inner.size(cut) > keep) this.#inner.truncate(cut, keep)
      } finally {
        this.#inner.close(cut)
      }
    }
    this.#paths.clear()
  }

  mkdirp(path: string): void { this.#alive(); this.#inner.mkdirp(path) }
  list(path: string): string[] { this.#alive(); return this.#inner.list(path) }
  exists(path: string): boolean { this.#alive(); return this.#inner.exists(path) }

  open(path: string, create: boolean): number {
    this.#alive()
    const existed = this.#inner.exists(path)
    const fd = this.#inner.open(path, create)
    this.#paths.set(fd, path)
    // What was there before this layer saw it counts as durable.
    if (!this.#durable.has(path)) this.#durable.set(path, existed ? this.#inner.size(fd) : 0)
    return fd
  }

  size(fd: number): number { this.#alive(); return this.#inner.size(fd) }

  write(fd: number, data: Uint8Array, position: number): void {
    this.#alive()
    if (this.failWrites !== null) {
      if (this.partialBytes > 0) this.#inner.write(fd, data.subarray(0, Math.min(this.partialBytes, data.byteLength)), position)
      throw errno(this.failWrites, 'injected write failure')
    }
    this.#inner.write(fd, data, position)
  }

  read(fd: number, into: Uint8Array, length: number, position: number): number {
    this.#alive()
    return this.#inner.read(fd, into, length, position)
  }

  truncate(fd: number, length: number): void {
    this.#alive()
    this.#inner.truncate(fd, length)
    const path = this.#paths.get(fd)
    if (path !== undefined) this.#durable.set(path, Math.min(this.#durable.get(path) ?? 0, length))
  }

  /** Lets every held sync go on. */
  releaseSyncs(): void {
    this.holdSyncs = false
    for (const go of this.#gates.splice(0)) go()
  }

  async datasync(fd: number): Promise<void> {
    this.#alive()
    if (this.holdSyncs) await new Promise<void>((resolve) => { this.#gates.push(resolve) })
    const path = this.#paths.get(fd)
    // The length is taken before the sync starts: what is written while it runs is not covered.
    const size = this.#inner.size(fd)
    if (this.failSync !== null) throw errno(this.failSync, 'injected fsync failure')
    await this.#inner.datasync(fd)
    this.syncs++
    if (path !== undefined && !this.#dead) this.#durable.set(path, Math.max(this.#durable.get(path) ?? 0, size))
  }

  datasyncNow(fd: number): void {
    this.#alive()
    if (this.failSync !== null) throw errno(this.failSync, 'injected fsync failure')
    this.#inner.datasyncNow(fd)
    const path = this.#paths.get(fd)
    if (path !== undefined) this.#durable.set(path, this.#inner.size(fd))
  }

  async syncDir(path: string): Promise<void> { this.#alive(); await this.#inner.syncDir(path) }

  close(fd: number): void {
    this.#alive()
    this.#paths.delete(fd)
    this.#inner.close(fd)
  }

  replace(path: string, data: Uint8Array): void {
    this.#alive()
    if (this.failWrites !== null) throw errno(this.failWrites, 'injected write failure')
    this.#inner.replace(path, data)
    this.#durable.set(path, data.byteLength)
  }

  readFile(path: string): Uint8Array { this.#alive(); return this.#inner.readFile(path) }
  remove(path: string): void { this.#alive(); this.#inner.remove(path) }
  /** The name moves with its inode: fds of the replaced file no longer reach the name (a power cut cannot cut
   * the new file by the old one's synced length); what was synced of `from` is what `to` keeps. */
  rename(from: string, to: string): void {
    this.#alive()
    this.#inner.rename(from, to)
    this.#durable.set(to, this.#durable.get(from) ?? 0)
    this.#durable.delete(from)
    for (const [fd, path] of this.#paths) {
      if (path === to) this.#paths.set(fd, `${to}#replaced`)
      else if (path === from) this.#paths.set(fd, to)
    }
  }
}
