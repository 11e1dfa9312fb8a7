/**
 * Reserved subjects (issue 17 §1): `$SYS.`, `$DLQ.`, `_INBOX.` and `$SW.` are never covered by a wildcard
 * grant or a deny-only user; only a permission whose pattern names the prefix token literally admits them, on
 * every delivery path (live, queue groups, after a re-authentication that narrows the rights).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client, Msg, Subscription } from '../../client/index.ts'
import { SysStats, SYS_SUBJECT } from '../../server/monitoring/sys-stats.ts'
import { cleanupAfterEach, sleep, take, within } from '../helpers.ts'
import { brokerFor, clientAs, stopCanary } from './users.ts'

const track = cleanupAfterEach(test)

/** What became of a subscription: `allowed` or the code it was closed with. */
async function outcome(c: Client, subject: string, queue?: string): Promise<string> {
  const sub = c.subscribe(subject, queue === undefined ? {} : { queue })
  await within(3000, c.flush(), 'flush')
  const result = await within(2000, Promise.race([sub.closed, sleep(100).then(() => 'open' as const)]), 'the subscription outcome')
  if (result === 'open') { sub.unsubscribe(); return 'allowed' }
  return result === null ? 'closed' : result.code
}

/** Collects what a subscription receives, for asserting what it never got. */
function collect(sub: Subscription): Msg[] {
  const got: Msg[] = []
  void (async () => { for await (const m of sub) got.push(m) })()
  return got
}

test('refuses a deny-only user every reserved prefix with permission', async () => {
  const { broker, canary } = await brokerFor({ mallory: { subscribe: { deny: ['secret.>'] }, publish: { deny: ['secret.>'] } } })
  track(broker)
  const mallory = track(await clientAs(broker, 'mallory'))
  const rows: Array<[string, string]> = [
    ['$SYS.>', 'permission'],
    ['$SYS.stats', 'permission'],
    ['$DLQ.>', 'permission'],
    ['$DLQ.jobs', 'permission'],
    ['_INBOX.>', 'permission'],
    ['_INBOX.*.>', 'permission'],
    ['$SW.>', 'permission'],
    ['$SW.TOPIC.LIST', 'permission'],
    ['orders.>', 'allowed'],
    ['$SYSTEM.x', 'allowed'], // only the token itself is reserved
  ]
  for (const [subject, expected] of rows) assert.is(await outcome(mallory, subject), expected, subject)
  await stopCanary(canary, 'after the reserved subscriptions')
})

test('delivers no reserved subject to a wildcard grant, in plain subscriptions and queue groups alike', async () => {
  const { broker, canary } = await brokerFor({ wide: { subscribe: { allow: ['>'] }, publish: { allow: ['>'] } } })
  track(broker)
  track(new SysStats(broker, { intervalMs: 30 }))
  const wide = track(await clientAs(broker, 'wide'))
  const admin = track(await clientAs(broker, 'admin'))
  const all = collect(wide.subscribe('>'))
  const twoLevels = collect(wide.subscribe('*.>'))
  const grouped = collect(wide.subscribe('>', { queue: 'q' }))
  const stats = wide.subscribe('*.stats')
  await within(3000, wide.flush(), 'flush')
  assert.is(stats.isClosed, false, 'a wildcard over a reserved token may be subscribed; its reserved subjects are not delivered')
  // Traffic on every reserved prefix while the wildcards listen: $SYS.stats (the interval), an admin's
  // request/reply, an admin-published $DLQ and $SW subject, and one ordinary message.
  const adminSys = admin.subscribe(SYS_SUBJECT.stats)
  admin.subscribe('svc.time', { callback: (_e, m) => m?.respond('noon') })
  await within(3000, admin.flush(), 'flush')
  await take(adminSys, 2)
  assert.is((await within(3000, admin.request('svc.time', null, { timeout: 2000 }), 'the reply')).data, 'noon')
  admin.publish('$DLQ.jobs', 'dead')
  admin.publish('$SW.NOTE', 'api')
  admin.publish('orders.x', 'ordinary')
  await within(3000, admin.flush(), 'flush')
  await within(3000, wide.flush(), 'flush')
  await take(adminSys, 1)
  for (const [name, got] of [['>', all], ['*.>', twoLevels], ['> in a queue group', grouped]] as const) {
    const subjects = got.map((m) => m.subject)
    assert.ok(subjects.includes('orders.x'), `${name} got the ordinary message`)
    const reserved = subjects.filter((s) => /^(\$SYS|\$DLQ|_INBOX|\$SW)\./.test(s))
    assert.equal(reserved, [], `${name} got no reserved subject`)
  }
  await stopCanary(canary, 'after the wildcard deliveries')
})

test('delivers $SYS to a user whose permission names $SYS, and to nobody else', async () => {
  const { broker, canary } = await brokerFor({
    ops: { subscribe: { allow: ['$SYS.>'] } },
    wide: { subscribe: { deny: ['secret.>'] } },
  })
  track(broker)
  track(new SysStats(broker, { intervalMs: 30 }))
  const ops = track(await clientAs(broker, 'ops'))
  const [report] = await take(ops.subscribe(SYS_SUBJECT.stats), 1)
  assert.is(report.subject, SYS_SUBJECT.stats)
  const wide = track(await clientAs(broker, 'wide'))
  assert.is(await outcome(wide, '$SYS.stats'), 'permission')
  await stopCanary(canary, 'after $SYS')
})

test('refuses a deny-only user publishing to $SYS, $DLQ or an inbox, so nobody sees a forged report, copy or reply', async () => {
  const { broker, canary } = await brokerFor({ mallory: { subscribe: { deny: ['secret.>'] }, publish: { deny: ['secret.>'] } } })
  track(broker)
  const admin = track(await clientAs(broker, 'admin'))
  const seen = collect(admin.subscribe('>'))
  await within(3000, admin.flush(), 'flush')
  const mallory = track(await clientAs(broker, 'mallory'))
  const errors: string[] = []
  void (async () => { for await (const s of mallory.status()) if (s.type === 'error') errors.push(`${s.error.code} ${s.subject ?? ""}`) })()
  mallory.publish(SYS_SUBJECT.stats, { forged: true })
  mallory.publish('$DLQ.jobs', { forged: true })
  mallory.publish('_INBOX.anyone.1', 'a forged answer to a request it never received')
  mallory.publish('orders.x', 'fine')
  await within(3000, mallory.flush(), 'flush')
  await within(3000, admin.flush(), 'flush')
  assert.equal(seen.map((m) => m.subject).filter((s) => !s.startsWith('canary.')).sort(), ['orders.x'])
  assert.equal(errors.sort(), ['permission $DLQ.jobs', 'permission $SYS.stats', 'permission _INBOX.anyone.1'])
  // A request it received it may still answer (allowResponses), inbox or not.
  mallory.subscribe('svc.echo', { callback: (_e, m) => m?.respond('pong') })
  await within(3000, mallory.flush(), 'flush')
  assert.is((await within(3000, admin.request('svc.echo', null, { timeout: 2000 }), 'the answer')).data, 'pong')
  await stopCanary(canary, 'after the forged publishes')
})

test('drops reserved subscriptions a re-authentication no longer names, and keeps the rest', async () => {
  const { broker, canary } = await brokerFor({
    broad: { subscribe: { allow: ['$SYS.>', '$DLQ.>', 'a.>'] } },
    narrow: { subscribe: { deny: ['secret.>'] } },
  })
  track(broker)
  let token = 'broad-token-0123'
  const c = track(await clientAs(broker, 'broad', { token: () => token }))
  const sys = c.subscribe('$SYS.>')
  const dlq = c.subscribe('$DLQ.>')
  const a = c.subscribe('a.>')
  await within(3000, c.flush(), 'flush')
  assert.ok(!sys.isClosed && !dlq.isClosed)
  token = 'narrow-token-0123'
  await within(3000, c.reauthenticate(), 're-authentication')
  assert.is((await within(2000, sys.closed, 'the $SYS subscription to be dropped'))?.code, 'permission')
  assert.is((await within(2000, dlq.closed, 'the $DLQ subscription to be dropped'))?.code, 'permission')
  assert.not.ok(a.isClosed)
  await stopCanary(canary, 'after the re-authentication')
})

test.run()
