/**
 * The realtime dashboard page (bundled to /dashboard.js by demo/web-server.ts): subscribes to `sensors.>`
 * (every sensor, by wildcard) and `demo.pool.stats`, and draws live charts, the latest reading per site, and how
 * the microservices demo spreads requests over its workers. The `sensors.>` subscription starts with
 * `deliver: 'last_per_subject'` from the broker's `sensors` topic (a last-value cache, demo/demo.ts): every
 * sensor's last reading arrives at once on load, then the readings go on live with no gap and no duplicate.
 * The client reconnects by itself when the broker restarts. Exposes `globalThis.subwireDashboard` (counters)
 * for the real-browser test.
 *
 * Browser only.
 */
import { connect, type SharedClient, type Subscription } from '../../client/index.ts'
import { LineChart } from '../../server/monitoring/web/app/chart.ts'
import { compact } from '../../server/monitoring/web/app/format.ts'
import type { Reading } from './simulator.ts'
import type { PoolStats } from '../microservices/requester.ts'

interface DashboardProbe {
  received: number
  link: string
  poolUpdates: number
  /** Sensors with a value on the page. */
  sensors: number
  /** Times the sensors subscription was made (1 on load, one more after each reconnect). */
  subscriptions: number
  /** Sites whose last values were drawn in every chart when the charts were last seeded. */
  chartSites: number
}
const probe: DashboardProbe = { received: 0, link: 'connecting', poolUpdates: 0, sensors: 0, subscriptions: 0, chartSites: 0 }
;(globalThis as unknown as { subwireDashboard: DashboardProbe }).subwireDashboard = probe

const KINDS = ['temp', 'humidity', 'pressure', 'wind'] as const
const UNITS: Record<string, string> = { temp: '°C', humidity: '%', pressure: 'hPa', wind: 'm/s' }
const COLORS = ['#4fc3f7', '#81c784', '#ffb74d', '#e57373', '#ba68c8', '#4db6ac', '#fff176', '#90a4ae']
/** Chart points per sensor per second: the sensors send 50, the eye needs far fewer. */
const CHART_HZ = 10

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`[dashboard] missing #${id}`)
  return el
}

const sites: string[] = []
const latest = new Map<string, Reading>()
const lastPlotted = new Map<string, number>()
const charts = new Map<string, LineChart>()
let received = 0
let receivedThisSecond = 0
let dirty = false
/** The charts were rebuilt (a new site) and hold no point yet: give them the latest values at the next frame. */
let chartsEmpty = false

function siteIndex(site: string): number {
  let i = sites.indexOf(site)
  if (i < 0) {
    sites.push(site)
    i = sites.length - 1
    rebuildCharts()
  }
  return i
}

/** A new site means a new line in every chart: rebuild them (this happens once per site, on first sight). */
function rebuildCharts(): void {
  chartsEmpty = true
  for (const kind of KINDS) {
    charts.set(kind, new LineChart($(`chart-${kind}`) as HTMLCanvasElement, {
      series: sites.map((site, i) => ({ label: site, color: COLORS[i % COLORS.length] ?? '#fff' })),
      windowMs: 30_000,
      minSpanMs: 5000,
      fitY: true,
      legendValues: false,
      format: (v) => (kind === 'pressure' ? v.toFixed(0) : v.toFixed(1)),
    }))
  }
}

function onReading(subject: string, r: Reading): void {
  const [, site, kind] = subject.split('.')
  if (site === undefined || kind === undefined) return
  // After a reconnect the last values are asked for again (watchStatus): one already shown is not news.
  const shown = latest.get(`${site}.${kind}`)
  if (shown !== undefined && r.t <= shown.t) return
  received++
  receivedThisSecond++
  latest.set(`${site}.${kind}`, r)
  dirty = true
  const i = siteIndex(site)
  const key = `${site}.${kind}`
  if (r.t - (lastPlotted.get(key) ?? 0) < 1000 / CHART_HZ) return
  lastPlotted.set(key, r.t)
  // One point per site per tick: the chart takes a row of values, so carry the other sites' latest ones.
  const chart = charts.get(kind)
  if (chart !== undefined && i === 0) chart.push(r.t, sites.map((s) => latest.get(`${s}.${kind}`)?.v ?? 0))
}

/**
 * One point per site in each chart from the latest values, at the newest of their times. On load the topic's
 * last values arrive as one burst, site after site; this draws them all in the first frame after it, so the
 * charts start with every sensor instead of waiting for the next live tick.
 */
function seedCharts(): void {
  chartsEmpty = false
  let drawn = sites.length
  for (const kind of KINDS) {
    const readings = sites.map((site) => latest.get(`${site}.${kind}`))
    const at = Math.max(...readings.map((r) => r?.t ?? 0))
    if (at > 0) charts.get(kind)?.push(at, readings.map((r) => r?.v ?? 0))
    drawn = Math.min(drawn, readings.filter((r) => r !== undefined).length)
  }
  probe.chartSites = drawn
}

function renderSites(): void {
  if (chartsEmpty) seedCharts()
  if (!dirty) return
  dirty = false
  probe.received = received
  probe.sensors = latest.size
  $('received').textContent = compact(received)
  $('sensor-count').textContent = String(latest.size)
  const host = $('sites')
  for (const site of sites) {
    let card = document.getElementById(`site-${site}`)
    if (card === null) {
      card = document.createElement('div')
      card.id = `site-${site}`
      card.className = 'site'
      const h = document.createElement('h3')
      h.textContent = site
      card.append(h)
      for (const kind of KINDS) {
        const row = document.createElement('div')
        row.className = 'row'
        const label = document.createElement('span')
        label.textContent = kind
        const value = document.createElement('b')
        value.id = `v-${site}-${kind}`
        row.append(label, value)
        card.append(row)
      }
      host.append(card)
    }
    for (const kind of KINDS) {
      const r = latest.get(`${site}.${kind}`)
      const el = document.getElementById(`v-${site}-${kind}`)
      if (el !== null && r !== undefined) el.textContent = `${r.v.toFixed(kind === 'pressure' ? 0 : 1)} ${UNITS[kind] ?? ''}`
    }
  }
}

function renderPool(s: PoolStats): void {
  probe.poolUpdates++
  const max = Math.max(1, ...Object.values(s.perWorker))
  const host = $('pool')
  host.replaceChildren()
  for (const worker of s.workers) {
    const n = s.perWorker[worker] ?? 0
    const bar = document.createElement('div')
    bar.className = 'bar'
    const name = document.createElement('span')
    name.className = 'name'
    name.textContent = worker
    const fill = document.createElement('span')
    fill.className = 'fill'
    fill.style.width = `${Math.round((260 * n) / max)}px`
    const count = document.createElement('span')
    count.className = 'n'
    count.textContent = `${n}/s`
    bar.append(name, fill, count)
    host.append(bar)
  }
  $('pool-latency').textContent = `${s.workers.length} workers · p50 ${s.p50Ms} ms · p99 ${s.p99Ms} ms · failed ${s.failed}`
  const log = $('pool-log')
  for (const e of s.events) {
    const line = document.createElement('div')
    line.textContent = `${new Date(s.at).toLocaleTimeString()} ${e}`
    log.prepend(line)
  }
  while (log.childElementCount > 8) log.lastElementChild?.remove()
}

function setLink(state: string): void {
  probe.link = state
  const el = $('link-status')
  el.textContent = state
  el.className = `badge ${state === 'live' ? 'live' : state === 'connecting' ? '' : 'down'}`
}

/** Every sensor's last reading from the topic at once, then live. */
function subscribeSensors(c: SharedClient): Subscription {
  probe.subscriptions++
  return c.subscribe('sensors.>', { deliver: 'last_per_subject', callback: (_err, m) => { if (m !== null) onReading(m.subject, m.data as Reading) } })
}

async function watchStatus(c: SharedClient, sensors: Subscription): Promise<void> {
  for await (const s of c.status()) {
    if (s.type === 'disconnect' || s.type === 'reconnecting') setLink('reconnecting')
    else if (s.type === 'reconnect') {
      // The client resumed the replay after its last sequence, which is right when the same log is still there.
      // A restarted in-memory broker has a new, empty log whose sequences start again at 1, and a dashboard
      // wants every sensor's current value after a reconnect anyway, not what it missed: ask for the last values
      // again. (A reading already shown, or older, is ignored by onReading.)
      sensors.unsubscribe()
      sensors = subscribeSensors(c)
      setLink('live')
    } else if (s.type === 'close') setLink('down')
  }
}

async function main(): Promise<void> {
  const url = new URL(location.href).searchParams.get('broker') ?? document.querySelector('meta[name="subwire-url"]')?.getAttribute('content') ?? ''
  let c: SharedClient | null = null
  for (let attempt = 0; c === null; attempt++) {
    try {
      // Every dashboard tab of this origin shares one connection (a SharedWorker; its script is served beside the
      // page): ten open dashboards are one connection and one subscription per pattern at the broker. With resume,
      // a phone changing networks gets the pool stats it missed instead of a hole in them.
      c = await connect(url, { name: 'dashboard-page', resume: true, shared: { workerUrl: '/subwire-worker.js' } })
    } catch {
      setLink('down')
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt) * Math.random()))
    }
  }
  setLink('live')
  void watchStatus(c, subscribeSensors(c))
  c.subscribe('demo.pool.stats', { callback: (_err, m) => { if (m !== null) renderPool(m.data as PoolStats) } })
  setInterval(() => {
    $('rate').textContent = compact(receivedThisSecond)
    receivedThisSecond = 0
  }, 1000)
  const frame = (): void => {
    renderSites()
    requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
}

void main()
