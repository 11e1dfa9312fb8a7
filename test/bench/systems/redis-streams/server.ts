/**
 * The Redis Streams anchor's server: Debian's `redis-server` started as a child of the broker child on a free
 * loopback port, durable the way the issue compares against (`--appendonly yes --appendfsync always`: every
 * write command is fsynced to the AOF before its reply), no RDB snapshots (`--save ''`), its files in
 * `dataDir` (or a temp folder of its own, removed after it stops). Started and stopped by pid through
 * server-process.ts, which also makes redis-server's pid the one the bench measures.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrokerHandle } from '../../systems.ts'
import { ServerProcess, freePort } from '../server-process.ts'
import { redisPing } from '../../../cluster/redis-ping.ts'

/** Where the Debian package puts it; `BENCH_REDIS_SERVER` points elsewhere. */
export const REDIS_SERVER = process.env.BENCH_REDIS_SERVER ?? '/usr/bin/redis-server'

const READY_MS = 15_000
const PING_RETRY_MS = 20
const START_ATTEMPTS = 3

/** Why the anchor cannot run here, or undefined when the server binary exists. */
export function redisServerMissing(): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `redis-server not found at ${REDIS_SERVER} (apt-get install redis-server, or set BENCH_REDIS_SERVER)`
}

/** Starts redis-server durable (AOF, fsync always) and resolves once it answers PING. */
export function startRedisServer(dataDir: string | undefined): Promise<BrokerHandle> {
  return startRedis(dataDir, ['--appendonly', 'yes', '--appendfsync', 'always'])
}

/**
 * Starts redis-server in memory (no AOF, no RDB): what the cluster scenarios' nodes share, where it carries
 * pub/sub and interest, which nothing would read back after a restart.
 */
export function startMemoryRedisServer(): Promise<BrokerHandle> {
  return startRedis(undefined, ['--appendonly', 'no'])
}

async function startRedis(dataDir: string | undefined, persistence: readonly string[]): Promise<BrokerHandle> {
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
    const args = ['--port', String(port), '--bind', '127.0.0.1', ...persistence, '--dir', dir, '--save', '']
    const server = new ServerProcess('redis-server', REDIS_SERVER, args)
    try {
      // A server still loading its AOF answers -LOADING, not +PONG.
      await server.ready(() => redisPing(port), READY_MS, PING_RETRY_MS)
      return {
        url: `redis://127.0.0.1:${port}`,
        serverPid: server.pid,
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
