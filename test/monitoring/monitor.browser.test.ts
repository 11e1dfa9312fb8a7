/**
 * The web monitor in a real browser: the broker serves the page at `/`, the page's own client subscribes to
 * `$SYS.stats`, the numbers move with the load, the topics panel shows a topic filling up and its work queue,
 * and the page recovers by itself when the broker restarts on the same port. Saves docs/monitor.png (embedded
 * in README). With auth on, the page asks for a token, refuses one without the monitor permission, and shows
 * the stats with one that has it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { connect, type Client } from '../../client/index.ts'
import { createBroker, type Broker } from '../../server/index.ts'
import { attachMonitoring, type Monitoring } from '../../server/monitoring/monitoring.ts'
import { chromiumAvailability, CHROMIUM, collectPageErrors, launchChromium, textOf, waitForProbe } from '../browser-env.ts'
import { sleep, within } from '../helpers.ts'

interface MonitorProbe { reports: number; serverId: string | null; link: string; auth: 'none' | 'asking' | 'signed-in' }

let broker: Broker | null = null
let monitoring: Monitoring | null = null
let browser: Browser | null = null
let page: Page | null = null
const clients: Client[] = []
let load: NodeJS.Timeout | null = null
let pageErrors: string[] = []

/** The orders are stored in a topic, worked off by an acked queue group slower than they arrive. */
const TOPICS = [{ name: 'orders', subjects: ['orders.>'], maxMsgs: 25_000 }, { name: 'ledger', subjects: ['ledger.>'], storage: 'file' as const, fsync: 'never' as const }]
/** Where the file topic `ledger` lives (one directory for the broker and its restart). */
const DATA_DIR = mkdtempSync(join(tmpdir(), 'subwire-monitor-'))

async function startBroker(port = 0): Promise<Broker> {
  broker = await within(5000, createBroker({ host: '127.0.0.1', port, topics: TOPICS, dataDir: DATA_DIR }), 'the broker to start')
  monitoring = attachMonitoring(broker, { sysStats: { intervalMs: 250 } })
  return broker
}

async function stopBroker(): Promise<void> {
  monitoring?.close()
  await within(10_000, broker?.close() ?? Promise.resolve(), 'the broker to close')
}

/** Publishers and subscribers that reconnect by themselves, so the load resumes after a restart. */
async function startLoad(url: string): Promise<void> {
  const names = ['orders-api', 'billing-worker', 'billing-worker', 'inventory', 'audit-log', 'fulfilment']
  for (const name of names) clients.push(await within(5000, connect(url, { name }), `connect ${name}`))
  const [orders, billing1, billing2, inventory, audit, fulfilment] = clients
  billing1?.subscribe('orders.*.created', { queue: 'billing', callback: () => undefined })
  billing2?.subscribe('orders.*.created', { queue: 'billing', callback: () => undefined })
  inventory?.subscribe('orders.>', { callback: () => undefined })
  audit?.subscribe('>', { callback: () => undefined })
  // An acked work queue that takes 100 ms per order, 50 at a time: it keeps 50 in flight and falls behind.
  fulfilment?.subscribe('orders.>', { queue: 'fulfilment', ack: true, maxInFlight: 50, callback: (_err, m) => { if (m !== null) setTimeout(() => m.ack(), 100) } })
  let t = 0
  load = setInterval(() => {
    t++
    // A wave, so the throughput chart has a shape in the screenshot.
    const n = Math.round(40 + 30 * Math.sin(t / 15))
    for (let i = 0; i < n; i++) orders?.publish(`orders.${['eu', 'us', 'apac'][i % 3]}.created`, { id: t * 100 + i, total: 9.99 })
  }, 50)
}

function probe(p: Page): Promise<MonitorProbe> {
  return waitForProbe<MonitorProbe>(p, 'subwireMonitor', 'the probe', () => true)
}

function waitProbe(p: Page, what: string, check: (m: MonitorProbe) => boolean, ms = 15_000): Promise<MonitorProbe> {
  return waitForProbe<MonitorProbe>(p, 'subwireMonitor', what, check, ms)
}

const availability = chromiumAvailability()
if (availability === 'fail') {
  test(`needs Chromium at ${CHROMIUM} under CI`, () => { assert.unreachable(`${CHROMIUM} does not exist: CI must install Debian's chromium package`) })
} else if (availability === 'skip') {
  console.warn(`\n  WARNING: ${CHROMIUM} not found: SKIPPING test/monitor.browser.test.ts (apt-get install -y chromium)\n`)
  test(`skips the monitor browser tests: ${CHROMIUM} is not installed`, () => {})
} else {
  test.after(() => rmSync(DATA_DIR, { recursive: true, force: true }))
  test.after(async () => {
    if (load !== null) clearInterval(load)
    await Promise.allSettled([
      within(15_000, browser?.close() ?? Promise.resolve(), 'Chromium to close'),
      ...clients.map((c) => within(5000, c.close(), 'a client to close')),
    ])
    await stopBroker().catch(() => undefined)
  })

  test('the broker serves the monitor page, and its live numbers follow the load', async () => {
    const b = await startBroker()
    await startLoad(b.url)
    await sleep(3000) // some history, so the charts are not empty when the page opens
    browser = await launchChromium()
    page = await within(15_000, browser.newPage({ viewport: { width: 1360, height: 940 } }), 'a page')
    pageErrors = collectPageErrors(page)
    const http = b.url.replace(/^ws/, 'http')
    await within(15_000, page.goto(http, { waitUntil: 'load', timeout: 15_000 }), `the monitor at ${http}`)
    const first = await waitProbe(page, 'two reports', (m) => m.reports >= 2 && m.link === 'live')
    assert.is(first.serverId, b.serverId)
    assert.is(await textOf(page, '#v-connections'), '7', 'six load clients and the page itself')
    const before = await textOf(page, '#v-published')
    await waitProbe(page, 'more reports', (m) => m.reports >= first.reports + 3)
    const rates = new Set([before, await textOf(page, '#v-published')])
    assert.ok([...rates].some((r) => r !== '0' && r !== '–'), `a non-zero publish rate (${[...rates].join(', ')})`)
    assert.match(await textOf(page, '#top-subjects'), /orders\.\*\.created\s+2\s+billing/)
    const topic = page.locator('#topics [data-topic="orders"]')
    assert.match(await textOf(page, '#topics [data-topic="orders"] .head'), /^orders\s+orders\.>\s+seq 1–[\d,]+$/)
    assert.match(await textOf(page, '#topics [data-topic="ledger"] .head'), /^ledger\s+ledger\.>\s+empty, last seq 0\s*file, [\d.]+ (B|KiB) on disk$/)
    assert.match(await textOf(page, '#topics [data-topic="orders"] [data-kind="messages"]'), /^messages\s+[\d.]+k? \/ 25k$/)
    assert.match(await textOf(page, '#topics [data-topic="orders"] [data-kind="bytes"]'), /^bytes\s+[\d.]+ [KM]iB \/ 64\.0 MiB$/)
    const ratio = Number(await within(5000, topic.locator('[data-kind="messages"]').getAttribute('data-ratio'), 'the fill ratio'))
    assert.ok(ratio > 0 && ratio < 1, `the messages bar is partly full (${ratio})`)
    assert.match(await textOf(page, '#topics [data-group="fulfilment"]'), /^fulfilment: 1 member · 50 in flight · [\d.]+k? acked/)
    assert.match(await textOf(page, '#conn-events'), /none since this page opened|connect/)
  })

  test('the page recovers by itself after the broker restarts on the same port', async () => {
    assert.ok(page !== null && broker !== null, 'the first test opened the page')
    const old = broker.serverId
    const port = broker.port
    await stopBroker()
    await waitProbe(page, 'the page to see the broker go', (m) => m.link !== 'live', 10_000)
    const b = await startBroker(port)
    const back = await waitProbe(page, 'reports from the new broker', (m) => m.link === 'live' && m.serverId === b.serverId && m.serverId !== old, 30_000)
    await waitProbe(page, 'the reports to keep coming', (m) => m.reports >= back.reports + 2)
    assert.match(await textOf(page, '#server-state'), /ready/)
  })

  test('saves a screenshot of the monitor (docs/monitor.png with UPDATE_SCREENSHOTS=1)', async () => {
    assert.ok(page !== null)
    await sleep(4000) // let the charts fill again after the restart, and the connection events show
    // README's picture is rewritten only when asked, so a test run leaves the work tree clean.
    const dir = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs' : join(tmpdir(), 'subwire-screenshots')
    mkdirSync(dir, { recursive: true })
    await within(15_000, page.screenshot({ path: join(dir, 'monitor.png'), fullPage: true }), 'the screenshot')
  })

  test('the page raised no uncaught error', () => {
    assert.equal(pageErrors, [])
  })

  test('with auth on, the page asks for a token, refuses one without monitor, and shows the stats with one that has it', async () => {
    const MONITOR = 'token-of-the-monitor-page'
    const APP = 'token-of-an-application'
    const secured = await within(5000, createBroker({ host: '127.0.0.1', port: 0, auth: { tokens: [
      { token: MONITOR, user: 'ops', permissions: { monitor: true, publish: { allow: [] }, subscribe: { allow: ['$SYS.>'] } } },
      { token: APP, user: 'app', permissions: { publish: { allow: ['orders.>'] }, subscribe: { allow: ['orders.>'] } } },
    ] } }), 'a broker with auth')
    const securedMonitoring = attachMonitoring(secured, { sysStats: { intervalMs: 250 } })
    const app = await within(5000, connect(secured.url, { name: 'orders-api', token: APP }), 'the application client')
    const ticker = setInterval(() => app.publish('orders.eu.created', { id: 1 }), 50)
    const own = await within(15_000, (browser ??= await launchChromium()).newPage(), 'a page')
    const errors = collectPageErrors(own)
    try {
      const http = secured.url.replace(/^ws/, 'http')
      await within(15_000, own.goto(http, { waitUntil: 'load', timeout: 15_000 }), `the monitor at ${http}`)
      await waitProbe(own, 'the sign-in form', (m) => m.auth === 'asking')
      assert.ok(await own.locator('#sign-in').isVisible(), 'the form is shown')
      await own.fill('#sign-in-token', APP)
      await own.click('#sign-in-submit')
      await within(5000, own.waitForFunction(() => /monitor permission/.test(document.getElementById('sign-in-error')?.textContent ?? ''), undefined, { timeout: 5000 }), 'the refusal to show')
      assert.is((await probe(own)).reports, 0, 'nothing shown without the permission')
      await own.fill('#sign-in-token', MONITOR)
      await own.click('#sign-in-submit')
      const live = await waitProbe(own, 'reports with the monitor token', (m) => m.auth === 'signed-in' && m.link === 'live' && m.reports >= 2)
      assert.is(live.serverId, secured.serverId)
      assert.is(await textOf(own, '#v-connections'), '2', 'the application and the page itself')
      assert.not.ok(await own.locator('#sign-in').isVisible(), 'the form is gone')
      await within(15_000, own.reload({ waitUntil: 'load', timeout: 15_000 }), 'a reload')
      await waitProbe(own, 'reports after a reload, from the token kept for the tab', (m) => m.auth === 'signed-in' && m.reports >= 1)
      // Chromium logs the refused fetch (403) itself; nothing else may appear.
      assert.equal(errors.filter((e) => !/status of 403/.test(e)), [])
    } finally {
      clearInterval(ticker)
      await Promise.allSettled([within(5000, own.close(), 'the page to close'), within(5000, app.close(), 'the app client to close')])
      securedMonitoring.close()
      await within(10_000, secured.close(), 'the secured broker to close')
    }
  })
}

test.run()
