/**
 * `subwire serve --cluster URL --workers N`: N broker processes on one machine sharing one port through
 * `node:cluster` (the primary accepts and hands each connection to a worker in turn), each a node of the
 * cluster with its own nodeId, joined through the Redis like nodes on other machines. One Node process uses
 * one core for the publish path; this is how one machine's cores are all used.
 *
 * The primary runs no broker. It starts the workers, prints one banner when all listen, restarts a worker that
 * dies (backoff per worker, at most MAX_RESTARTS_PER_MINUTE in all: a crash loop then stops the service, for
 * the supervisor above to see), forwards SIGTERM/SIGINT as SIGTERM so each worker drains as a lone broker does,
 * and exits when they have. A worker whose primary is gone exits by itself (node:cluster ends a worker whose
 * IPC channel closes unexpectedly), so none is left behind.
 */
import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { EXIT, type CliIo } from './io.ts'

/** Restarts (all workers together) in one minute past which the primary stops the service. */
export const MAX_RESTARTS_PER_MINUTE = 10
/** A dead worker is restarted after 100 ms, doubled for each of its restarts in the last minute, up to 10 s. */
const RESTART_BASE_MS = 100
const RESTART_MAX_MS = 10_000
const MINUTE_MS = 60_000
/** Past shutdownTimeoutMs (each worker's own deadline), the primary SIGKILLs what is left after this margin. */
const STOP_MARGIN_MS = 2000

/** The environment variable that tells a forked process it is worker `n` (1-based). */
export const WORKER_ENV = 'SUBWIRE_WORKER'
/**
 * The nodeId the primary gives worker n: `<nodeId>-<n>`, with the configured nodeId or one the primary draws.
 * A restarted worker keeps its slot's id, as a node restarted by its supervisor keeps its configured one: it
 * takes back its previous run's work-queue members at once (what they held is redelivered now, not at the ack
 * deadline or when the cluster takes the dead node for gone).
 */
export const WORKER_NODE_ID_ENV = 'SUBWIRE_WORKER_NODE_ID'

/** What a worker tells the primary once its broker listens. */
export interface WorkerReady {
  readonly subwire: 'ready'
  readonly banner: string
  readonly nodeId: string
}

/** True in a process the primary forked as a worker. */
export function isServeWorker(env: Record<string, string | undefined>): boolean {
  return cluster.isWorker && env[WORKER_ENV] !== undefined
}

/** Tells the primary this worker's broker listens (its banner is printed once, by the primary). */
export function reportReady(ready: Omit<WorkerReady, 'subwire'>): void {
  process.send?.({ subwire: 'ready', ...ready } satisfies WorkerReady)
}

function isReady(message: unknown): message is WorkerReady {
  return typeof message === 'object' && message !== null && (message as { subwire?: unknown }).subwire === 'ready'
}

export interface WorkersPlan {
  readonly count: number
  readonly shutdownTimeoutMs: number
  /** The configured nodeId, which each worker extends with its number; undefined: the primary draws one. */
  readonly nodeId: string | undefined
}

interface Slot {
  readonly n: number
  worker: Worker | null
  restarts: number[]
  timer: NodeJS.Timeout | null
}

/**
 * Runs the primary: forks the workers and supervises them until a signal stops them.
 * @example if (config.workers !== null && !isServeWorker(io.env)) return runWorkers(plan, logger, io)
 */
export function runWorkers(plan: WorkersPlan, logger: Logger, io: CliIo): number {
  const log = logger.child({ component: 'workers' })
  const slots: Slot[] = Array.from({ length: plan.count }, (_, i) => ({ n: i + 1, worker: null, restarts: [], timer: null }))
  // Drawn once per primary: two services on one host never share worker ids, and restarts keep theirs.
  const base = plan.nodeId ?? randomBytes(5).toString('hex')
  const banners = new Map<number, WorkerReady>()
  let restartsInMinute: number[] = []
  let bannerShown = false
  let stopping = false
  let exitCode: number = EXIT.ok

  const live = (): Worker[] => slots.flatMap((s) => (s.worker === null ? [] : [s.worker]))
  const finish = (): void => {
    if (live().length === 0) process.exit(exitCode)
  }
  const stopAll = (code: number): void => {
    if (stopping) return
    stopping = true
    exitCode = code
    for (const s of slots) if (s.timer !== null) clearTimeout(s.timer)
    for (const w of live()) w.process.kill('SIGTERM')
    const deadline = setTimeout(() => {
      const left = live()
      log.error({ workerPids: left.map((w) => w.process.pid) }, 'workers did not stop in time: killing them')
      for (const w of left) w.process.kill('SIGKILL')
      exitCode = EXIT.failed
    }, plan.shutdownTimeoutMs + STOP_MARGIN_MS)
    deadline.unref()
    finish()
  }

  const fork = (slot: Slot): void => {
    slot.timer = null
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.n), [WORKER_NODE_ID_ENV]: `${base}-${slot.n}` })
    slot.worker = worker
    worker.on('message', (message: unknown) => {
      if (!isReady(message)) return
      if (bannerShown) {
        log.info({ worker: slot.n, workerPid: worker.process.pid, nodeId: message.nodeId }, 'worker restarted and listening')
        return
      }
      banners.set(slot.n, message)
      if (banners.size < plan.count) return
      bannerShown = true
      const first = banners.get(1) ?? message
      const pids = slots.map((s) => s.worker?.process.pid ?? '?').join(', ')
      const nodeIds = slots.map((s) => banners.get(s.n)?.nodeId ?? '?').join(', ')
      io.err(`${first.banner}  workers:  ${plan.count} broker processes share the port (pids ${pids}; nodes ${nodeIds}; primary ${process.pid})\n`)
    })
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      slot.worker = null
      if (stopping) {
        // A worker whose own drain failed (its shutdown timed out) makes the whole stop a failure; one our SIGTERM
        // ended before it could take it (still starting) had nothing to drain.
        if (code !== EXIT.ok && signal !== 'SIGTERM' && exitCode === EXIT.ok) exitCode = EXIT.failed
        finish()
        return
      }
      const fields = { worker: slot.n, workerPid: worker.process.pid, code, signal }
      // A configuration the worker refused (exit 2: port in use, bad option) fails the same way on every restart.
      if (code === EXIT.usage) {
        log.error(fields, 'worker refused the configuration: stopping')
        stopAll(EXIT.usage)
        return
      }
      const now = Date.now()
      restartsInMinute = [...restartsInMinute.filter((t) => now - t < MINUTE_MS), now]
      slot.restarts = [...slot.restarts.filter((t) => now - t < MINUTE_MS), now]
      if (restartsInMinute.length > MAX_RESTARTS_PER_MINUTE) {
        log.fatal({ ...fields, restartsInMinute: restartsInMinute.length }, `workers died more than ${MAX_RESTARTS_PER_MINUTE} times in a minute: stopping`)
        stopAll(EXIT.failed)
        return
      }
      const delayMs = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.restarts.length - 1))
      log.warn({ ...fields, restartInMs: delayMs }, 'worker died: restarting it')
      slot.timer = setTimeout(() => fork(slot), delayMs)
    })
  }

  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: killing the workers')
      for (const w of live()) w.process.kill('SIGKILL')
      process.exit(EXIT.failed)
    }
    log.info({ signal, workers: live().length, shutdownTimeoutMs: plan.shutdownTimeoutMs }, 'shutting down: stopping the workers')
    stopAll(EXIT.ok)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // Whatever ends the primary, no worker outlives it (they would also exit on the closed IPC channel).
  process.on('exit', () => {
    for (const w of live()) w.process.kill('SIGKILL')
  })
  for (const slot of slots) fork(slot)
  return EXIT.ok
}
