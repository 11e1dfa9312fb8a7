/**
 * ioredis vs node-redis (`redis`) for the cluster adapter's pattern (issue 14, README "Design"): one process
 * PUBLISHes 1 KiB Buffers as fast as pipelining allows, another is SUBSCRIBEd and receives them as Buffers,
 * both on one in-memory redis-server (test/bench/systems/redis-streams/server.ts).
 *
 *   node --conditions=source --import tsx test/bench/micro/redis-clients.ts [--messages 200000] [--runs 3] [--bytes 1024]
 *
 * (`--bytes 65536 --messages 20000`: the adapter's own shape, one PUBLISH per target node per tick holding a
 * tick's messages.)
 *
 * Variants, each run in turn (a, b, c, a, b, c, …) so a drift of the machine falls on all of them:
 *  - ioredis-auto: ioredis with `enableAutoPipelining` (commands of one tick go out in one write);
 *  - ioredis: ioredis' default (each command written to the socket as it is issued);
 *  - node-redis: node-redis, which writes the commands issued in one tick together.
 * The publisher issues bursts of publishes in one tick and keeps at most WINDOW_BURSTS bursts unanswered, and
 * at most CREDIT_BYTES sent and not yet received (the subscriber reports its count every few ms): a PUBLISH is
 * answered once Redis has queued the message for the subscriber, so only that end-to-end bound keeps the
 * subscriber's backlog under redis-server's (client-output-buffer-limit pubsub 32 MiB, or 8 MiB for 60 s, past
 * which Redis disconnects the subscriber: without it, ioredis' subscriber lost most 64 KiB messages that way).
 * The subscriber (a child process, the same library) counts Buffers. msgs/s is the count over the
 * time from the first publish to the subscriber's last message (reported over IPC). CPU of each process (the
 * publisher, the subscriber, redis-server) is read from /proc over the same span.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { cpuSecondsOf } from '../orchestrator/proc-stat.ts'
import { sleep, within } from '../time.ts'

const VARIANTS = ['ioredis-auto', 'ioredis', 'node-redis'] as const
type Variant = (typeof VARIANTS)[number]
/**
 * At most 256 publishes per burst and 256 KiB per burst, 4 bursts unanswered: 1 MiB in flight whatever the size.
 * Far more would meet redis-server's own bound on a subscriber's backlog (client-output-buffer-limit pubsub,
 * 32 MiB, or 8 MiB for 60 s), past which it disconnects the subscriber.
 */
const MAX_BURST = 256
const BURST_BYTES = 256 * 1024
const WINDOW_BURSTS = 4
const CREDIT_BYTES = 4 * 1024 * 1024
const PROGRESS_MS = 5
const CHANNEL = 'micro:n:target'
/** After the last publish is answered, how long the subscriber may take to get the rest. */
const DRAIN_DEADLINE_MS = 10_000

/** One connection's publish and subscribe, whichever library. */
interface PubSub {
  publish(channel: string, payload: Buffer): Promise<unknown>
  subscribe(channel: string, onMessage: (payload: Buffer) => void): Promise<void>
  close(): Promise<void>
}

async function open(variant: Variant, url: string): Promise<PubSub> {
  if (variant === 'node-redis') {
    const { createClient } = await import('redis')
    const client = createClient({ url })
    client.on('error', (err: unknown) => process.stderr.write(`node-redis: ${String(err)}\n`))
    await client.connect()
    return {
      publish: (channel, payload) => client.publish(channel, payload),
      subscribe: (channel, onMessage) => client.subscribe(channel, (message: Buffer) => onMessage(message), true),
      close: async () => {
        await client.quit()
      },
    }
  }
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { enableAutoPipelining: variant === 'ioredis-auto' })
  await client.ping()
  return {
    publish: (channel, payload) => client.publish(channel, payload),
    subscribe: async (channel, onMessage) => {
      client.on('messageBuffer', (_channel: Buffer, message: Buffer) => onMessage(message))
      await client.subscribe(channel)
    },
    close: async () => {
      await client.quit()
    },
  }
}

/** Child: subscribe, say `ready`, count to `expected`, then say `done` with the count. */
async function subscriber(variant: Variant, url: string, expected: number): Promise<void> {
  const client = await open(variant, url)
  let count = 0
  let bytes = 0
  await client.subscribe(CHANNEL, (payload) => {
    count++
    bytes += payload.length
    if (count === expected) process.send?.({ type: 'done', count, bytes })
  })
  let reported = 0
  setInterval(() => {
    if (count === reported) return
    reported = count
    process.send?.({ type: 'progress', count })
  }, PROGRESS_MS).unref()
  process.send?.({ type: 'ready' })
  process.on('message', (message: { type: string }) => {
    if (message.type === 'report') process.send?.({ type: 'done', count, bytes })
    if (message.type === 'exit') void client.close().finally(() => process.exit(0))
  })
}

interface Outcome {
  readonly variant: Variant
  readonly received: number
  readonly msgsPerSec: number
  readonly publishedPerSec: number
  readonly cpu: { readonly publisher: number; readonly subscriber: number; readonly redis: number }
}

function nextMessage(child: ChildProcess, type: string): Promise<{ type: string; count?: number }> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string; count?: number }): void => {
      if (message.type !== type) return
      child.off('message', onMessage)
      resolve(message)
    }
    child.on('message', onMessage)
    child.once('exit', (code) => reject(new Error(`subscriber exited (${code})`)))
  })
}

function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

async function runOnce(variant: Variant, url: string, redisPid: number | undefined, messages: number, bytes: number): Promise<Outcome> {
  const child = fork(fileURLToPath(import.meta.url), ['--subscriber', variant, url, String(messages)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    await within(30_000, nextMessage(child, 'ready'), `${variant} subscriber ready`)
    const pub = await open(variant, url)
    const payload = Buffer.alloc(bytes, 7)
    const burstSize = burstOf(bytes)
    const done = nextMessage(child, 'done')
    let received = 0
    let wake: (() => void) | null = null
    child.on('message', (message: { type: string; count?: number }) => {
      if (message.type !== 'progress' && message.type !== 'done') return
      received = Math.max(received, message.count ?? 0)
      wake?.()
    })
    const credit = creditOf(bytes)
    const cpu0 = { publisher: ownCpuSeconds(), subscriber: cpuSecondsOf(child.pid) ?? 0, redis: cpuSecondsOf(redisPid) ?? 0 }
    const started = performance.now()
    const inFlight: Array<Promise<unknown>> = []
    let sent = 0
    while (sent < messages) {
      const burst: Array<Promise<unknown>> = []
      while (sent - received > credit) await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 100) })
      for (let i = 0; i < burstSize && sent < messages; i++, sent++) burst.push(pub.publish(CHANNEL, payload))
      inFlight.push(Promise.all(burst))
      if (inFlight.length >= WINDOW_BURSTS) await inFlight.shift()
    }
    await Promise.all(inFlight)
    const publishedMs = performance.now() - started
    // A message lost on the way would leave `done` waiting: ask for the count at the deadline instead.
    const final = await within(DRAIN_DEADLINE_MS, done, `${variant}: ${messages} messages`).catch(async () => {
      child.send({ type: 'report' })
      return nextMessage(child, 'done')
    })
    const elapsedS = (performance.now() - started) / 1000
    const cpu = {
      publisher: ownCpuSeconds() - cpu0.publisher,
      subscriber: (cpuSecondsOf(child.pid) ?? 0) - cpu0.subscriber,
      redis: (cpuSecondsOf(redisPid) ?? 0) - cpu0.redis,
    }
    await pub.close()
    const count = final.count ?? 0
    return {
      variant,
      received: count,
      msgsPerSec: count / elapsedS,
      publishedPerSec: (messages * 1000) / publishedMs,
      cpu: { publisher: cpu.publisher / elapsedS, subscriber: cpu.subscriber / elapsedS, redis: cpu.redis / elapsedS },
    }
  } finally {
    child.send({ type: 'exit' })
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(3000)])
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}

/** Publishes per burst for `bytes`-byte payloads (see MAX_BURST). */
export function burstOf(bytes: number): number {
  return Math.max(1, Math.min(MAX_BURST, Math.floor(BURST_BYTES / bytes)))
}

/** Messages sent and not yet received that the publisher allows (CREDIT_BYTES, at least two bursts). */
export function creditOf(bytes: number): number {
  return Math.max(2 * burstOf(bytes), Math.floor(CREDIT_BYTES / bytes))
}

/** Cores over messages per second, as µs of CPU per message (steadier than a rate on a loaded machine). */
function perMessageUs(cores: number, perSecond: number): string {
  return perSecond > 0 ? ((cores / perSecond) * 1e6).toFixed(1) : '?'
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      messages: { type: 'string', default: '200000' },
      runs: { type: 'string', default: '3' },
      bytes: { type: 'string', default: '1024' },
      subscriber: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  })
  if (values.subscriber) {
    const [variant, url, expected] = positionals
    if (!VARIANTS.includes(variant as Variant) || url === undefined) throw new Error('subscriber: variant and url expected')
    await subscriber(variant as Variant, url, Number(expected))
    return
  }
  const messages = Number(values.messages)
  const runs = Number(values.runs)
  const bytes = Number(values.bytes)
  const positive = (n: number): boolean => Number.isSafeInteger(n) && n > 0
  if (!positive(messages) || !positive(runs) || !positive(bytes)) throw new Error('--messages, --runs and --bytes take positive integers')
  const { startMemoryRedisServer } = await import('../systems/redis-streams/server.ts')
  const redis = await startMemoryRedisServer()
  const outcomes: Outcome[] = []
  try {
    for (let run = 1; run <= runs; run++) {
      for (const variant of VARIANTS) {
        const o = await runOnce(variant, redis.url, redis.serverPid, messages, bytes)
        outcomes.push(o)
        const lost = o.received < messages ? ` (received ${o.received} of ${messages})` : ''
        process.stdout.write(
          `run ${run} ${variant.padEnd(12)} ${Math.round(o.msgsPerSec).toLocaleString('en-US').padStart(9)} msgs/s received${lost}, publish replies ${Math.round(o.publishedPerSec).toLocaleString('en-US')}/s; cores: publisher ${o.cpu.publisher.toFixed(2)}, subscriber ${o.cpu.subscriber.toFixed(2)}, redis-server ${o.cpu.redis.toFixed(2)}; CPU µs per message: publisher ${perMessageUs(o.cpu.publisher, o.msgsPerSec)}, subscriber ${perMessageUs(o.cpu.subscriber, o.msgsPerSec)}\n`,
        )
      }
    }
  } finally {
    await redis.close()
  }
  process.stdout.write(`\n${messages.toLocaleString('en-US')} × ${bytes} B per run, bursts of ${burstOf(bytes)}, ${WINDOW_BURSTS} bursts unanswered, ${creditOf(bytes)} messages sent and not yet received\n`)
  for (const variant of VARIANTS) {
    const rates = outcomes.filter((o) => o.variant === variant).map((o) => o.msgsPerSec)
    const fmt = (v: number): string => Math.round(v).toLocaleString('en-US')
    process.stdout.write(`${variant.padEnd(12)} median ${fmt(median(rates))} msgs/s (${rates.map(fmt).join(', ')})\n`)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  })
}
