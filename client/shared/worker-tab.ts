/**
 * The worker's view of one tab: its port, its subscriptions, and when it was last heard from. Messages for
 * the tab are batched per microtask into one `postMessage` (a structured clone and a task in the tab each), and
 * every other post goes out behind them, so a tab sees its messages and its answers in the order they happened.
 *
 * A port has no backpressure: a tab whose main thread is busy would queue whatever the worker posts, without
 * bound, while the shared socket goes on reading (a tab's own WebSocket stops reading when its page does not keep
 * up). So a tab acknowledges each batch once delivered (`took`), and past `MAX_TAB_IN_FLIGHT` bytes posted and
 * not yet taken, its messages are dropped, counted per subscription and reported to it as `slow_consumer`
 * (`source: 'client'`, as its own `for await` queue reports) once it has caught up.
 */
import type { Subscription } from '../subscription.ts'
import type { PortLike, WireMsg, WorkerToTab } from './wire.ts'

/** Bytes of messages posted to one tab and not yet taken: as much as the broker holds for a whole connection. */
export const MAX_TAB_IN_FLIGHT = 8 * 1024 * 1024
/** What a message costs beyond its payload, strings and headers: the array, the sids, a Msg in the tab, roughly. */
const MSG_COST = 96

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
  #batchBytes = 0
  /** Bytes posted and not yet taken by the tab. */
  #inFlight = 0
  /** Messages dropped per tab sid since the last report, and in all. */
  readonly #dropped = new Map<number, number>()
  readonly #droppedTotal = new Map<number, number>()

  constructor(port: PortLike) {
    this.port = port
  }

  /** Queues one message; the batch goes out on a microtask. */
  msg(m: WireMsg): void {
    if (!this.alive) return
    let cost = m[5].byteLength + m[1].length + (m[2]?.length ?? 0) + MSG_COST
    // Headers count toward maxPayload: a message may carry its bytes there, its payload empty.
    const headers = m[3]
    if (headers !== null) for (const k in headers) cost += k.length + headers[k].length + 16
    const held = this.#inFlight + this.#batchBytes
    if (held > 0 && held + cost > MAX_TAB_IN_FLIGHT) {
      for (const sid of m[0]) this.#dropped.set(sid, (this.#dropped.get(sid) ?? 0) + 1)
      return
    }
    if (this.#batch.length === 0) queueMicrotask(this.#flush)
    this.#batch.push(m)
    this.#batchBytes += cost
  }

  /** The tab delivered a batch of `bytes`; once it has caught up, what was dropped meanwhile is reported. */
  took(bytes: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - bytes)
    if (this.#dropped.size === 0 || this.#inFlight > MAX_TAB_IN_FLIGHT / 2) return
    for (const [sid, dropped] of this.#dropped) {
      const total = (this.#droppedTotal.get(sid) ?? 0) + dropped
      this.#droppedTotal.set(sid, total)
      const subject = this.subs.get(sid)?.sub?.subject ?? ''
      this.post({ t: 'status', status: { fields: { type: 'slow_consumer', sid, subject, dropped, total, source: 'client' }, error: null } })
    }
    this.#dropped.clear()
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
    const bytes = this.#batchBytes
    this.#batch = []
    this.#batchBytes = 0
    this.#inFlight += bytes
    try {
      this.port.postMessage({ t: 'msgs', batch, bytes } satisfies WorkerToTab)
    } catch {
      // As in post().
    }
  }
}
