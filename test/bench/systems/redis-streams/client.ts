/**
 * The Redis Streams anchor's client (ioredis, chosen by measurement: see test/bench/README.md). A topic is one
 * stream whose key is the subject without its last token, dots as dashes (`dur.jobs.bench` and `dur.jobs.>`
 * are both the stream `dur-jobs`, as the subwire topic `dur-jobs` covers `dur.jobs.>`):
 *  - publishAck is one XADD, resolved when Redis replies, which under `appendfsync always` is after the AOF
 *    write is fsynced; 256 of them in flight are pipelined on the connection (ioredis writes each command
 *    as it is issued and matches replies in order);
 *  - a work-queue member reads with XREADGROUP (`COUNT` = its maxInFlight, `>`: never-delivered entries)
 *    and acks each batch with one XACK, sent without waiting so it is pipelined with the next read;
 *  - replay is XREAD from the start in batches.
 * Redis has no subjects, wildcards or request/reply here: those methods throw, and only scenario J runs it.
 */
import { Redis } from 'ioredis'
import type { BenchClient, BenchPublishAck, BenchSubscription, DeliveryHandler, SubscribeSpec, TopicBenchClient } from '../../systems.ts'
import { sleep } from '../../time.ts'

/** Per-command deadline (ioredis `commandTimeout`), like the timeout subwire's publishAck carries. */
const COMMAND_TIMEOUT_MS = 10_000
/** How long one XREADGROUP waits for new entries before the member loop checks whether it was closed. */
const BLOCK_MS = 100
const REPLAY_BATCH = 1000
const REPLAY_IDLE_MS = 5
const FIELD = 'd'

/** The stream that holds `subject`. */
export function streamKey(subject: string): string {
  const tokens = subject.split('.')
  return (tokens.length > 1 ? tokens.slice(0, -1) : tokens).join('-')
}

function unsupported(what: string): never {
  throw new Error(`redis-streams runs only scenario J: no ${what}`)
}

/** Parses `ms-n`; entry ids only grow in one stream. */
function parseId(id: string): readonly [number, number] {
  const dash = id.indexOf('-')
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))]
}

/** Redis errors carry no code but their first word (`ERR`, `BUSYGROUP`): the message's start is kept. */
function codeOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.slice(0, 120)
}

/**
 * The entry ids of an XREADGROUP / XREAD reply: RESP2 `[[key, [[id, fields], …]], …]`, or RESP3 (ioredis 6's
 * default) whose map arrives flattened as `[key, [[id, fields], …], key2, …]`; null when nothing is there.
 */
function entryIds(reply: unknown): string[] {
  if (!Array.isArray(reply)) return []
  const items = reply as unknown[]
  const entryLists: unknown[] = typeof items[0] === 'string' ? items.filter((_, i) => i % 2 === 1) : items.map((stream) => (Array.isArray(stream) ? (stream[1] as unknown) : undefined))
  const ids: string[] = []
  for (const entries of entryLists) {
    if (!Array.isArray(entries)) continue
    for (const entry of entries as unknown[]) if (Array.isArray(entry) && typeof entry[0] === 'string') ids.push(entry[0])
  }
  return ids
}

class RedisStreamsTopics implements TopicBenchClient {
  readonly #redis: Redis
  readonly #readers: Redis[] = []
  #lastId: readonly [number, number] = [0, 0]
  #confirmed = 0
  #closed = false

  constructor(redis: Redis) {
    this.#redis = redis
  }

  /**
   * `seq` is the count of confirms so far on this connection while each reply's id is above the previous
   * one, so with one publisher on a fresh stream it is the entry's position; an id out of order gives -1.
   */
  async publishAck(subject: string, data: Uint8Array, _timeoutMs: number): Promise<BenchPublishAck> {
    const id = await this.#redis.xadd(streamKey(subject), '*', FIELD, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    if (id === null) throw new Error('XADD returned no id')
    const parsed = parseId(id)
    const inOrder = parsed[0] > this.#lastId[0] || (parsed[0] === this.#lastId[0] && parsed[1] > this.#lastId[1])
    this.#lastId = parsed
    return { seq: inOrder ? ++this.#confirmed : -1, duplicate: false }
  }

  replay(subject: string, onMessage: (seq: number) => void, onError: (code: string) => void): BenchSubscription {
    const key = streamKey(subject)
    let stopped = false
    let seq = 0
    const loop = async (): Promise<void> => {
      let after = '0-0'
      while (!stopped && !this.#closed) {
        const ids = entryIds(await this.#redis.call('XREAD', ['COUNT', REPLAY_BATCH, 'STREAMS', key, after]))
        for (const id of ids) if (!stopped) onMessage(++seq)
        const last = ids[ids.length - 1]
        if (last === undefined) await sleep(REPLAY_IDLE_MS)
        else after = last
      }
    }
    loop().catch((err: unknown) => onError(codeOf(err)))
    return { unsubscribe: () => (stopped = true) }
  }

  work(subject: string, queue: string, maxInFlight: number, onMessage: (deliveryCount: number) => void, onError: (code: string) => void): void {
    const key = streamKey(subject)
    // A blocking read holds its connection, so each member reads on a connection of its own (as each
    // subwire member is a connection of its own).
    const reader = this.#redis.duplicate()
    this.#readers.push(reader)
    const consumer = `c-${this.#readers.length}-${process.pid}`
    const loop = async (): Promise<void> => {
      await reader.call('XGROUP', ['CREATE', key, queue, '0', 'MKSTREAM']).catch((err: unknown) => {
        if (!codeOf(err).startsWith('BUSYGROUP')) throw err // the other members created it
      })
      while (!this.#closed) {
        const reply = await reader.call('XREADGROUP', ['GROUP', queue, consumer, 'COUNT', maxInFlight, 'BLOCK', BLOCK_MS, 'STREAMS', key, '>'])
        const ids = entryIds(reply)
        if (ids.length === 0) continue
        for (let i = 0; i < ids.length; i++) onMessage(1) // `>` hands out never-delivered entries only
        reader.call('XACK', [key, queue, ...ids]).catch((err: unknown) => onError(codeOf(err)))
      }
    }
    loop().catch((err: unknown) => {
      if (!this.#closed) onError(codeOf(err))
    })
  }

  /** XLEN; `bytes` is what Redis says the stream uses in memory (MEMORY USAGE). */
  async info(topic: string): Promise<{ messages: number; bytes: number }> {
    const messages = await this.#redis.xlen(topic)
    const bytes = await this.#redis.call('MEMORY', ['USAGE', topic])
    return { messages, bytes: typeof bytes === 'number' ? bytes : 0 }
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(this.#readers.map((reader) => reader.quit().catch(() => reader.disconnect())))
  }
}

class RedisStreamsBenchClient implements BenchClient {
  readonly topics: RedisStreamsTopics
  readonly #redis: Redis

  constructor(redis: Redis) {
    this.#redis = redis
    this.topics = new RedisStreamsTopics(redis)
  }

  subscribe(_subject: string, _spec: SubscribeSpec, _onMessage: DeliveryHandler): void {
    unsupported('subscriptions')
  }

  respondWithEcho(_subject: string): void {
    unsupported('request/reply')
  }

  publish(_subject: string, _data: Uint8Array): void {
    unsupported('fire-and-forget publish (use publishAck)')
  }

  request(_subject: string, _data: Uint8Array, _timeoutMs: number): Promise<Uint8Array> {
    unsupported('request/reply')
  }

  async flush(): Promise<void> {
    await this.#redis.ping()
  }

  pendingBytes(): undefined {
    return undefined
  }

  async close(): Promise<void> {
    await this.topics.close()
    await this.#redis.quit().catch(() => this.#redis.disconnect())
  }
}

/** One connection (`redis://127.0.0.1:PORT`); resolves once it is ready. */
export async function connectRedisStreams(url: string, name: string): Promise<BenchClient> {
  const redis = new Redis(url, { connectionName: name, commandTimeout: COMMAND_TIMEOUT_MS, lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  return new RedisStreamsBenchClient(redis)
}
