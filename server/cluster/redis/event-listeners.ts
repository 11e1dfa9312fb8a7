/** Listeners of the cluster's events: one that throws is logged and never stops the others (or the adapter). */
import type { Logger } from 'pino'
import type { ClusterEvent } from '../cluster-adapter.ts'

export class EventListeners {
  readonly #listeners = new Set<(e: ClusterEvent) => void>()
  readonly #log: Logger

  constructor(log: Logger) {
    this.#log = log
  }

  on(listener: (e: ClusterEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  emit(e: ClusterEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e)
      } catch (err) {
        this.#log.error({ err, event: e.type }, 'a cluster event listener threw')
      }
    }
  }
}
