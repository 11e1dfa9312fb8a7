/**
 * `attachMonitoring(broker)`: the operations side of a broker in one call: `$SYS` stats and events
 * (sys-stats.ts), Prometheus metrics (metrics.ts), and the HTTP routes `/healthz`, `/readyz`, `/metrics`,
 * `/stats`, `/stats/history` and the web monitor at `/` (page-html.ts, monitor/assets.ts).
 *
 * On a broker that owns its HTTP server the routes are served on the broker's port. A broker attached to an
 * application's server leaves that server's routes alone; mount ours with `monitoring.handle(req, res)`.
 *
 * With `auth` on, the data routes (`GUARDED`) need a credential whose identity has the `monitor` permission
 * (or no restrictions): 401 `auth_failed` without one or with a wrong one, 403 `permission` without the right.
 * The health probes stay open for load balancers, and so do the page's shell and script, which carry no data:
 * the page asks for the credential and sends it with everything it loads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Broker } from '../broker.ts'
import { BrokerMetrics } from './metrics.ts'
import { SysStats, type SysStatsOptions } from './sys-stats.ts'
import { authChallenge, httpAuthFor, registerHttpHandler, requestPathname, send, sendJson, sendRefusal, sendText, type HttpAuth } from '../edge/http-routes.ts'
import { canMonitor } from '../security/permissions.ts'
import { monitorPageHtml } from './web/page-html.ts'
import { monitorScript } from './web/assets.ts'
import { VERSION } from '../version.ts'
import { SubwireError } from '../../shared/errors.ts'
import { CONNECTIONS_PAGE, MAX_CONNECTIONS_PAGE } from './stats-report.ts'

/** Options of `attachMonitoring()`. */
export interface MonitoringOptions {
  /** Serve the routes on the broker's own HTTP server (ignored for a broker attached to an app's server). @default true */
  http?: boolean
  /** Serve the web monitor page at `/` (with the operations endpoints still served when false). @default true */
  monitorPage?: boolean
  /** `$SYS.stats` interval and history size. */
  sysStats?: SysStatsOptions
}

/** A broker's monitoring; `close()` stops it (it also stops publishing by itself once the broker closed). */
export interface Monitoring {
  readonly sysStats: SysStats
  readonly metrics: BrokerMetrics
  /** True when the data routes ask for a credential (the broker has `auth` on). */
  readonly authRequired: boolean
  /**
   * Answers a request for one of the monitoring routes and returns true; returns false for any other path.
   * @example app.use((req, res, next) => { if (!monitoring.handle(req, res)) next() })
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean
  close(): void
}

type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

/** The routes that show connections, subjects and counters: only for a monitoring identity when `auth` is on. */
export const GUARDED: ReadonlySet<string> = new Set(['/metrics', '/stats', '/stats/history'])

/** The text a non-browser client gets at `/`. */
function helpText(broker: Broker): string {
  return [
    `subwire ${VERSION} (${broker.config.serverName}, ${broker.state})`,
    `WebSocket clients connect at ${broker.config.path} (subprotocol subwire.v1 or subwire.v1.json)`,
    'GET /healthz        liveness: 200 while the process serves',
    'GET /readyz         readiness: 200 when ready, 503 while starting, draining or cut off from the cluster',
    'GET /metrics        Prometheus text format',
    `GET /stats          JSON: server, counters, rates, connections (?limit=, at most ${MAX_CONNECTIONS_PAGE}, &offset=) with their subscriptions`,
    'GET /stats/history  JSON: the last minutes of per-second samples',
    'GET /               the web monitor (in a browser)',
    '',
  ].join('\n')
}

/**
 * The page of connections `GET /stats?limit=&offset=` asks for.
 * @throws SubwireError `bad_option` for a value that is not a whole number in range, or one given twice
 */
export function statsPage(req: IncomingMessage): { offset: number; limit: number } {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams
  const read = (name: string, fallback: number, max: number): number => {
    const values = query.getAll(name)
    if (values.length === 0) return fallback
    const raw = values[0] ?? ''
    const n = /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN
    if (values.length > 1 || !(n <= max)) throw new SubwireError('bad_option', `${name} must be a whole number from 0 to ${max}, given once; got ${values.join(', ')}`)
    return n
  }
  return { offset: read('offset', 0, Number.MAX_SAFE_INTEGER), limit: read('limit', CONNECTIONS_PAGE, MAX_CONNECTIONS_PAGE) }
}

function wantsHtml(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('text/html')
}

function routesFor(broker: Broker, httpAuth: HttpAuth, sysStats: SysStats, metrics: BrokerMetrics, monitorPage: boolean): Map<string, Route> {
  const routes = new Map<string, Route>([
    ['/healthz', (_req, res) => sendText(res, 200, `ok (${broker.state})\n`)],
    ['/readyz', (_req, res) => {
      // A node that cannot reach its cluster's Redis serves its own clients only: a load balancer should send
      // new clients elsewhere until it is back.
      if (broker.ready && broker.cluster.link === 'up') sendText(res, 200, 'ready\n')
      else if (broker.ready) sendText(res, 503, 'not ready: the cluster link (Redis) is down\n')
      else sendText(res, 503, `not ready: ${broker.state}\n`)
    }],
    ['/metrics', async (_req, res) => send(res, 200, metrics.contentType, await metrics.text(), {})],
    ['/stats', (req, res) => {
      let page: { offset: number; limit: number }
      try {
        page = statsPage(req)
      } catch (err) {
        if (!(err instanceof SubwireError)) throw err
        sendRefusal(res, 400, err.code, err.message)
        return
      }
      sendJson(res, 200, sysStats.report(page))
    }],
    ['/stats/history', (_req, res) => sendJson(res, 200, { samples: sysStats.history() })],
  ])
  routes.set('/', (req, res) => {
    if (monitorPage && wantsHtml(req)) send(res, 200, 'text/html; charset=utf-8', monitorPageHtml(broker.config.path, httpAuth.required), {})
    else if (broker.config.path === '/') sendText(res, 426, helpText(broker), { Upgrade: 'websocket' })
    else sendText(res, 200, helpText(broker))
  })
  if (monitorPage) {
    routes.set('/monitor.js', async (_req, res) => send(res, 200, 'text/javascript; charset=utf-8', await monitorScript(), {}))
  }
  return routes
}

/**
 * Starts `$SYS` publishing and metrics for a broker, and serves the monitoring routes on its port.
 * @example
 * const broker = await createBroker({ port: 4480 })
 * const monitoring = attachMonitoring(broker)   // http://127.0.0.1:4480/ is the monitor
 */
export function attachMonitoring(broker: Broker, options: MonitoringOptions = {}): Monitoring {
  const sysStats = new SysStats(broker, options.sysStats)
  const metrics = new BrokerMetrics(broker)
  const httpAuth = httpAuthFor(broker.config)
  const routes = routesFor(broker, httpAuth, sysStats, metrics, options.monitorPage ?? true)
  const log = broker.logger.child({ component: 'monitoring' })

  /** Answers 401 or 403 and returns false unless the request comes from a monitoring identity. */
  const allowed = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const who = await httpAuth.authenticate(req)
    if (!who.ok) {
      log.debug({ url: req.url, presented: who.presented }, 'a monitoring request was refused: no valid credential')
      sendRefusal(res, 401, 'auth_failed', who.presented ? 'authentication failed' : 'this endpoint needs a credential: Authorization: Bearer <token> (or Basic)', { 'WWW-Authenticate': authChallenge(who.presented) })
      return false
    }
    if (!canMonitor(who.identity.permissions)) {
      sendRefusal(res, 403, 'permission', `${who.identity.user === '' ? 'this identity' : who.identity.user} may not read the monitoring (it needs the monitor permission)`)
      return false
    }
    return true
  }

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = requestPathname(req)
    const route = routes.get(path)
    if (route === undefined) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, `${req.method ?? '?'} is not allowed here; use GET\n`, { Allow: 'GET, HEAD' })
      return true
    }
    Promise.resolve()
      .then(async () => {
        if (GUARDED.has(path) && !(await allowed(req, res))) return
        await route(req, res)
      })
      .catch((err: unknown) => {
        log.error({ err, url: req.url }, 'a monitoring route failed')
        if (!res.headersSent) sendText(res, 500, `${err instanceof Error ? err.message : String(err)}\n`)
        else res.destroy()
      })
    return true
  }

  const unregister = options.http === false ? () => undefined : registerHttpHandler(broker.config, handle)
  return {
    sysStats,
    metrics,
    authRequired: httpAuth.required,
    handle,
    close() {
      unregister()
      sysStats.close()
      metrics.close()
    },
  }
}
