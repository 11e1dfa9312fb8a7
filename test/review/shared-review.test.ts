/**
 * Review of issue 16 §2 (one connection for all tabs): the SharedWorker played by a `Hub` in this process, each
 * "tab" joined to it by a `MessageChannel` (the structured clone a browser uses), as test/tabs/shared.test.ts.
 * Each test is a case where a shared tab did not behave as a connection of its own would have.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Status } from '../../client/index.ts'
import type { SharedClient } from '../../client/shared/tab-client.ts'
import { Hub } from '../../client/shared/hub.ts'
import { FakeWorkers } from '../tabs/fake-worker.ts'
import type { Broker } from '../../server/index.ts'
import { startBroker, take, until, within } from '../helpers.ts'

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

async function tab(options: { tabTimeoutMs?: number; validate?: (subject: string, data: unknown) => void } = {}): Promise<SharedClient> {
  const shared = options.tabTimeoutMs === undefined ? true : { tabTimeoutMs: options.tabTimeoutMs }
  const t = await within(5000, connect(broker.url, { name: 'tabs', reconnect: false, shared, validate: options.validate }), 'a tab to connect')
  tabs.push(t)
  return t
}

async function node(): Promise<Client> {
  const c = await within(5000, connect(broker.url, { reconnect: false }), 'a Node client')
  others.push(c)
  return c
}

test('a validating tab manages topics: the topic API\'s answers are not application data for validate', async () => {
  // A strict validator: only numbers are valid data, on any subject. A connection of the tab's own never passes
  // the topic API's answers to it (README, Typed subjects and validation).
  const a = await tab({ validate: (_s, data) => { if (typeof data !== 'number') throw new Error('not a number') } })
  const own = await within(5000, connect(broker.url, { reconnect: false, validate: (_s, data) => { if (typeof data !== 'number') throw new Error('not a number') } }), 'a validating client')
  others.push(own)
  const ownInfo = await within(3000, own.topics.add({ name: 'own', subjects: ['own.>'] }).then((i) => i.name, (e: { code?: string }) => e.code), 'the own connection to make a topic')
  assert.is(ownInfo, 'own', 'a connection of its own')
  const got = await within(3000, a.topics.add({ name: 'orders', subjects: ['orders.>'] }).then((i) => i.name, (e: { code?: string }) => e.code), 'the tab to make a topic')
  assert.is(got, 'orders')
  const list = await within(3000, a.topics.list().then((l) => l.map((t) => t.name).sort(), (e: { code?: string }) => e.code), 'the tab to list topics')
  assert.equal(list, ['orders', 'own'])
})

class Money {
  readonly amount: number
  constructor(amount: number) { this.amount = amount }
  toJSON(): { cents: number } { return { cents: Math.round(this.amount * 100) } }
}

test('a shared tab publishes the same data a connection of its own would: toJSON, methods, Date, Map', async () => {
  const a = await tab()
  const own = await node()
  const recv = await node()
  const sub = recv.subscribe('clone.>')
  await within(3000, recv.flush(), 'the subscription')
  const values: Array<[string, unknown]> = [
    ['tojson', new Money(1.5)],
    ['method', { n: 1, f(): number { return 1 } }],
    ['date', new Date(1_700_000_000_123)],
    ['map', new Map<unknown, unknown>([['k', 1], [2, 'two']])],
    ['nested', { list: [new Money(2), new Set([1, 2])] }],
  ]
  for (const [name, v] of values) {
    own.publish(`clone.own.${name}`, v)
    let refused: string | null = null
    try { a.publish(`clone.tab.${name}`, v) } catch (e) { refused = (e as { code?: string }).code ?? 'thrown' }
    assert.is(refused, null, `${name}: publish from the tab threw`)
  }
  const got = await take(sub, values.length * 2)
  const by = new Map(got.map((m) => [m.subject, m.data]))
  for (const [name] of values) assert.equal(by.get(`clone.tab.${name}`), by.get(`clone.own.${name}`), name)
})

test('a request made right after the page comes back from the back/forward cache is answered', async () => {
  const a = await tab({ tabTimeoutMs: 200 }) as SharedClient & { bye(): void; back(): void }
  const svc = await node()
  svc.subscribe('svc.time', { callback: (_e, m) => { m?.respond('now') } })
  await within(3000, svc.flush(), 'the responder')
  a.bye() // pagehide into the cache: no tab left, so the idle shared connection closes after tabTimeoutMs
  await until(3000, () => broker.connections().filter((c) => c.name === 'tabs').length === 0, 'the idle shared connection to close')
  a.back() // pageshow: the app at once asks something, as a tab with a connection of its own may
  const r = await within(3000, a.request('svc.time', null, { timeout: 2000 }).then((m) => m.data, (e: { code?: string }) => e.code), 'the request made on the way back')
  assert.is(r, 'now')
  await within(3000, a.flush(), 'a flush after it')
})

test('a publish and a request made while a tab joins a new worker (the old one died) are sent, not lost', async () => {
  const a = await tab({ tabTimeoutMs: 200 })
  const seen: Status['type'][] = []
  void (async () => { for await (const s of a.status()) seen.push(s.type) })()
  const recv = await node()
  const sub = recv.subscribe('after.>')
  recv.subscribe('svc.after', { callback: (_e, m) => { m?.respond('answered') } })
  await within(3000, recv.flush(), 'the subscriptions')
  // The worker's process dies: its ports say nothing more; the next SharedWorker is a new one, whose client
  // is slow to connect (a broker a long way off): the tab's calls come before its connection does.
  workers.closePorts()
  const hub = (workers.hub = new Hub())
  const attach = hub.attach.bind(hub)
  hub.attach = (port) => { setTimeout(() => attach(port), 0) }
  await until(3000, () => seen.includes('disconnect'), 'the tab to find its worker gone')
  a.publish('after.one', 1)
  const reply = a.request('svc.after', null, { timeout: 2000 }).then((m) => m.data, (e: { code?: string }) => e.code)
  await until(3000, () => seen.includes('reconnect'), 'the tab to join the new worker')
  assert.is(await within(3000, reply, 'the request made meanwhile'), 'answered')
  assert.equal((await take(sub, 1)).map((m) => m.subject), ['after.one'])
})

/** Subscriptions the broker holds on the tabs' connection (the one named `tabs`), inboxes left out. */
function brokerSubjects(): string[] {
  return broker.connections({ maxSubscriptions: 100 }).filter((c) => c.name === 'tabs').flatMap((c) => c.subscriptions.map((s) => s.subject)).filter((s) => !s.startsWith('_INBOX.')).sort()
}

test('guard: a tab subscribed twice to one pattern and unsubscribed once gets each message once, on the one left', async () => {
  const a = await tab()
  const first = a.subscribe('twice.x')
  const second = a.subscribe('twice.x')
  await within(3000, a.flush(), 'the SUBs')
  first.unsubscribe()
  await within(3000, a.flush(), 'the UNSUB')
  assert.equal(brokerSubjects(), ['twice.x'])
  const pub = await node()
  pub.publish('twice.x', 1)
  pub.publish('twice.x', 2)
  assert.equal((await take(second, 2)).map((m) => m.data), [1, 2])
  await within(3000, a.flush(), 'a round trip')
  assert.is(second.pending, 0, 'no message twice')
  second.unsubscribe()
  await within(3000, a.flush(), 'the last UNSUB')
  assert.equal(brokerSubjects(), [])
})

test('guard: max in one tab ends only that tab\'s subscription; the other tab on the pattern gets every message', async () => {
  const [a, b] = [await tab(), await tab()]
  const sa = a.subscribe('max.x', { max: 2 })
  const sb = b.subscribe('max.x')
  await within(3000, a.flush(), 'a SUB'); await within(3000, b.flush(), 'b SUB')
  const pub = await node()
  for (let i = 1; i <= 4; i++) pub.publish('max.x', i)
  assert.equal((await take(sb, 4)).map((m) => m.data), [1, 2, 3, 4])
  assert.equal((await take(sa, 2)).map((m) => m.data), [1, 2])
  await until(3000, () => sa.isClosed, 'a\'s subscription to end at its max')
  await within(3000, a.flush(), 'a round trip')
  assert.equal(brokerSubjects(), ['max.x'])
})

test('guard: tabs on a.*, a.> and a.b each get exactly their own matches', async () => {
  const [t1, t2, t3] = [await tab(), await tab(), await tab()]
  const got: string[][] = [[], [], []]
  const patterns = ['a.*', 'a.>', 'a.b']
  ;[t1, t2, t3].forEach((t, i) => t.subscribe(patterns[i], { callback: (_e, m) => { if (m) got[i].push(m.subject) } }))
  await Promise.all([t1, t2, t3].map((t) => within(3000, t.flush(), 'the SUBs')))
  const pub = await node()
  for (const s of ['a.b', 'a.b.c', 'a.c', 'b.a']) pub.publish(s, 1)
  await within(3000, pub.flush(), 'the publishes')
  await until(3000, () => got[1].length === 3, 'a.> to get its three')
  await Promise.all([t1, t2, t3].map((t) => within(3000, t.flush(), 'a round trip')))
  assert.equal(got, [['a.b', 'a.c'], ['a.b', 'a.b.c', 'a.c'], ['a.b']])
  assert.equal(brokerSubjects(), ['a.*', 'a.>', 'a.b'])
})

test('guard: while the last holder drains a pattern, another tab subscribing to it gets what comes after', async () => {
  const [a, b] = [await tab(), await tab()]
  const sa = a.subscribe('drain.x')
  await within(3000, a.flush(), 'a SUB')
  const pub = await node()
  pub.publish('drain.x', 1)
  await within(3000, pub.flush(), 'the first publish routed')
  const draining = sa.drain()
  const sb = b.subscribe('drain.x')
  await within(3000, draining, 'the drain')
  await within(3000, b.flush(), 'b SUB')
  pub.publish('drain.x', 2)
  assert.equal((await take(sb, 1)).map((m) => m.data), [2])
  assert.equal((await take(sa, 1)).map((m) => m.data), [1], 'the drained subscription got what was sent before')
  await within(3000, b.flush(), 'a round trip')
  assert.equal(brokerSubjects(), ['drain.x'])
})

test('a tab that took a live worker for dead and joined again leaves no queue member behind to lose messages', async () => {
  // The tab hears no ping for tabTimeoutMs (its page was frozen a while; here: the pings to it are lost) and
  // opens the SharedWorker again, which is the same, live worker. The worker still holds the tab's first port,
  // which goes on speaking until then, with its own queue-group member at the broker.
  workers.losePings = true
  const a = await tab({ tabTimeoutMs: 400 })
  const seen: Status['type'][] = []
  void (async () => { for await (const s of a.status()) seen.push(s.type) })()
  const got: number[] = []
  a.subscribe('work.x', { queue: 'q', callback: (_e, m) => { if (m) got.push(m.data as number) } })
  const keepTalking = setInterval(() => { a.publish('keep.talking', 1) }, 50) // heard by the worker, never answered
  try {
    await until(3000, () => seen.includes('reconnect'), 'the tab to join the worker again')
  } finally {
    clearInterval(keepTalking)
  }
  await within(3000, a.flush(), 'its subscriptions made again')
  const pub = await node()
  for (let i = 0; i < 20; i++) pub.publish('work.x', i)
  await within(3000, pub.flush(), 'the publishes')
  await until(3000, () => got.length === 20, 'every queued message to reach the tab').catch((e: Error) => { throw new Error(`${e.message}: got ${got.length} of 20`) })
})

test('a shared tab refuses a publish over maxPayload, or with a header that is not a string, at once, as a connection of its own does', async () => {
  await broker.close()
  broker = await startBroker({ maxPayload: 1024 })
  const a = await tab()
  const own = await node()
  const codeOf = (fn: () => void): string => { try { fn(); return 'no error' } catch (e) { return (e as { code?: string }).code ?? 'thrown' } }
  const bad = { h: 1 } as unknown as Record<string, string>
  assert.equal([codeOf(() => own.publish('big', new Uint8Array(4096))), codeOf(() => own.publish('h', 1, { headers: bad }))], ['max_payload', 'bad_payload'], 'a connection of its own')
  assert.is(codeOf(() => a.publish('big', new Uint8Array(4096))), 'max_payload')
  assert.is(codeOf(() => a.publish('big', 'x'.repeat(1000), { headers: { pad: 'y'.repeat(100) } })), 'max_payload', 'headers count')
  assert.is(codeOf(() => a.publish('h', 1, { headers: bad })), 'bad_payload')
})

test('a tab\'s replay subscription made again (the tab back from the back/forward cache) resumes after what it had, as a Client\'s does', async () => {
  const a = await tab({ tabTimeoutMs: 3000 }) as SharedClient & { bye(): void; back(): void }
  const pub = await node()
  await within(3000, pub.topics.add({ name: 'orders', subjects: ['orders.>'] }), 'the topic')
  for (let i = 1; i <= 3; i++) await within(3000, pub.publishAck('orders.eu', i), 'a stored order')
  const seen: Status['type'][] = []
  void (async () => { for await (const s of a.status()) seen.push(s.type) })()
  const sub = a.subscribe('orders.>', { deliver: 'all' })
  assert.equal((await take(sub, 3)).map((m) => [m.seq, m.data]), [[1, 1], [2, 2], [3, 3]])
  a.bye() // pagehide into the cache; back before the idle connection closes
  a.back()
  await until(3000, () => seen.includes('reconnect'), 'the tab to be taken back')
  await within(3000, a.flush(), 'its subscriptions made again')
  await within(3000, pub.publishAck('orders.eu', 4), 'a fourth order')
  const [next] = await take(sub, 1)
  assert.equal([next.seq, next.data], [4, 4], 'the next message after a replay made again')
})

test('a topic gap on one tab\'s replay subscription is said to that tab, not to every tab', async () => {
  const [a, b] = [await tab(), await tab()]
  const pub = await node()
  await within(3000, pub.topics.add({ name: 'ticks', subjects: ['ticks.>'], maxMsgs: 2 }), 'the topic')
  for (let i = 1; i <= 5; i++) await within(3000, pub.publishAck('ticks.x', i), 'a stored tick')
  const gaps = { a: 0, b: 0 }
  void (async () => { for await (const s of a.status()) if (s.type === 'gap') gaps.a++ })()
  void (async () => { for await (const s of b.status()) if (s.type === 'gap') gaps.b++ })()
  const sub = a.subscribe('ticks.>', { deliver: { startSeq: 1 } }) // 1..3 are no longer held
  assert.equal((await take(sub, 2)).map((m) => m.seq), [4, 5])
  await until(3000, () => gaps.a === 1, 'the gap status in the tab that replays')
  await within(3000, a.flush(), 'a round trip'); await within(3000, b.flush(), 'a round trip')
  assert.equal(gaps, { a: 1, b: 0 })
})

test('a subscription the broker refuses is said once, to the tab that made it', async () => {
  await broker.close()
  broker = await startBroker({ auth: { tokens: [{ token: 'restricted-user', user: 'u', permissions: { subscribe: { deny: ['secret.>'] } } }] } })
  const open = (): Promise<SharedClient> => within(5000, connect(broker.url, { name: 'tabs', reconnect: false, shared: true, token: 'restricted-user' }), 'a tab')
  const [a, b] = [await open(), await open()]
  tabs.push(a, b)
  const errors = { a: [] as string[], b: [] as string[] }
  void (async () => { for await (const s of a.status()) if (s.type === 'error') errors.a.push(s.error.code) })()
  void (async () => { for await (const s of b.status()) if (s.type === 'error') errors.b.push(s.error.code) })()
  const sub = a.subscribe('secret.x')
  const ended = await within(3000, sub.closed, 'the refused subscription to end')
  assert.is((ended as { code?: string } | undefined)?.code, 'permission')
  await within(3000, a.flush(), 'a round trip'); await within(3000, b.flush(), 'a round trip')
  assert.equal(errors, { a: ['permission'], b: [] })
})

test('a token the worker asked of a tab that then closes is asked of another tab, so the shared connection comes back', async () => {
  await broker.close()
  // Nobody times the stalled handshake out (the broker's CONNECT deadline and the client's are a minute).
  broker = await startBroker({ connectTimeoutMs: 60_000, auth: { tokens: [{ token: 'secret-1', user: 'alice' }] } })
  let askedA = 0
  const never = new Promise<string>(() => {})
  const options = { name: 'tabs', shared: true as const, connectTimeoutMs: 60_000, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } }
  // Tab a answers the first ask; the next one it never answers (its page is closing as it is asked).
  const a = await within(5000, connect(broker.url, { ...options, token: () => (++askedA === 1 ? 'secret-1' : never) }), 'tab a')
  const b = await within(5000, connect(broker.url, { ...options, token: () => 'secret-1' }), 'tab b')
  tabs.push(a, b)
  const seen: Status['type'][] = []
  void (async () => { for await (const s of b.status()) seen.push(s.type === 'error' ? `error:${s.error.code}:${s.error.message}` as Status['type'] : s.type) })()
  broker.disconnect(broker.connections().find((c) => c.name === 'tabs')?.id ?? '')
  await until(3000, () => askedA === 2, 'the worker to ask tab a for a token again')
  await within(3000, a.close(), 'tab a to close')
  await until(5000, () => seen.includes('reconnect'), 'the shared connection to come back with tab b\'s token').catch((e: Error) => { throw new Error(`${e.message}; seen ${seen.join(',')}`) })
  await within(3000, b.flush(), 'a round trip')
})

test.run()
