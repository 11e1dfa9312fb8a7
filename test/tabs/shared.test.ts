/**
 * `connect(url, { shared: true })` in Node, with the SharedWorker played by a `Hub` in this process and each
 * "tab" joined to it by a `MessageChannel` (the same structured clone a browser uses). The browser itself is
 * test/tabs/tabs.browser.test.ts; here the sharing rules are checked fast: one broker connection, reference
 * counting, each tab's own messages, replies to the asking tab, liveness, the fallback and the option checks.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MessagePort } from 'node:worker_threads'
import { connect, type Client, type Msg, type Status, type Subscription } from '../../client/index.ts'
import type { SharedClient } from '../../client/shared/tab-client.ts'
import { Hub } from '../../client/shared/hub.ts'
import { FakeWorkers } from './fake-worker.ts'
import type { Broker } from '../../server/index.ts'
import { codeOf, sleep, startBroker, take, until, within } from '../helpers.ts'
import { CutProxy } from '../resume/cut-proxy.ts'

const workers = new FakeWorkers()
let broker: Broker
const tabs: SharedClient[] = []
const others: Client[] = []

test.before.each(async () => {
  workers.install()
  broker = await startBroker()
})

test.after.each(async () => {
  for (const t of tabs.splice(0)) await within(3000, t.close(), 'a tab to close')
  for (const c of others.splice(0)) await within(3000, c.close(), 'a client to close')
  workers.uninstall()
  await within(5000, broker.close(), 'the broker to close')
})

async function tab(options: { tabTimeoutMs?: number } = {}): Promise<SharedClient> {
  const t = await within(5000, connect(broker.url, { name: 'tabs', reconnect: false, shared: options.tabTimeoutMs === undefined ? true : { tabTimeoutMs: options.tabTimeoutMs } }), 'a tab to connect')
  tabs.push(t)
  return t
}

async function node(): Promise<Client> {
  const c = await within(5000, connect(broker.url, { reconnect: false }), 'a Node client')
  others.push(c)
  return c
}

/** Subscriptions the broker holds on the tabs' connection (the one named `tabs`). */
function brokerSubjects(): string[] {
  return broker.connections({ maxSubscriptions: 100 }).filter((c) => c.name === 'tabs').flatMap((c) => c.subscriptions.map((s) => s.subject)).filter((s) => !s.startsWith('_INBOX.')).sort()
}

async function settled(t: SharedClient): Promise<void> {
  await within(3000, t.flush(), 'a round trip through the worker')
}

test('three tabs share one broker connection', async () => {
  await tab(); await tab(); await tab()
  assert.is(broker.connections().filter((c) => c.name === 'tabs').length, 1)
  assert.is(workers.hub.size, 1)
})

test('two tabs on sensors.> are one broker subscription, each tab receives, and it goes with the last holder', async () => {
  const [a, b] = [await tab(), await tab()]
  const sa = a.subscribe('sensors.>')
  const sb = b.subscribe('sensors.>')
  await settled(a); await settled(b)
  assert.equal(brokerSubjects(), ['sensors.>'])
  const pub = await node()
  pub.publish('sensors.paris.temp', { value: 21 })
  const [ma] = await take(sa, 1)
  const [mb] = await take(sb, 1)
  assert.equal([ma.subject, ma.data, mb.subject, mb.data], ['sensors.paris.temp', { value: 21 }, 'sensors.paris.temp', { value: 21 }])
  await within(3000, a.close(), 'tab a to close')
  await settled(b)
  assert.equal(brokerSubjects(), ['sensors.>'], 'b still holds it')
  pub.publish('sensors.lyon.temp', { value: 19 })
  assert.is((await take(sb, 1))[0].subject, 'sensors.lyon.temp')
  sb.unsubscribe()
  await settled(b)
  assert.equal(brokerSubjects(), [])
})

test('a tab on a.* and a tab on a.b each get what a connection of its own would give', async () => {
  const [a, b] = [await tab(), await tab()]
  const got: Record<string, string[]> = { a: [], b: [] }
  const sa = a.subscribe('a.*', { callback: (_e, m) => { if (m) got.a.push(m.subject) } })
  const sb = b.subscribe('a.b', { callback: (_e, m) => { if (m) got.b.push(m.subject) } })
  b.subscribe('a.b', { callback: (_e, m) => { if (m) got.b.push(`twice:${m.subject}`) } })
  await settled(a); await settled(b)
  const pub = await node()
  for (const s of ['a.b', 'a.c', 'a.b.c', 'x.y']) pub.publish(s, 1)
  await within(3000, pub.flush(), 'the publishes')
  await until(3000, () => got.a.length === 2 && got.b.length === 2, 'the deliveries')
  await sleep(50)
  assert.equal(got.a, ['a.b', 'a.c'])
  assert.equal(got.b.sort(), ['a.b', 'twice:a.b'])
  assert.ok(!sa.isClosed && !sb.isClosed)
})

test('a request from one tab is answered to that tab only', async () => {
  const [a, b] = [await tab(), await tab()]
  const svc = await node()
  svc.subscribe('svc.echo', { callback: (_e, m) => { m?.respond({ echoed: m.data }) } })
  await within(3000, svc.flush(), 'the responder')
  const [ra, rb] = await Promise.all([a.request('svc.echo', 'from a', { timeout: 2000 }), b.request('svc.echo', 'from b', { timeout: 2000 })])
  assert.equal(ra.data, { echoed: 'from a' })
  assert.equal(rb.data, { echoed: 'from b' })
  const err = await a.request('nobody.here', 1, { timeout: 2000 }).then(() => null, (e: { code?: string }) => e.code)
  assert.is(err, 'no_responders')
})

test('a tab publishes, responds and manages topics through the shared connection', async () => {
  const [a, b] = [await tab(), await tab()]
  const sub = b.subscribe('from.tabs')
  b.subscribe('tab.svc', { callback: (_e, m) => { m?.respond(`b answers ${String(m.data)}`) } })
  await settled(b)
  a.publish('from.tabs', { n: 1 }, { headers: { h: 'v' } })
  const [m] = await take(sub, 1)
  assert.equal([m.data, m.headers], [{ n: 1 }, { h: 'v' }])
  assert.is((await a.request('tab.svc', 'x', { timeout: 2000 })).data, 'b answers x')
  await within(3000, a.topics.add({ name: 'orders', subjects: ['orders.>'] }), 'a topic to be made')
  const ack = await within(3000, a.publishAck('orders.eu', { id: 1 }), 'a confirmed publish')
  assert.equal([ack.topic, ack.seq], ['orders', 1])
  assert.is((await within(3000, b.topics.info('orders'), 'topic info')).messages, 1)
})

test('a tab\'s token function is asked for the shared connection\'s token', async () => {
  const authed = await startBroker({ auth: { tokens: [{ token: 'secret-1', user: 'alice' }] } })
  try {
    let asked = 0
    const t = await within(5000, connect(authed.url, { name: 'tabs', reconnect: false, shared: true, token: async () => { asked++; return 'secret-1' } }), 'an authenticated tab')
    tabs.push(t)
    assert.is(asked, 1)
    assert.is((t.info as { user?: string } | null)?.user, 'alice')
    const refused = await connect(authed.url, { reconnect: false, shared: true, token: () => 'wrong' }).then(() => 'no error', (e: { code?: string }) => e.code)
    assert.is(refused, 'auth_failed')
    await within(3000, t.close(), 'the tab to close')
  } finally {
    await within(5000, authed.close(), 'the authenticated broker to close')
  }
})

test('a publish over the broker\'s maxPayload throws max_payload in the tab at once, as on a connection of its own', async () => {
  await broker.close()
  broker = await startBroker({ maxPayload: 1024 })
  const a = await tab()
  assert.is(codeOf(() => a.publish('big', new Uint8Array(4096))), 'max_payload')
})

test('a tab\'s acked work-queue subscription is its own, and its acks reach the broker', async () => {
  const [a, b] = [await tab(), await tab()]
  await within(3000, a.topics.add({ name: 'jobs', subjects: ['jobs.>'] }), 'the topic')
  const sa = a.subscribe('jobs.>', { queue: 'workers', ack: true })
  const sb = b.subscribe('jobs.>', { queue: 'workers', ack: true })
  await settled(a); await settled(b)
  assert.equal(brokerSubjects(), ['jobs.>', 'jobs.>'], 'one queue member per tab, as with connections of their own')
  for (let i = 0; i < 4; i++) await within(3000, a.publishAck(`jobs.${i}`, i), 'a job')
  const got: Msg[] = []
  const reader = (sub: Subscription) => (async () => { for await (const m of sub) { got.push(m); m.ack(); if (got.length === 4) return } })()
  void reader(sa); void reader(sb)
  await until(5000, () => got.length === 4, 'four jobs')
  await settled(a); await settled(b)
  const info = await within(3000, a.topics.info('jobs'), 'the topic info')
  const group = (info.consumers as Array<{ name: string; acked: number }> | undefined)?.find((g) => g.name === 'workers')
  assert.is(group?.acked, 4)
})

test('validate runs in each tab: a refused message is not delivered, a refused reply rejects, both said as invalid', async () => {
  const validate = (_subject: string, data: unknown): void => { if (typeof data !== 'number') throw new Error('not a number') }
  const a = await within(5000, connect(broker.url, { name: 'tabs', reconnect: false, shared: true, validate }), 'a validating tab')
  tabs.push(a)
  const b = await tab()
  const seen: string[] = []
  void (async () => { for await (const s of a.status()) if (s.type === 'invalid') seen.push(`${s.subject}:${s.error.code}`) })()
  const sa = a.subscribe('v.>')
  const sb = b.subscribe('v.>')
  b.subscribe('v.svc', { callback: (_e, m) => { m?.respond('not a number') } })
  await settled(a); await settled(b)
  const pub = await node()
  pub.publish('v.x', 'text')
  pub.publish('v.x', 42)
  assert.equal((await take(sa, 1)).map((m) => m.data), [42], 'the text is refused in tab a only')
  assert.equal((await take(sb, 2)).map((m) => m.data), ['text', 42], 'tab b has no validate')
  const err = await a.request('v.svc', 1, { timeout: 2000 }).then(() => 'no error', (e: { code?: string }) => e.code)
  assert.is(err, 'bad_payload')
  await until(2000, () => seen.length === 2, 'the invalid statuses')
  assert.equal(seen, ['v.x:bad_payload', 'v.svc:bad_payload'])
})

test('publish and subscribe check their arguments in the tab, at once', async () => {
  const a = await tab()
  assert.is(codeOf(() => a.publish('bad.*')), 'bad_subject')
  assert.is(codeOf(() => a.subscribe('bad..subject')), 'bad_subject')
  assert.is(codeOf(() => a.subscribe('ok', { queue: 'has space' })), 'bad_option')
  assert.is(codeOf(() => a.publish('ok', Symbol('not data'))), 'bad_payload') // as a connection of its own refuses it
})

test('a tab that goes silent is given up after tabTimeoutMs, and the others keep the connection', async () => {
  const a = await tab({ tabTimeoutMs: 300 })
  const killed = workers.lastTabPort as MessagePort
  const b = await tab({ tabTimeoutMs: 300 })
  const sb = b.subscribe('live.>')
  // A killed tab sends nothing, not even a goodbye: cut its hub end off without telling the tab.
  a.subscribe('only.a')
  await settled(a)
  assert.equal(brokerSubjects(), ['live.>', 'only.a'])
  killed.close()
  await until(3000, () => brokerSubjects().length === 1, 'the silent tab\'s subscription to go')
  assert.equal(brokerSubjects(), ['live.>'])
  const pub = await node()
  pub.publish('live.x', 1)
  assert.is((await take(sb, 1))[0].subject, 'live.x')
  assert.is(broker.connections().filter((c) => c.name === 'tabs').length, 1)
})

test('a tab back from the back/forward cache after its connection closed gets a new one, its subscriptions made again', async () => {
  const a = await tab({ tabTimeoutMs: 200 }) as SharedClient & { bye(): void; back(): void }
  const seen: Status['type'][] = []
  void (async () => { for await (const s of a.status()) seen.push(s.type) })()
  const sub = a.subscribe('again.>')
  await settled(a)
  a.bye() // pagehide, into the cache: no tab left, so the connection closes after tabTimeoutMs
  await until(3000, () => broker.connections().filter((c) => c.name === 'tabs').length === 0, 'the idle shared connection to close')
  a.back() // pageshow from the cache
  await until(3000, () => seen.includes('reconnect'), 'the tab to rejoin')
  await settled(a)
  assert.equal(brokerSubjects(), ['again.>'])
  const pub = await node()
  pub.publish('again.x', 1)
  assert.is((await take(sub, 1))[0].subject, 'again.x')
})

test('tabs whose worker died start a new one and make their subscriptions again', async () => {
  const [a, b] = [await tab({ tabTimeoutMs: 300 }), await tab({ tabTimeoutMs: 300 })]
  const seen: Status['type'][] = []
  const seenByA: Status['type'][] = []
  void (async () => { for await (const s of b.status()) seen.push(s.type) })()
  void (async () => { for await (const s of a.status()) seenByA.push(s.type) })()
  const sa = a.subscribe('w.>')
  const sb = b.subscribe('w.>')
  await settled(a); await settled(b)
  // The worker's process is gone: its ports say nothing more, its socket closes. The next SharedWorker is a new one.
  workers.closePorts()
  workers.hub = new Hub()
  broker.disconnect(broker.connections().find((c) => c.name === 'tabs')?.id ?? '')
  await until(5000, () => seen.includes('reconnect'), 'tab b to join a new worker').catch((e: Error) => { throw new Error(`${e.message}; seen ${seen.join(',')}`) })
  // Each tab's watchdog finds the silence on its own timer: a round trip from a tab that has not found it yet
  // would go to the dead worker, and be failed with 'the shared worker stopped' when it does.
  await until(5000, () => seenByA.includes('reconnect'), 'tab a to join the new worker').catch((e: Error) => { throw new Error(`${e.message}; seen ${seenByA.join(',')}`) })
  await until(5000, () => workers.hub.size === 1 && brokerSubjects().length === 1, 'the new worker\'s subscription')
  await settled(a); await settled(b)
  assert.is(broker.connections().filter((c) => c.name === 'tabs').length, 1)
  assert.equal(seen.slice(0, 2), ['disconnect', 'reconnect'])
  const pub = await node()
  pub.publish('w.x', 1)
  assert.is((await take(sa, 1))[0].subject, 'w.x')
  assert.is((await take(sb, 1))[0].subject, 'w.x')
})

test('with resume: true the shared connection resumes across a cut, and every tab gets what it missed, once', async () => {
  const proxy = await CutProxy.start(broker.port)
  try {
    const opts = { name: 'tabs', resume: true, reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, shared: true } as const
    const a = await within(5000, connect(proxy.url, opts), 'tab a')
    const b = await within(5000, connect(proxy.url, opts), 'tab b')
    tabs.push(a, b)
    const seen: Status['type'][] = []
    void (async () => { for await (const s of b.status()) seen.push(s.type) })()
    const sa = a.subscribe('r.>')
    const sb = b.subscribe('r.x')
    await settled(a); await settled(b)
    const pub = await node()
    pub.publish('r.x', 0)
    await within(3000, pub.flush(), 'the first publish')
    proxy.refuse(true)
    proxy.cut()
    await until(3000, () => seen.includes('disconnect'), 'the cut to be seen')
    for (let i = 1; i <= 5; i++) pub.publish('r.x', i)
    await within(3000, pub.flush(), 'the publishes while cut')
    proxy.refuse(false)
    await until(5000, () => seen.includes('resumed'), 'the resumed status').catch((e: Error) => { throw new Error(`${e.message}; seen ${seen.join(',')}`) })
    assert.equal((await take(sa, 6)).map((m) => m.data), [0, 1, 2, 3, 4, 5])
    assert.equal((await take(sb, 6)).map((m) => m.data), [0, 1, 2, 3, 4, 5])
  } finally {
    await within(3000, proxy.close(), 'the proxy to close')
  }
})

test('a tab closing releases only its own subscriptions', async () => {
  const [a, b] = [await tab(), await tab()]
  a.subscribe('one'); a.subscribe('two'); b.subscribe('two')
  await settled(a); await settled(b)
  assert.equal(brokerSubjects(), ['one', 'two'])
  await within(3000, a.close(), 'a to close')
  await settled(b)
  assert.equal(brokerSubjects(), ['two'])
})

test('the shared connection\'s status reaches every tab, and draining a subscription gets what was sent before it', async () => {
  const [a, b] = [await tab(), await tab()]
  const seen: Status['type'][] = []
  void (async () => { for await (const s of b.status()) seen.push(s.type) })()
  const sub: Subscription = a.subscribe('d.>')
  await settled(a)
  const pub = await node()
  for (let i = 0; i < 20; i++) pub.publish('d.x', i)
  await within(3000, pub.flush(), 'the publishes')
  await within(3000, sub.drain(), 'the drain')
  assert.is(sub.received, 20)
  assert.equal(brokerSubjects(), [])
  broker.disconnect(broker.connections().find((c) => c.name === 'tabs')?.id ?? '')
  await until(3000, () => seen.includes('disconnect'), 'the disconnect status in tab b').catch((e: Error) => { throw new Error(`${e.message}; seen ${seen.join(',')}`) })
  await until(3000, () => b.isClosed, 'tab b to close with the connection (reconnect: false)')
})

test('where SharedWorker is missing, the tab connects on its own and says so first in every status stream', async () => {
  delete (globalThis as { SharedWorker?: unknown }).SharedWorker
  const c = await within(5000, connect(broker.url, { shared: true, reconnect: false }), 'a fallback client')
  tabs.push(c)
  const it = c.status()
  const first = await within(1000, it.next(), 'the first status')
  assert.is(first.value.type, 'shared_fallback')
  const sub = c.subscribe('fb')
  c.publish('fb', 'own')
  assert.is(((await take(sub, 1))[0] as Msg).data, 'own')
})

test('options a shared connection cannot honour are refused as bad_option', async () => {
  const refused = async (options: Record<string, unknown>): Promise<string> => {
    try {
      await connect(broker.url, { shared: true, ...options })
      return 'no error'
    } catch (err) {
      return (err as { code?: string }).code ?? String(err)
    }
  }
  assert.is(await refused({ echo: false }), 'bad_option')
  assert.is(await refused({ WebSocket: class {} }), 'bad_option')
  assert.is(await refused({ shared: { tabTimeoutMs: 5 } }), 'bad_option')
  assert.is(await refused({ shared: { nope: 1 } }), 'bad_option')
  assert.is(await refused({ shared: 'yes' }), 'bad_option')
  assert.is(await refused({ checkTimeoutMs: 0 }), 'bad_option', 'checked by the worker\'s client, refused to the tab')
})

test.run()
