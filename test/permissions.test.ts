import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SignJWT } from 'jose'
import { connect, type Client, type Status } from '../client/index.ts'
import { patternCovers, patternsIntersect, type Permissions } from '../server/index.ts'
import { SubwireError } from '../shared/errors.ts'
import { subjectMatches } from '../shared/subject.ts'
import { PermissionChecker } from '../server/security/permissions.ts'
import fc from 'fast-check'
import { cleanupAfterEach, sleep, startBroker, take, until, within } from './helpers.ts'

const track = cleanupAfterEach(test)

test('pattern containment: an allow covers a pattern only if it matches every subject the pattern can', () => {
  const rows: Array<[string, string, boolean]> = [
    ['orders.eu.*', 'orders.eu.created', true],
    ['orders.eu.*', 'orders.eu.*', true],
    ['orders.eu.*', 'orders.>', false],
    ['orders.eu.*', '>', false],
    ['orders.eu.*', 'orders.*.created', false],
    ['orders.>', 'orders.eu.*', true],
    ['orders.>', 'orders.>', true],
    ['orders.>', 'orders', false],
    ['foo.*', 'foo.>', false],
    ['>', 'anything.at.all', true],
    ['*.*', 'a.b', true],
    ['*.*', 'a.b.c', false],
    ['a.*.c', 'a.*.c', true],
    ['a.b.c', 'a.*.c', false],
  ]
  for (const [allow, pattern, covers] of rows) assert.is(patternCovers(allow, pattern), covers, `${allow} covers ${pattern}`)
})

test('pattern intersection: a deny blocks any pattern that could match one of its subjects', () => {
  const rows: Array<[string, string, boolean]> = [
    ['orders.secret', 'orders.>', true],
    ['orders.secret', 'orders.*', true],
    ['orders.secret', 'orders.public', false],
    ['orders.*.x', 'orders.eu.*', true],
    ['a.b', 'a.b.c', false],
    ['a.>', 'a', false],
    ['>', 'x', true],
    ['a.*', 'b.*', false],
  ]
  for (const [deny, pattern, hit] of rows) assert.is(patternsIntersect(deny, pattern), hit, `${deny} ∩ ${pattern}`)
})

/** A broker with one restricted user and one admin, each on a token. */
async function brokerWith(permissions: Permissions): Promise<{ user: Client; admin: Client; errors: Status[] }> {
  const b = track(await startBroker({
    auth: { tokens: [{ token: 'restricted-user', user: 'u', permissions }, { token: 'admin-token-1', user: 'admin' }] },
  }))
  const user = track(await connect(b.url, { token: 'restricted-user' }))
  const admin = track(await connect(b.url, { token: 'admin-token-1' }))
  const errors: Status[] = []
  void (async () => { for await (const s of user.status()) if (s.type === 'error') errors.push(s) })()
  return { user, admin, errors }
}

async function subscribeOutcome(c: Client, subject: string, queue?: string): Promise<string> {
  const sub = c.subscribe(subject, queue === undefined ? {} : { queue })
  await c.flush()
  const result = await within(2000, Promise.race([sub.closed, sleep(100).then(() => 'open' as const)]), 'the subscription outcome')
  if (result === 'open') { sub.unsubscribe(); return 'allowed' }
  return result === null ? 'closed' : result.code
}

// The checker walks subjects in place instead of splitting them; the reference splits both sides.
const TOKEN = fc.constantFrom('a', 'b', 'ab', 'c')
const SUBJECT = fc.array(TOKEN, { minLength: 1, maxLength: 4 }).map((t) => t.join('.'))
const PATTERN = fc.tuple(fc.array(fc.constantFrom('a', 'b', 'ab', '*'), { maxLength: 3 }), fc.constantFrom('a', 'ab', 'c', '*', '>'))
  .map(([head, last]) => [...head, last].join('.'))
const RULES = fc.record({ allow: fc.option(fc.array(PATTERN, { maxLength: 3 }), { nil: undefined }), deny: fc.option(fc.array(PATTERN, { maxLength: 2 }), { nil: undefined }) })

test('decides publish and delivery exactly as matching each allow and deny pattern would', () => {
  fc.assert(fc.property(RULES, fc.array(SUBJECT, { minLength: 1, maxLength: 8 }), (rules, subjects) => {
    const checker = new PermissionChecker({ publish: rules, subscribe: rules })
    for (const subject of subjects) {
      const denied = rules.deny?.some((d) => subjectMatches(d, subject)) === true
      const allowed = !denied && (rules.allow === undefined || rules.allow.some((a) => subjectMatches(a, subject)))
      assert.is(checker.canPublish(subject), allowed, `publish ${subject}`)
      assert.is(checker.canReceive(subject), allowed, `receive ${subject}`)
      assert.is(checker.canPublish(subject), allowed, `publish ${subject} (cached)`)
    }
  }), { numRuns: 2000 })
})

test('reserves $SYS, $DLQ, _INBOX and $SW: no wildcard grant or deny-only user covers them, a pattern naming them does', () => {
  const DENY_ONLY = { deny: ['secret.>'] }
  // [subscribe rules, subject or pattern, may receive/subscribe]
  const rows: Array<[Permissions['subscribe'], string, boolean]> = [
    [DENY_ONLY, '$SYS.stats', false],
    [DENY_ONLY, '$DLQ.jobs', false],
    [DENY_ONLY, '_INBOX.abc.1', false],
    [DENY_ONLY, '$SW.TOPIC.LIST', false],
    [DENY_ONLY, '$SYS.>', false],
    [DENY_ONLY, '_INBOX.>', false],
    [DENY_ONLY, 'orders.x', true],
    [DENY_ONLY, '$SYSTEM.x', true],
    [DENY_ONLY, 'x.$SYS', true],
    [undefined, '$SYS.stats', false],
    [undefined, 'orders.x', true],
    [{ allow: ['>'] }, '$SYS.stats', false],
    [{ allow: ['>'] }, '$DLQ.jobs', false],
    [{ allow: ['*.>'] }, '_INBOX.abc.1', false],
    [{ allow: ['*.stats'] }, '$SYS.stats', false],
    [{ allow: ['*.>'] }, '$SW.TOPIC.LIST', false],
    [{ allow: ['$SYS.>'] }, '$SYS.stats', true],
    [{ allow: ['$SYS.>'] }, '$SYS.>', true],
    [{ allow: ['$SYS.stats'] }, '$SYS.conn.connect', false],
    [{ allow: ['$SYS.stats'] }, '$SYS.>', false],
    [{ allow: ['$SYS.>'], deny: ['$SYS.conn.>'] }, '$SYS.conn.connect', false],
    [{ allow: ['$SYS.>'], deny: ['$SYS.conn.>'] }, '$SYS.>', false],
    [{ allow: ['_INBOX.>'] }, '_INBOX.abc.1', true],
    [{ allow: ['_INBOX.>'] }, '_INBOX.*.>', true],
    [{ allow: ['$DLQ.*'] }, '$DLQ.jobs', true],
    [{ allow: ['$DLQ.*'] }, '$SYS.stats', false],
  ]
  for (const [rules, subject, allowed] of rows) {
    const checker = new PermissionChecker({ subscribe: rules, publish: { allow: ['x'] } })
    const what = `${JSON.stringify(rules)} ${subject}`
    if (!subject.includes('*') && !subject.includes('>')) assert.is(checker.canReceive(subject), allowed, `receive: ${what}`)
    assert.is(checker.subscribeRefusal(subject, null) === null, allowed, `subscribe: ${what}`)
  }
  // A pattern that starts with a wildcard may be subscribed; the reserved subjects it could match are refused on delivery.
  assert.is(new PermissionChecker({ subscribe: { allow: ['>'] } }).subscribeRefusal('*.>', null), null)
})

test('admits $SYS to the monitor permission, and nothing else reserved', () => {
  const checker = new PermissionChecker({ subscribe: { allow: ['orders.>'] }, monitor: true })
  assert.ok(checker.canReceive('$SYS.stats'))
  assert.is(checker.subscribeRefusal('$SYS.>', null), null)
  assert.not.ok(checker.canReceive('$DLQ.jobs'))
  assert.not.ok(checker.canReceive('_INBOX.abc.1'))
  const denied = new PermissionChecker({ subscribe: { deny: ['$SYS.conn.>'] }, monitor: true })
  assert.not.ok(denied.canReceive('$SYS.conn.connect'), 'deny still wins')
  assert.ok(denied.canReceive('$SYS.stats'))
})

test('reserves $SYS, $DLQ and _INBOX for publishing: only the broker, a responder\'s allowance or a permission naming them writes there', () => {
  const rows: Array<[Permissions['publish'], string, boolean]> = [
    [{ deny: ['secret.>'] }, '$SYS.stats', false],
    [{ deny: ['secret.>'] }, '$DLQ.jobs', false],
    [{ deny: ['secret.>'] }, '_INBOX.abc.1', false],
    [{ deny: ['secret.>'] }, '$SW.TOPIC.LIST', true], // the topic API has its own permission
    [{ allow: ['>'] }, '_INBOX.abc.1', false],
    [{ allow: ['>'] }, 'orders.x', true],
    [{ allow: ['_INBOX.>'] }, '_INBOX.abc.1', true],
    [{ allow: ['$DLQ.jobs'] }, '$DLQ.jobs', true],
    [undefined, '$SYS.stats', false],
  ]
  for (const [rules, subject, allowed] of rows) {
    assert.is(new PermissionChecker({ publish: rules }).canPublish(subject), allowed, `${JSON.stringify(rules)} ${subject}`)
  }
})

test('delivers a dead letter only to those who may read the subject it was first published on', () => {
  const checker = new PermissionChecker({ subscribe: { allow: ['$DLQ.>', 'jobs.>'], deny: ['jobs.secret.>'] } })
  const rows: Array<[Record<string, string> | null, boolean]> = [
    [{ 'Sw-Dlq-Subject': 'jobs.public.1' }, true],
    [{ 'Sw-Dlq-Subject': 'jobs.secret.1' }, false],
    [{ 'Sw-Dlq-Subject': 'payroll.1' }, false],
    [{ 'Sw-Dlq-Subject': 'jobs.*' }, false], // not a subject: refused
    [{ 'Sw-Dlq-Subject': '' }, false],
    [null, true], // published to $DLQ directly (needs a $DLQ publish grant): nobody's copy
  ]
  for (const [headers, allowed] of rows) assert.is(checker.canReceiveMessage('$DLQ.jobs', headers), allowed, JSON.stringify(headers))
  assert.not.ok(new PermissionChecker({ subscribe: { deny: ['x'] } }).canReceiveMessage('$DLQ.jobs', { 'Sw-Dlq-Subject': 'jobs.public.1' }), '$DLQ itself is reserved')
  assert.ok(checker.canReceiveMessage('jobs.public.1', { 'Sw-Dlq-Subject': 'jobs.secret.1' }), 'the header means nothing outside $DLQ')
})

test('refuses wildcard subscriptions broader than the allow list', async () => {
  const { user } = await brokerWith({ subscribe: { allow: ['orders.eu.*'] } })
  const rows: Array<[string, string]> = [
    ['orders.eu.*', 'allowed'],
    ['orders.eu.created', 'allowed'],
    ['orders.>', 'permission'],
    ['>', 'permission'],
    ['orders.*.created', 'permission'],
    ['orders.eu.created.more', 'permission'],
    ['payments.x', 'permission'],
  ]
  for (const [subject, outcome] of rows) assert.is(await subscribeOutcome(user, subject), outcome, subject)
})

test('lets deny win over allow for subscriptions and publishes', async () => {
  const { user, admin, errors } = await brokerWith({ subscribe: { allow: ['orders.>'], deny: ['orders.secret'] }, publish: { allow: ['orders.>'], deny: ['orders.secret'] } })
  assert.is(await subscribeOutcome(user, 'orders.>'), 'permission', 'a wildcard reaching a denied subject')
  assert.is(await subscribeOutcome(user, 'orders.public'), 'allowed')
  const seen = admin.subscribe('orders.>')
  await admin.flush()
  user.publish('orders.secret', 'leak')
  user.publish('orders.public', 'fine')
  await user.flush()
  const [m] = await take(seen, 1)
  assert.is(m.subject, 'orders.public')
  await until(2000, () => errors.some((e) => (e as { subject?: string }).subject === 'orders.secret'), 'a permission error for the publish')
  const e = errors.find((x) => (x as { subject?: string }).subject === 'orders.secret') as { error: SubwireError }
  assert.is(e.error.code, 'permission')
  assert.is(user.state, 'connected', 'the connection stays up')
})

test('restricts queue group names', async () => {
  const { user } = await brokerWith({ subscribe: { allow: ['jobs.>'], queues: { allow: ['workers'] } } })
  assert.is(await subscribeOutcome(user, 'jobs.x', 'workers'), 'allowed')
  assert.is(await subscribeOutcome(user, 'jobs.x', 'other'), 'permission')
})

test('lets a responder answer a request it received without publish permission, once', async () => {
  const { user, admin } = await brokerWith({ subscribe: { allow: ['svc.>'] }, publish: { allow: ['nothing.at.all'] } })
  let answered = 0
  let secondRefused = false
  user.subscribe('svc.echo', {
    callback: (_e, m) => {
      if (m === null) return
      m.respond({ echoed: m.data })
      answered++
      try { m.respond('twice') } catch { secondRefused = true }
    },
  })
  await user.flush()
  const r = await within(3000, admin.request('svc.echo', 7, { timeout: 2000 }), 'a reply')
  assert.equal(r.data, { echoed: 7 })
  assert.is(answered, 1)
  assert.not.ok(secondRefused, 'publish does not throw; the broker refuses the second reply')
  user.publish('_INBOX.someone.else.1', 'forged')
  await user.flush()
})

test('keeps users out of other connections\' inboxes', async () => {
  const { user, admin } = await brokerWith({ subscribe: { allow: ['orders.>'] }, publish: { allow: ['orders.>', 'svc'] } })
  assert.is(await subscribeOutcome(user, '_INBOX.>'), 'permission')
  assert.is(await subscribeOutcome(user, '_INBOX.*.>'), 'permission')
  // The admin's inbox id is taken as soon as the admin makes a request.
  admin.subscribe('svc', { callback: (_e, m) => m?.respond('ok') })
  await admin.flush()
  await admin.request('svc', null, { timeout: 1000 })
  const adminInbox = [...(await adminInboxes(admin))][0]
  assert.ok(adminInbox !== undefined)
  assert.is(await subscribeOutcome(user, `${adminInbox}.>`), 'permission')
  // The restricted user's own inbox needs no permission: its request/reply works.
  const r = await within(3000, user.request('svc', null, { timeout: 2000 }), 'the reply')
  assert.is(r.data, 'ok')
})

/** The inbox prefix a client uses, read from a reply subject it receives. */
async function adminInboxes(c: Client): Promise<Set<string>> {
  const seen = new Set<string>()
  const probe = c.subscribe('probe.inbox', { callback: (_e, m) => { if (m?.reply) seen.add(m.reply.split('.').slice(0, 2).join('.')) } })
  await c.flush()
  void c.request('probe.inbox', null, { timeout: 200 }).catch(() => undefined)
  await until(2000, () => seen.size > 0, 'the probe')
  probe.unsubscribe()
  return seen
}

test('enforces the permissions of a JWT claim, request/reply included', async () => {
  const secret = 'another-secret-for-claims-that-is-long'
  const b = track(await startBroker({ auth: { jwt: { secret } }, }))
  const sign = (permissions: Permissions): Promise<string> => new SignJWT({ permissions }).setProtectedHeader({ alg: 'HS256' }).setSubject('c').setExpirationTime('1h').sign(new TextEncoder().encode(secret))
  const svc = track(await connect(b.url, { token: await sign({ subscribe: { allow: ['svc.time'] }, publish: { allow: ['none.x'] } }) }))
  const caller = track(await connect(b.url, { token: await sign({ publish: { allow: ['svc.*'] }, subscribe: { allow: ['none.y'] } }) }))
  svc.subscribe('svc.time', { callback: (_e, m) => m?.respond('noon') })
  await svc.flush()
  const r = await within(3000, caller.request('svc.time', null, { timeout: 2000 }), 'the reply')
  assert.is(r.data, 'noon')
  assert.is(await subscribeOutcome(caller, 'svc.time'), 'permission')
})

test('drops subscriptions a re-authentication no longer allows, and keeps the rest', async () => {
  const b = track(await startBroker({
    auth: { tokens: [
      { token: 'broad-token-1', user: 'u', permissions: { subscribe: { allow: ['a.>', 'b.>'] } } },
      { token: 'narrow-token-1', user: 'u', permissions: { subscribe: { allow: ['a.>'] } } },
    ] },
  }))
  let token = 'broad-token-1'
  const c = track(await connect(b.url, { token: () => token }))
  const a = c.subscribe('a.>')
  const bSub = c.subscribe('b.>')
  await c.flush()
  token = 'narrow-token-1'
  await within(3000, c.reauthenticate(), 're-authentication')
  const closed = await within(2000, bSub.closed, 'the dropped subscription')
  assert.is(closed?.code, 'permission')
  assert.not.ok(a.isClosed)
})

test.run()
