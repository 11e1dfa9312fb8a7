/**
 * Progress of a long command on stderr: a count, a percentage and a rate while it runs (one line redrawn on a
 * terminal, a line per second otherwise), and a summary at the end.
 */
import { bytes, compact } from '../monitoring/web/app/format.ts'
import type { CliIo } from './io.ts'

/** `1234567` → `1,234,567`. */
export function grouped(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export class Progress {
  readonly #io: CliIo
  readonly #total: number
  readonly #verb: string
  readonly #started = performance.now()
  readonly #timer: NodeJS.Timeout
  #count = 0
  #bytes = 0
  #lastLine = 0

  /** Starts reporting every `everyMs` (`verb` as in "published"); a run shorter than that prints nothing but the summary. */
  constructor(io: CliIo, total: number, verb: string, everyMs = 250) {
    this.#io = io
    this.#total = total
    this.#verb = verb
    this.#timer = setInterval(() => this.#report(), everyMs)
    this.#timer.unref()
  }

  /** Counts one more unit of work of `size` bytes. */
  add(size: number): void {
    this.#count++
    this.#bytes += size
  }

  get count(): number {
    return this.#count
  }

  #rate(): number {
    const s = (performance.now() - this.#started) / 1000
    return s > 0 ? this.#count / s : 0
  }

  #report(): void {
    const pct = this.#total > 0 ? ` (${Math.floor((100 * this.#count) / this.#total)}%)` : ''
    const line = `${this.#verb} ${grouped(this.#count)}/${grouped(this.#total)}${pct}  ${compact(this.#rate())} msg/s`
    if (this.#io.errIsTTY) {
      this.#io.err(`\r\x1b[K${line}`)
    } else if (performance.now() - this.#lastLine >= 1000) {
      this.#lastLine = performance.now()
      this.#io.err(`${line}\n`)
    }
  }

  /** Stops reporting and prints the summary, e.g. `published 1,000,000 messages (12 MiB) in 2.31 s: 433k msg/s`. */
  finish(what: string): void {
    clearInterval(this.#timer)
    const s = (performance.now() - this.#started) / 1000
    if (this.#io.errIsTTY) this.#io.err('\r\x1b[K')
    const noun = this.#count === 1 ? 'message' : 'messages'
    this.#io.err(`${this.#verb} ${grouped(this.#count)} ${noun} ${what} (${bytes(this.#bytes)}) in ${s.toFixed(2)} s: ${compact(this.#rate())} msg/s\n`)
  }
}
