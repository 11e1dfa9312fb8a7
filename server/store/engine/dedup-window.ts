/**
 * The `msgId` de-duplication window of one topic: msgId → where that message was stored, forgotten once older
 * than the window or past a count cap (HOUSE_STYLE 9: bound every buffer). A Map iterates in insertion order
 * and stored times never decrease, so expiry pops from the front: O(1) amortised per id.
 */

/** Where a msgId's message went. */
export interface DedupEntry {
  readonly seq: number
  readonly time: number
}

export class DedupWindow {
  readonly #ids = new Map<string, DedupEntry>()
  readonly #maxIds: number

  /** @param maxIds most ids remembered at once; past it the oldest are forgotten first */
  constructor(maxIds: number) {
    this.#maxIds = maxIds
  }

  get(msgId: string): DedupEntry | undefined {
    return this.#ids.get(msgId)
  }

  remember(msgId: string, seq: number, time: number): void {
    this.#ids.set(msgId, { seq, time })
    if (this.#ids.size > this.#maxIds) this.#ids.delete(this.#ids.keys().next().value as string)
  }

  /** Forgets `msgId` if it still names `seq` (an append that was never written). */
  forget(msgId: string, seq: number): void {
    if (this.#ids.get(msgId)?.seq === seq) this.#ids.delete(msgId)
  }

  /** Forgets ids stored `windowMs` or more before `now` (every id when the window is 0). */
  expire(now: number, windowMs: number): void {
    for (const [id, entry] of this.#ids) {
      if (windowMs > 0 && now - entry.time < windowMs) return
      this.#ids.delete(id)
    }
  }
}
