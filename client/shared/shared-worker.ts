/**
 * The SharedWorker script of `connect(url, { shared: true })`: one `Hub` for every tab of the origin. Built
 * as its own bundle (or found by Vite and webpack through `new URL('./shared-worker.js', import.meta.url)`).
 */
import { Hub } from './hub.ts'

interface SharedWorkerScope {
  onconnect: ((ev: { ports: readonly MessagePort[] }) => void) | null
}

const hub = new Hub()
;(globalThis as unknown as SharedWorkerScope).onconnect = (ev) => {
  const port = ev.ports[0]
  if (port !== undefined) hub.attach(port)
}
