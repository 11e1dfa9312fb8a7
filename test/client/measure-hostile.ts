/**
 * What each hostile-server attack of issue 17 §4 costs the client, measured (not a test: it prints numbers).
 *
 *   node --conditions=source --import tsx test/client/measure-hostile.ts
 *
 * Run it on an older checkout to see the cost before the fixes (it only uses the public client API).
 */
import { connect } from '../../client/index.ts'
import { startBroker, sleep, within } from '../helpers.ts'
import { collectGarbage } from '../hostile/memory.ts'
import { concat } from '../hostile/wire.ts'
import { PONG_BYTES, writeBodyOp } from '../../shared/op-writer.ts'
import { OP } from '../../shared/protocol.ts'
import { FakeServer, frame } from './fake-server.ts'

const fast = { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } }

async function pingsPerSecond(heartbeatMs: number): Promise<number> {
  const server = await FakeServer.start({ info: () => ({ heartbeatMs }) })
  const c = await connect(server.url, fast)
  await sleep(1000)
  const n = server.pings
  await c.close()
  await server.close()
  return n
}

async function tokenCallsPerSecond(): Promise<number> {
  const answer = (conn: { ws: { send(b: Uint8Array): void } }): void => conn.ws.send(frame((w) => writeBodyOp(w, OP.INFO, { authExpiresAt: 0 })))
  const server = await FakeServer.start({ handshake: (conn) => { conn.ws.send(PONG_BYTES); answer(conn) }, auth: answer })
  let calls = 0
  const c = await connect(server.url, { ...fast, token: () => `t${++calls}` })
  calls = 0
  await sleep(1000)
  const n = calls
  await c.close()
  await server.close()
  return n
}

async function handshakesPerSecondAfterRetryAfter(): Promise<number> {
  let refuse = false
  let upgrades = 0
  const server = await FakeServer.start({}, {
    verifyClient: (_info: unknown, done: (ok: boolean, status?: number, message?: string, headers?: Record<string, string>) => void) => {
      upgrades++
      if (refuse) done(false, 503, 'busy', { 'Retry-After': '1000000000' })
      else done(true)
    },
  })
  const c = await connect(server.url, fast)
  refuse = true
  upgrades = 0
  server.conns[0].ws.close(1001, 'server_closing')
  await sleep(1000)
  await c.close()
  await server.close()
  return upgrades
}

async function flushAfterBadFrame(): Promise<string> {
  const server = await FakeServer.start({ handshake: (conn) => conn.ws.send(conn.n === 1 ? concat(PONG_BYTES, Uint8Array.of(0xc1)) : PONG_BYTES) })
  const c = await connect(server.url, fast)
  server.conns[0].ws.close(1001, 'server_closing')
  await sleep(100)
  const started = performance.now()
  const result = await within(3000, c.flush(), 'flush').then(() => `settled in ${(performance.now() - started).toFixed(0)} ms`, () => 'never settled (3 s)')
  await c.close()
  await server.close()
  return result
}

/** A `for await` reader taking one message every 2 ms while 50,000 messages of 2 KiB arrive. */
async function slowReader(): Promise<string> {
  const b = await startBroker()
  const pub = await connect(b.url)
  const c = await connect(b.url)
  const sub = c.subscribe('slow')
  await c.flush()
  let stop = false
  let peak = 0
  const reader = (async () => { for await (const m of sub) { void m; peak = Math.max(peak, sub.pending); if (stop) break; await sleep(2) } })()
  collectGarbage()
  const before = process.memoryUsage()
  const payload = new Uint8Array(2048)
  for (let i = 0; i < 50_000; i++) {
    pub.publish('slow', payload)
    if (i % 1000 === 999) await pub.flush()
  }
  await c.flush()
  const held = sub.pending
  collectGarbage()
  const after = process.memoryUsage()
  stop = true
  await within(5000, reader, 'the reader')
  const dropped = (sub as { dropped?: number }).dropped ?? 0
  await Promise.all([pub.close(), c.close()])
  await b.close()
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`
  return `queue ${held} messages at the end (peak ${Math.max(peak, held)}), dropped ${dropped}; heap + buffers grew ${mib(after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers)}`
}

/** A `for await` reader that keeps up: messages per second through the iterator (the receive path). */
async function fastReader(): Promise<number> {
  const b = await startBroker()
  const pub = await connect(b.url)
  const c = await connect(b.url)
  const sub = c.subscribe('fast')
  await c.flush()
  const N = 200_000
  let got = 0
  const done = (async () => { for await (const m of sub) { void m; if (++got === N) break } })()
  const started = performance.now()
  for (let i = 0; i < N; i++) {
    pub.publish('fast', i)
    if (i % 5000 === 4999) await pub.flush()
  }
  await within(30_000, done, 'the reader')
  const rate = N / ((performance.now() - started) / 1000)
  await Promise.all([pub.close(), c.close()])
  await b.close()
  return rate
}

console.log(`INFO heartbeatMs 0:      ${await pingsPerSecond(0)} PINGs in 1 s`)
console.log(`INFO heartbeatMs 1e12:   ${await pingsPerSecond(1e12)} PINGs in 1 s`)
console.log(`authExpiresAt 0:         ${await tokenCallsPerSecond()} token calls in 1 s`)
console.log(`Retry-After 1e9 s:       ${await handshakesPerSecondAfterRetryAfter()} handshakes in 1 s`)
console.log(`bad frame after PONG:    flush() ${await flushAfterBadFrame()}`)
console.log(`slow for-await reader:   ${await slowReader()}`)
const rates: number[] = []
for (let i = 0; i < 5; i++) rates.push(await fastReader())
rates.sort((x, y) => x - y)
console.log(`fast for-await reader:   median ${Math.round(rates[2]).toLocaleString('en')} msg/s (runs: ${rates.map((r) => Math.round(r / 1000)).join(', ')} k)`)
process.exit(0)
