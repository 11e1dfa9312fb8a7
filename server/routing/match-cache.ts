/**
 * The subject index's bounded cache of match results (subject-index.ts), with a reverse trie of the cached
 * subjects so that a pattern finds the cached results it matches by walking its own tokens, not by testing
 * every cached subject: `user.42.>` touches the few `user.42.…` results, whatever else is cached.
 *
 * The walk has a budget. A pattern that matches more cached results than that (`>`, `*.*`, or the attack in
 * issue 17 §3: 2,000 SUBs of `costs.cache.*` beside 4,096 cached subjects, 10 s of patching on the old scan)
 * empties the whole cache instead, in O(1); the publishes that follow rebuild what they use. So adding or
 * removing a subscription costs O(min(matching results, budget) + pattern length), never O(cache size).
 */

/** Most cached results one pattern change patches or drops before the whole cache is emptied instead. */
export const PATCH_BUDGET = 256

class CacheNode {
  children: Map<string, CacheNode> | null = null
  /** The cached subject ending here, if any. */
  subject: string | null = null
  /** Its slot in the eviction order (MatchCache #slots), while `subject` is set. */
  slot = -1
}

/** A bounded map from subject to match result that can also visit the results a pattern matches. */
export class MatchCache<R> {
  #map = new Map<string, R>()
  #root = new CacheNode()
  readonly #capacity: number
  /**
   * Eviction order: each cached subject has a slot, and a full cache evicts the slot under a hand that moves
   * one slot per eviction (FIFO by slot). Evicting the Map's first key instead cost O(deleted entries) per
   * eviction: V8 skips a Map's deleted entries from its start until it rehashes (3.6 % of the broker's CPU in G).
   */
  #slots: Array<string | null> = []
  #free: number[] = []
  #hand = 0

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  get size(): number {
    return this.#map.size
  }

  get(subject: string): R | undefined {
    return this.#map.get(subject)
  }

  /** Caches `result` for `subject` (split into `tokens`); a full cache first evicts the entry under its hand. */
  set(subject: string, tokens: readonly string[], result: R): void {
    if (this.#capacity <= 0) return
    if (!this.#map.has(subject)) {
      const slot = this.#takeSlot(subject)
      let node = this.#root
      for (const token of tokens) {
        node.children ??= new Map()
        let child = node.children.get(token)
        if (child === undefined) { child = new CacheNode(); node.children.set(token, child) }
        node = child
      }
      node.subject = subject
      node.slot = slot
    }
    this.#map.set(subject, result)
  }

  delete(subject: string): void {
    if (!this.#map.delete(subject)) return
    const path: CacheNode[] = [this.#root]
    const tokens = subject.split('.')
    for (const token of tokens) {
      const next = path[path.length - 1].children?.get(token)
      if (next === undefined) return
      path.push(next)
    }
    const leaf = path[path.length - 1]
    leaf.subject = null
    this.#slots[leaf.slot] = null
    this.#free.push(leaf.slot)
    leaf.slot = -1
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i]
      if (node.subject !== null || (node.children !== null && node.children.size > 0)) return
      path[i - 1].children?.delete(tokens[i - 1])
    }
  }

  /** Forgets everything: O(1), the old map and trie go to the garbage collector. */
  clear(): void {
    this.#map = new Map()
    this.#root = new CacheNode()
    this.#slots = []
    this.#free = []
    this.#hand = 0
  }

  /**
   * Calls `visit` with every cached result whose subject `pattern` (split into tokens) matches, up to
   * PATCH_BUDGET of them. Returns false, having visited some, when there are more: the caller then clears.
   */
  visitMatching(tokens: readonly string[], visit: (subject: string, result: R) => void): boolean {
    if (this.#map.size === 0) return true
    const budget = { left: PATCH_BUDGET }
    return this.#walk(this.#root, tokens, 0, budget, visit)
  }

  #walk(node: CacheNode, tokens: readonly string[], i: number, budget: { left: number }, visit: (subject: string, result: R) => void): boolean {
    if (i === tokens.length) return this.#visit(node, budget, visit)
    const children = node.children
    if (children === null) return true
    const token = tokens[i]
    if (token === '>') {
      for (const child of children.values()) if (!this.#visitAll(child, budget, visit)) return false
      return true
    }
    if (token === '*') {
      for (const child of children.values()) if (!this.#walk(child, tokens, i + 1, budget, visit)) return false
      return true
    }
    const child = children.get(token)
    return child === undefined || this.#walk(child, tokens, i + 1, budget, visit)
  }

  #visitAll(node: CacheNode, budget: { left: number }, visit: (subject: string, result: R) => void): boolean {
    if (!this.#visit(node, budget, visit)) return false
    if (node.children !== null) for (const child of node.children.values()) if (!this.#visitAll(child, budget, visit)) return false
    return true
  }

  #visit(node: CacheNode, budget: { left: number }, visit: (subject: string, result: R) => void): boolean {
    if (node.subject === null) return true
    if (--budget.left < 0) return false
    visit(node.subject, this.#map.get(node.subject) as R)
    return true
  }

  /** Gives a new subject a slot: a free one, a new one while there is room, else the hand's (evicting it). */
  #takeSlot(subject: string): number {
    let slot = this.#free.pop()
    if (slot === undefined) {
      if (this.#slots.length < this.#capacity) slot = this.#slots.length
      else {
        slot = this.#hand
        this.#hand = (slot + 1) % this.#capacity
        const evicted = this.#slots[slot]
        if (evicted !== null) this.delete(evicted)
        this.#free.pop() // the slot delete() just freed is the one taken here
      }
    }
    this.#slots[slot] = subject
    return slot
  }
}
