/**
 * Topic management under permissions (issue 17 §1): `topics.manage` guards every `$SW.TOPIC.*` op of a
 * restricted session, creating or updating a topic needs publish and subscribe rights on all its subjects,
 * info and list show only the topics a user may manage or read, and all of it holds after a re-authentication.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { connect, type Client } from '../../client/index.ts'
import type { Broker, Permissions } from '../../server/index.ts'
import { loadServeConfig } from '../../server/cli/serve-config.ts'
import { SubwireError } from '../../shared/errors.ts'
import { TOPIC_API } from '../../shared/protocol.ts'
import { cleanupAfterEach, startBroker, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

/** A broker with a restricted user, an unrestricted admin and a victim (whose subjects are `victim.>`). */
async function brokerWith(permissions: Permissions, topics: Array<{ name: string; subjects: string[] }> = []): Promise<{ b: Broker; user: Client; admin: Client; victim: Client }> {
  const b = track(await startBroker({
    topics,
    auth: { tokens: [
      { token: 'restricted-user', user: 'u', permissions },
      { token: 'admin-token-1', user: 'admin' },
      { token: 'victim-token-1', user: 'victim', permissions: { publish: { allow: ['victim.>'] }, subscribe: { allow: ['victim.>'] } } },
    ] },
  }))
  const user = track(await connect(b.url, { token: 'restricted-user' }))
  const admin = track(await connect(b.url, { token: 'admin-token-1' }))
  const victim = track(await connect(b.url, { token: 'victim-token-1' }))
  return { b, user, admin, victim }
}

/** The error code a topic API call rejects with, or 'ok'. */
async function outcome(p: Promise<unknown>, what: string): Promise<string> {
  try {
    await within(2000, p, what)
    return 'ok'
  } catch (err) {
    if (err instanceof SubwireError) return err.code
    throw err
  }
}

const ORDERS = { name: 'orders', subjects: ['orders.>'] }

test('refuses every management op to a user who may publish and subscribe everywhere but has no topics.manage', async () => {
  const { user, admin } = await brokerWith({ publish: { allow: ['>'] }, subscribe: { allow: ['>'] } }, [ORDERS])
  await admin.publishAck('orders.eu.1', 'kept')
  const rows: Array<[string, () => Promise<unknown>]> = [
    ['purge', () => user.topics.purge('orders')],
    ['delete', () => user.topics.delete('orders')],
    ['update', () => user.topics.update('orders', { name: 'orders', subjects: ['orders.>'], maxMsgs: 1, discard: 'new' })],
    ['add', () => user.topics.add({ name: 'mine', subjects: ['mine.>'] })],
  ]
  for (const [op, call] of rows) assert.is(await outcome(call(), op), 'permission', op)
  const info = await within(2000, admin.topics.info('orders'), 'the admin\'s info')
  assert.is(info.messages, 1, 'the topic and its message are untouched')
  assert.equal(info.config.subjects, ['orders.>'])
  assert.equal((await within(2000, admin.topics.list(), 'the list')).map((t) => t.name), ['orders'])
})

test('refuses a deny-only user the purge of a topic it was never granted', async () => {
  const { user, admin } = await brokerWith({ publish: { deny: ['secret.>'] }, subscribe: { deny: ['secret.>'] } }, [ORDERS])
  await admin.publishAck('orders.eu.1', 'kept')
  assert.is(await outcome(user.topics.purge('orders'), 'the purge'), 'permission')
  assert.is(await outcome(user.topics.add({ name: 'grab', subjects: ['orders.eu.>'] }), 'the add'), 'permission')
  assert.is((await within(2000, admin.topics.info('orders'), 'info')).messages, 1)
})

test('refuses a topic over someone else\'s subjects, so the owner\'s publishes are not refused', async () => {
  const { user, victim } = await brokerWith({ publish: { allow: ['mine.>'] }, subscribe: { allow: ['mine.>'] }, topics: { manage: ['*'] } })
  const errors: SubwireError[] = []
  void (async () => { for await (const s of victim.status()) if (s.type === 'error') errors.push(s.error) })()
  const attack = user.topics.add({ name: 'trap', subjects: ['victim.>'], maxMsgs: 1, discard: 'new' })
  assert.is(await outcome(attack, 'the trap'), 'permission')
  for (let i = 0; i < 3; i++) victim.publish('victim.a', i)
  await within(2000, victim.flush(), 'the victim\'s flush')
  assert.equal(errors.map((e) => e.code), [], 'no topic captured the victim\'s publishes')
})

test('lets a manager create, update, purge and delete only the topics its manage patterns name', async () => {
  // No publish permission on $SW.TOPIC.>: topics.manage alone governs the API.
  const { user, admin } = await brokerWith({
    publish: { allow: ['team-a.>'] }, subscribe: { allow: ['team-a.>'] }, topics: { manage: ['team-a', 'team-a-archive'] },
  }, [{ name: 'team-b', subjects: ['team-b.>'] }])
  assert.is(await outcome(user.topics.add({ name: 'team-a', subjects: ['team-a.live.>'] }), 'add team-a'), 'ok')
  assert.is(await outcome(user.topics.add({ name: 'team-a-archive', subjects: ['team-a.old.*'] }), 'add archive'), 'ok')
  assert.is(await outcome(user.topics.add({ name: 'team-c', subjects: ['team-a.x'] }), 'add team-c'), 'permission', 'a name it may not manage')
  assert.is(await outcome(user.topics.update('team-a', { name: 'team-a', subjects: ['team-a.live.>'], maxMsgs: 10 }), 'update'), 'ok')
  await within(2000, user.publishAck('team-a.live.1', 'x'), 'a stored publish')
  assert.is(await outcome(user.topics.purge('team-a'), 'purge team-a'), 'ok')
  assert.is(await outcome(user.topics.purge('team-b'), 'purge team-b'), 'permission')
  assert.is(await outcome(user.topics.delete('team-b'), 'delete team-b'), 'permission')
  assert.is(await outcome(user.topics.update('team-b', { name: 'team-b', subjects: ['team-b.>'], maxMsgs: 1 }), 'update team-b'), 'permission')
  assert.is(await outcome(user.topics.delete('team-a-archive'), 'delete archive'), 'ok')
  assert.equal((await within(2000, admin.topics.list(), 'the list')).map((t) => t.name).sort(), ['team-a', 'team-b'])
})

test('refuses to create or update a topic over subjects the manager may not both publish and subscribe to', async () => {
  const { user } = await brokerWith({
    publish: { allow: ['a.>', 'b.>'] }, subscribe: { allow: ['a.>', 'c.>'], deny: ['a.secret'] }, topics: { manage: ['*'] },
  })
  const rows: Array<[string[], string]> = [
    [['a.x.>'], 'ok'],
    [['b.>'], 'permission'], // may publish, not subscribe
    [['c.>'], 'permission'], // may subscribe, not publish
    [['a.>'], 'permission'], // reaches a.secret, which it may not subscribe to
    [['>'], 'permission'],
    [['a.y', 'victim.y'], 'permission'], // every subject counts
  ]
  let n = 0
  for (const [subjects, expected] of rows) {
    assert.is(await outcome(user.topics.add({ name: `t${n++}`, subjects }), subjects.join()), expected, subjects.join())
  }
  assert.is(await outcome(user.topics.update('t0', { name: 't0', subjects: ['a.x.>', 'victim.>'] }), 'the widening update'), 'permission')
  assert.is(await outcome(user.topics.update('t0', { name: 't0', subjects: ['a.x.>'], maxMsgs: 5 }), 'the update'), 'ok')
})

test('refuses a topic over reserved subjects or under a leading wildcard, even to a manager allowed everything', async () => {
  const { user } = await brokerWith({ publish: { allow: ['>'] }, subscribe: { allow: ['>'] }, topics: { manage: ['*'] } })
  const rows: Array<[string, string]> = [
    ['>', 'permission'], // would store every inbox reply and $SYS report
    ['*.x', 'permission'],
    ['_INBOX.>', 'permission'],
    ['$SYS.>', 'permission'],
    ['$DLQ.orders', 'permission'],
    ['orders.>', 'ok'],
  ]
  let n = 0
  for (const [subject, expected] of rows) assert.is(await outcome(user.topics.add({ name: `r${n++}`, subjects: [subject] }), subject), expected, subject)
})

test('lists and describes only the topics a user may manage or read, with no existence oracle', async () => {
  const { user, admin } = await brokerWith({ subscribe: { allow: ['orders.>', 'half.a.>'] }, publish: { allow: ['mine.>'] }, topics: { manage: ['mine'] } },
    [ORDERS, { name: 'secret', subjects: ['secret.>'] }, { name: 'mine', subjects: ['admin-made.>'] }, { name: 'half', subjects: ['half.>'] }])
  const names = (await within(2000, user.topics.list(), 'the list')).map((t) => t.name).sort()
  assert.equal(names, ['mine', 'orders'])
  assert.is(await outcome(user.topics.info('orders'), 'a readable topic'), 'ok')
  assert.is(await outcome(user.topics.info('mine'), 'a managed topic'), 'ok')
  assert.is(await outcome(user.topics.info('secret'), 'an unreadable topic'), 'permission')
  assert.is(await outcome(user.topics.info('half'), 'a topic it reads only part of'), 'permission')
  assert.is(await outcome(user.topics.info('nothing-here'), 'a missing topic'), 'permission', 'the same answer as for a hidden one')
  assert.equal((await within(2000, admin.topics.list(), 'the admin\'s list')).length, 4)
})

test('keeps full topic rights for unrestricted sessions: auth off, and a user without permissions', async () => {
  const open = track(await startBroker())
  const c = track(await connect(open.url))
  assert.is(await outcome(c.topics.add(ORDERS), 'add with auth off'), 'ok')
  assert.is(await outcome(c.topics.purge('orders'), 'purge with auth off'), 'ok')
  assert.is(await outcome(c.topics.delete('orders'), 'delete with auth off'), 'ok')
  const { admin } = await brokerWith({ publish: { deny: ['>'] } })
  assert.is(await outcome(admin.topics.add(ORDERS), 'add by the admin'), 'ok')
  assert.is(await outcome(admin.topics.update('orders', { ...ORDERS, maxMsgs: 3 }), 'update by the admin'), 'ok')
})

test('takes topic rights away when a re-authentication narrows them', async () => {
  const broad: Permissions = { publish: { allow: ['orders.>'] }, subscribe: { allow: ['orders.>'] }, topics: { manage: ['orders', 'other'] } }
  const narrow: Permissions = { publish: { allow: ['orders.>'] }, subscribe: { allow: ['nothing'] }, topics: { manage: ['other'] } }
  const b = track(await startBroker({ auth: { tokens: [{ token: 'broad-token-1', user: 'u', permissions: broad }, { token: 'narrow-token-1', user: 'u', permissions: narrow }] } }))
  let token = 'broad-token-1'
  const c = track(await connect(b.url, { token: () => token }))
  assert.is(await outcome(c.topics.add(ORDERS), 'the add'), 'ok')
  assert.equal((await within(2000, c.topics.list(), 'the list')).map((t) => t.name), ['orders'])
  token = 'narrow-token-1'
  await within(3000, c.reauthenticate(), 're-authentication')
  assert.is(await outcome(c.topics.purge('orders'), 'the purge'), 'permission')
  assert.is(await outcome(c.topics.info('orders'), 'the info'), 'permission')
  assert.equal(await within(2000, c.topics.list(), 'the list'), [])
  // `other` is still managed, but a topic over orders.> now needs a subscribe right the user lost.
  assert.is(await outcome(c.topics.add({ name: 'other', subjects: ['orders.x'] }), 'the second add'), 'permission')
})

test('refuses a topic API publish without a reply subject with bad_option, not silence', async () => {
  const { user } = await brokerWith({ topics: { manage: ['*'] } })
  const errors: SubwireError[] = []
  void (async () => { for await (const s of user.status()) if (s.type === 'error') errors.push(s.error) })()
  user.publish(TOPIC_API.list, {})
  await within(2000, user.flush(), 'the flush')
  await within(2000, (async () => { while (errors.length === 0) await new Promise((r) => setTimeout(r, 5)) })(), 'the ERR')
  assert.is(errors[0].code, 'bad_option')
})

test('refuses malformed topics.manage in tokens, users, the authenticate hook and the serve config with bad_option', async () => {
  const bad: unknown[] = [
    { topics: 5 },
    { topics: { manage: 'orders' } },
    { topics: { manage: [7] } },
    { topics: { manage: ['orders.eu'] } }, // a topic name is one token
    { topics: { manage: ['or ders'] } },
    { topics: { managed: ['orders'] } },
  ]
  for (const permissions of bad) {
    const err = await startBroker({ auth: { tokens: [{ token: 'some-token-1', user: 'u', permissions: permissions as Permissions }] } }).then((b) => { void b.close(); return null }, (e: unknown) => e)
    assert.instance(err, SubwireError, JSON.stringify(permissions))
    assert.is((err as SubwireError).code, 'bad_option', JSON.stringify(permissions))
  }
  // The authenticate hook's answer: a malformed one refuses the connection.
  const hooked = track(await startBroker({ auth: { authenticate: () => ({ user: 'h', permissions: { topics: { manage: 'x' } } as unknown as Permissions }) } }))
  const refused = await connect(hooked.url, { token: 'whatever', reconnect: false }).then((c) => { void c.close(); return null }, (e: unknown) => e)
  assert.instance(refused, SubwireError)
  // `subwire serve`: the file's auth is checked when the config is loaded, naming the file.
  const file = join(mkdtempSync(join(tmpdir(), 'subwire-topic-perm-')), 'subwire.json')
  writeFileSync(file, JSON.stringify({ auth: { tokens: [{ token: 'some-token-1', user: 'u', permissions: { topics: { manage: 'orders' } } }] } }))
  let serveErr: unknown = null
  try { loadServeConfig({ flags: { config: file }, env: {} }) } catch (e) { serveErr = e }
  assert.instance(serveErr, SubwireError)
  assert.is((serveErr as SubwireError).code, 'bad_option')
})

test('enforces topics.manage from a JWT claim and refuses a malformed claim', async () => {
  const secret = 'a-secret-for-topic-claims-that-is-long'
  const b = track(await startBroker({ auth: { jwt: { secret } } }))
  const sign = (permissions: unknown): Promise<string> => new SignJWT({ permissions: permissions as Record<string, unknown> }).setProtectedHeader({ alg: 'HS256' }).setSubject('j').setExpirationTime('1h').sign(new TextEncoder().encode(secret))
  const c = track(await connect(b.url, { token: await sign({ publish: { allow: ['j.>'] }, subscribe: { allow: ['j.>'] }, topics: { manage: ['jay'] } }) }))
  assert.is(await outcome(c.topics.add({ name: 'jay', subjects: ['j.>'] }), 'the managed add'), 'ok')
  assert.is(await outcome(c.topics.add({ name: 'kay', subjects: ['j.k'] }), 'the other add'), 'permission')
  const refused = await connect(b.url, { token: await sign({ topics: { manage: [1] } }), reconnect: false }).then((x) => { void x.close(); return null }, (e: unknown) => e)
  assert.instance(refused, SubwireError)
  assert.is((refused as SubwireError).code, 'auth_failed')
})

test.run()
