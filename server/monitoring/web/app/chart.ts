/**
 * A small line chart on a canvas: time on x (the last `windowMs`), one or more series on y with an automatic
 * "nice" scale. Plain canvas on purpose: the monitor and the demo dashboard draw a few hundred points a second,
 * which needs no chart library (and the page stays a few KiB besides the client).
 *
 * Browser only (web-platform APIs).
 */

/** One line of a chart. */
export interface SeriesSpec {
  label: string
  color: string
}

/** Options of a chart. */
export interface ChartOptions {
  series: SeriesSpec[]
  /** Width of the time window shown, ms. @default 300000 (five minutes) */
  windowMs?: number
  /** Formats a y-axis value (e.g. `1.2k/s`). @default String */
  format?: (v: number) => string
  /** Most points kept per series; older ones are dropped. @default 2000 */
  maxPoints?: number
  /** The shortest time axis while there is less data than `windowMs`. @default 30000 */
  minSpanMs?: number
  /** Fit the y axis to the data (e.g. pressure around 1,000 hPa) instead of starting at zero. @default false */
  fitY?: boolean
  /** Show each series' latest value in the legend. @default true */
  legendValues?: boolean
}

const PAD = { left: 56, right: 10, top: 22, bottom: 20 }
/** Time-axis label steps, ms: the first giving at most six labels is used. */
const TIME_STEPS = [5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000]
const GRID = 'rgba(128,140,160,0.18)'
const TEXT = '#8a94a6'

/** The smallest "nice" number (1, 2 or 5 × 10^k) at least `x`. */
export function niceCeil(x: number): number {
  if (x <= 0 || !Number.isFinite(x)) return 1
  const p = 10 ** Math.floor(Math.log10(x))
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p
  return 10 * p
}

export class LineChart {
  readonly #canvas: HTMLCanvasElement
  readonly #series: SeriesSpec[]
  readonly #windowMs: number
  readonly #format: (v: number) => string
  readonly #maxPoints: number
  readonly #minSpanMs: number
  readonly #fitY: boolean
  readonly #legendValues: boolean
  /** Per series: parallel arrays of times and values (no per-point objects). */
  readonly #t: number[][]
  readonly #v: number[][]
  #pending = false

  constructor(canvas: HTMLCanvasElement, options: ChartOptions) {
    this.#canvas = canvas
    this.#series = options.series
    this.#windowMs = options.windowMs ?? 300_000
    this.#format = options.format ?? String
    this.#maxPoints = options.maxPoints ?? 2000
    this.#minSpanMs = options.minSpanMs ?? 30_000
    this.#fitY = options.fitY ?? false
    this.#legendValues = options.legendValues ?? true
    this.#t = options.series.map(() => [])
    this.#v = options.series.map(() => [])
  }

  /** Adds one point per series at time `at` (epoch ms) and schedules a redraw. */
  push(at: number, values: number[]): void {
    // Out-of-order points (a history fetched late) would draw the line backwards.
    if (at <= (this.#t[0]?.at(-1) ?? -Infinity)) return
    for (let i = 0; i < this.#series.length; i++) {
      const t = this.#t[i]
      const v = this.#v[i]
      if (t === undefined || v === undefined) continue
      t.push(at)
      v.push(values[i] ?? 0)
      if (t.length > this.#maxPoints) { t.shift(); v.shift() }
    }
    this.#schedule()
  }

  /** Forgets every point (e.g. a different broker answered after a restart). */
  clear(): void {
    for (const t of this.#t) t.length = 0
    for (const v of this.#v) v.length = 0
    this.#schedule()
  }

  /** Redraws at the next animation frame at most once, however many points arrived. */
  #schedule(): void {
    if (this.#pending) return
    this.#pending = true
    requestAnimationFrame(() => {
      this.#pending = false
      this.draw()
    })
  }

  draw(now = Date.now()): void {
    const canvas = this.#canvas
    const ratio = globalThis.devicePixelRatio || 1
    const width = canvas.clientWidth
    const height = canvas.clientHeight
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio)
      canvas.height = Math.round(height * ratio)
    }
    const ctx = canvas.getContext('2d')
    if (ctx === null) return
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0)
    ctx.clearRect(0, 0, width, height)
    // Until there are windowMs of points, the axis spans what there is (at least minSpanMs): a young
    // broker's chart is not a flat line squeezed against the right edge.
    const first = Math.min(...this.#t.map((t) => t[0] ?? now))
    const span = Math.min(this.#windowMs, Math.max(this.#minSpanMs, now - first))
    const from = now - span
    const [lo, hi] = this.#yRange(from)
    const plotW = width - PAD.left - PAD.right
    const plotH = height - PAD.top - PAD.bottom
    const x = (t: number): number => PAD.left + ((t - from) / span) * plotW
    const y = (v: number): number => PAD.top + plotH - ((v - lo) / (hi - lo)) * plotH
    this.#drawGrid(ctx, lo, hi, plotW, plotH, y)
    this.#drawTimeAxis(ctx, plotH, x, span, now)
    for (let i = 0; i < this.#series.length; i++) this.#drawLine(ctx, i, from, x, y)
    this.#drawLegend(ctx)
  }

  /** The y axis: [0, nice max], or with fitY nice bounds around the visible data. */
  #yRange(from: number): [number, number] {
    let min = Infinity
    let max = -Infinity
    for (let i = 0; i < this.#t.length; i++) {
      const t = this.#t[i] ?? []
      const v = this.#v[i] ?? []
      for (let j = 0; j < t.length; j++) {
        if ((t[j] ?? 0) < from) continue
        const x = v[j] ?? 0
        if (x < min) min = x
        if (x > max) max = x
      }
    }
    if (!this.#fitY || min > max) return [0, niceCeil(Math.max(0, max) * 1.1)]
    const step = niceCeil(Math.max(max - min, 1e-9) / 4)
    const lo = Math.floor(min / step) * step
    return [lo, Math.max(lo + 4 * step, Math.ceil(max / step) * step)]
  }

  #drawGrid(ctx: CanvasRenderingContext2D, lo: number, hi: number, plotW: number, plotH: number, y: (v: number) => number): void {
    ctx.font = '11px system-ui, sans-serif'
    ctx.textAlign = 'right'
    ctx.textBaseline = 'middle'
    for (let k = 0; k <= 4; k++) {
      const v = lo + ((hi - lo) * k) / 4
      const yy = Math.round(y(v)) + 0.5
      ctx.strokeStyle = GRID
      ctx.beginPath()
      ctx.moveTo(PAD.left, yy)
      ctx.lineTo(PAD.left + plotW, yy)
      ctx.stroke()
      ctx.fillStyle = TEXT
      ctx.fillText(this.#format(v), PAD.left - 6, yy)
    }
    ctx.strokeStyle = GRID
    ctx.strokeRect(PAD.left + 0.5, PAD.top + 0.5, plotW, plotH)
  }

  #drawTimeAxis(ctx: CanvasRenderingContext2D, plotH: number, x: (t: number) => number, span: number, now: number): void {
    ctx.fillStyle = TEXT
    ctx.textAlign = 'center'
    ctx.textBaseline = 'top'
    const step = TIME_STEPS.find((s) => span / s <= 6) ?? 600_000
    for (let ago = 0; ago <= span; ago += step) {
      const label = ago === 0 ? 'now' : ago % 60_000 === 0 ? `-${ago / 60_000}m` : `-${ago / 1000}s`
      ctx.fillText(label, Math.min(Math.max(x(now - ago), PAD.left + 12), this.#canvas.clientWidth - PAD.right - 12), PAD.top + plotH + 5)
    }
  }

  #drawLine(ctx: CanvasRenderingContext2D, i: number, from: number, x: (t: number) => number, y: (v: number) => number): void {
    const t = this.#t[i] ?? []
    const v = this.#v[i] ?? []
    const spec = this.#series[i]
    if (spec === undefined || t.length === 0) return
    ctx.strokeStyle = spec.color
    ctx.lineWidth = 1.6
    ctx.lineJoin = 'round'
    ctx.beginPath()
    let drawn = 0
    let px = 0
    let py = 0
    for (let j = 0; j < t.length; j++) {
      const tj = t[j] ?? 0
      if (tj < from) continue
      px = x(tj)
      py = y(v[j] ?? 0)
      if (drawn++ > 0) ctx.lineTo(px, py)
      else ctx.moveTo(px, py)
    }
    ctx.stroke()
    // A line needs two points: a series with one (a chart seeded with last values) shows it as a dot.
    if (drawn === 1) {
      ctx.fillStyle = spec.color
      ctx.beginPath()
      ctx.arc(px, py, 2.5, 0, 2 * Math.PI)
      ctx.fill()
    }
  }

  #drawLegend(ctx: CanvasRenderingContext2D): void {
    ctx.font = '12px system-ui, sans-serif'
    ctx.textAlign = 'left'
    ctx.textBaseline = 'middle'
    let left = PAD.left
    for (let i = 0; i < this.#series.length; i++) {
      const spec = this.#series[i]
      if (spec === undefined) continue
      const v = this.#v[i] ?? []
      const last = v.length > 0 ? this.#format(v[v.length - 1] ?? 0) : '–'
      const label = this.#legendValues ? `${spec.label} ${last}` : spec.label
      ctx.fillStyle = spec.color
      ctx.fillRect(left, 7, 10, 3)
      ctx.fillStyle = TEXT
      ctx.fillText(label, left + 14, 9)
      left += ctx.measureText(label).width + 30
    }
  }
}
