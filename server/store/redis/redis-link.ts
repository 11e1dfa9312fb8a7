/**
 * The store's connection to Redis: ioredis loaded on first use (a broker without a cluster never loads it), the
 * scripts registered with `defineCommand` (EVALSHA, falling back to EVAL after a Redis restart flushed them),
 * and every failure turned into a SubwireError: a contract error raised by a script (`<code> <message>`) keeps
 * its code, anything else (refused, reset, timed out, not connected) is `unavailable`.
 *
 * Failing fast is the point: no offline queue (a command while disconnected fails at once), a command timeout,
 * and no resend after a reconnect. A resent script could append twice, so an append whose reply was lost
 * fails `unavailable` and the publisher retries with its msgId, which de-duplicates.
 */
import type { Redis, RedisOptions } from 'ioredis'
import { SubwireError, isErrorCode } from '../../../shared/errors.ts'

/** A script argument: strings and numbers travel as text, Buffers as bytes. */
export type RedisArg = string | Buffer | number

/** A reply read with Buffers for bulk strings (binary-safe payloads). */
export type Reply = null | number | Buffer | Reply[]

/** One script: a name (a method on the client), its key count and its Lua source. */
export interface ScriptDef {
  readonly name: string
  readonly keys: number
  readonly lua: string
}

/** What a link is made with. */
export interface RedisLinkOptions {
  /** A URL, several URLs of the same Redis (tried in turn at each reconnect), or a client to use as it is. */
  readonly redis: string | readonly string[] | Redis
  readonly commandTimeoutMs: number
}

type ScriptCall = (...args: RedisArg[]) => Promise<Reply>

/** Reconnect delays: quick at first, at most 1 s apart, forever (a broker outlives a Redis restart). */
function retryDelay(attempt: number): number {
  return Math.min(50 * attempt, 1000)
}

/** The connection options that make a client fail fast instead of queueing. */
export function failFastOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    retryStrategy: retryDelay,
  }
}

/** Where a URL points, as ioredis options (what changes from one address of the same Redis to another). */
function addressOf(url: string): Partial<RedisOptions> {
  const u = new URL(url)
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 6379 : Number(u.port),
    tls: u.protocol === 'rediss:' ? {} : undefined,
    username: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: u.password === '' ? undefined : decodeURIComponent(u.password),
    db: Number.isInteger(db) ? db : 0,
  }
}

/**
 * Makes `client` try the next of `urls` at each reconnect (ioredis reads its options again every time), with
 * the usual delays. One URL: nothing changes.
 */
export function rotateAddresses(client: Redis, urls: readonly string[]): void {
  if (urls.length < 2) return
  const addresses = urls.map(addressOf)
  let at = 0
  client.options.retryStrategy = (attempt: number) => {
    at = (at + 1) % addresses.length
    Object.assign(client.options, addresses[at])
    return retryDelay(attempt)
  }
}

/** The SubwireError for a failed Redis call. */
export function redisError(err: unknown, lastConnectionError = ''): SubwireError {
  if (err instanceof SubwireError) return err
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof Error && err.name === 'ReplyError' && message.startsWith('OOM ')) {
    // Redis at maxmemory (policy noeviction) refuses writes: as a full disk is for a file topic.
    return new SubwireError('storage_full', `redis is out of memory (maxmemory): ${message}`, { cause: err })
  }
  if (err instanceof Error && err.name === 'ReplyError') {
    const m = /^([a-z_]+) ([\s\S]*)$/.exec(message)
    if (m !== null && isErrorCode(m[1]) && m[1] !== 'unavailable') {
      // Redis appends where the script raised it; the message is the part before.
      return new SubwireError(m[1], m[2].replace(/ script: [\s\S]*$/, ''))
    }
  }
  // "Connection is closed" hides why (WRONGPASS, ECONNREFUSED): the client's last connection error says it.
  const why = lastConnectionError !== '' && lastConnectionError !== message ? ` (${lastConnectionError})` : ''
  return new SubwireError('unavailable', `redis: ${message}${why}`, { cause: err })
}

export class RedisLink {
  readonly client: Redis
  /** The URLs it connects to in turn (empty for a given client). */
  readonly urls: readonly string[]
  readonly #owned: boolean
  readonly #calls = new Map<string, ScriptCall>()
  #connecting: Promise<void> | null = null
  #closed = false
  #lastError = ''

  private constructor(client: Redis, urls: readonly string[]) {
    this.client = client
    this.urls = urls
    this.#owned = urls.length > 0
  }

  /** A link over a URL (its own client) or a given client (left open at close). */
  static async open(options: RedisLinkOptions, scripts: readonly ScriptDef[]): Promise<RedisLink> {
    let link: RedisLink
    const redis = options.redis
    if (typeof redis === 'string' || Array.isArray(redis)) {
      const urls: readonly string[] = typeof redis === 'string' ? [redis] : redis
      const { Redis: RedisClient } = await import('ioredis')
      link = new RedisLink(new RedisClient(urls[0], failFastOptions(options.commandTimeoutMs)), urls)
      rotateAddresses(link.client, urls)
      // ioredis emits connection errors as events; the last one is kept to say why calls fail.
      const owned = link
      link.client.on('error', (e: Error) => { owned.#lastError = e.message })
      link.client.on('ready', () => { owned.#lastError = '' })
    } else {
      link = new RedisLink(redis as Redis, [])
    }
    for (const s of scripts) link.#define(s)
    return link
  }

  #define(s: ScriptDef): void {
    this.client.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua })
    const method = (this.client as unknown as Record<string, unknown>)[`${s.name}Buffer`]
    if (typeof method !== 'function') throw new Error(`ioredis did not define ${s.name}Buffer`)
    this.#calls.set(s.name, method.bind(this.client) as ScriptCall)
  }

  /**
   * Runs a script with `keys` then `args`. Once connected, the command is written before this returns, so calls
   * reach Redis in the order they are made (the store relies on it: an append, then a read of it).
   * @throws SubwireError: the script's contract code, or `unavailable`
   */
  run(name: string, keys: readonly string[], args: readonly RedisArg[]): Promise<Reply> {
    const call = this.#calls.get(name)
    if (call === undefined) return Promise.reject(new Error(`no script ${name}`))
    return this.#send(() => call(...keys, ...args))
  }

  /** Plain commands (reads of the registry) under the same error rules. */
  command<T>(fn: (client: Redis) => Promise<T>): Promise<T> {
    return this.#send(() => fn(this.client))
  }

  #send<T>(send: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new SubwireError('unavailable', 'the Redis topic store is closed'))
    if (this.client.status === 'wait') {
      this.#connecting = this.client.connect().finally(() => {
        this.#connecting = null
      })
    }
    // The first call connects (and waits, within connectTimeout); later ones never wait for a reconnect.
    let sent: Promise<T>
    try {
      sent = this.#connecting === null ? send() : this.#connecting.then(send)
    } catch (err) {
      sent = Promise.reject(err)
    }
    return sent.catch((err: unknown) => {
      throw redisError(err, this.#lastError)
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (!this.#owned) return
    try {
      await this.client.quit()
    } catch {
      this.client.disconnect()
    }
  }
}
