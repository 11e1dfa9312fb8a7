/** A publisher on wildcard-friendly subjects: `sensors.<site>.<kind>`. */
import type { Client } from '../client/index.ts'

const SITES = ['paris', 'tokyo', 'lima']
const KINDS = ['temp', 'humidity']

/** Publishes one reading per sensor every `periodMs`; returns a function that stops it. */
export function publishSensors(c: Client, periodMs: number): () => void {
  let t = 0
  const timer = setInterval(() => {
    t++
    for (const site of SITES) {
      for (const kind of KINDS) {
        const value = kind === 'temp' ? 20 + 5 * Math.sin(t / 10 + site.length) : 50 + 10 * Math.cos(t / 7)
        c.publish(`sensors.${site}.${kind}`, { value: Math.round(value * 10) / 10, at: Date.now() })
      }
    }
  }, periodMs)
  return () => clearInterval(timer)
}
