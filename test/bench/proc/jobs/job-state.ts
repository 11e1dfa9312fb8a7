/**
 * State shared by the publisher's jobs and its message loop: counters, the stop flag, the mark times,
 * and the end-to-end credit relayed from the subscriber child.
 */

/** Counters for the publisher's lifetime (credit compares them with lifetime delivery counts). */
export class JobState {
  sent = 0
  completed = 0
  failed = 0
  stopRequested = false
  /** performance.now() of each `mark` received during the current job. */
  marks: number[] = []

  beginJob(): void {
    this.stopRequested = false
    this.marks = []
  }
}

/**
 * Messages delivered to every subscriber so far, as last reported by the subscriber child. A flood job
 * keeps `sent - delivered` under its window, so nothing queues without bound anywhere on the path.
 */
export class Credit {
  delivered = 0
  #waiters: Array<() => void> = []

  update(delivered: number): void {
    if (delivered <= this.delivered) return
    this.delivered = delivered
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  /** Resolves on the next credit update, or after `maxWaitMs` so the caller can re-check its stop flag. */
  changed(maxWaitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, maxWaitMs)
      this.#waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}
