/**
 * Whom an inbox belongs to across credential kinds: a JWT's subject never shares inboxes with a configured
 * token's user of the same name, and identities without a name share their inboxes with nobody.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SignJWT } from 'jose'
import { connect } from '../../client/index.ts'
import type { Broker } from '../../server/index.ts'
import { cleanupAfterEach, RawClient, startBroker, within } from '../helpers.ts'
import { errsFor, rawFlush, rawSub } from './users.ts'

const track = cleanupAfterEach(test)
const secret = 'inbox-principals-secret-0123456789'
const permissions = { subscribe: { allow: ['app.>'] }, publish: { allow: ['app.>'] } }

function sign(sub: string | null): Promise<string> {
  const jwt = new SignJWT({ permissions }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h')
  return (sub === null ? jwt : jwt.setSubject(sub)).sign(new TextEncoder().encode(secret))
}

async function rawWith(b: Broker, token: string): Promise<RawClient> {
  const raw = track(new RawClient(b.url))
  await within(5000, raw.opened, 'the raw socket to open')
  raw.connect({ token })
  await raw.waitFor((op) => op.op === 'INFO' && op.body.user !== undefined, 3000, 'admission')
  return raw
}

test('keeps a JWT subject out of the inbox of a configured token user of the same name', async () => {
  const b = track(await startBroker({ auth: { jwt: { secret }, tokens: [{ token: 'svc-token-0123', user: 'svc', permissions }] } }))
  const svc = track(await within(5000, connect(b.url, { token: 'svc-token-0123', reconnect: false }), 'svc'))
  const inbox = await new Promise<string>((resolve) => {
    svc.subscribe('app.echo', { callback: (_e, m) => { if (m?.reply) resolve(m.reply) } })
    void svc.flush().then(() => svc.request('app.echo', 1, { timeout: 500 }).catch(() => {}))
  })
  const id = inbox.split('.')[1]
  const intruder = await rawWith(b, await sign('svc'))
  rawSub(intruder, 1, `_INBOX.${id}.>`)
  await rawFlush(intruder)
  assert.equal(errsFor(intruder, 1).map((e) => e.code), ['permission'])
})

test('lets no two nameless identities share an inbox', async () => {
  const b = track(await startBroker({ auth: { jwt: { secret } } }))
  const first = await rawWith(b, await sign(null))
  rawSub(first, 1, '_INBOX.nameless0123456789abc.>')
  await rawFlush(first)
  assert.equal(errsFor(first, 1), [])
  const second = await rawWith(b, await sign(null))
  rawSub(second, 1, '_INBOX.nameless0123456789abc.>')
  await rawFlush(second)
  assert.equal(errsFor(second, 1).map((e) => e.code), ['permission'])
})

test.run()
