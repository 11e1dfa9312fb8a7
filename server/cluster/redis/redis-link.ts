/**
 * A node's two connections to Redis (commands, and the subscriber a connection in pub/sub mode must be), made
 * with ioredis, loaded only when a broker is clustered. ioredis reconnects by itself; this file turns its
 * connection events into one link state (`up` only while both connections are ready), reconnects with capped,
 * jittered backoff, and never queues commands while down: the cluster's publishes would otherwise pile up in
 * memory and arrive late and out of date, and topic operations must fail fast (`unavailable`).
 */
import type { Redis, RedisOptions } from 'ioredis'
import { SubwireError } from '../../../shared/errors.ts'

const CONNECT_TIMEOUT_MS = 5000
const BACKOFF_MIN_MS = 50
const BACKOFF_MAX_MS = 2000

export interface LinkEvents {
  /** Both connections are ready (the first time, and after every reconnect). */
  onUp(): void
  /** One of them went away. */
  onDown(reason: string): void
  /** A message on a subscribed channel. */
  onMessage(channel: string, message: Buffer): void
}

/** ioredis options for one of the broker's Redis connections: credentials and TLS come from the URL. */
export function redisOptions(name: string, commandTimeoutMs: number | undefined): RedisOptions {
  return {
    connectionName: name,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...(commandTimeoutMs === undefined ? {} : { commandTimeout: commandTimeoutMs }),
    retryStrategy: (attempt: number) => {
      const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 10))
      return Math.round(cap / 2 + Math.random() * (cap / 2))
    },
  }
}

/** The URL without its password, for logs and errors. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    // ioredis takes options from the query too (`?password=`): mask anything that looks like a secret.
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|token|key|auth/i.test(key)) u.searchParams.set(key, '***')
    return u.toString()
  } catch {
    return '(unparsable URL)'
  }
}

export class RedisLink {
  readonly #url: string
  readonly #events: LinkEvents
  readonly #name: string
  #cmd: Redis | null = null
  #sub: Redis | null = null
  #up = false
  #closed = false

  constructor(url: string, name: string, events: LinkEvents) {
    this.#url = url
    this.#name = name
    this.#events = events
  }

  get up(): boolean {
    return this.#up
  }

  /** The command connection (throws `unavailable` before start). */
  get cmd(): Redis {
    if (this.#cmd === null) throw new SubwireError('unavailable', 'the cluster has no Redis connection yet')
    return this.#cmd
  }

  /** Connects both and subscribes to `channels`. @throws SubwireError `unavailable` when Redis cannot be reached */
  async start(channels: readonly string[]): Promise<void> {
    const { Redis } = await import('ioredis')
    const cmd = new Redis(this.#url, redisOptions(`${this.#name}:cmd`, 5000))
    const sub = new Redis(this.#url, redisOptions(`${this.#name}:sub`, undefined))
    this.#cmd = cmd
    this.#sub = sub
    // ioredis emits 'error' on every failed attempt; without a listener Node would throw it. The last one says
    // why a start failed (WRONGPASS, ECONNREFUSED) where connect() itself only says the connection closed.
    let lastError = ''
    const keep = (err: Error): void => { lastError = err.message }
    cmd.on('error', keep)
    sub.on('error', keep)
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#events.onMessage(channel.toString(), message))
    try {
      await Promise.all([cmd.connect(), sub.connect()])
      await sub.subscribe(...channels)
    } catch (err) {
      cmd.disconnect()
      sub.disconnect()
      const why = lastError !== '' ? lastError : err instanceof Error ? err.message : String(err)
      throw new SubwireError('unavailable', `cannot reach Redis at ${maskUrl(this.#url)}: ${why}`)
    }
    for (const c of [cmd, sub]) {
      c.on('ready', () => this.#check())
      c.on('close', () => this.#lost('connection closed'))
      c.on('end', () => this.#lost('connection ended'))
    }
    this.#up = true
  }

  #check(): void {
    if (this.#closed || this.#up) return
    // ioredis resubscribes the subscriber by itself before it reports ready.
    if (this.#cmd?.status === 'ready' && this.#sub?.status === 'ready') {
      this.#up = true
      this.#events.onUp()
    }
  }

  #lost(reason: string): void {
    if (this.#closed || !this.#up) return
    this.#up = false
    this.#events.onDown(reason)
  }

  /** Drops both connections and lets ioredis make them again (the link is down until both are ready). */
  reset(): void {
    if (this.#closed) return
    this.#lost('no answer from Redis')
    this.#cmd?.disconnect(true)
    this.#sub?.disconnect(true)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#up = false
    await Promise.allSettled([this.#cmd?.quit(), this.#sub?.quit()])
    this.#cmd?.disconnect()
    this.#sub?.disconnect()
  }
}
