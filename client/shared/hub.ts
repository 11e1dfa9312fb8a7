/**
 * The SharedWorker's switchboard: every tab that connects gets a port here; its `hello` names the servers and
 * options it wants, and tabs asking for the same ones share one connection (shared-connection.ts). Tabs asking
 * for different servers or options get different connections, in the same worker.
 */
import { SharedConnection } from './shared-connection.ts'
import type { PortLike, TabToWorker } from './wire.ts'
import { WorkerTab } from './worker-tab.ts'

export class Hub {
  readonly #connections = new Map<string, SharedConnection>()

  /** A tab connected: listens on its port. */
  attach(port: PortLike): void {
    const tab = new WorkerTab(port)
    let conn: SharedConnection | null = null
    port.onmessage = (ev: MessageEvent) => {
      tab.lastHeard = Date.now()
      const m = ev.data as TabToWorker
      if (m === null || typeof m !== 'object') return
      if (m.t === 'hello') {
        conn?.leave(tab)
        const { tokenFromTab, ...rest } = m.options
        const key = JSON.stringify([m.servers, rest, tokenFromTab])
        conn = this.#connections.get(key) ?? null
        if (conn === null) {
          conn = new SharedConnection(key, m.servers, m.options, (gone) => {
            if (this.#connections.get(gone.key) === gone) this.#connections.delete(gone.key)
          })
          this.#connections.set(key, conn)
        }
        conn.join(tab, tokenFromTab)
        return
      }
      if (conn !== null && conn.gone) conn = null
      // A tab whose connection closed with no tab left (it was in the back/forward cache meanwhile): it says
      // hello again and gets a new one.
      if (conn === null) tab.post({ t: 'rejoin' })
      else conn.handle(tab, m)
    }
    port.start?.()
  }

  /** How many connections the worker holds (for tests). */
  get size(): number {
    return this.#connections.size
  }
}
