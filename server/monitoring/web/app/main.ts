/**
 * The web monitor's script (bundled to `/monitor.js`): connects back to the broker that served the page,
 * subscribes to `$SYS.>`, and keeps the tiles, charts and tables live. The client reconnects by itself when
 * the broker restarts; a report from a different server id resets the charts and refetches the history.
 *
 * Browser only. Exposes `globalThis.subwireMonitor` (a few counters) for the real-browser test.
 */
import { connect, type Client } from '../../../../client/index.ts'
import type { StatsReport } from '../../stats-report.ts'
import type { ConnEvent, HistorySample } from '../../sys-stats.ts'
import { LineChart } from './chart.ts'
import { bytes, clock, compact, duration } from './format.ts'
import { renderTopics } from './topics-panel.ts'

/** What the test reads from the page. */
interface MonitorProbe {
  reports: number
  serverId: string | null
  link: string
}
const probe: MonitorProbe = { reports: 0, serverId: null, link: 'connecting' }
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
}

function renderEvents(): void {
  table('conn-events', ['time', 'event', 'name', 'ip'],
    events.map(({ at, kind, e }) => [clock(at), kind === 'connect' ? 'connect' : `disconnect ${e.code ?? ''}`, e.name || e.id, e.ip]),
    'none since this page opened')
}

async function loadHistory(): Promise<void> {
  try {
    const res = await fetch(new URL('stats/history', location.href))
    if (!res.ok) return
    const { samples } = await res.json() as { samples: HistorySample[] }
    for (const s of samples) plot(s)
  } catch {
    // The history only prefills the charts; live reports follow either way.
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

/** Connects, retrying with capped backoff while the broker is not there yet (the page may outlive it). */
async function connectForever(url: string): Promise<Client> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(url, { name: 'subwire-monitor' })
    } catch {
      setLink('down')
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt) * Math.random()))
    }
  }
}

async function main(): Promise<void> {
  $('noscript').remove()
  renderEvents()
  await loadHistory()
  const c = await connectForever(brokerUrl())
  setLink('live')
  void watchStatus(c)
  c.subscribe('$SYS.stats', { callback: (_err, m) => { if (m !== null) onReport(m.data as StatsReport) } })
  c.subscribe('$SYS.conn.connect', { callback: (_err, m) => { if (m !== null) onConnEvent('connect', m.data as ConnEvent) } })
  c.subscribe('$SYS.conn.disconnect', { callback: (_err, m) => { if (m !== null) onConnEvent('disconnect', m.data as ConnEvent) } })
  // Redraw once a second even without data, so the time axis keeps moving while the broker is away.
  setInterval(() => { for (const chart of Object.values(charts)) chart.draw() }, 1000)
}

void main()
