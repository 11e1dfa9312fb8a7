/** Number formatting for the monitor and the demo pages (browser and Node alike: no platform API). */

const UNITS = ['', 'k', 'M', 'G', 'T']
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** `1234` → `1.23k`, `0.5` → `0.5`: three significant digits. */
export function compact(n: number): string {
  if (!Number.isFinite(n)) return '–'
  let i = 0
  let v = Math.abs(n)
  while (v >= 1000 && i < UNITS.length - 1) { v /= 1000; i++ }
  const digits = v >= 100 || Number.isInteger(v) ? 0 : v >= 10 ? 1 : 2
  return `${n < 0 ? '-' : ''}${v.toFixed(digits)}${UNITS[i]}`
}

/** `1536` → `1.50 KiB`. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–'
  let i = 0
  let v = n
  while (v >= 1024 && i < BYTE_UNITS.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${BYTE_UNITS[i]}`
}

/** `3725000` → `1h 2m`, `42000` → `42s`. */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

/** `12:03:04` in local time. */
export function clock(at: number): string {
  const d = new Date(at)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':')
}
