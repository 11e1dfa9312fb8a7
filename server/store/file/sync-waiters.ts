/**
 * Who waits for a sequence to be durable without having appended it: a publisher whose publish was a duplicate
 * (by msgId) of a message still waiting for its sync gets its confirm when the original's comes.
 */

interface Waiter {
  readonly seq: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

export class SyncWaiters {
  #waiters: Waiter[] = []

  get size(): number {
    return this.#waiters.length
  }

  /** Resolves once `settle` passes `seq`. */
  wait(seq: number): Promise<void> {
    return new Promise((resolve, reject) => { this.#waiters.push({ seq, resolve, reject }) })
  }

  /** Everything up to `through` is durable. */
  settle(through: number): void {
    if (this.#waiters.length === 0) return
    this.#keep((w) => w.seq > through, (w) => w.resolve())
  }

  /** Sequences from `seq` on will never be durable (their write was taken back). */
  rejectFrom(seq: number, err: unknown): void {
    this.#keep((w) => w.seq < seq, (w) => w.reject(err))
  }

  /** Settles everyone: resolved when `err` is null. */
  end(err: unknown): void {
    for (const w of this.#waiters) {
      if (err === null) w.resolve()
      else w.reject(err)
    }
    this.#waiters = []
  }

  #keep(keep: (w: Waiter) => boolean, settle: (w: Waiter) => void): void {
    const still: Waiter[] = []
    for (const w of this.#waiters) {
      if (keep(w)) still.push(w)
      else settle(w)
    }
    this.#waiters = still
  }
}
