/**
 * The demo dashboard in a real browser: the page subscribes with wildcards, its numbers and charts move with
 * the 50 Hz sensors, a page that opens shows every sensor's last value at once (the `sensors` topic is a
 * last-value cache, replayed with `deliver: 'last_per_subject'`), the worker-pool panel shows the queue group's
 * spread, and the page recovers by itself when the broker restarts on the same port. Saves docs/dashboard.png
 * (embedded in README).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { Demo } from '../demo/demo.ts'
import { KINDS, SITES } from '../demo/dashboard/simulator.ts'
import { chromiumAvailability, CHROMIUM, collectPageErrors, launchChromium, textOf, waitForProbe } from './browser-env.ts'
import { sleep, within } from './helpers.ts'

interface DashboardProbe { received: number; link: string; poolUpdates: number; sensors: number; subscriptions: number; chartSites: number }

let demo: Demo | null = null
let browser: Browser | null = null
let page: Page | null = null
let pageErrors: string[] = []

function probe(p: Page): Promise<DashboardProbe> {
  return waitForProbe<DashboardProbe>(p, 'subwireDashboard', 'the probe', () => true)
}

function waitProbe(p: Page, what: string, check: (m: DashboardProbe) => boolean, ms = 15_000): Promise<DashboardProbe> {
  return waitForProbe<DashboardProbe>(p, 'subwireDashboard', what, check, ms)
}

const availability = chromiumAvailability()
if (availability === 'fail') {
  test(`needs Chromium at ${CHROMIUM} under CI`, () => { assert.unreachable(`${CHROMIUM} does not exist: CI must install Debian's chromium package`) })
} else if (availability === 'skip') {
  console.warn(`\n  WARNING: ${CHROMIUM} not found: SKIPPING test/dashboard.browser.test.ts (apt-get install -y chromium)\n`)
  test(`skips the dashboard browser tests: ${CHROMIUM} is not installed`, () => {})
} else {
  test.after(async () => {
    await within(15_000, browser?.close() ?? Promise.resolve(), 'Chromium to close').catch(() => undefined)
    await within(15_000, demo?.stop() ?? Promise.resolve(), 'the demo to stop').catch(() => undefined)
  })

  test('the dashboard draws the 50 Hz sensors live and shows the worker pool', async () => {
    demo = await within(30_000, Demo.start({ brokerPort: 0, webPort: 0, churnMs: 2500 }), 'the demo to start')
    browser = await launchChromium()
    page = await within(15_000, browser.newPage({ viewport: { width: 1360, height: 1000 } }), 'a page')
    pageErrors = collectPageErrors(page)
    await within(15_000, page.goto(demo.web.url, { waitUntil: 'load', timeout: 15_000 }), `the dashboard at ${demo.web.url}`)
    const first = await waitProbe(page, 'the first readings', (m) => m.link === 'live' && m.received > 100)
    await sleep(1500)
    const later = await probe(page)
    assert.ok(later.received - first.received > 32 * 20, `readings keep arriving (${first.received} → ${later.received})`)
    assert.is(await textOf(page, '#sensor-count'), '32')
    const paris = await textOf(page, '#v-paris-temp')
    assert.match(paris, /^\d+\.\d °C$/)
    await waitProbe(page, 'the pool panel', (m) => m.poolUpdates >= 2)
    assert.match(await textOf(page, '#pool'), /worker-\d+\s+\d+\/s/)
    assert.match(await textOf(page, '#pool-latency'), /\d+ workers · p50/)
    assert.ok(Number((await textOf(page, '#rate')).replace(/k$/, '')) > 0, 'a receive rate')
  })

  test('a page opened while the sensors are quiet shows every sensor\'s last value at once, then goes on live', async () => {
    assert.ok(browser !== null && demo !== null, 'the first test started the demo')
    await within(5000, demo.pauseSensors(), 'the sensors to go quiet')
    assert.is(demo.sensorsHeld, 32, 'the topic holds one reading per sensor, the last')
    const fresh = await within(15_000, browser.newPage({ viewport: { width: 1360, height: 1000 } }), 'a second page')
    try {
      const errors = collectPageErrors(fresh)
      await within(15_000, fresh.goto(demo.web.url, { waitUntil: 'load', timeout: 15_000 }), 'the dashboard')
      // No live reading is published while the sensors are paused: whatever the page shows came from the topic.
      const loaded = await waitProbe(fresh, 'every sensor on the page', (m) => m.sensors === 32, 10_000)
      assert.is(loaded.received, 32, 'one reading per sensor, each the last one')
      await waitProbe(fresh, 'the charts to start with every site', (m) => m.chartSites === SITES.length, 5000)
      assert.is(await textOf(fresh, '#sensor-count'), '32')
      for (const site of SITES) {
        for (const kind of KINDS) {
          const last = demo.lastReading(site, kind)
          assert.ok(last !== undefined, `${site}.${kind} published`)
          const shown = await textOf(fresh, `#v-${site}-${kind}`)
          assert.ok(shown.startsWith(last.v.toFixed(kind === 'pressure' ? 0 : 1)), `${site}.${kind} shows its last reading ${last.v} (${shown})`)
        }
      }
      demo.resumeSensors()
      await waitProbe(fresh, 'live readings after the last values', (m) => m.received > 32 + 32 * 10)
      assert.equal(errors, [])
    } finally {
      demo.resumeSensors()
      await within(10_000, fresh.close(), 'the second page to close')
    }
  })

  test('the dashboard recovers by itself after the broker restarts on the same port', async () => {
    assert.ok(page !== null && demo !== null, 'the first test opened the page')
    const before = await probe(page)
    await within(20_000, demo.restartBroker(), 'the broker to restart')
    // Waiting for 'live' alone raced: under load the page may not have seen the old broker go yet, and
    // still showed the link as live from before the restart. A new subscription marks the reconnect.
    await waitProbe(page, 'the page to reconnect and ask the new broker for the last values again',
      (m) => m.link === 'live' && m.subscriptions > before.subscriptions, 30_000)
    const back = await probe(page)
    await waitProbe(page, 'readings after the restart', (m) => m.received > back.received + 32 * 10, 30_000)
    assert.is(await textOf(page, '#sensor-count'), '32')
  })

  test('saves a screenshot of the dashboard (docs/dashboard.png with UPDATE_SCREENSHOTS=1)', async () => {
    assert.ok(page !== null)
    await sleep(6000) // fill the 30-second charts a little more, and let the pool churn show
    // README's picture is rewritten only when asked, so a test run leaves the work tree clean.
    const dir = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs' : join(tmpdir(), 'subwire-screenshots')
    mkdirSync(dir, { recursive: true })
    await within(15_000, page.screenshot({ path: join(dir, 'dashboard.png'), fullPage: true }), 'the screenshot')
  })

  test('the page raised no uncaught error', () => {
    assert.equal(pageErrors, [])
  })
}

test.run()
