/**
 * A SharedWorker stand-in for Node tests of `shared: true` (test/tabs/*.test.ts, test/review/shared-review.test.ts):
 * `new SharedWorker()` joins `hub`, a Hub in this process, through a MessageChannel, the same structured clone a
 * browser uses. Not a `.test.ts` file: the suites install it before each test and uninstall it after.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { Hub } from '../../client/shared/hub.ts'

type HubPort = Parameters<Hub['attach']>[0]

export class FakeWorkers {
  /** The worker every new tab joins; replace it (after `closePorts`) to play a worker that died and came back. */
  hub = new Hub()
  /** The tab's end of the newest channel: closing it behind the tab's back is a killed tab. */
  lastTabPort: MessagePort | null = null
  /** When set, the hub's pings to the next tab's port are lost (the tab then takes the worker for dead). */
  losePings = false
  /** The hub's ends of the channels. */
  readonly #ports: MessagePort[] = []

  /** A fresh hub, and `globalThis.SharedWorker` joining it. */
  install(): void {
    this.hub = new Hub()
    this.losePings = false
    const workers = this
    ;(globalThis as { SharedWorker?: unknown }).SharedWorker = class FakeSharedWorker {
      readonly port: MessagePort
      onerror: ((ev: unknown) => void) | null = null
      constructor() {
        const channel = new MessageChannel()
        this.port = channel.port1
        workers.lastTabPort = channel.port1
        workers.#ports.push(channel.port2)
        const port = channel.port2 as unknown as HubPort
        if (workers.losePings) {
          workers.losePings = false
          const post = port.postMessage.bind(port)
          port.postMessage = (m: unknown) => { if ((m as { t?: string }).t !== 'ping') post(m) }
        }
        workers.hub.attach(port)
      }
    }
  }

  /** Closes the hub's ends of every channel: the worker is gone for the tabs joined so far. */
  closePorts(): void {
    for (const p of this.#ports.splice(0)) p.close()
  }

  uninstall(): void {
    this.closePorts()
    delete (globalThis as { SharedWorker?: unknown }).SharedWorker
  }
}
