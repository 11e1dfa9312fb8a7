/**
 * The monitoring endpoints behind credentials (issue 17 §2): with `auth` on, `/stats`, `/stats/history` and
 * `/metrics` need a token or user with the `monitor` permission (`Authorization: Bearer` or `Basic`), checked
 * by the broker's own authenticator and braked like CONNECT; `/healthz` and `/readyz` stay open; with `auth`
 * off everything stays open.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SignJWT } from 'jose'
import { hashPassword, type Broker, type BrokerOptions } from '../../server/index.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import { validatePermissions } from '../../server/security/permissions.ts'
import { cleanupAfterEach, codeOf, startBroker, within } from '../helpers.ts'

const track = cleanupAfterEach(test)
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
/** The data endpoints: everything that shows the broker's connections, subjects and counters. */
const GUARDED = ['/stats', '/stats/history', '/metrics']

const AUTH: NonNullable<BrokerOptions['auth']> = {
  tokens: [
    { token: 'token-of-ops-monitor', user: 'ops', permissions: { monitor: true, publish: { deny: ['>'] }, subscribe: { allow: ['orders.>'] } } },
    { token: 'token-of-an-app', user: 'app', permissions: { publish: { allow: ['orders.>'] }, subscribe: { allow: ['orders.>'] } } },
    { token: 'token-of-the-admin', user: 'admin' },
  ],
  jwt: { secret: SECRET },
}

interface Answer { status: number; error: string | null; challenge: string | null; type: string; body: string }

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await within(10_000, fetch(url, { headers }), `GET ${url}`)
  const body = await within(10_000, res.text(), `the body of ${url}`)
  return { status: res.status, error: res.headers.get('x-subwire-error'), challenge: res.headers.get('www-authenticate'), type: res.headers.get('content-type') ?? '', body }
}

function base(b: Broker): string {
  return b.url.replace(/^ws/, 'http').replace(/\/$/, '')
}

async function monitored(options: BrokerOptions = { auth: AUTH }): Promise<Broker> {
  const b = track(await startBroker(options))
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  return b
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })

function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('grafana').setIssuedAt().sign(new TextEncoder().encode(SECRET))
}

test('answers a request without a credential 401 auth_failed with a Bearer challenge on every data endpoint', async () => {
  const b = await monitored()
  for (const path of GUARDED) {
    const a = await get(`${base(b)}${path}`)
    assert.is(a.status, 401, path)
    assert.is(a.error, 'auth_failed', path)
    assert.match(a.challenge ?? '', /^Bearer realm="subwire"/, path)
    assert.not.match(a.body, /connectionList|subwire_connections/, `${path} shows nothing`)
  }
})

test('answers a wrong token or a malformed Authorization header 401 auth_failed', async () => {
  const b = await monitored()
  for (const headers of [bearer('token-of-mallory'), { authorization: 'Bearer' }, { authorization: 'Digest abc' }, { authorization: 'Basic !!!' }]) {
    const a = await get(`${base(b)}/stats`, headers)
    assert.is(a.status, 401, headers.authorization)
    assert.is(a.error, 'auth_failed', headers.authorization)
    assert.match(a.challenge ?? '', /error="invalid_token"/, headers.authorization)
  }
})

test('holds back the answers to an address that keeps failing, as for CONNECT', async () => {
  const b = await monitored()
  for (let i = 0; i < 3; i++) assert.is((await get(`${base(b)}/stats`, bearer(`wrong-token-${i}`))).status, 401)
  const started = Date.now()
  assert.is((await get(`${base(b)}/stats`, bearer('wrong-token-3'))).status, 401)
  assert.ok(Date.now() - started >= 90, `the fourth failure is held back (${Date.now() - started} ms)`)
})

test('answers 403 permission to an identity without the monitor permission', async () => {
  const b = await monitored()
  for (const path of GUARDED) {
    const a = await get(`${base(b)}${path}`, bearer('token-of-an-app'))
    assert.is(a.status, 403, path)
    assert.is(a.error, 'permission', path)
  }
})

test('serves every data endpoint to a token with monitor: true and to an unrestricted one', async () => {
  const b = await monitored()
  for (const token of ['token-of-ops-monitor', 'token-of-the-admin']) {
    const stats = await get(`${base(b)}/stats`, bearer(token))
    assert.is(stats.status, 200, token)
    assert.is(JSON.parse(stats.body).server.id, b.serverId)
    assert.is((await get(`${base(b)}/stats/history`, bearer(token))).status, 200, token)
    const metrics = await get(`${base(b)}/metrics`, bearer(token))
    assert.is(metrics.status, 200, token)
    assert.match(metrics.body, /subwire_connections/)
  }
})

test('serves a user with the monitor permission through Basic user:password, and refuses a wrong password', async () => {
  const passwordHash = await within(5000, hashPassword('correct horse'), 'hashing')
  const b = await monitored({ auth: { users: [{ user: 'ops', passwordHash, permissions: { monitor: true } }, { user: 'app', passwordHash, permissions: {} }] } })
  assert.is((await get(`${base(b)}/stats`, basic('ops', 'correct horse'))).status, 200)
  assert.is((await get(`${base(b)}/stats`, basic('ops', 'battery staple'))).error, 'auth_failed')
  assert.is((await get(`${base(b)}/stats`, basic('app', 'correct horse'))).error, 'permission')
})

test('serves a JWT whose permissions claim grants monitor, and refuses one whose monitor is not a boolean', async () => {
  const b = await monitored()
  assert.is((await get(`${base(b)}/metrics`, bearer(await jwt({ permissions: { monitor: true } })))).status, 200)
  assert.is((await get(`${base(b)}/metrics`, bearer(await jwt({ permissions: { subscribe: { allow: ['x.>'] } } })))).error, 'permission')
  assert.is((await get(`${base(b)}/metrics`, bearer(await jwt({ permissions: { monitor: 'yes' } })))).error, 'auth_failed')
})

test('keeps /healthz and /readyz open with auth on', async () => {
  const b = await monitored()
  assert.is((await get(`${base(b)}/healthz`)).status, 200)
  assert.is((await get(`${base(b)}/readyz`)).status, 200)
})

test('serves the page shell and its script without a credential, the page marked as needing one', async () => {
  const b = await monitored()
  const page = await get(`${base(b)}/`, { accept: 'text/html' })
  assert.is(page.status, 200)
  assert.match(page.body, /<meta name="subwire-auth" content="required">/)
  assert.is((await get(`${base(b)}/monitor.js`)).status, 200)
  const open = await monitored({})
  assert.match((await get(`${base(open)}/`, { accept: 'text/html' })).body, /<meta name="subwire-auth" content="none">/)
})

test('leaves every endpoint open with auth off', async () => {
  const b = await monitored({})
  for (const path of GUARDED) assert.is((await get(`${base(b)}${path}`)).status, 200, path)
})

test('refuses a monitor permission that is not a boolean as bad_option, and keeps a valid one', async () => {
  assert.is(codeOf(() => validatePermissions({ monitor: 'yes' })), 'bad_option')
  assert.is(codeOf(() => validatePermissions({ monitor: 1 })), 'bad_option')
  assert.is(validatePermissions({ monitor: true }).monitor, true)
  assert.is(validatePermissions({ monitor: false }).monitor, false)
  const started = startBroker({ auth: { tokens: [{ token: 'token-of-someone', user: 'x', permissions: { monitor: 'yes' } as never }] } })
  const outcome = await within(5000, started.then((b) => { track(b); return 'started' }, (err: unknown) => (err as { code?: string }).code ?? String(err)), 'the broker to refuse')
  assert.is(outcome, 'bad_option', 'a configured token with a malformed monitor permission')
})

test.run()
