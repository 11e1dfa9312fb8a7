/**
 * The Redis Streams anchor's server: Debian's `redis-server` started as a child of the broker child on a free
 * loopback port, durable the way the issue compares against (`--appendonly yes --appendfsync always`: every
 * write command is fsynced to the AOF before its reply), no RDB snapshots (`--save ''`), its files in
 * `dataDir` (or a temp folder of its own, removed after it stops). Stopped by pid: SIGTERM, SIGKILL past a deadline,
 * and SIGKILL from an exit hook if the broker child goes away first (it is never left running).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrokerHandle } from '../../systems.ts'
import { sleep, within } from '../../time.ts'

/** Where the Debian package puts it; `BENCH_REDIS_SERVER` points elsewhere. */
export const REDIS_SERVER = process.env.BENCH_REDIS_SERVER ?? '/usr/bin/redis-server'

const READY_MS = 15_000
const PING_RETRY_MS = 20
const PING_MS = 1000
const STOP_MS = 5000
const OUTPUT_TAIL = 4096
const START_ATTEMPTS = 3

/** Why the anchor cannot run here, or undefined when the server binary exists. */
export function redisServerMissing(): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `redis-server not found at ${REDIS_SERVER} (apt-get install redis-server, or set BENCH_REDIS_SERVER)`
}

/** A port nobody listens on right now (the server binds it a moment later; a lost race is retried). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

/** One PING over a plain socket: true on `+PONG` (a server still loading its AOF answers `-LOADING`). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), PING_MS)
    socket.once('error', () => done(false))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
    socket.once('connect', () => socket.write('PING\r\n'))
  })
}

class RedisServer implements BrokerHandle {
  readonly url: string
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  readonly #killOnExit = (): void => {
    if (this.running) this.#child.kill('SIGKILL')
  }
  #output = ''

  constructor(child: ChildProcess, port: number) {
    this.#child = child
    this.url = `redis://127.0.0.1:${port}`
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-OUTPUT_TAIL)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    process.on('exit', this.#killOnExit)
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** Waits until the server answers PING; rejects with its output if it exits or the deadline passes. */
  async ready(port: number): Promise<void> {
    const deadline = performance.now() + READY_MS
    while (performance.now() < deadline) {
      if (!this.running) throw new Error(`redis-server exited at start:\n${this.#output.trim()}`)
      if (await ping(port)) return
      await sleep(PING_RETRY_MS)
    }
    throw new Error(`redis-server did not answer PING within ${READY_MS} ms:\n${this.#output.trim()}`)
  }

  async close(): Promise<void> {
    if (this.running) {
      this.#child.kill('SIGTERM')
      await within(STOP_MS, this.#exited, 'redis-server exit').catch(() => this.#child.kill('SIGKILL'))
    }
    await this.#exited
    process.off('exit', this.#killOnExit)
  }
}

/** Starts redis-server durable (AOF, fsync always) and resolves once it answers PING. */
export async function startRedisServer(dataDir: string | undefined): Promise<BrokerHandle> {
  const missing = redisServerMissing()
  if (missing !== undefined) throw new Error(missing)
  const ownDir = dataDir === undefined ? mkdtempSync(join(tmpdir(), 'subwire-bench-redis-')) : undefined
  const removeOwnDir = (): void => {
    if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true })
  }
  const dir = dataDir ?? ownDir ?? ''
  let lastError: unknown
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await freePort()
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--save', '']
    const server = new RedisServer(spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] }), port)
    try {
      await server.ready(port)
      return {
        url: server.url,
        close: async () => {
          await server.close()
          removeOwnDir()
        },
      }
    } catch (err) {
      lastError = err
      await server.close()
    }
  }
  removeOwnDir()
  throw lastError instanceof Error ? lastError : new Error(String(lastError))
}
