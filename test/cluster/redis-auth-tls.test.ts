/**
 * Credentials and TLS in the cluster's Redis URL (`redis://:pass@host`, `rediss://…`), against real redis-servers:
 * a password-protected one, and one that serves TLS only with a certificate of the test's own CA (the broker
 * children trust it through NODE_EXTRA_CA_CERTS, as a deployment with a private CA does). A password never
 * shows in an error.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '../../client/index.ts'
import type { Client } from '../../client/client.ts'
import { startRedis } from './redis-server.ts'
import { NodeProcess } from './fault-harness.ts'
import { startBroker, take, until, within } from '../helpers.ts'

const test = suite('cluster redis credentials and TLS')
const open: Array<{ close(): unknown }> = []
const track = <T extends { close(): unknown }>(x: T): T => { open.push(x); return x }
test.after.each(async () => { for (const x of open.splice(0).reverse()) await x.close() })

test('joins through a password-protected Redis given in the URL, and a wrong password fails without showing it', async () => {
  const redis = track(await startRedis({ args: ['--requirepass', 's3cret-pw'] }))
  const url = `redis://:s3cret-pw@127.0.0.1:${redis.port}`
  const cluster = { redis: url, name: 'auth', heartbeatMs: 100, nodeTimeoutMs: 1000 }
  const a = track(await startBroker({ cluster }))
  const b = track(await startBroker({ cluster }))
  const sub = track(await within(5000, connect(b.url), 'connect')) as Client
  const s = sub.subscribe('x')
  await sub.flush()
  await until(5000, () => a.cluster.hasRemoteInterest('x'), 'interest through the authenticated Redis')
  const pub = track(await within(5000, connect(a.url), 'connect')) as Client
  pub.publish('x', 1)
  assert.is((await take(s, 1))[0].data, 1)
  assert.not.ok(JSON.stringify(a.cluster.stats()).includes('s3cret-pw'), 'no password in /stats')
  const err = await startBroker({ cluster: { ...cluster, redis: `redis://:wrong-pw@127.0.0.1:${redis.port}` } }).then(() => null, (e: unknown) => e)
  assert.is((err as { code?: string }).code, 'unavailable')
  assert.not.ok(String((err as Error).message).includes('wrong-pw'), 'the password is masked in the error')
  assert.match(String((err as Error).message), /WRONGPASS|invalid password|invalid username-password/i, 'says why: Redis refused the password')
})

test('joins through a TLS-only Redis (rediss://) whose certificate the nodes trust', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-tls-'))
  track({ close: () => rmSync(dir, { recursive: true, force: true }) })
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const redis = track(await startRedis({ tls: { certFile, keyFile } }))
  assert.match(redis.url, /^rediss:/)
  const env = { NODE_EXTRA_CA_CERTS: certFile }
  const a = await NodeProcess.start({ redis: redis.url, name: 'tls', nodeId: 'a' }, env)
  track({ close: () => a.stop() })
  const b = await NodeProcess.start({ redis: redis.url, name: 'tls', nodeId: 'b' }, env)
  track({ close: () => b.stop() })
  const sub = track(await within(5000, connect(b.url), 'connect')) as Client
  const s = sub.subscribe('secure.>')
  await sub.flush()
  const pub = track(await within(5000, connect(a.url), 'connect')) as Client
  // Interest crosses asynchronously: publish until the first message arrives, then check the rest in order.
  const got = take(s, 1, 10_000)
  const timer = setInterval(() => pub.publish('secure.ping', 'hello'), 50)
  try {
    assert.is((await got)[0].data, 'hello')
  } finally {
    clearInterval(timer)
  }
  // Peers are listed from the heartbeats: b shows in a's /stats within a heartbeat or two.
  let stats = { cluster: { link: '', nodes: [] as unknown[] } }
  for (let i = 0; i < 100 && stats.cluster.nodes.length < 2; i++) {
    stats = JSON.parse((await a.get('/stats')).body) as typeof stats
    if (stats.cluster.nodes.length < 2) await new Promise((r) => setTimeout(r, 50))
  }
  assert.is(stats.cluster.link, 'up')
  assert.is(stats.cluster.nodes.length, 2)
})

test.run()
