/**
 * Watches the orchestrator's own event loop while it sits idle, to tell the machine's stalls from the
 * measured system's. On this 2-core VM a lone idle Node process misses its 1 ms timer by 40-55 ms every few
 * seconds (`node` with a 1 ms setInterval and nothing else running), and in scenario D the broker, publisher
 * and subscribers children all stalled in the same millisecond for the same 36-56 ms. A stall of that length
 * inside a 5 s window at 200 msg/s delays about ten probe messages: enough to move a p99 on its own.
 */
const TICK_MS = 1
/** Lateness past which a tick counts as a stall (timer jitter on an idle loop stays under a few ms). */
const STALL_MS = 10

export interface StallReport {
  /** Ticks that came more than STALL_MS late. */
  readonly count: number
  readonly longestMs: number
}

export class StallWitness {
  #last = 0
  #count = 0
  #longest = 0
  #timer: NodeJS.Timeout | undefined

  start(): void {
    this.#count = 0
    this.#longest = 0
    this.#last = performance.now()
    this.#timer = setInterval(() => this.#tick(), TICK_MS)
  }

  stop(): StallReport {
    clearInterval(this.#timer)
    this.#timer = undefined
    return { count: this.#count, longestMs: this.#longest }
  }

  #tick(): void {
    const now = performance.now()
    const gap = now - this.#last
    this.#last = now
    if (gap - TICK_MS <= STALL_MS) return
    this.#count++
    if (gap > this.#longest) this.#longest = gap
  }
}
