/**
 * The SharedWorker's switchboard: every tab that connects gets a port here; its `hello` names the servers and
 * options it wants, and tabs asking for the same ones share one connection (shared-connection.ts). Tabs asking
 * for different servers or options get different connections, in the same worker.
 */
import { SharedConnection } from './shared-connection.ts'
import type { PortLike, TabToWorker } from './wire.ts'
import { WorkerTab } from './worker-tab.ts'

/** Messages kept for a tab between its connection closing and its next hello (a round trip): a bound, not a queue. */
const MAX_HELD = 10_000

export class Hub {
  readonly #connections = new Map<string, SharedConnection>()

  /** A tab connected: listens on its port. */
  attach(port: PortLike): void {
    const tab = new WorkerTab(port)
    let conn: SharedConnection | null = null
    /** What the tab said while it had no connection: handed to the one its next hello joins. */
    let held: TabToWorker[] = []
    port.onmessage = (ev: MessageEvent) => {
      tab.lastHeard = Date.now()
      const m = ev.data as TabToWorker
      if (m === null || typeof m !== 'object') return
      if (m.t === 'hello') {
        conn?.leave(tab)
        const { tokenFromTab, ...rest } = m.options
        const key = JSON.stringify(canonical([m.servers, rest, tokenFromTab]))
        conn = this.#connections.get(key) ?? null
        if (conn === null) {
          conn = new SharedConnection(key, m.servers, m.options, (gone) => {
            if (this.#connections.get(gone.key) === gone) this.#connections.delete(gone.key)
          })
          this.#connections.set(key, conn)
        }
        conn.join(tab, tokenFromTab)
        const said = held
        held = []
        for (const h of said) conn.handle(tab, h)
        return
      }
      if (conn !== null && conn.gone) conn = null
      if (conn !== null) { conn.handle(tab, m); return }
      // A tab whose connection closed with no tab left (it was in the back/forward cache meanwhile): it says
      // hello again and gets a new one. What it says meanwhile (a request made as the page comes back) waits
      // for that connection, as a connection of the tab's own would buffer it while reconnecting.
      if (held.length === 0) tab.post({ t: 'rejoin' })
      if (m.t === 'bye') held = []
      else if (held.length < MAX_HELD && m.t !== 'pong' && m.t !== 'took' && m.t !== 'token') held.push(m)
    }
    port.start?.()
  }

  /** How many connections the worker holds (for tests). */
  get size(): number {
    return this.#connections.size
  }
}

/** `value` with every object's keys in sorted order: equal options written in another order give one key. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k])
  return out
}
