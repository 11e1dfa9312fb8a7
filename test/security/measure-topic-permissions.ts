/**
 * Measures what the topic-management and request-refusal attacks of issue 17 §1 cost now: how long a refused
 * request and a refused publishAck take to fail (they used to wait for the 3 s default timeout), what each
 * management attack gets back, and the round trip of a canary client (a `flush()`) while one user sends a
 * stream of refused management requests.
 *
 *   node --conditions=source --import tsx test/security/measure-topic-permissions.ts [requests]
 *
 * Default: 200 requests of each kind, one after another. Not a test: README's Security section quotes its
 * output (.tmp/notes/perm-topics.md).
 */
import { connect, type Client } from '../../client/index.ts'
import { createBroker } from '../../server/index.ts'
import { SubwireError } from '../../shared/errors.ts'

const requests = Number(process.argv[2] ?? 200)

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; return 'ok' } catch (err) { return err instanceof SubwireError ? err.code : String(err) }
}

/** Median and p99 ms of `n` sequential calls. */
async function timed(n: number, call: () => Promise<unknown>): Promise<{ median: number; p99: number; codes: Set<string> }> {
  const ms: number[] = []
  const codes = new Set<string>()
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    codes.add(await codeOf(call()))
    ms.push(performance.now() - t0)
  }
  ms.sort((a, b) => a - b)
  return { median: percentile(ms, 0.5), p99: percentile(ms, 0.99), codes }
}

async function main(): Promise<void> {
  const broker = await createBroker({
    host: '127.0.0.1', port: 0,
    topics: [{ name: 'orders', subjects: ['orders.>'] }],
    auth: { tokens: [
      { token: 'attacker-token', user: 'attacker', permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } },
      { token: 'deny-only-token', user: 'deny-only', permissions: { publish: { deny: ['secret.>'] }, subscribe: { deny: ['secret.>'] } } },
      { token: 'narrow-user-token', user: 'narrow', permissions: { publish: { allow: ['mine.>'] }, subscribe: { allow: ['mine.>'] } } },
      { token: 'canary-token-1', user: 'canary' },
    ] },
  })
  const clients: Client[] = []
  try {
    const attacker = await connect(broker.url, { token: 'attacker-token' })
    const denyOnly = await connect(broker.url, { token: 'deny-only-token' })
    const narrow = await connect(broker.url, { token: 'narrow-user-token' })
    const canary = await connect(broker.url, { token: 'canary-token-1' })
    clients.push(attacker, denyOnly, narrow, canary)
    console.log(`purge by a user allowed to publish '>': ${await codeOf(attacker.topics.purge('orders'))}`)
    console.log(`purge by a deny-only user: ${await codeOf(denyOnly.topics.purge('orders'))}`)
    console.log(`maxMsgs: 1, discard: new topic over victim.>: ${await codeOf(attacker.topics.add({ name: 'trap', subjects: ['victim.>'], maxMsgs: 1, discard: 'new' }))}`)
    console.log(`list seen by the narrow user: ${JSON.stringify((await narrow.topics.list()).map((t) => t.name))}`)
    const req = await timed(requests, () => narrow.request('secret.cmd', 1))
    console.log(`refused request: ${[...req.codes].join()} after median ${req.median.toFixed(2)} ms, p99 ${req.p99.toFixed(2)} ms (was: timeout after 3000 ms)`)
    const ack = await timed(requests, () => narrow.publishAck('orders.x', 1))
    console.log(`refused publishAck: ${[...ack.codes].join()} after median ${ack.median.toFixed(2)} ms, p99 ${ack.p99.toFixed(2)} ms`)
    // The canary's round trip while the attacker keeps 50 refused management requests in flight.
    let stop = false
    const flood = (async () => {
      let sent = 0
      while (!stop && sent < 100_000) {
        await Promise.all(Array.from({ length: 50 }, () => attacker.topics.purge('orders').catch(() => undefined)))
        sent += 50
      }
      return sent
    })()
    const rtt = await timed(requests, () => canary.flush())
    stop = true
    const sent = await flood
    console.log(`canary flush() during ${sent} refused purges: median ${rtt.median.toFixed(2)} ms, p99 ${rtt.p99.toFixed(2)} ms`)
  } finally {
    for (const c of clients) await c.close()
    await broker.close()
  }
}

await main()
