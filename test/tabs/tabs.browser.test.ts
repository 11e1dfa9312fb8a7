/**
 * `connect(url, { shared: true })` in headless Chromium: three tabs (pages) of one origin, served with the
 * client bundle and the SharedWorker bundle by an HTTP server in this process, share one broker connection
 * (read from the broker's `/stats`), each receives its own messages, subscriptions are reference-counted
 * across tabs, and closing two tabs leaves the third working.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { attachMonitoring, type Broker, type Monitoring } from '../../server/index.ts'
import { connect, type Client } from '../../client/index.ts'
import { buildClientBundle } from '../../scripts/bundle-size.ts'
import { CHROMIUM, chromiumAvailability, collectPageErrors, launchChromium } from '../browser-env.ts'
import { startBroker, within } from '../helpers.ts'
import { SilentProxy } from './silent-proxy.ts'

interface TabApi {
  open(tabTimeoutMs: number): Promise<{ state: string; shared: boolean }>
  subscribe(pattern: string): Promise<void>
  unsubscribe(pattern: string): Promise<void>
  received(pattern: string): Array<[string, unknown]>
  publish(subject: string, data: unknown): Promise<void>
  request(subject: string, data: unknown): Promise<unknown>
  statuses(): string[]
  openOwn(url: string, checkTimeoutMs: number): Promise<string>
  fire(kind: 'visible' | 'hidden' | 'online'): void
  state(): string
}

let broker: Broker | null = null
let monitoring: Monitoring | null = null
let http: Server | null = null
let browser: Browser | null = null
let node: Client | null = null
let proxy: SilentProxy | null = null
let context: BrowserContext | null = null
let tabUrl = ''

/** Calls one of the page's functions; kept a plain inline arrow, since Playwright sends its source to the page. */
function inTab<K extends keyof TabApi>(page: Page, name: K, ...args: Parameters<TabApi[K]>): Promise<Awaited<ReturnType<TabApi[K]>>> {
  return within(15_000, page.evaluate(
    ([n, a]) => (globalThis as unknown as { tabPage: Record<string, (...x: unknown[]) => unknown> }).tabPage[n](...a),
    [name, args] as const,
  ), `the tab's ${name}`) as Promise<Awaited<ReturnType<TabApi[K]>>>
}

async function serve(page: Uint8Array, worker: Uint8Array): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    const js = { 'content-type': 'text/javascript; charset=utf-8' }
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><meta charset="utf-8"><title>tab</title><script type="module" src="/entry.js"></script>\n')
    else if (path === '/entry.js') res.writeHead(200, js).end(page)
    else if (path === '/worker.js') res.writeHead(200, js).end(worker)
    else if (path === '/favicon.ico') res.writeHead(204).end()
    else res.writeHead(404).end()
  })
  await within(5000, new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  }), 'the HTTP server to listen')
  return server
}

/** The broker's `/stats`, as a browser-facing operator would read it: the connections named `tabs`. */
async function tabsConnections(): Promise<Array<{ id: string; subscriptions: number; subjects: Array<{ subject: string }> }>> {
  const res = await within(5000, fetch(`http://127.0.0.1:${broker?.port}/stats`), 'GET /stats')
  const report = await res.json() as { connectionList: Array<{ id: string; name: string; subscriptions: number; subjects: Array<{ subject: string }> }> }
  return report.connectionList.filter((c) => c.name === 'tabs')
}

async function brokerSubjects(): Promise<string[]> {
  const [conn] = await tabsConnections()
  return (conn?.subjects ?? []).map((s) => s.subject).filter((s) => !s.startsWith('_INBOX.')).sort()
}

async function openTab(context: BrowserContext, url: string): Promise<Page> {
  const page = await within(15_000, context.newPage(), 'a new tab')
  const errors = collectPageErrors(page)
  await within(15_000, page.goto(url, { waitUntil: 'load', timeout: 15_000 }), `the tab ${url}`)
  await within(10_000, page.waitForFunction(() => 'tabPage' in globalThis, undefined, { timeout: 10_000 }), 'the tab script')
    .catch((err: Error) => { throw new Error(`${err.message}; page errors: ${errors.join(' | ') || 'none'}`) })
  return page
}

const availability = chromiumAvailability()
if (availability === 'fail') {
  test(`needs Chromium at ${CHROMIUM} under CI`, () => { assert.unreachable(`${CHROMIUM} does not exist: CI must install Debian's chromium package`) })
} else if (availability === 'skip') {
  console.warn(`\n  WARNING: ${CHROMIUM} not found: SKIPPING test/tabs/tabs.browser.test.ts (apt-get install -y chromium)\n`)
  test(`skips the shared-tabs browser tests: ${CHROMIUM} is not installed`, () => {})
} else {
  test.after(async () => {
    await within(15_000, browser?.close() ?? Promise.resolve(), 'Chromium to close').catch(() => undefined)
    await within(5000, proxy?.close() ?? Promise.resolve(), 'the proxy to close').catch(() => undefined)
    await within(5000, node?.close() ?? Promise.resolve(), 'the Node client to close').catch(() => undefined)
    monitoring?.close()
    await within(5000, broker?.close() ?? Promise.resolve(), 'the broker to close').catch(() => undefined)
    if (http !== null) {
      http.closeAllConnections()
      await within(5000, new Promise<void>((resolve) => http?.close(() => resolve())), 'the HTTP server to close').catch(() => undefined)
    }
  })

  test('three tabs of one origin share one broker connection; one crashing and one closing leave the third working', async () => {
    const [page, worker] = await within(60_000, Promise.all([
      buildClientBundle({ entry: 'test/tabs/browser/entry.js' }),
      buildClientBundle({ entry: 'test/tabs/browser/worker.js' }),
    ]), 'esbuild to bundle the tab and the worker')
    broker = await startBroker()
    monitoring = attachMonitoring(broker)
    node = await within(5000, connect(broker.url, { name: 'node-peer', reconnect: false }), 'the Node client')
    node.subscribe('svc.echo', { callback: (_e, m) => { m?.respond({ echoed: m.data }) } })
    const fromTabs = node.subscribe('from.tab')
    await within(3000, node.flush(), 'the Node subscriptions')
    http = await serve(page.code, worker.code)
    const url = tabUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/?broker=${encodeURIComponent(broker.url)}`
    browser = await launchChromium()
    context = await within(15_000, browser.newContext(), 'a browser context')
    const tabs = [await openTab(context, url), await openTab(context, url), await openTab(context, url)]
    for (const t of tabs) assert.equal(await inTab(t, 'open', 1500), { state: 'connected', shared: true })

    assert.is((await tabsConnections()).length, 1, 'one connection for three tabs')
    for (const t of tabs) await inTab(t, 'subscribe', 'sensors.>')
    await inTab(tabs[0], 'subscribe', 'only.first')
    assert.equal(await brokerSubjects(), ['only.first', 'sensors.>'], 'three tabs on sensors.> are one broker subscription')

    node.publish('sensors.paris.temp', { value: 21 })
    for (const [i, t] of tabs.entries()) {
      const end = Date.now() + 5000
      while ((await inTab(t, 'received', 'sensors.>')).length < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      assert.equal(await inTab(t, 'received', 'sensors.>'), [['sensors.paris.temp', { value: 21 }]], `tab ${i} received`)
    }
    assert.equal(await inTab(tabs[1], 'request', 'svc.echo', 'tab 1'), { echoed: 'tab 1' })

    // A tab closes: the worker and its connection go on, untouched.
    const [before] = await tabsConnections()
    await within(10_000, tabs[1].close(), 'tab 1 to close')
    await inTab(tabs[2], 'publish', 'from.tab', { n: 0 }) // a round trip through the worker
    const idAndSubjects = (c: { id?: string; subjects: Array<{ subject: string }> } | undefined): unknown => [c?.id, c?.subjects.map((x) => x.subject).sort()]
    assert.equal((await tabsConnections()).map(idAndSubjects), [idAndSubjects(before)], 'the same connection, its subscriptions unchanged')
    assert.equal(await inTab(tabs[2], 'statuses'), [], 'nothing to say')
    // Then one crashes, with its own subscription: it says nothing, and Chromium hosts the worker in its process,
    // so the worker dies with it; the third tab starts a new one. One connection is left, only.first gone.
    const cdp = await within(5000, context.newCDPSession(tabs[0]), 'a CDP session on tab 0')
    const crashed = tabs[0].waitForEvent('crash', { timeout: 10_000 })
    void cdp.send('Page.crash').catch(() => undefined) // never answered: the renderer is gone
    await within(10_000, crashed, 'tab 0 to crash')
    const third = tabs[2]
    const deadline = Date.now() + 10_000
    const settledAt = async (): Promise<boolean> => (await tabsConnections()).length === 1 && (await brokerSubjects()).join() === 'sensors.>'
    while (!(await settledAt()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    assert.equal(await brokerSubjects(), ['sensors.>'], 'the closed tabs released theirs; the third still holds sensors.>')
    assert.is((await tabsConnections()).length, 1, 'the shared connection survived two tabs closing')

    node.publish('sensors.lyon.temp', { value: 19 })
    const end = Date.now() + 5000
    while ((await inTab(third, 'received', 'sensors.>')).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    assert.equal((await inTab(third, 'received', 'sensors.>')).map(([s]) => s), ['sensors.paris.temp', 'sensors.lyon.temp'])
    await inTab(third, 'publish', 'from.tab', { hello: 'from the third tab' })
    const it = fromTabs[Symbol.asyncIterator]()
    assert.equal((await within(3000, it.next(), 'the earlier publish')).value?.data, { n: 0 })
    assert.equal((await within(3000, it.next(), 'the third tab\'s publish')).value?.data, { hello: 'from the third tab' })
    assert.equal(await inTab(third, 'request', 'svc.echo', 'tab 2'), { echoed: 'tab 2' })

    await inTab(third, 'unsubscribe', 'sensors.>')
    assert.equal(await brokerSubjects(), [], 'the last holder gone, the broker subscription is gone')
    assert.equal(await inTab(third, 'statuses'), ['disconnect', 'reconnect'], 'the worker died with the crashed tab: said, and rejoined')
  })

  test('a tab whose worker script cannot be loaded connects on its own and says so with shared_fallback', async () => {
    assert.ok(context !== null, 'the first test started everything')
    // Without workerUrl the worker is ./shared-worker.js beside the bundle, which this server does not serve.
    const tab = await openTab(context, `${tabUrl}&noWorkerUrl=1`)
    assert.equal(await inTab(tab, 'open', 1500), { state: 'connected', shared: false })
    const end = Date.now() + 3000
    while (!(await inTab(tab, 'statuses')).includes('shared_fallback') && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    assert.equal(await inTab(tab, 'statuses'), ['shared_fallback'])
    await inTab(tab, 'subscribe', 'fallback.>')
    await inTab(tab, 'publish', 'fallback.x', 1)
    assert.equal(await inTab(tab, 'received', 'fallback.>'), [['fallback.x', 1]])
    await within(10_000, tab.close(), 'the tab to close')
  })

  test('a tab coming back to the front, or online, finds a connection that died silently and reconnects', async () => {
    assert.ok(broker !== null && context !== null, 'the first test started everything')
    proxy = new SilentProxy(broker.port)
    const viaProxy = await proxy.listen()
    const tab = await openTab(context, tabUrl)
    assert.is(await inTab(tab, 'openOwn', viaProxy, 300), 'connected')
    for (const kind of ['visible', 'online'] as const) {
      proxy.silence()
      await inTab(tab, 'fire', 'hidden')
      await inTab(tab, 'fire', kind)
      const end = Date.now() + 5000
      while (!(await inTab(tab, 'statuses')).includes('stale') && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      assert.ok((await inTab(tab, 'statuses')).includes('stale'), `${kind}: the dead connection is found at once (statuses ${(await inTab(tab, 'statuses')).join(',')})`)
      proxy.speak()
      while (await inTab(tab, 'state') !== 'connected' && Date.now() < end + 5000) await new Promise((r) => setTimeout(r, 50))
      assert.is(await inTab(tab, 'state'), 'connected', `${kind}: reconnected`)
      await within(5000, tab.evaluate(() => { (globalThis as unknown as { tabPage: { statuses(): string[] } }).tabPage.statuses().length = 0 }), 'the statuses to be cleared')
    }
  })
}

test.run()
