/**
 * Latency recording (HdrHistogram, microsecond resolution) and the small arithmetic the report needs.
 */
import * as hdr from 'hdr-histogram-js'
import type { LatencySummary } from './ipc.ts'

/** Upper bound of a recorded latency: 60 s in microseconds. Anything slower is clamped (and saturated). */
const MAX_TRACKABLE_US = 60_000_000

/** Records latencies given in milliseconds; reports percentiles in milliseconds. */
export class LatencyRecorder {
  #histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  })

  record(latencyMs: number): void {
    const us = Math.min(MAX_TRACKABLE_US, Math.max(1, Math.round(latencyMs * 1000)))
    this.#histogram.recordValue(us)
  }

  summary(): LatencySummary {
    const h = this.#histogram
    const ms = (us: number): number => us / 1000
    return {
      count: h.totalCount,
      p50Ms: ms(h.getValueAtPercentile(50)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      p999Ms: ms(h.getValueAtPercentile(99.9)),
      maxMs: ms(h.maxValue),
    }
  }
}

/** Sum of a list of numbers. */
export function sum(values: readonly number[]): number {
  let total = 0
  for (const value of values) total += value
  return total
}

/** Element-wise `after - before`. */
export function deltas(after: readonly number[], before: readonly number[]): number[] {
  return after.map((value, i) => value - (before[i] ?? 0))
}

/** Events per second over `elapsedMs`. */
export function perSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0
}
