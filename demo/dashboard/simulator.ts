/**
 * The sensor simulator of the realtime dashboard: dozens of sensors publishing `sensors.<site>.<kind>` at 50 Hz
 * each (8 sites × 4 kinds = 32 sensors, 1,600 messages a second), with values that drift like real readings.
 */
import type { Client } from '../../client/index.ts'

export const SITES = ['paris', 'tokyo', 'lima', 'oslo', 'cairo', 'sydney', 'denver', 'mumbai'] as const
export const KINDS = ['temp', 'humidity', 'pressure', 'wind'] as const

/** One reading, as published. */
export interface Reading {
  /** The value in the kind's unit (°C, %, hPa, m/s). */
  v: number
  /** Epoch milliseconds when it was taken. */
  t: number
}

const BASE: Record<(typeof KINDS)[number], { mid: number; swing: number; noise: number }> = {
  temp: { mid: 21, swing: 6, noise: 0.08 },
  humidity: { mid: 60, swing: 20, noise: 0.3 },
  pressure: { mid: 1012, swing: 12, noise: 0.15 },
  wind: { mid: 9, swing: 7, noise: 0.4 },
}

/** Options of the simulator. */
export interface SimulatorOptions {
  /** Readings per sensor per second. @default 50 */
  hz?: number
}

/** A running simulator. */
export interface Simulator {
  stop(): void
  /** Stops publishing until `resume()` (the sensors go quiet; the timer keeps running). */
  pause(): void
  resume(): void
  /** Readings published so far. */
  readonly published: number
  /** The last reading published on `sensors.<site>.<kind>`. */
  last(subject: string): Reading | undefined
}

/** Starts publishing `sensors.<site>.<kind>` for every site and kind. */
export function startSimulator(c: Client, options: SimulatorOptions = {}): Simulator {
  const hz = options.hz ?? 50
  const drift = new Map<string, number>()
  const last = new Map<string, Reading>()
  let published = 0
  let paused = false
  const started = Date.now()
  const timer = setInterval(() => {
    if (paused) return
    const t = Date.now()
    const s = (t - started) / 1000
    SITES.forEach((site, i) => {
      for (const kind of KINDS) {
        const key = `${site}.${kind}`
        const b = BASE[kind]
        // A slow wave per site plus a bounded random walk: smooth lines that still move every frame.
        const walk = Math.max(-b.swing / 2, Math.min(b.swing / 2, (drift.get(key) ?? 0) + (Math.random() - 0.5) * b.noise * 4))
        drift.set(key, walk)
        const v = b.mid + b.swing * 0.6 * Math.sin(s / (6 + i) + i) + walk
        // Offline buffering covers a broker restart; past its cap a reading is dropped, as a sensor would.
        const reading: Reading = { v: Math.round(Math.max(0, v) * 100) / 100, t }
        try {
          c.publish(`sensors.${site}.${kind}`, reading)
          last.set(`sensors.${site}.${kind}`, reading)
          published++
        } catch {
          // disconnected_buffer_full while the broker is away: drop this reading
        }
      }
    })
  }, 1000 / hz)
  return {
    stop: () => clearInterval(timer),
    pause: () => { paused = true },
    resume: () => { paused = false },
    get published() { return published },
    last: (subject) => last.get(subject),
  }
}
