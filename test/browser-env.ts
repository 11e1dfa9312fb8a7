/**
 * Headless Chromium for the page tests (monitor, demo dashboard): Debian's /usr/bin/chromium driven by
 * playwright-core, with the flags known to work on this project's machines (the same as test/browser.test.ts:
 * without the background-networking ones Chromium keeps dialing hosts the closed network refuses).
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { within } from './helpers.ts'

export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

/** Whether the page tests can run here: 'run', 'fail' (CI without Chromium), or 'skip' (a dev machine without it). */
export function chromiumAvailability(): 'run' | 'fail' | 'skip' {
  if (existsSync(CHROMIUM)) return 'run'
  return process.env.CI ? 'fail' : 'skip'
}

/** Launches Chromium under a deadline. */
export function launchChromium(): Promise<Browser> {
  return within(60_000, chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 }), 'Chromium to start')
}

/**
 * Collects a page's uncaught errors and console errors. A WebSocket that fails to connect while a broker is
 * down is logged by Chromium itself as a console error; that is expected during a restart, so it is left out.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (err) => { errors.push(err.message) })
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/WebSocket connection to .* failed/.test(msg.text())) errors.push(`console.error: ${msg.text()}`)
  })
  return errors
}

/** Reads the text of an element. */
export async function textOf(page: Page, selector: string): Promise<string> {
  return within(5000, page.locator(selector).innerText({ timeout: 5000 }), `the text of ${selector}`)
}

/**
 * Reads a page's probe object (a global the page keeps up to date) until `check` accepts it, under a deadline;
 * the error shows the last probe seen.
 */
export async function waitForProbe<T>(page: Page, global: string, what: string, check: (probe: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const probe = await within(5000, page.evaluate((name) => (globalThis as unknown as Record<string, unknown>)[name], global), `the page's ${global}`) as T
    if (check(probe)) return probe
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} (probe: ${JSON.stringify(probe)})`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
