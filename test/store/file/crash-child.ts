/**
 * What the crash tests need around a real broker process: `subwire serve` started as a child on a data
 * directory and killed with SIGKILL by pid, a seeded random source (so a failing run can be replayed), and a
 * publisher keeping N publishAcks in flight that can pull the plug at a chosen confirm.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import type { Client } from '../../../client/index.ts'
import { within } from '../../helpers.ts'

/** A `subwire serve` child process. */
export interface ChildBroker {
  readonly child: ChildProcess
  readonly url: string
  /** The last 64 KiB it wrote to stderr (its logs, at warn and above). */
  stderr(): string
  /** SIGKILL by pid (no shutdown, no flush), resolving once it has exited. Idempotent. */
  kill(): Promise<void>
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>
}

const STDERR_KEPT = 64 * 1024

/** Every child started and not yet seen to exit: the tests' `finally` kills what is left. */
export const liveChildren = new Set<ChildBroker>()

/** Kills every child still running (by pid, SIGKILL). */
export async function killAll(): Promise<void> {
  for (const c of [...liveChildren]) await c.kill()
}

/**
 * Starts `subwire serve` on 127.0.0.1, any free port, with file topics under `dataDir`, and waits for its
 * banner (which names the port it got).
 */
export async function startChild(dataDir: string, extraArgs: readonly string[] = []): Promise<ChildBroker> {
  const args = ['--conditions=source', '--import', import.meta.resolve('tsx'), resolve('server/cli/main.ts'), 'serve',
    '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--no-monitor', '--log-level', 'warn', '--log-format', 'json', ...extraArgs]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString()
    if (err.length > STDERR_KEPT * 2) err = err.slice(-STDERR_KEPT)
  })
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  const handle: ChildBroker = {
    child,
    url: '',
    stderr: () => err.slice(-STDERR_KEPT),
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
      await within(10_000, exited, `child ${child.pid ?? '?'} to exit after SIGKILL`)
      liveChildren.delete(handle)
    },
  }
  liveChildren.add(handle)
  const url = await within(30_000, new Promise<string>((done, fail) => {
    const check = (): void => {
      const m = /listening on (ws:\/\/\S+)/.exec(err)
      if (m !== null) done(m[1] ?? '')
    }
    child.stderr?.on('data', check)
    void exited.then((code) => fail(new Error(`serve exited with ${String(code)} before listening: ${err}`)))
  }), 'the child broker to listen')
  ;(handle as { url: string }).url = url
  return handle
}

/** mulberry32: a small seeded generator, enough to pick crash points that a seed replays. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The seed of this run: `SUBWIRE_CRASH_SEED` to replay one, else a fresh one. */
export function crashSeed(): number {
  const given = process.env.SUBWIRE_CRASH_SEED
  return given !== undefined && given !== '' ? Number(given) >>> 0 : (Math.random() * 2 ** 32) >>> 0
}

/** An integer in [lo, hi]. */
export function between(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1))
}

/** A payload that names its message: `<n>:` and padding to 128 bytes, the bench's size. */
export function payloadOf(n: number): string {
  const head = `${n}:`
  return head + 'x'.repeat(Math.max(0, 128 - head.length))
}

/** The counter a payload carries, or NaN. */
export function counterOf(data: unknown): number {
  const s = typeof data === 'string' ? data : ''
  const i = s.indexOf(':')
  return i <= 0 ? Number.NaN : Number(s.slice(0, i))
}

/** What a publishing run did. */
export interface PublishRun {
  /** Counter → seq of every confirmed message. */
  readonly confirmed: Map<number, number>
  /** Counters handed to publishAck (confirmed or not). */
  sent: number
  /** Errors before the plug was pulled (there should be none). */
  readonly early: Error[]
}

/**
 * Publishes numbered payloads with `inFlight` publishAcks outstanding, counting from `firstCounter`, until
 * `stopAfter` confirms (then `onStop` runs at once, e.g. a SIGKILL, with the others still in flight), `maxSent`
 * publishes, or `deadlineMs`; resolves when every outstanding publishAck has settled.
 */
export async function publishUntil(c: Client, options: {
  subject: (n: number) => string
  firstCounter: number
  inFlight: number
  stopAfter: number
  maxSent: number
  deadlineMs: number
  onStop: () => void
}): Promise<PublishRun> {
  const run: PublishRun = { confirmed: new Map(), sent: 0, early: [] }
  const end = Date.now() + options.deadlineMs
  let next = options.firstCounter
  let stopped = false
  const stop = (): void => {
    if (stopped) return
    stopped = true
    options.onStop()
  }
  const lane = async (): Promise<void> => {
    while (!stopped && run.sent < options.maxSent && Date.now() < end) {
      const n = next++
      run.sent++
      try {
        const r = await c.publishAck(options.subject(n), payloadOf(n), { timeout: 20_000 })
        // A confirm read after the kill was still sent by the broker: it counts.
        run.confirmed.set(n, r.seq)
        if (run.confirmed.size >= options.stopAfter) stop()
      } catch (err) {
        if (!stopped) run.early.push(err as Error)
        return
      }
    }
  }
  const lanes = Array.from({ length: options.inFlight }, lane)
  await within(options.deadlineMs + 30_000, Promise.all(lanes), 'the publishers to settle')
  stop()
  return run
}
