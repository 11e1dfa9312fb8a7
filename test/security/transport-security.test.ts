import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { connect, type Client, type WebSocketConstructor } from '../../client/index.ts'
import { SubwireError } from '../../shared/errors.ts'
import { cleanupAfterEach, startBroker, take, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

/** A self-signed certificate for 127.0.0.1, made by the test (no network). */
function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-tls-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('serves wss:// with a certificate and carries messages over it', async () => {
  const tls = selfSignedCert()
  const b = track(await startBroker({ tls }))
  assert.match(b.url, /^wss:\/\/127\.0\.0\.1:\d+\/$/)
  // Trust exactly this certificate, as a real deployment trusts its CA.
  class TrustingWebSocket extends WebSocket {
    constructor(url: string, protocols: string[]) { super(url, protocols, { ca: tls.cert }) }
  }
  const c = track(await connect(b.url, { WebSocket: TrustingWebSocket as unknown as WebSocketConstructor }))
  const s = c.subscribe('secure')
  c.publish('secure', 'over tls')
  assert.is((await take(s, 1))[0].data, 'over tls')
  const untrusted = await connect(b.url, { reconnect: false }).then(() => 'connected', (e: SubwireError) => e.code)
  assert.is(untrusted, 'connection_refused', 'an unknown certificate is refused by the client')
})

test('refuses cross-site origins at the handshake and admits listed ones and non-browsers', async () => {
  const b = track(await startBroker({ allowedOrigins: ['https://app.example.com'] }))
  const refused = await refuseWithOrigin(b.url, 'https://evil.example.net')
  assert.equal(refused, { status: 403, code: 'bad_origin' })
  assert.is(await refuseWithOrigin(b.url, 'https://APP.example.com'), null)
  track(await connect(b.url)) // Node clients send no Origin
})

function refuseWithOrigin(url: string, origin: string): Promise<{ status: number; code: string } | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['subwire.v1'], { origin })
    ws.on('open', () => { ws.terminate(); resolve(null) })
    ws.on('unexpected-response', (req, res) => { req.destroy(); resolve({ status: res.statusCode ?? 0, code: String(res.headers['x-subwire-error']) }) })
    ws.on('error', () => undefined)
  })
}

test('refuses connections past maxConnectionsPerIp with limit', async () => {
  const b = track(await startBroker({ maxConnectionsPerIp: 2 }))
  const first = track(await connect(b.url))
  track(await connect(b.url))
  const err = await connect(b.url, { reconnect: false }).then(() => null, (e: SubwireError) => e)
  assert.is(err?.code, 'limit')
  // A connection that leaves gives its slot back (the connection's close releases it, not the upgrade's).
  await first.close()
  await until(5000, () => b.stats().connections === 1, 'the first connection to be gone')
  track(await connect(b.url, { reconnect: false }))
})

test('admits a reconnect storm of 2,000 clients at a bounded rate, every client getting back in', async () => {
  const b0 = await startBroker({ maxConnectsPerSecond: 5000, maxConnectionsPerIp: 5000, heartbeatMs: 60_000 })
  const port = b0.port
  const clients: Client[] = []
  try {
    for (let i = 0; i < 2000; i += 200) {
      clients.push(...await within(20_000, Promise.all(Array.from({ length: 200 }, () => connect(b0.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 2000 } }))), 'the fleet to connect'))
    }
    await b0.close()
    await until(10_000, () => clients.every((c) => c.state === 'reconnecting'), 'the fleet to notice')
    const b = track(await startBroker({ port, maxConnectsPerSecond: 800, maxConnectionsPerIp: 5000, heartbeatMs: 60_000 }))
    const started = Date.now()
    await until(20_000, () => clients.every((c) => c.state === 'connected'), 'every client to reconnect')
    const took = Date.now() - started
    assert.is(b.stats().connections, 2000)
    assert.ok(took >= 1000, `2,000 clients at 800/s cannot all be admitted at once (took ${took} ms)`)
  } finally {
    await Promise.all(clients.map((c) => c.close()))
  }
})

test('slows a publisher over maxMsgsPerSecond by pausing its reads, and loses nothing', async () => {
  const b = track(await startBroker({ maxMsgsPerSecond: 2000 }))
  const pub = track(await connect(b.url))
  const sub = track(await connect(b.url))
  let got = 0
  sub.subscribe('metered', { callback: () => { got++ } })
  await sub.flush()
  const started = Date.now()
  // Spread over ticks, as a real publisher is: a pause can only hold back frames not yet read.
  for (let i = 0; i < 10_000; i++) {
    pub.publish('metered', i)
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve))
  }
  await within(15_000, pub.flush(), 'the flush')
  await until(15_000, () => got === 10_000, 'all 10,000 messages')
  // 8,000 past the burst at 2,000/s is 4 s; reads happen in chunks, so allow for some overshoot.
  assert.ok(Date.now() - started >= 1500, `10,000 messages at 2,000/s (burst 2,000) take seconds, took ${Date.now() - started} ms`)
})

test.run()
