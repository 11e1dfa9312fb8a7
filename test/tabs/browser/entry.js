// The page of test/tabs/tabs.browser.test.ts: one tab of the origin, bundled by esbuild as an application
// would bundle `subwire/client`. Plain JS like test/browser/entry.js (tsc resolves `subwire/client` to dist/).
// Every call the test makes returns plain values (they cross into Node by structured clone).
import { connect } from 'subwire/client'

const params = new URL(globalThis.location.href).searchParams
const broker = params.get('broker')
let client = null
const received = new Map() // pattern → subjects received, in order
const subs = new Map()
const statuses = []

function within(ms, promise, what) {
  let timer
  const deadline = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`[tab] timed out after ${ms} ms waiting for ${what}`)), ms) })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

globalThis.tabPage = {
  async open(tabTimeoutMs) {
    const shared = params.get('noWorkerUrl') === '1' ? { tabTimeoutMs } : { workerUrl: '/worker.js', tabTimeoutMs }
    client = await within(10_000, connect(broker, { name: 'tabs', reconnect: false, shared }), 'the shared connect')
    void (async () => { for await (const s of client.status()) statuses.push(s.type) })()
    return { state: client.state, shared: typeof client.reauthenticate !== 'function' }
  },
  async subscribe(pattern) {
    const list = []
    received.set(pattern, list)
    subs.set(pattern, client.subscribe(pattern, { callback: (err, m) => { if (m) list.push([m.subject, m.data]) } }))
    await within(3000, client.flush(), 'the subscription to reach the broker')
  },
  async unsubscribe(pattern) {
    subs.get(pattern)?.unsubscribe()
    subs.delete(pattern)
    await within(3000, client.flush(), 'the unsubscribe to reach the broker')
  },
  received(pattern) {
    return received.get(pattern) ?? []
  },
  async publish(subject, data) {
    client.publish(subject, data)
    await within(3000, client.flush(), 'the publish to reach the broker')
  },
  async request(subject, data) {
    const r = await within(3000, client.request(subject, data, { timeout: 2000 }), `a reply on ${subject}`)
    return r.data
  },
  statuses() {
    return statuses
  },
  /** A connection of this tab's own (no worker), to `url`, that checks within `checkTimeoutMs`. */
  async openOwn(url, checkTimeoutMs) {
    client = await within(10_000, connect(url, { name: 'own-tab', checkTimeoutMs, connectTimeoutMs: 1000, reconnect: { initialDelayMs: 10, maxDelayMs: 100 } }), 'connect')
    void (async () => { for await (const s of client.status()) statuses.push(s.type) })()
    return client.state
  },
  /** What the browser does when the tab comes back to the front, or the network comes back. */
  fire(kind) {
    if (kind === 'online') { globalThis.dispatchEvent(new Event('online')); return }
    Object.defineProperty(document, 'visibilityState', { value: kind, configurable: true })
    document.dispatchEvent(new Event('visibilitychange'))
  },
  state() {
    return client.state
  },
}
