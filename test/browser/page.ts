/**
 * What the browser does in test/browser.test.ts. Bundled for the browser (with entry.js) and run in headless
 * Chromium; the test calls one scenario at a time through `globalThis.subwirePage` and asserts on the plain
 * values it returns (they cross into Node by structured clone, so no `Msg` or `Error` objects).
 *
 * Only web-platform APIs here: this file runs in the page, never in Node.
 */
import type { Client, connect as connectFn } from '../../client/index.ts'

/** Every await in the page has a deadline too, so a lost message fails the scenario instead of hanging it. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`[page] timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** How an error looks once it has crossed into Node. */
export interface ErrorReport {
  name: string
  code: string | null
}

function report(err: unknown): ErrorReport {
  const e = err as { name?: unknown; code?: unknown }
  return { name: typeof e?.name === 'string' ? e.name : typeof err, code: typeof e?.code === 'string' ? e.code : null }
}

/** The scenarios the test can run in the page. */
export interface PageApi {
  /** Connects to the broker; reports what kind of runtime the client found itself in. */
  open(): Promise<{ state: string; hasProcess: boolean; hasWebSocket: boolean }>
  /** Subscribes to `browser.>`, publishes two messages under it, and returns what arrived. */
  wildcard(): Promise<Array<{ subject: string; data: unknown }>>
  /** Requests `svc.echo` (answered by a Node responder) and returns the reply's data. */
  echo(): Promise<unknown>
  /** Requests a subject nobody serves; returns the rejection (or null if it resolved). */
  requestNobody(): Promise<ErrorReport | null>
  /** Publishes to a wildcard subject; returns what was thrown (or null if nothing was). */
  publishWildcard(): Promise<ErrorReport | null>
  /** Publishes to `from.browser` for a Node subscriber, and waits until the broker has it. */
  publishToNode(data: unknown): Promise<void>
  /** Closes the client. */
  close(): Promise<void>
}

/** Builds the page's scenarios around the `connect` the bundle imported from `subwire/client`. */
export function createPage(connect: typeof connectFn, brokerUrl: string): PageApi {
  let client: Client | null = null
  const c = (): Client => {
    if (client === null) throw new Error('[page] open() first')
    return client
  }
  return {
    async open() {
      // No reconnect: a test that loses its broker should fail, not retry.
      client = await within(5000, connect(brokerUrl, { name: 'browser-test', reconnect: false }), `connect to ${brokerUrl}`)
      return {
        state: client.state,
        hasProcess: typeof (globalThis as { process?: unknown }).process !== 'undefined',
        hasWebSocket: typeof WebSocket === 'function',
      }
    },

    async wildcard() {
      const sub = c().subscribe('browser.>')
      const got: Array<{ subject: string; data: unknown }> = []
      const read = (async () => {
        for await (const m of sub) {
          got.push({ subject: m.subject, data: m.data })
          if (got.length === 2) break
        }
      })()
      // The SUB is written before the PUBs in the same frame, so the broker knows the subscription first.
      c().publish('browser.hello', { greeting: 'hello from the browser', n: 1 })
      c().publish('browser.a.b', { nested: { list: [1, 2, 3], ok: true } })
      await within(3000, read, `2 messages on browser.> (got ${got.length})`)
      return got
    },

    async echo() {
      const r = await within(3000, c().request('svc.echo', { n: 42 }, { timeout: 2000 }), 'the svc.echo reply')
      return r.data
    },

    async requestNobody() {
      try {
        await within(3000, c().request('nobody.listens.here', { n: 1 }, { timeout: 2000 }), 'the no_responders rejection')
        return null
      } catch (err) {
        return report(err)
      }
    },

    async publishWildcard() {
      try {
        c().publish('bad.*')
        return null
      } catch (err) {
        return report(err)
      }
    },

    async publishToNode(data) {
      c().publish('from.browser', data)
      await within(3000, c().flush(), 'flush after publishing to from.browser')
    },

    async close() {
      if (client !== null) await within(3000, client.close(), 'the browser client to close')
      client = null
    },
  }
}
