/**
 * The client in a real browser: `subwire/client` bundled by esbuild for the browser (as an application's
 * bundler would, through package.json `exports`), served over HTTP from this process, and driven in headless
 * Chromium by playwright-core against a broker and a Node client in this process.
 *
 * Needs Debian's Chromium at /usr/bin/chromium (`.ci/run` installs it). Without it the browser tests fail
 * under CI and are skipped with a warning elsewhere; the bundle test runs either way.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { builtinModules } from 'node:module'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createBroker, type Broker } from '../server/index.ts'
import { connect, type Client, type Subscription } from '../client/index.ts'
import { buildClientBundle, formatBytes, type ClientBundle } from '../scripts/bundle-size.ts'
import { take, within } from './helpers.ts'
import type { PageApi } from './browser/page.ts'

const CHROMIUM = '/usr/bin/chromium'
/**
 * Flags known to work on this project's machines (HOUSE_STYLE / machines doc): without the background-networking
 * ones Chromium keeps dialing Google's hosts, which the closed network refuses. Playwright gives every launch a
 * new empty user-data-dir of its own (it refuses `--user-data-dir` in `args`).
 */
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]
const PAGE_ENTRY = 'test/browser/entry.js'

// ---------------------------------------------------------------------------------------------------------
// The browser bundle

let bundle: Promise<ClientBundle> | null = null
/** The page's script, built once: the same bytes the bundle test inspects are the ones Chromium runs. */
function pageBundle(): Promise<ClientBundle> {
  bundle ??= buildClientBundle({ entry: PAGE_ENTRY })
  return bundle
}

/** Input paths that must never be in a browser bundle, with the reason. */
const FORBIDDEN_INPUTS: Array<[RegExp, string]> = [
  [/^node:/, 'a node: import'],
  [/(^|\/)node_modules\/ws\/(index\.js|wrapper\.mjs|lib\/)/, "ws's Node entry (the client loads ws only in Node)"],
  [/(^|\/)node_modules\/msgpackr\/(node-index\.js|dist\/node\.cjs)/, "msgpackr's Node entry"],
  [/(^|\/)node_modules\/msgpackr-extract\//, "msgpackr's native addon"],
  [/(^|\/)node_modules\/pino\//, 'pino (the client does not log; rule 14)'],
  [/(^|\/)server\//, 'broker code'],
  [/(^|\/)dist\//, 'compiled output (the source condition must win)'],
]
const BUILTINS = new Set(builtinModules)

test('bundles subwire/client for the browser with no Node built-in and without the Node entry of ws', async () => {
  const { metafile } = await within(30_000, pageBundle(), 'esbuild to bundle the page')
  const inputs = Object.keys(metafile.inputs)
  assert.ok(inputs.includes('client/index.ts'), `subwire/client resolved to its TypeScript source (inputs: ${inputs.join(', ')})`)
  assert.ok(inputs.includes('client/transport.ts'), 'the transport is bundled')
  for (const input of inputs) {
    assert.not.ok(BUILTINS.has(input), `${input} is a Node built-in`)
    for (const [pattern, what] of FORBIDDEN_INPUTS) assert.not.ok(pattern.test(input), `${input} is ${what}`)
  }
  // Under the `browser` condition `import('ws')` resolves to ws's browser.js stub, which throws if ever
  // called; transport.ts never calls it outside Node. Bundling the stub (rather than marking ws external)
  // leaves no bare import for the browser to fail on, and is exactly what an application's bundler does.
  assert.equal(inputs.filter((p) => p.includes('node_modules/ws/')), ['node_modules/ws/browser.js'])
  // Nothing left for a loader to resolve at run time: no external import of any kind, Node or otherwise.
  for (const [name, out] of Object.entries(metafile.outputs)) {
    assert.equal(out.imports.filter((i) => i.external).map((i) => i.path), [], `external imports in ${name}`)
  }
  const min = await within(30_000, buildClientBundle({ minify: true }), 'the minified client bundle')
  console.log(`\n  subwire/client browser bundle, minified + gzipped: ${formatBytes(gzipSync(min.code).byteLength)}`)
})

// ---------------------------------------------------------------------------------------------------------
// The page, the broker, the Node peer

interface Env {
  broker: Broker
  http: Server
  browser: Browser
  page: Page
  node: Client
  fromBrowser: Subscription
  opened: Awaited<ReturnType<PageApi['open']>>
  pageErrors: string[]
}

const started: Partial<Env> = {}
let env: Promise<Env> | null = null

function html(): string {
  return '<!doctype html><meta charset="utf-8"><title>subwire browser test</title><script type="module" src="/entry.js"></script>\n'
}

/** Serves the page and its bundle from memory on 127.0.0.1, any free port. */
async function serve(code: Uint8Array): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html())
    else if (path === '/entry.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(code)
    else if (path === '/favicon.ico') res.writeHead(204).end()
    else res.writeHead(404).end()
  })
  await within(5000, new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  }), 'the HTTP server to listen')
  return server
}

/** Calls one scenario of page.ts in the page; its result crosses back by structured clone. */
function inPage<K extends keyof PageApi>(page: Page, name: K, arg?: unknown): Promise<Awaited<ReturnType<PageApi[K]>>> {
  // Kept a plain inline arrow: Playwright sends its source text to the page, so it may not use any helper.
  return page.evaluate(
    ([n, a]) => (globalThis as unknown as { subwirePage: Record<string, (x: unknown) => Promise<unknown>> }).subwirePage[n](a),
    [name, arg] as const,
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>
}

async function setUp(): Promise<Env> {
  const { code } = await within(30_000, pageBundle(), 'esbuild to bundle the page')
  const broker = started.broker = await within(5000, createBroker({ host: '127.0.0.1', port: 0 }), 'the broker to start')
  const node = started.node = await within(5000, connect(broker.url, { name: 'node-peer', reconnect: false }), 'the Node client to connect')
  node.subscribe('svc.echo', { callback: (_err, m) => { m?.respond({ echoed: m.data }) } })
  const fromBrowser = started.fromBrowser = node.subscribe('from.browser', { max: 1 })
  await within(3000, node.flush(), 'the Node subscriptions to reach the broker')

  const http = started.http = await serve(code)
  const { port } = http.address() as AddressInfo
  const browser = started.browser = await within(60_000,
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 }), 'Chromium to start')
  const page = started.page = await within(15_000, browser.newPage(), 'a new page')
  const pageErrors: string[] = started.pageErrors = []
  page.on('pageerror', (err) => { pageErrors.push(err.message) })
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`console.error: ${msg.text()}`) })

  const url = `http://127.0.0.1:${port}/?broker=${encodeURIComponent(broker.url)}`
  await within(15_000, page.goto(url, { waitUntil: 'load', timeout: 15_000 }), `the page ${url} to load`)
  await within(10_000, page.waitForFunction(() => 'subwirePage' in globalThis, undefined, { timeout: 10_000 }),
    'the page script to start').catch((err: Error) => { throw new Error(`${err.message}; page errors: ${pageErrors.join(' | ') || 'none'}`) })
  const opened = await within(10_000, inPage(page, 'open'), 'the browser client to connect')
  return { broker, http, browser, page, node, fromBrowser, opened, pageErrors }
}

/** Everything the browser tests share, started on first use so a failure fails the tests rather than the run. */
function ready(): Promise<Env> {
  env ??= setUp()
  return env
}

async function tearDown(): Promise<void> {
  const s = started
  const steps: Array<[string, () => Promise<unknown> | undefined]> = [
    ['the browser client to close', () => s.page && inPage(s.page, 'close')],
    ['Chromium to close', () => s.browser?.close()],
    ['the Node client to close', () => s.node?.close()],
    ['the broker to close', () => s.broker?.close()],
    ['the HTTP server to close', () => s.http && new Promise<void>((resolve, reject) => {
      s.http?.closeAllConnections()
      s.http?.close((err) => { if (err) reject(err); else resolve() })
    })],
  ]
  // Every step runs even when one before it failed: a leaked Chromium or socket would keep the run alive.
  for (const [what, step] of steps) {
    try {
      await within(15_000, Promise.resolve(step()), what)
    } catch (err) {
      process.exitCode = 1
      console.error(`  browser test teardown: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The browser tests

const chromiumMissing = !existsSync(CHROMIUM)

if (chromiumMissing && process.env.CI) {
  test(`needs Chromium at ${CHROMIUM} under CI`, () => {
    assert.unreachable(`${CHROMIUM} does not exist: CI must install Debian's chromium package (see .ci/run)`)
  })
} else if (chromiumMissing) {
  const bar = '!'.repeat(100)
  console.warn(`\n${bar}\n  WARNING: ${CHROMIUM} not found: SKIPPING the browser tests in test/browser.test.ts.\n` +
    `  Install it with: apt-get install -y chromium   (CI installs it and fails without it)\n${bar}\n`)
  test(`skips the browser tests: ${CHROMIUM} is not installed`, () => {})
} else {
  test.after(tearDown)

  test('a browser client connects with the global WebSocket, not ws', async () => {
    const { opened } = await ready()
    assert.equal(opened, { state: 'connected', hasProcess: false, hasWebSocket: true })
  })

  test('a browser subscriber on browser.> receives browser.hello and browser.a.b with their payloads', async () => {
    const { page } = await ready()
    const got = await within(5000, inPage(page, 'wildcard'), 'the wildcard scenario')
    assert.equal(got, [
      { subject: 'browser.hello', data: { greeting: 'hello from the browser', n: 1 } },
      { subject: 'browser.a.b', data: { nested: { list: [1, 2, 3], ok: true } } },
    ])
  })

  test('a browser request to svc.echo gets the Node responder\'s reply', async () => {
    const { page } = await ready()
    assert.equal(await within(5000, inPage(page, 'echo'), 'the echo scenario'), { echoed: { n: 42 } })
  })

  test('a browser request to a subject nobody serves rejects as no_responders', async () => {
    const { page } = await ready()
    const err = await within(5000, inPage(page, 'requestNobody'), 'the no-responders scenario')
    assert.equal(err, { name: 'SubwireError', code: 'no_responders' })
  })

  test('a browser publish to bad.* throws bad_subject', async () => {
    const { page } = await ready()
    const err = await within(5000, inPage(page, 'publishWildcard'), 'the bad-subject scenario')
    assert.equal(err, { name: 'SubwireError', code: 'bad_subject' })
  })

  test('a Node subscriber receives what the browser publishes to from.browser', async () => {
    const { page, fromBrowser } = await ready()
    const arriving = take(fromBrowser, 1, 5000)
    await within(5000, inPage(page, 'publishToNode', { from: 'browser', bytes: [0, 255] }), 'the browser publish to from.browser')
    const [m] = await arriving
    assert.is(m?.subject, 'from.browser')
    assert.equal(m?.data, { from: 'browser', bytes: [0, 255] })
  })

  test('the page raised no uncaught error', async () => {
    const { pageErrors } = await ready()
    assert.equal(pageErrors, [])
  })
}

test.run()
