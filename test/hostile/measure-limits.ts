/**
 * Measures what the attacks of issue 17 §3 (the limits half) cost now, for README "Security":
 * `node --conditions=source --import tsx test/hostile/measure-limits.ts [part]`. Prints one line per attack.
 */
import { spawn } from 'node:child_process'
import { connect } from '../../client/index.ts'
import { hashPassword, type Broker } from '../../server/index.ts'
import { WebSocket } from 'ws'
import { MsgpackWriter } from '../../shared/msgpack-writer.ts'
import { PING_BYTES, writeBodyOp, writePub, writeSub } from '../../shared/op-writer.ts'
import { ENCODING, OP, PROTOCOL_VERSION } from '../../shared/protocol.ts'
import { RawClient, sleep, startBroker, until, within } from '../helpers.ts'
import { collectGarbage } from './memory.ts'
import { handshake } from './row.ts'

const MIB = 1024 * 1024
const heap = (): number => { collectGarbage(); return process.memoryUsage().heapUsed }

/** A PING round trip that looks only at ops arriving after it (row.ts `pong` rescans every op on every poll). */
async function roundTrip(raw: RawClient, ms = 30_000): Promise<void> {
  const from = raw.ops.length
  raw.send(PING_BYTES)
  let seen = from
  await until(ms, () => {
    for (; seen < raw.ops.length; seen++) if (raw.ops[seen].op === 'PONG') return true
    return raw.closeCode !== null
  }, 'a PONG')
}

/** Worst canary round trip (flush) while `work` runs. */
async function worstRoundTrip(broker: Broker, work: () => Promise<void>, creds: { token?: string } = {}): Promise<number> {
  const canary = await connect(broker.url, { reconnect: false, ...creds })
  let worst = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const t = performance.now()
      await within(10_000, canary.flush(), 'canary')
      worst = Math.max(worst, performance.now() - t)
      await sleep(10)
    }
  })()
  try { await work() } finally { running = false; await loop; await canary.close() }
  return worst
}

async function passwords(): Promise<void> {
  const passwordHash = await hashPassword('pw')
  const b = await startBroker({ auth: { tokens: [{ token: 'canary-token-1', user: 'c' }], users: [{ user: 'ops', passwordHash }] } })
  let loginMs = 0
  const worst = await worstRoundTrip(b, async () => {
    const flood = Array.from({ length: 200 }, () => new RawClient(b.url))
    await Promise.all(flood.map((r) => r.opened))
    for (const [i, r] of flood.entries()) r.connect({ user: `nobody-${i}`, password: 'x' })
    await sleep(20)
    const t = performance.now()
    const real = await connect(b.url, { user: 'ops', password: 'pw', reconnect: false })
    loginMs = performance.now() - t
    await real.close()
    for (const r of flood) r.close()
  }, { token: 'canary-token-1' })
  console.log(`password flood: 200 unknown-user CONNECTs; the real user's login took ${loginMs.toFixed(0)} ms; canary worst round trip ${worst.toFixed(0)} ms`)
  await b.close()
}

/** Opens `count` silent TCP sockets from 127.0.0.2 in a child process; resolves with when they were closed, or opened. */
function silentFlood(port: number, count: number, waitMs: number): Promise<{ closedAt: number[]; open: number }> {
  const code = `
    const net = require('node:net'); const t0 = Date.now(); const closedAt = []; let open = 0
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ port: ${port}, host: '127.0.0.1', localAddress: '127.0.0.2' })
      s.on('connect', () => open++).on('data', () => {}).on('error', () => {}).on('close', () => { open--; closedAt.push(Date.now() - t0) })
    }
    const done = () => { console.log(JSON.stringify({ closedAt, open })); process.exit(0) }
    setTimeout(done, ${waitMs}); setInterval(() => { if (closedAt.length === ${count}) done() }, 50)`
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.on('exit', () => resolve(JSON.parse(out) as { closedAt: number[]; open: number }))
  })
}

async function silentSockets(): Promise<void> {
  const b = await startBroker()
  let flood = { closedAt: [] as number[], open: 0 }
  const worst = await worstRoundTrip(b, async () => { flood = await silentFlood(Number(new URL(b.url).port), 1500, 20_000) })
  console.log(`silent sockets: 1,500 from one loopback address (another process), default options: ${flood.closedAt.length} closed by the broker, the last after ${(Math.max(...flood.closedAt) / 1000).toFixed(1)} s (headersTimeoutMs 10 s); canary worst round trip ${worst.toFixed(0)} ms`)
  await b.close()
  const capped = await startBroker({ maxConnectionsPerIp: 1000 })
  const worstCapped = await worstRoundTrip(capped, async () => { flood = await silentFlood(Number(new URL(capped.url).port), 1500, 3000) })
  console.log(`silent sockets: 1,500 from one address with maxConnectionsPerIp 1000: ${flood.closedAt.length} closed at once, ${flood.open} held (1000 + 16) until headersTimeoutMs; canary worst round trip ${worstCapped.toFixed(0)} ms`)
  await capped.close()
}

/** A raw socket that does not decode what it gets (so the attacker's own work does not weigh on the canary). */
class QuietSocket {
  readonly ws: WebSocket
  #pongs = 0
  constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, 'subwire.v1', { headers })
    // The PONG a frame ends with is the last op the broker queued for it: the last two bytes of a frame.
    this.ws.on('message', (d: Buffer) => { if (d.length >= 2 && d[d.length - 2] === 0x91 && d[d.length - 1] === OP.PONG) this.#pongs++ })
  }
  async open(): Promise<void> {
    await new Promise((resolve) => this.ws.once('open', resolve))
    const w = new MsgpackWriter(64)
    writeBodyOp(w, OP.CONNECT, { protocol: PROTOCOL_VERSION })
    this.ws.send(w.finish())
    await this.roundTrip()
  }
  async roundTrip(): Promise<void> {
    const want = this.#pongs + 1
    this.ws.send(PING_BYTES)
    await until(60_000, () => this.#pongs >= want, 'a PONG')
  }
}

async function subscriptions(): Promise<void> {
  // trustProxy: the address comes from X-Forwarded-For, so a network address with the default budgets.
  const b = await startBroker({ trustProxy: true })
  const before = heap()
  const sockets: QuietSocket[] = []
  const worst = await worstRoundTrip(b, async () => {
    for (let c = 0; c < 5; c++) {
      const q = new QuietSocket(b.url, { 'x-forwarded-for': '203.0.113.9' })
      await q.open()
      for (let k = 0; k < 100; k++) {
        const w = new MsgpackWriter(64 * 1024)
        for (let sid = k * 1000 + 1; sid <= (k + 1) * 1000; sid++) writeSub(w, sid, `m.${c}.${sid}`, null)
        q.ws.send(w.finish())
        await q.roundTrip()
      }
      sockets.push(q)
    }
  })
  const held = b.connections().reduce((n, c) => n + c.subscriptions.length, 0)
  console.log(`subscriptions: 5 connections x 100,000 SUBs (frames of 1,000) from one network address: ${held.toLocaleString('en')} held (maxSubscriptionsPerIp 200,000), broker heap +${((heap() - before) / MIB).toFixed(0)} MiB; canary worst round trip ${worst.toFixed(0)} ms`)
  for (const q of sockets) q.ws.terminate()
  await b.close()
}

async function topicBytes(distinct: boolean): Promise<void> {
  const b = await startBroker({ topics: [{ name: 't', subjects: ['t.>'], maxBytes: MIB }] })
  const pub = new RawClient(b.url)
  await pub.opened
  await handshake(pub)
  const before = heap()
  for (let k = 0; k < 15; k++) {
    pub.sendOps((w) => { for (let i = 0; i < 10_000; i++) writePub(w, 0, distinct ? `t.${k}.${i}` : 't.x', null, null, ENCODING.raw, new Uint8Array(0)) })
    await roundTrip(pub)
  }
  const info = b.topics.info('t')
  console.log(`topic maxBytes 1 MiB, 150,000 empty messages published on ${distinct ? '150,000 distinct subjects' : 'one subject'}: ${info.messages.toLocaleString('en')} held, counted ${(info.bytes / MIB).toFixed(2)} MiB, heap +${((heap() - before) / MIB).toFixed(1)} MiB`)
  pub.close()
  await b.close()
}

// One part only: `… measure-limits.ts sockets` (passwords, sockets, subscriptions, topics).
const PARTS: Record<string, () => Promise<void>> = {
  passwords,
  sockets: silentSockets,
  subscriptions,
  topics: async () => { await topicBytes(false); await topicBytes(true) },
}
for (const [name, run] of Object.entries(PARTS)) if (process.argv[2] === undefined || process.argv[2] === name) await run()
process.exit(0)
