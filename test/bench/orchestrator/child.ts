/**
 * One child process of the run, seen from the orchestrator: spawned through bash so it can raise its
 * open-file soft limit (scenario E holds up to 15,000 sockets in one process), typed waits with deadlines,
 * and a stop that always ends the process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ChildConfig, FromChild, FromChildOf, FromChildType, ToChild } from '../ipc.ts'
import { within } from '../time.ts'
import { compiledEntry } from './compile.ts'

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const STDERR_TAIL_BYTES = 8192
const EXIT_WAIT_MS = 3000
// Raise the soft fd limit to the hard limit, then become node (keeping the IPC fd and environment).
const LAUNCHER = 'ulimit -Sn "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"'

interface Waiter {
  resolve(message: FromChild): void
  reject(err: Error): void
}

export interface SpawnOptions {
  /** Lets the broker child run a full GC before RSS snapshots. */
  readonly exposeGc?: boolean
  /** Copy the child's stderr to ours as it comes. */
  readonly verbose?: boolean
}

export class Child {
  readonly name: string
  #process: ChildProcess
  #queued = new Map<FromChildType, FromChild[]>()
  #waiters = new Map<FromChildType, Waiter[]>()
  #listeners = new Map<FromChildType, Array<(message: FromChild) => void>>()
  #stderrTail = ''
  #failure: Error | undefined
  #exited: Promise<void>

  private constructor(name: string, child: ChildProcess, verbose: boolean) {
    this.name = name
    this.#process = child
    child.stderr?.on('data', (chunk: Buffer) => {
      if (verbose) process.stderr.write(chunk)
      this.#stderrTail = (this.#stderrTail + chunk.toString()).slice(-STDERR_TAIL_BYTES)
    })
    child.on('message', (message: FromChild) => this.#receive(message))
    // e.g. EPIPE from a send racing the child's exit: the exit handler reports the real cause.
    child.on('error', (err) => this.#fail(new Error(`${name}: ${err.message}`)))
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#fail(new Error(`${name} exited (${signal ?? `code ${code}`})${this.#tail()}`))
        resolve()
      })
    })
  }

  /** Starts `file` (relative to test/bench/proc) with its config in BENCH_CONFIG. */
  static spawn(name: string, file: string, config: ChildConfig, options: SpawnOptions = {}): Child {
    const script = compiledEntry(file)
    // No --enable-source-maps: Node then parses and keeps each bundle's source map, which put 14 MiB on the
    // subwire broker's peak RSS in fan-out (110 vs 96 MiB). The bundles are not minified, so stack traces still
    // read well; BENCH_NODE_ARGS=--enable-source-maps maps them back to the sources when debugging.
    const nodeArgs = ['--max-old-space-size=4096']
    // Broker children (the ones with --expose-gc) also take BENCH_BROKER_ARGS: a profile of the nodes alone.
    if (options.exposeGc === true) nodeArgs.push('--expose-gc', ...(process.env.BENCH_BROKER_ARGS ?? '').split(' ').filter((a) => a !== ''))
    // Profiling aid, e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (NODE_OPTIONS refuses those).
    nodeArgs.push(...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== ''))
    const child = spawn('bash', ['-c', LAUNCHER, process.execPath, ...nodeArgs, script], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) },
    })
    return new Child(name, child, options.verbose === true)
  }

  /** The child's pid (node itself: the bash launcher exec's it). */
  get pid(): number | undefined {
    return this.#process.pid
  }

  send(message: ToChild): void {
    if (this.#failure !== undefined) throw this.#failure
    this.#process.send(message)
  }

  /** Sends `message` if the child is still there; for best-effort streams such as credit. */
  trySend(message: ToChild): boolean {
    if (this.#failure !== undefined || !this.#process.connected) return false
    this.#process.send(message)
    return true
  }

  /** The next message of `type` (including one that arrived before the call). */
  next<T extends FromChildType>(type: T, timeoutMs: number, what: string): Promise<FromChildOf<T>> {
    const queued = this.#queued.get(type)?.shift()
    if (queued !== undefined) return Promise.resolve(queued as FromChildOf<T>)
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    let waiter: Waiter | undefined
    const waiting = new Promise<FromChildOf<T>>((resolve, reject) => {
      waiter = { resolve: (message) => resolve(message as FromChildOf<T>), reject }
      const list = this.#waiters.get(type) ?? []
      list.push(waiter)
      this.#waiters.set(type, list)
    })
    return within(timeoutMs, waiting, `${this.name}: ${what}`).catch((err: unknown) => {
      // A timed-out waiter must not swallow a late reply meant for the next caller.
      const list = this.#waiters.get(type) ?? []
      const at = waiter === undefined ? -1 : list.indexOf(waiter)
      if (at >= 0) list.splice(at, 1)
      throw err
    })
  }

  /** Sends `message` and waits for the reply of `replyType`. */
  ask<T extends FromChildType>(message: ToChild, replyType: T, timeoutMs: number, what: string): Promise<FromChildOf<T>> {
    const reply = this.next(replyType, timeoutMs, what)
    this.send(message)
    return reply
  }

  /** Calls `listener` for every message of `type` (those are never queued). */
  on<T extends FromChildType>(type: T, listener: (message: FromChildOf<T>) => void): void {
    const list = this.#listeners.get(type) ?? []
    list.push(listener as (message: FromChild) => void)
    this.#listeners.set(type, list)
  }

  /** Asks the child to exit, then kills it if it has not within EXIT_WAIT_MS. */
  async stop(): Promise<void> {
    if (this.#process.exitCode === null && this.#process.signalCode === null) {
      if (this.#process.connected) this.#process.send({ type: 'shutdown' } satisfies ToChild)
      await within(EXIT_WAIT_MS, this.#exited, `${this.name} exit`).catch(() => this.#process.kill('SIGKILL'))
    }
    await this.#exited
  }

  #receive(message: FromChild): void {
    if (message.type === 'error') {
      this.#fail(new Error(`${this.name} failed: ${message.message}`))
      return
    }
    const listeners = this.#listeners.get(message.type)
    if (listeners !== undefined) {
      for (const listener of listeners) listener(message)
      return
    }
    // Progress is a stream, not a reply: nobody will ever wait for an old one, so it is never queued.
    if (message.type === 'progress') return
    const waiter = this.#waiters.get(message.type)?.shift()
    if (waiter !== undefined) {
      waiter.resolve(message)
      return
    }
    const queue = this.#queued.get(message.type) ?? []
    queue.push(message)
    this.#queued.set(message.type, queue)
  }

  #fail(err: Error): void {
    this.#failure ??= err
    for (const list of this.#waiters.values()) for (const waiter of list) waiter.reject(this.#failure)
    this.#waiters.clear()
  }

  #tail(): string {
    const tail = this.#stderrTail.trim()
    return tail === '' ? '' : `\n--- ${this.name} stderr (tail) ---\n${tail}`
  }
}
