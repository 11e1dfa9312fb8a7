/**
 * A server program that is not Node (redis-server, nats-server) run as a child of the broker child: a free
 * loopback port, the tail of its output for error messages, and a stop by pid (SIGTERM, SIGKILL past a
 * deadline, and SIGKILL from an exit hook if the broker child goes first: it is never left running). Its
 * pid is what the bench measures (see BrokerHandle.serverPid), not the Node process that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { within } from '../time.ts'

const STOP_MS = 5000
const OUTPUT_TAIL = 4096

/** A port nobody listens on right now (the server binds it a moment later; a lost race is retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

export class ServerProcess {
  readonly name: string
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  readonly #killOnExit = (): void => {
    if (this.running) this.#child.kill('SIGKILL')
  }
  #output = ''

  /** Starts `program` with `args`; `name` prefixes its errors. */
  constructor(name: string, program: string, args: readonly string[]) {
    this.name = name
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-OUTPUT_TAIL)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => resolve())
      // A program that could not be started (ENOENT) may never emit 'exit'; its error is the output.
      child.once('error', (err) => {
        keep(Buffer.from(err.message))
        if (child.pid === undefined) resolve()
      })
    })
    process.on('exit', this.#killOnExit)
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined
  }

  /** What the program wrote last (stdout and stderr together). */
  get output(): string {
    return this.#output.trim()
  }

  /**
   * Polls `isReady` until it says true; rejects with the program's output if it exits first or `deadlineMs`
   * passes.
   */
  async ready(isReady: () => Promise<boolean>, deadlineMs: number, retryMs: number): Promise<void> {
    const deadline = performance.now() + deadlineMs
    while (performance.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited at start:\n${this.output}`)
      if (await isReady()) return
      await new Promise((resolve) => setTimeout(resolve, retryMs))
    }
    throw new Error(`${this.name} was not ready within ${deadlineMs} ms:\n${this.output}`)
  }

  async close(): Promise<void> {
    if (this.running) {
      this.#child.kill('SIGTERM')
      await within(STOP_MS, this.#exited, `${this.name} exit`).catch(() => this.#child.kill('SIGKILL'))
    }
    await this.#exited
    process.off('exit', this.#killOnExit)
  }
}
