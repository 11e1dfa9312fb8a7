/**
 * A binary min-heap over an array: push and pop O(log n), peek O(1). Consumer groups use it for their timer
 * schedule and their redelivery queue, with lazy deletion (stale entries are skipped when they surface).
 */
export class MinHeap<T> {
  readonly #items: T[] = []
  readonly #less: (a: T, b: T) => boolean

  /** @param less true when `a` must come out before `b` */
  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less
  }

  get size(): number {
    return this.#items.length
  }

  peek(): T | undefined {
    return this.#items[0]
  }

  push(item: T): void {
    const items = this.#items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(items[i], items[parent])) break
      this.#swap(i, parent)
      i = parent
    }
  }

  pop(): T | undefined {
    const items = this.#items
    if (items.length === 0) return undefined
    const top = items[0]
    const last = items.pop() as T
    if (items.length > 0) {
      items[0] = last
      this.#siftDown(0)
    }
    return top
  }

  /** Keeps only the items `keep` accepts, in O(n) (drops stale entries in bulk). */
  retain(keep: (item: T) => boolean): void {
    const kept = this.#items.filter(keep)
    this.#items.length = 0
    for (const item of kept) this.#items.push(item)
    for (let i = (this.#items.length >> 1) - 1; i >= 0; i--) this.#siftDown(i)
  }

  #siftDown(i: number): void {
    const items = this.#items
    const n = items.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < n && this.#less(items[l], items[min])) min = l
      if (r < n && this.#less(items[r], items[min])) min = r
      if (min === i) return
      this.#swap(i, min)
      i = min
    }
  }

  #swap(i: number, j: number): void {
    const items = this.#items
    const t = items[i]
    items[i] = items[j]
    items[j] = t
  }
}
