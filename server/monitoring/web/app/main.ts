/**
 * The web monitor's script (bundled to `/monitor.js`): connects back to the broker that served the page,
 * subscribes to `$SYS.>`, and keeps the tiles, charts and tables live. The client reconnects by itself when
 * the broker restarts; a report from a different server id resets the charts and refetches the history.
 * A broker with auth on is asked with the credential entered in the sign-in form (credential.ts).
 *
 * Browser only. Exposes `globalThis.subwireMonitor` (a few counters) for the real-browser test.
 */
import { connect, SubwireError, type Client } from '../../../../client/index.ts'
import type { StatsReport } from '../../stats-report.ts'
import type { ConnEvent, HistorySample } from '../../sys-stats.ts'
import { LineChart } from './chart.ts'
import { bytes, clock, compact, duration } from './format.ts'
import { renderTopics } from './topics-panel.ts'
import { askForCredential, authHeaders, authRequired, connectCredentials, forgetCredential, offerSignOut, storedCredential, type Credential } from './credential.ts'

/** What the test reads from the page. */
interface MonitorProbe {
  reports: number
  serverId: string | null
  link: string
  /** `none` (the broker asks for nothing), `asking` (the sign-in form is up), `signed-in`. */
  auth: 'none' | 'asking' | 'signed-in'
}
const probe: MonitorProbe = { reports: 0, serverId: null, link: 'connecting', auth: 'none' }
;(globalThis as unknown as { subwireMonitor: MonitorProbe }).subwireMonitor = probe

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`[monitor] missing #${id}`)
  return el
}

const charts = {
  msgs: new LineChart($('chart-msgs') as HTMLCanvasElement, {
    series: [{ label: 'in', color: '#4fc3f7' }, { label: 'delivered', color: '#81c784' }], format: compact,
  }),
  conns: new LineChart($('chart-conns') as HTMLCanvasElement, {
    series: [{ label: 'connections', color: '#ce93d8' }, { label: 'subscriptions', color: '#ffb74d' }], format: compact,
  }),
  bytes: new LineChart($('chart-bytes') as HTMLCanvasElement, {
    series: [{ label: 'in', color: '#4fc3f7' }, { label: 'out', color: '#81c784' }], format: (v) => bytes(v),
  }),
}
const events: Array<{ at: number; kind: 'connect' | 'disconnect'; e: ConnEvent }> = []

function brokerUrl(): string {
  const given = new URL(location.href).searchParams.get('broker')
  if (given !== null) return given
  const path = document.querySelector('meta[name="subwire-ws-path"]')?.getAttribute('content') ?? '/'
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`
}

function setText(id: string, text: string): void {
  const el = $(id)
  if (el.textContent !== text) el.textContent = text
}

function setLink(state: 'live' | 'reconnecting' | 'down' | 'connecting'): void {
  probe.link = state
  const el = $('link-status')
  el.textContent = state
  el.className = `badge ${state === 'live' ? 'live' : state === 'connecting' ? '' : 'down'}`
}

function plot(s: HistorySample): void {
  charts.msgs.push(s.at, [s.published, s.delivered])
  charts.conns.push(s.at, [s.connections, s.subscriptions])
  charts.bytes.push(s.at, [s.bytesIn, s.bytesOut])
}

/** A table of rows, or a placeholder when there are none. Cells are set as text, never as HTML. */
function table(id: string, head: string[], rows: string[][], empty: string, numeric: number[] = []): void {
  const host = $(id)
  host.replaceChildren()
  if (rows.length === 0) {
    const p = document.createElement('div')
    p.className = 'empty'
    p.textContent = empty
    host.append(p)
    return
  }
  const t = document.createElement('table')
  const tr = t.createTHead().insertRow()
  head.forEach((h, i) => {
    const th = document.createElement('th')
    th.textContent = h
    if (numeric.includes(i)) th.className = 'n'
    tr.append(th)
  })
  const body = t.createTBody()
  for (const row of rows) {
    const r = body.insertRow()
    row.forEach((cell, i) => {
      const td = r.insertCell()
      td.textContent = cell
      td.title = cell
      if (numeric.includes(i)) td.className = 'n'
    })
  }
  host.append(t)
}

function renderReport(r: StatsReport): void {
  setText('server-name', r.server.name)
  setText('server-version', `v${r.server.version}`)
  setText('server-url', r.server.url)
  setText('server-uptime', duration(r.server.uptimeMs))
  const state = $('server-state')
  state.textContent = r.server.state
  state.className = `badge ${r.server.state}`
  setText('v-published', compact(r.rates.published))
  setText('v-delivered', compact(r.rates.delivered))
  setText('v-bytes-in', bytes(r.rates.bytesIn))
  setText('v-bytes-out', bytes(r.rates.bytesOut))
  setText('v-connections', compact(r.connections))
  setText('v-subscriptions', compact(r.subscriptions))
  setText('v-pending', bytes(r.pendingBytes))
  setText('v-slow', compact(r.totals.slowConsumers))
  $('v-slow').className = r.totals.slowConsumers > 0 ? 'v warn' : 'v'
  setText('v-unmatched', compact(r.totals.unmatched))
  setText('v-lag', r.server.eventLoopLagMs === null ? '–' : `${r.server.eventLoopLagMs.p99.toFixed(1)} ms`)
  setText('v-rss', bytes(r.server.rssBytes))
  table('top-subjects', ['subject', 'subs', 'queue groups'],
    r.topSubscriptions.map((p) => [p.subject, String(p.subscriptions), p.queues.join(', ')]), 'no subscriptions', [1])
  table('slow-consumers', ['time', 'name', 'ip', 'pending'],
    r.slowConsumers.map((s) => [clock(s.at), s.name || s.id, s.ip, bytes(s.pendingBytes)]), 'none since the broker started', [3])
  renderTopics($('topics'), r.topics)
  const c = r.cluster
  table('cluster', ['node', 'connections', 'subscriptions', 'patterns', 'host / pid'],
    c === null ? [] : c.nodes.map((n) => [n.self ? `${n.nodeId} (this node, Redis ${c.link})` : n.nodeId, compact(n.connections), compact(n.subscriptions), compact(n.patterns), `${n.host ?? ''} ${n.pid ?? ''}`]),
    'not clustered: this broker runs alone (option cluster)', [1, 2, 3])
}

function renderEvents(): void {
  table('conn-events', ['time', 'event', 'name', 'ip'],
    events.map(({ at, kind, e }) => [clock(at), kind === 'connect' ? 'connect' : `disconnect ${e.code ?? ''}`, e.name || e.id, e.ip]),
    'none since this page opened')
}

/**
 * Prefills the charts from `/stats/history`. Returns the HTTP status (0 when the broker did not answer): 401
 * and 403 say the credential is refused; anything else only leaves the charts to fill from live reports.
 */
async function loadHistory(credential: Credential | null): Promise<number> {
  try {
    const res = await fetch(new URL('stats/history', location.href), { headers: authHeaders(credential) })
    if (!res.ok) return res.status
    const { samples } = await res.json() as { samples: HistorySample[] }
    for (const s of samples) plot(s)
    return res.status
  } catch {
    return 0
  }
}

/** Asks for a credential until the broker accepts it for the monitoring (loading the history with it). */
async function signIn(): Promise<Credential> {
  let credential = storedCredential()
  let message = ''
  for (let attempt = 0; ; attempt++) {
    if (credential === null) {
      probe.auth = 'asking'
      credential = await askForCredential(message)
    }
    const status = await loadHistory(credential)
    if (status === 401 || status === 403) {
      message = status === 401 ? 'refused: that credential is not valid here' : 'that credential may not read the monitoring (it needs the monitor permission)'
      forgetCredential()
      credential = null
    } else if (status === 0) {
      // The broker is away: keep the credential and try again shortly.
      setLink('down')
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt)))
    } else {
      probe.auth = 'signed-in'
      offerSignOut()
      return credential
    }
  }
}

function onReport(r: StatsReport): void {
  if (probe.serverId !== null && probe.serverId !== r.server.id) {
    // Another broker (a restart): its counters start over, so old points would mislead.
    for (const c of Object.values(charts)) c.clear()
  }
  probe.serverId = r.server.id
  probe.reports++
  plot({ at: r.at, ...r.rates, connections: r.connections, subscriptions: r.subscriptions, slowConsumers: r.totals.slowConsumers })
  renderReport(r)
}

function onConnEvent(kind: 'connect' | 'disconnect', e: ConnEvent): void {
  events.unshift({ at: e.at, kind, e })
  if (events.length > 20) events.pop()
  renderEvents()
}

async function watchStatus(c: Client): Promise<void> {
  for await (const s of c.status()) {
    if (s.type === 'disconnect' || s.type === 'reconnecting') setLink('reconnecting')
    else if (s.type === 'reconnect') setLink('live')
    else if (s.type === 'close') setLink('down')
  }
}

/**
 * Connects, retrying with capped backoff while the broker is not there yet (the page may outlive it). A
 * credential the broker refuses (revoked meanwhile) is forgotten and the page asks again.
 */
async function connectForever(url: string, credential: Credential | null): Promise<Client> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(url, { name: 'subwire-monitor', ...connectCredentials(credential) })
    } catch (err) {
      if (credential !== null && err instanceof SubwireError && (err.code === 'auth_failed' || err.code === 'permission')) {
        forgetCredential()
        location.reload()
      }
      setLink('down')
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt) * Math.random()))
    }
  }
}

async function main(): Promise<void> {
  $('noscript').remove()
  renderEvents()
  let credential: Credential | null = null
  if (authRequired()) credential = await signIn()
  else await loadHistory(null)
  const c = await connectForever(brokerUrl(), credential)
  setLink('live')
  void watchStatus(c)
  c.subscribe('$SYS.stats', { callback: (_err, m) => { if (m !== null) onReport(m.data as StatsReport) } })
  c.subscribe('$SYS.conn.connect', { callback: (_err, m) => { if (m !== null) onConnEvent('connect', m.data as ConnEvent) } })
  c.subscribe('$SYS.conn.disconnect', { callback: (_err, m) => { if (m !== null) onConnEvent('disconnect', m.data as ConnEvent) } })
  // Redraw once a second even without data, so the time axis keeps moving while the broker is away.
  setInterval(() => { for (const chart of Object.values(charts)) chart.draw() }, 1000)
}

void main()
