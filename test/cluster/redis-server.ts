/**
 * A real `redis-server` for tests: a child process on a free 127.0.0.1 port, in memory (no RDB, no AOF) unless
 * asked to keep an AOF so a restart finds its data again. Stopped by pid (SIGTERM, then SIGKILL past a
 * deadline; SIGKILL from an exit hook if the test process goes first). `restart()` keeps the port, so clients
 * configured with the URL reconnect by themselves: that is the Redis-restart fault the cluster tests inject.
 *
 * @example
 * const redis = await startRedis()
 * try { ...connect with redis.url... } finally { await redis.close() }
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ServerProcess, freePort } from '../bench/systems/server-process.ts'
import { redisPing } from './redis-ping.ts'

export const REDIS_SERVER_BIN = process.env.SUBWIRE_TEST_REDIS_SERVER ?? '/usr/bin/redis-server'

const READY_MS = 15_000
const RETRY_MS = 20
const START_ATTEMPTS = 3

/** True when the program is installed (`.ci/run` installs Debian's redis-server). */
export function haveRedisServer(): boolean {
  return existsSync(REDIS_SERVER_BIN)
}

export interface RedisOptions {
  /** Keep an AOF (fsync everysec) in a temp folder, so `restart()` comes back with the data. @default false */
  readonly persist?: boolean
  /** Extra `redis-server` arguments, e.g. `['--requirepass', 'secret']`. */
  readonly args?: readonly string[]
  /** Serve TLS only (its port is the TLS port; clients need `rediss://` and to trust `certFile`). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string }
}

export class TestRedis {
  readonly port: number
  readonly #options: RedisOptions
  readonly #dir: string
  #server: ServerProcess | null = null

  private constructor(port: number, options: RedisOptions) {
    this.port = port
    this.#options = options
    this.#dir = mkdtempSync(join(tmpdir(), 'subwire-test-redis-'))
  }

  /** `redis://127.0.0.1:<port>` (`rediss://` with TLS) */
  get url(): string {
    return `${this.#options.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.#server?.pid
  }

  get running(): boolean {
    return this.#server?.running ?? false
  }

  static async start(options: RedisOptions = {}): Promise<TestRedis> {
    if (!haveRedisServer()) throw new Error(`redis-server not found at ${REDIS_SERVER_BIN} (apt-get install redis-server)`)
    let lastError: unknown
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const redis = new TestRedis(await freePort(), options)
      try {
        await redis.#spawn()
        return redis
      } catch (err) {
        lastError = err
        await redis.close()
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError))
  }

  async #spawn(): Promise<void> {
    const persist = this.#options.persist === true
    const tls = this.#options.tls
    const listen = tls === undefined ? ['--port', String(this.port)] : ['--port', '0', '--tls-port', String(this.port),
      '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.certFile, '--tls-auth-clients', 'no']
    const args = [
      ...listen, '--bind', '127.0.0.1', '--save', '', '--dir', this.#dir,
      '--appendonly', persist ? 'yes' : 'no', '--appendfsync', 'everysec', ...(this.#options.args ?? []),
    ]
    const server = new ServerProcess('redis-server', REDIS_SERVER_BIN, args)
    this.#server = server
    await server.ready(() => redisPing(this.port, this.#options.args, tls?.certFile), READY_MS, RETRY_MS)
  }

  /** SIGKILLs the server (nothing flushed) and leaves it down until `restart()`. */
  async kill(): Promise<void> {
    const pid = this.#server?.pid
    if (pid !== undefined && this.#server?.running === true) process.kill(pid, 'SIGKILL')
    await this.#server?.close()
  }

  /** Stops it (SIGTERM) and starts it again on the same port, after `downMs`. */
  async restart(downMs = 0): Promise<void> {
    await this.#server?.close()
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs))
    await this.#spawn()
  }

  async close(): Promise<void> {
    await this.#server?.close()
    this.#server = null
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

/** Starts a fresh in-memory redis-server. */
export function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  return TestRedis.start(options)
}
