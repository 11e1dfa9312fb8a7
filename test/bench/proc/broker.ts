/**
 * Broker child: runs one system's broker and reports its resource use on each `mark`: CPU time, RSS
 * (sampled every 50 ms for the peak), and event-loop delay since the previous mark. When the broker is
 * another program (nats-server, redis-server: `BrokerHandle.serverPid`), CPU and memory are that process's,
 * read from /proc, and there is no event loop to report.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { SYSTEMS_WITH_TOPICS, loadSystem, type BenchSystem, type BrokerHandle } from '../systems.ts'
import type { BrokerConfig, BrokerSnapshot } from '../ipc.ts'
import { cpuTimesOf, memoryOf } from '../orchestrator/proc-stat.ts'
import { fail, installChildGuards, onMessage, readConfig, send } from './child-ipc.ts'

const RSS_SAMPLE_MS = 50
// 5 ms sampling: fine enough for a p99 in milliseconds, cheap enough not to load the broker.
const EVENT_LOOP_RESOLUTION_MS = 5

/** Tracks peak RSS from periodic samples of this process, or of the server program at `serverPid`. */
class RssSampler {
  peakSinceMark = 0
  peak = 0
  readonly #timer: NodeJS.Timeout
  readonly #serverPid: number | undefined

  constructor(serverPid: number | undefined) {
    this.#serverPid = serverPid
    this.sample()
    this.#timer = setInterval(() => this.sample(), RSS_SAMPLE_MS)
  }

  /**
   * The kernel's own peak RSS (VmHWM, Linux), which also covers spikes that fall inside an event-loop turn
   * too long for the 50 ms sampler to run; 0 where /proc is not available.
   */
  kernelPeak(): number {
    return memoryOf(this.#serverPid ?? 'self').peak
  }

  sample(): number {
    const rss = this.#serverPid === undefined ? process.memoryUsage.rss() : memoryOf(this.#serverPid).rss
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

/** The stand-alone broker, or the cluster part the config names (see ClusterSystem). */
async function startPart(system: BenchSystem, config: BrokerConfig): Promise<BrokerHandle> {
  const spec = { topics: config.topics, dataDir: config.dataDir, serve: config.serve }
  const part = config.cluster
  if (part === undefined) return system.startBroker(spec)
  const cluster = system.cluster
  if (cluster === undefined) throw new Error(`${config.system} does not run as a cluster`)
  if (part.part === 'node') return cluster.startNode(part.index, part.nodes, part.shared, spec)
  const shared = await cluster.startShared(part.nodes)
  return { url: shared.info, serverPid: shared.serverPid, close: () => shared.close() }
}

async function main(): Promise<void> {
  installChildGuards()
  const config = readConfig('broker')
  const system = await loadSystem(config.system)
  if (config.topics !== undefined && !SYSTEMS_WITH_TOPICS.has(config.system)) throw new Error(`${config.system} has no topics`)
  const starting = performance.now()
  const broker = await startPart(system, config)
  const startMs = performance.now() - starting
  const serverPid = broker.serverPid
  const rss = new RssSampler(serverPid)
  const loopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  loopDelay.enable()

  /** The broker's CPU time: this process's, or the server program's (all its threads). */
  function cpuUs(): { user: number; system: number } {
    if (serverPid === undefined) return process.cpuUsage()
    const times = cpuTimesOf(serverPid)
    return { user: (times?.userS ?? 0) * 1e6, system: (times?.systemS ?? 0) * 1e6 }
  }

  function snapshot(gc: boolean): BrokerSnapshot {
    // A server program's own GC cannot be forced from here; its RSS is read as it is.
    if (gc && serverPid === undefined) collectGarbage()
    const cpu = cpuUs()
    const current = rss.sample()
    const result: BrokerSnapshot = {
      t: performance.now(),
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      rss: current,
      peakRssSinceMark: rss.peakSinceMark,
      peakRss: Math.max(rss.peak, rss.kernelPeak()),
      eventLoopP99Ms: lagMs(loopDelay.count > 0 ? loopDelay.percentile(99) : 0),
      eventLoopMaxMs: lagMs(loopDelay.count > 0 ? loopDelay.max : 0),
      server: serverPid === undefined ? undefined : `pid ${serverPid}`,
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
  send({ type: 'ready', url: broker.url, startMs, serverPid, workerPids: broker.workerPids })
}

main().catch(fail)
