/** A CliIo that keeps what a command writes, for the CLI tests (its signal aborts on `abort()`). */
import type { CliIo } from '../../server/cli/io.ts'

export interface MemoryIo { io: CliIo; out(): string; err(): string; abort(): void }

export function memoryIo(env: Record<string, string> = {}): MemoryIo {
  const out: string[] = []
  const err: string[] = []
  const controller = new AbortController()
  return {
    io: { out: (s) => { out.push(s) }, err: (s) => { err.push(s) }, env, errIsTTY: false, signal: controller.signal },
    out: () => out.join(''),
    err: () => err.join(''),
    abort: () => controller.abort(),
  }
}
