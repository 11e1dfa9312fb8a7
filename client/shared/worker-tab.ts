/**
 * The worker's view of one tab: its port, its subscriptions, and when it was last heard from. Messages for
 * the tab are batched per microtask into one `postMessage` (a structured clone and a task in the tab each), and
 * every other post goes out behind them, so a tab sees its messages and its answers in the order they happened.
 */
import type { Subscription } from '../subscription.ts'
import type { PortLike, WireMsg, WorkerToTab } from './wire.ts'

/** One broker subscription shared by the tabs that asked for the same plain pattern (or one tab's own). */
export interface SharedPattern {
  readonly key: string
  /** The worker's sid for it at the broker (its `Subscription.sid`). */
  workerSid: number
  /** Each tab holding it, with the tab's own sids for it (a tab may subscribe twice to one pattern). */
  readonly members: Map<WorkerTab, number[]>
  /** The worker's subscription, once made. */
  sub: Subscription | null
}

export class WorkerTab {
  readonly port: PortLike
  /** False once the tab said goodbye or stopped answering; any later message from it brings it back. */
  alive = true
  lastHeard = Date.now()
  /** The tab's sid → the pattern it is a member of. */
  readonly subs = new Map<number, SharedPattern>()
  /** The tab asked for a token function: it can be asked for a token. */
  tokenFromTab = false
  #batch: WireMsg[] = []

  constructor(port: PortLike) {
    this.port = port
  }

  /** Queues one message; the batch goes out on a microtask. */
  msg(m: WireMsg): void {
    if (!this.alive) return
    if (this.#batch.length === 0) queueMicrotask(this.#flush)
    this.#batch.push(m)
  }

  /** Posts now, behind the messages already batched. */
  post(m: WorkerToTab): void {
    this.#flush()
    try {
      this.port.postMessage(m)
    } catch {
      // A port whose tab is gone may throw; the liveness check takes the tab for closed.
    }
  }

  readonly #flush = (): void => {
    if (this.#batch.length === 0) return
    const batch = this.#batch
    this.#batch = []
    try {
      this.port.postMessage({ t: 'msgs', batch } satisfies WorkerToTab)
    } catch {
      // As in post().
    }
  }
}
