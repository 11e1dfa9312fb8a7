import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT } from 'jose'
import { connect, type Status } from '../../client/index.ts'
import { hashPassword, verifyPassword } from '../../server/index.ts'
import { Admission } from '../../server/edge/admission.ts'
import { resolveConfig } from '../../server/options.ts'
import { SubwireError } from '../../shared/errors.ts'
import { CLOSE_CODE } from '../../shared/protocol.ts'
import { cleanupAfterEach, RawClient, sleep, startBroker, take, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
const noRetry = { reconnect: false as const }

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await within(5000, p.then(() => 'connected', (e: unknown) => (e instanceof SubwireError ? e.code : `not a SubwireError: ${String(e)}`)), 'connect to settle')
  return err
}

function jwt(claims: Record<string, unknown> = {}, options: { exp?: number | string; nbf?: number | string; aud?: string; iss?: string; secret?: string; alg?: string } = {}): Promise<string> {
  const s = new SignJWT({ ...claims }).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setSubject('alice').setIssuedAt()
  if (options.exp !== undefined) s.setExpirationTime(options.exp)
  if (options.nbf !== undefined) s.setNotBefore(options.nbf)
  if (options.aud !== undefined) s.setAudience(options.aud)
  if (options.iss !== undefined) s.setIssuer(options.iss)
  return s.sign(new TextEncoder().encode(options.secret ?? SECRET))
}

test('accepts a configured token and refuses a wrong or missing one with auth_failed', async () => {
  const b = track(await startBroker({ auth: { tokens: [{ token: 'token-of-alice', user: 'alice' }] } }))
  const c = track(await connect(b.url, { token: 'token-of-alice' }))
  assert.is(c.state, 'connected')
  assert.is(await refusal(connect(b.url, { ...noRetry, token: 'token-of-mallory' })), 'auth_failed')
  assert.is(await refusal(connect(b.url, noRetry)), 'auth_failed')
})

test('says auth_failed with close code 4001 and nothing about which part was wrong', async () => {
  const b = track(await startBroker({ auth: { tokens: [{ token: 'token-of-alice', user: 'alice' }] } }))
  const raw = track(new RawClient(b.url))
  await within(2000, raw.opened, 'open')
  raw.connect({ token: 'nope-nope-nope' })
  assert.is(await raw.waitClose(), CLOSE_CODE.authFailed)
  const err = raw.ops.find((op) => op.op === 'ERR')
  assert.equal(err, { op: 'ERR', code: 'auth_failed', message: 'authentication failed', ref: null })
})

test('checks passwords against scrypt hashes from hashPassword', async () => {
  const passwordHash = await hashPassword('correct horse')
  assert.match(passwordHash, /^scrypt\$/)
  assert.ok(await verifyPassword('correct horse', passwordHash))
  assert.not.ok(await verifyPassword('wrong horse', passwordHash))
  assert.not.ok(await verifyPassword('x', 'not-a-hash'))
  const b = track(await startBroker({ auth: { users: [{ user: 'bob', passwordHash }] } }))
  track(await connect(b.url, { user: 'bob', password: 'correct horse' }))
  assert.is(await refusal(connect(b.url, { ...noRetry, user: 'bob', password: 'battery staple' })), 'auth_failed')
  assert.is(await refusal(connect(b.url, { ...noRetry, user: 'eve', password: 'correct horse' })), 'auth_failed')
})

test('verifies JWTs: valid passes; wrong secret, expired, not yet valid, wrong audience or issuer, wrong algorithm and alg none fail', async () => {
  const b = track(await startBroker({ auth: { jwt: { secret: SECRET, audience: 'subwire', issuer: 'https://issuer.test', algorithms: ['HS256'] } } }))
  const ok = { aud: 'subwire', iss: 'https://issuer.test' }
  track(await connect(b.url, { token: await jwt({}, { ...ok, exp: '1h' }) }))
  const future = Math.floor(Date.now() / 1000) + 3600
  const past = Math.floor(Date.now() / 1000) - 3600
  const rows: Array<[string, Promise<string>]> = [
    ['wrong secret', jwt({}, { ...ok, secret: 'another-secret-entirely-and-long-enough' })],
    ['expired', jwt({}, { ...ok, exp: past })],
    ['not yet valid', jwt({}, { ...ok, nbf: future })],
    ['wrong audience', jwt({}, { ...ok, aud: 'someone-else' })],
    ['wrong issuer', jwt({}, { ...ok, iss: 'https://evil.test' })],
    ['wrong algorithm', jwt({}, { ...ok, alg: 'HS512' })],
    ['alg none', Promise.resolve(unsignedJwt({ sub: 'alice', aud: 'subwire', iss: 'https://issuer.test' }))],
  ]
  for (const [name, token] of rows) {
    assert.is(await refusal(connect(b.url, { ...noRetry, token: await token })), 'auth_failed', name)
  }
})

function unsignedJwt(payload: Record<string, unknown>): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`
}

test('verifies RS256 and EdDSA JWTs with a PEM public key', async () => {
  for (const [type, alg] of [['rsa', 'RS256'], ['ed25519', 'EdDSA']] as const) {
    const { publicKey, privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519')
    const b = track(await startBroker({ auth: { jwt: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() } } }))
    const token = await new SignJWT({}).setProtectedHeader({ alg }).setSubject('svc').setExpirationTime('1h').sign(privateKey)
    track(await connect(b.url, { token }))
    const forged = await jwt({}, { exp: '1h' }) // HS256 with a secret: never accepted by a public-key config
    assert.is(await refusal(connect(b.url, { ...noRetry, token: forged })), 'auth_failed', alg)
  }
})

test('closes a connection with auth_expired (4006) when its JWT expires', async () => {
  const b = track(await startBroker({ auth: { jwt: { secret: SECRET } } }))
  const exp = Math.floor(Date.now() / 1000) + 1
  const c = track(await connect(b.url, { ...noRetry, token: await jwt({}, { exp }) }))
  const result = await within(4000, c.closed, 'the expiry')
  assert.instance(result, SubwireError)
  assert.is((result as SubwireError).code, 'auth_expired')
})

test('refreshes an expiring token on the live connection without dropping it or its subscriptions', async () => {
  const b = track(await startBroker({ auth: { jwt: { secret: SECRET } } }))
  let issued = 0
  const c = track(await connect(b.url, { token: async () => { issued++; return jwt({}, { exp: Math.floor(Date.now() / 1000) + 3 }) } }))
  const events: Status[] = []
  void (async () => { for await (const s of c.status()) events.push(s) })()
  const sub = c.subscribe('still.here')
  await c.flush()
  await until(6000, () => issued >= 3, 'two refreshes')
  c.publish('still.here', 'yes')
  assert.is((await take(sub, 1))[0].data, 'yes')
  assert.is(events.filter((e) => e.type === 'disconnect').length, 0, 'never disconnected')
})

test('reauthenticate() rejects a refused token with auth_failed and keeps the connection', async () => {
  const b = track(await startBroker({ auth: { tokens: [{ token: 'first-token-ok', user: 'a' }] } }))
  let token = 'first-token-ok'
  const c = track(await connect(b.url, { token: () => token }))
  token = 'a-token-the-broker-does-not-know'
  const err = await c.reauthenticate().catch((e: unknown) => e)
  assert.is((err as SubwireError).code, 'auth_failed')
  await within(2000, c.flush(), 'flush after a failed re-authentication')
  assert.is(c.state, 'connected')
})

test('asks the token function again on every reconnect attempt and backs off instead of hammering', async () => {
  const b = track(await startBroker({ auth: { tokens: [{ token: 'good-token-123', user: 'a' }] } }))
  let calls = 0
  let token = 'good-token-123'
  const c = track(await connect(b.url, { token: () => { calls++; return token }, reconnect: { initialDelayMs: 50, maxDelayMs: 400 } }))
  token = 'revoked-token-xyz'
  calls = 0
  // Kick the client off: restart the broker on the same port.
  const port = b.port
  await b.close()
  const b2 = track(await startBroker({ port, auth: { tokens: [{ token: 'good-token-123', user: 'a' }] } }))
  await sleep(1500)
  assert.ok(calls >= 2, `the token function was asked again (${calls})`)
  assert.ok(calls <= 12, `backoff bounds the attempts in 1.5 s (${calls})`)
  token = 'good-token-123'
  await until(8000, () => c.state === 'connected', 'a reconnect with a valid token')
  const s = c.subscribe('back')
  c.publish('back', 1)
  assert.is((await take(s, 1))[0].data, 1)
  assert.ok(b2.stats().published >= 1)
})

test('consults the authenticate hook with the upgrade request', async () => {
  const b = track(await startBroker({
    auth: {
      authenticate: (info, req) => (req.headers['x-session'] === 'valid' || info.token === 'hook-token' ? { user: 'hooked' } : null),
    },
  }))
  track(await connect(b.url, { token: 'hook-token' }))
  assert.is(await refusal(connect(b.url, { ...noRetry, token: 'other' })), 'auth_failed')
})

test('closes a socket that does not authenticate within authTimeoutMs', async () => {
  const b = track(await startBroker({ authTimeoutMs: 100, auth: { tokens: [{ token: 'good-token-123', user: 'a' }] } }))
  const raw = track(new RawClient(b.url))
  assert.is(await raw.waitClose(2000), CLOSE_CODE.connectTimeout)
})

test('holds ops sent right behind CONNECT until authentication finishes', async () => {
  const passwordHash = await hashPassword('pw')
  const b = track(await startBroker({ auth: { users: [{ user: 'u', passwordHash }] } }))
  const c = track(await connect(b.url, { user: 'u', password: 'pw' }))
  const s = c.subscribe('right.behind')
  c.publish('right.behind', 1)
  assert.is((await take(s, 1))[0].data, 1)
})

test('slows down repeated authentication failures from one address', () => {
  const admission = new Admission(resolveConfig({}))
  const delays = Array.from({ length: 8 }, () => admission.failureDelay('10.0.0.1', 1000))
  assert.equal(delays.slice(0, 3), [0, 0, 0])
  assert.ok(delays[3] > 0 && delays[7] > delays[3], `delays grow: ${delays.join(',')}`)
  assert.ok(delays.every((d) => d <= 5000))
  assert.is(admission.failureDelay('10.0.0.2', 1000), 0, 'other addresses are not affected')
  assert.is(admission.failureDelay('10.0.0.1', 1000 + 61_000), 0, 'the window expires')
})

test('refuses auth options that would be unsafe', async () => {
  for (const auth of [
    { tokens: [{ token: 'short', user: 'a' }] },
    { users: [{ user: 'a', passwordHash: 'plaintext' }] },
    { jwt: { secret: SECRET, algorithms: ['none'] } },
    { jwt: {} },
  ]) {
    const err = await startBroker({ auth }).then(async (b) => { await b.close(); return null }, (e: unknown) => e)
    assert.is((err as SubwireError | null)?.code, 'bad_option', JSON.stringify(auth))
  }
})

test.run()
