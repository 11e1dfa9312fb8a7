/**
 * The file store's only door to the file system, so tests can put a fault layer in front of it (lost unsynced
 * writes as after a power cut, ENOSPC, EIO on fsync: test/store/file/faulty-io.ts) without mocking `node:fs`.
 *
 * Writes, reads and metadata calls are synchronous: they reach the page cache in microseconds, and a write that
 * fails (a full disk) must fail before the message it carries is counted anywhere. The one slow call, the sync
 * to stable storage, is asynchronous (libuv's thread pool), so the event loop never waits for a disk.
 */
import * as fs from 'node:fs'
import { dirname } from 'node:path'

/** A file system, as the file store uses it. Paths are absolute; `fd`s come from `open`. */
export interface DiskIo {
  /** Creates the directory and its parents. */
  mkdirp(path: string): void
  /** Names in a directory (empty when it does not exist). */
  list(path: string): string[]
  exists(path: string): boolean
  /** Opens for reading and appending, creating the file when `create`. */
  open(path: string, create: boolean): number
  /** The file's length in bytes. */
  size(fd: number): number
  /** Writes all of `data` at `position`, or throws (a partial write throws too, after writing what it could). */
  write(fd: number, data: Uint8Array, position: number): void
  /** Reads up to `length` bytes at `position` into `into` from offset 0; returns the bytes read. */
  read(fd: number, into: Uint8Array, length: number, position: number): number
  truncate(fd: number, length: number): void
  /** Makes the file's data written so far durable (fdatasync). */
  datasync(fd: number): Promise<void>
  /** The same, blocking: only for a clean shutdown. */
  datasyncNow(fd: number): void
  /** Makes a directory's entries durable (a created, renamed or deleted file in it). */
  syncDir(path: string): Promise<void>
  close(fd: number): void
  /** Replaces `path` with `data` atomically and durably: a crash leaves the old file or the new one, whole. */
  replace(path: string, data: Uint8Array): void
  readFile(path: string): Uint8Array
  /** Removes a file or a directory tree; absent is fine. */
  remove(path: string): void
  rename(from: string, to: string): void
}

function syncDirNow(path: string): void {
  const fd = fs.openSync(path, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** The real file system (`node:fs`). */
export const nodeDiskIo: DiskIo = {
  mkdirp: (path) => { fs.mkdirSync(path, { recursive: true }) },
  list: (path) => (fs.existsSync(path) ? fs.readdirSync(path) : []),
  exists: (path) => fs.existsSync(path),
  open: (path, create) => fs.openSync(path, create ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR, 0o644),
  size: (fd) => fs.fstatSync(fd).size,
  write: (fd, data, position) => {
    let done = 0
    while (done < data.byteLength) done += fs.writeSync(fd, data, done, data.byteLength - done, position + done)
  },
  read: (fd, into, length, position) => fs.readSync(fd, into, 0, length, position),
  truncate: (fd, length) => { fs.ftruncateSync(fd, length) },
  datasync: (fd) => new Promise((resolve, reject) => { fs.fdatasync(fd, (err) => (err === null ? resolve() : reject(err))) }),
  datasyncNow: (fd) => { fs.fdatasyncSync(fd) },
  syncDir: (path) => new Promise((resolve, reject) => {
    fs.open(path, 'r', (err, fd) => {
      if (err !== null) { reject(err); return }
      fs.fsync(fd, (syncErr) => fs.close(fd, () => (syncErr === null ? resolve() : reject(syncErr))))
    })
  }),
  close: (fd) => { fs.closeSync(fd) },
  replace: (path, data) => {
    const tmp = `${path}.tmp`
    const fd = fs.openSync(tmp, 'w', 0o644)
    try {
      fs.writeSync(fd, data)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, path)
    syncDirNow(dirname(path))
  },
  readFile: (path) => fs.readFileSync(path),
  remove: (path) => { fs.rmSync(path, { recursive: true, force: true }) },
  rename: (from, to) => { fs.renameSync(from, to) },
}

/** The first `size` bytes of a file (fewer if it is shorter). */
export function readWhole(io: DiskIo, fd: number, size: number): Uint8Array {
  const buf = new Uint8Array(size)
  let at = 0
  while (at < size) {
    const n = io.read(fd, buf.subarray(at), size - at, at)
    if (n <= 0) break
    at += n
  }
  return at === size ? buf : buf.subarray(0, at)
}

/** True for the errors of a full disk or quota: appends may work again once space returns. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}
