/**
 * Broker child: runs one system's broker and reports its own resource use on each `mark`: CPU time,
 * RSS (sampled every 50 ms for the peak), and event-loop delay since the previous mark.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { SYSTEMS_WITH_TOPICS, loadSystem } from '../systems.ts'
import type { BrokerSnapshot } from '../ipc.ts'
import { fail, installChildGuards, onMessage, readConfig, send } from './child-ipc.ts'

const RSS_SAMPLE_MS = 50
// 5 ms sampling: fine enough for a p99 in milliseconds, cheap enough not to load the broker.
const EVENT_LOOP_RESOLUTION_MS = 5

/**
 * The kernel's own peak RSS (VmHWM, Linux), which also covers spikes that fall inside an event-loop turn
 * too long for the 50 ms sampler to run; 0 where /proc is not available.
 */
function kernelPeakRss(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    return match?.[1] === undefined ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

/** Tracks peak RSS from periodic samples. */
class RssSampler {
  peakSinceMark = 0
  peak = 0
  readonly #timer: NodeJS.Timeout

  constructor() {
    this.sample()
    this.#timer = setInterval(() => this.sample(), RSS_SAMPLE_MS)
  }

  sample(): number {
    const rss = process.memoryUsage.rss()
    if (rss > this.peakSinceMark) this.peakSinceMark = rss
    if (rss > this.peak) this.peak = rss
    return rss
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}

/** Runs a full collection when the child was started with --expose-gc, so RSS deltas are steadier. */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
}

/**
 * The histogram holds the time between two sampling timer runs (measured: an idle process reads ~5.2 ms
 * at a 5 ms resolution), so the lag is that minus the resolution.
 */
function lagMs(intervalNs: number): number {
  return Math.max(0, intervalNs / 1e6 - EVENT_LOOP_RESOLUTION_MS)
}

async function main(): Promise<void> {
  installChildGuards()
  const config = readConfig('broker')
  const system = await loadSystem(config.system)
  if (config.topics !== undefined && !SYSTEMS_WITH_TOPICS.has(config.system)) throw new Error(`${config.system} has no topics`)
  const starting = performance.now()
  const broker = await system.startBroker({ topics: config.topics, dataDir: config.dataDir })
  const startMs = performance.now() - starting
  const rss = new RssSampler()
  const loopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  loopDelay.enable()

  function snapshot(gc: boolean): BrokerSnapshot {
    if (gc) collectGarbage()
    const cpu = process.cpuUsage()
    const current = rss.sample()
    const result: BrokerSnapshot = {
      t: performance.now(),
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      rss: current,
      peakRssSinceMark: rss.peakSinceMark,
      peakRss: Math.max(rss.peak, kernelPeakRss()),
      eventLoopP99Ms: lagMs(loopDelay.count > 0 ? loopDelay.percentile(99) : 0),
      eventLoopMaxMs: lagMs(loopDelay.count > 0 ? loopDelay.max : 0),
    }
    rss.peakSinceMark = current
    loopDelay.reset()
    return result
  }

  onMessage(async (message) => {
    if (message.type === 'mark') send({ type: 'mark', broker: snapshot(message.gc === true) })
    if (message.type === 'shutdown') {
      rss.stop()
      loopDelay.disable()
      await broker.close()
      process.exit(0)
    }
  })
  send({ type: 'ready', url: broker.url, startMs })
}

main().catch(fail)
