/**
 * A push-to-pull queue: producers `push`, one consumer iterates with `for await`. Used for subscriptions'
 * messages and for status events. The queue keeps a moving head instead of `shift()`, which is O(n).
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  #items: T[] = []
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

  push(item: T): void {
    if (this.#ended) return
    const waiter = this.#waiter
    if (waiter !== null) {
      this.#waiter = null
      this.#failWaiter = null
      waiter({ value: item, done: false })
      return
    }
    this.#items.push(item)
    if (this.length > this.#limit) this.#head++
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
    if (this.length > 0) {
      const value = this.#items[this.#head]
      this.#items[this.#head++] = undefined as T
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head)
        this.#head = 0
      }
      return Promise.resolve({ value, done: false })
    }
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
