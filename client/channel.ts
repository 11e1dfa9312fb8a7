/**
 * A push-to-pull queue: producers `push`, one consumer iterates with `for await`. Used for subscriptions'
 * messages and for status events. The queue keeps a moving head instead of `shift()`, which is O(n), and the
 * cost the producer gave each queued item (a subscription's bytes), so the producer can bound what it holds.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  #items: T[] = []
  /** The cost of each queued item, beside `#items`. */
  #costs: number[] = []
  #bytes = 0
  #head = 0
  #waiter: ((r: IteratorResult<T>) => void) | null = null
  #failWaiter: ((err: unknown) => void) | null = null
  #ended = false
  #error: unknown = null
  readonly #limit: number
  #onReturn: (() => void) | null

  /** @param limit most items held; past it the oldest is dropped (for status events, not messages) */
  constructor(limit = Number.POSITIVE_INFINITY, onReturn: (() => void) | null = null) {
    this.#limit = limit
    this.#onReturn = onReturn
  }

  get length(): number {
    return this.#items.length - this.#head
  }

  get ended(): boolean {
    return this.#ended
  }

  /** The sum of the costs of the queued items. */
  get bytes(): number {
    return this.#bytes
  }

  /** True while the consumer waits: the next item pushed goes straight to it and is never queued. */
  get waiting(): boolean {
    return this.#waiter !== null
  }

  /** Hands `item` to the waiting consumer, or queues it with its `cost`. */
  push(item: T, cost = 0): void {
    if (this.#ended) return
    const waiter = this.#waiter
    if (waiter !== null) {
      this.#waiter = null
      this.#failWaiter = null
      waiter({ value: item, done: false })
      return
    }
    this.#items.push(item)
    this.#costs.push(cost)
    this.#bytes += cost
    if (this.length > this.#limit) this.#take()
  }

  /** Removes the oldest queued item. */
  #take(): T {
    const value = this.#items[this.#head]
    this.#items[this.#head] = undefined as T
    this.#bytes -= this.#costs[this.#head++]
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#costs = this.#costs.slice(this.#head)
      this.#head = 0
    }
    return value
  }

  /** Ends the iteration once the queued items are consumed; with an error, iteration then throws it. */
  end(error: unknown = null): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = error
    if (this.#waiter !== null && this.length === 0) this.#settleEnd()
  }

  #settleEnd(): void {
    const waiter = this.#waiter
    const fail = this.#failWaiter
    this.#waiter = null
    this.#failWaiter = null
    if (this.#error !== null && fail !== null) fail(this.#error)
    else waiter?.({ value: undefined, done: true })
  }

  next(): Promise<IteratorResult<T>> {
    if (this.length > 0) return Promise.resolve({ value: this.#take(), done: false })
    if (this.#ended) {
      if (this.#error !== null) { const e = this.#error; this.#error = null; return Promise.reject(e) }
      return Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve
      this.#failWaiter = reject
    })
  }

  return(): Promise<IteratorResult<T>> {
    this.#ended = true
    this.#items = []
    this.#costs = []
    this.#bytes = 0
    this.#head = 0
    const onReturn = this.#onReturn
    this.#onReturn = null
    onReturn?.()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
