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
}

const PAD = { left: 56, right: 10, top: 22, bottom: 20 }
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
    const from = now - this.#windowMs
    const max = niceCeil(this.#visibleMax(from) * 1.1)
    const plotW = width - PAD.left - PAD.right
    const plotH = height - PAD.top - PAD.bottom
    const x = (t: number): number => PAD.left + ((t - from) / this.#windowMs) * plotW
    const y = (v: number): number => PAD.top + plotH - (v / max) * plotH
    this.#drawGrid(ctx, max, plotW, plotH, y)
    this.#drawTimeAxis(ctx, plotH, x)
    for (let i = 0; i < this.#series.length; i++) this.#drawLine(ctx, i, from, x, y)
    this.#drawLegend(ctx)
  }

  #visibleMax(from: number): number {
    let max = 0
    for (let i = 0; i < this.#t.length; i++) {
      const t = this.#t[i] ?? []
      const v = this.#v[i] ?? []
      for (let j = 0; j < t.length; j++) if ((t[j] ?? 0) >= from && (v[j] ?? 0) > max) max = v[j] ?? 0
    }
    return max
  }

  #drawGrid(ctx: CanvasRenderingContext2D, max: number, plotW: number, plotH: number, y: (v: number) => number): void {
    ctx.font = '11px system-ui, sans-serif'
    ctx.textAlign = 'right'
    ctx.textBaseline = 'middle'
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4
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

  #drawTimeAxis(ctx: CanvasRenderingContext2D, plotH: number, x: (t: number) => number): void {
    ctx.fillStyle = TEXT
    ctx.textAlign = 'center'
    ctx.textBaseline = 'top'
    const minutes = Math.round(this.#windowMs / 60_000)
    const step = minutes >= 2 ? 60_000 : 10_000
    const now = Date.now()
    for (let ago = 0; ago <= this.#windowMs; ago += step) {
      const label = ago === 0 ? 'now' : step === 60_000 ? `-${ago / 60_000}m` : `-${ago / 1000}s`
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
    let started = false
    for (let j = 0; j < t.length; j++) {
      const tj = t[j] ?? 0
      if (tj < from) continue
      const px = x(tj)
      const py = y(v[j] ?? 0)
      if (started) ctx.lineTo(px, py)
      else { ctx.moveTo(px, py); started = true }
    }
    ctx.stroke()
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
      const label = `${spec.label} ${last}`
      ctx.fillStyle = spec.color
      ctx.fillRect(left, 7, 10, 3)
      ctx.fillStyle = TEXT
      ctx.fillText(label, left + 14, 9)
      left += ctx.measureText(label).width + 30
    }
  }
}
