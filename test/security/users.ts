/**
 * Brokers with named restricted users and one unrestricted admin, each on its own token, and raw clients that
 * log in as them: the permission suites (reserved subjects, dead letters, inboxes, reply subjects) share these.
 */
import * as assert from 'uvu/assert'
import { connect, type Client, type ConnectOptions } from '../../client/index.ts'
import type { Broker, BrokerOptions, Permissions } from '../../server/index.ts'
import { PING_BYTES, writePub, writeSub } from '../../shared/op-writer.ts'
import { ENCODING } from '../../shared/protocol.ts'
import { RawClient, startBroker, until, within, type RawOp } from '../helpers.ts'
import { Canary } from '../hostile/canary.ts'

/** The admin's token: no `permissions`, so unrestricted. */
export const ADMIN_TOKEN = 'admin-token-0123'

/** The token of a user made by `brokerFor`. */
export function tokenOf(user: string): string {
  return `${user}-token-0123`
}

/** A broker where every key of `users` is a user with those permissions (plus `admin`), and a canary beside them. */
export async function brokerFor(users: Record<string, Permissions>, options: BrokerOptions = {}): Promise<{ broker: Broker; canary: Canary }> {
  const tokens = [{ token: ADMIN_TOKEN, user: 'admin' }, ...Object.entries(users).map(([user, permissions]) => ({ token: tokenOf(user), user, permissions }))]
  const broker = await startBroker({ ...options, auth: { tokens } })
  return { broker, canary: await Canary.start(broker.url, ADMIN_TOKEN) }
}

/** An SDK client logged in as `user` (`admin` for the unrestricted one). */
export function clientAs(broker: Broker, user: string, options: ConnectOptions = {}): Promise<Client> {
  return within(5000, connect(broker.url, { reconnect: false, token: user === 'admin' ? ADMIN_TOKEN : tokenOf(user), ...options }), `${user} to connect`)
}

/** A raw client logged in as `user`, after its INFO naming the user. */
export async function rawAs(broker: Broker, user: string): Promise<RawClient> {
  const raw = new RawClient(broker.url)
  await within(5000, raw.opened, 'the raw socket to open')
  raw.connect({ token: user === 'admin' ? ADMIN_TOKEN : tokenOf(user) })
  await raw.waitFor((op) => op.op === 'INFO' && op.body.user === user, 3000, `${user} to be admitted`)
  return raw
}

/** SUB on a raw client. */
export function rawSub(raw: RawClient, sid: number, subject: string, queue: string | null = null, options: object | null = null): void {
  raw.sendOps((w) => writeSub(w, sid, subject, queue, options))
}

/** PUB on a raw client, with any flags and reply subject. */
export function rawPub(raw: RawClient, flags: number, subject: string, reply: string | null, payload = Uint8Array.of(0xc0)): void {
  raw.sendOps((w) => writePub(w, flags, subject, reply, null, ENCODING.msgpack, payload))
}

/** A PING/PONG round trip: everything sent before it has been processed when it resolves. */
export async function rawFlush(raw: RawClient): Promise<void> {
  const before = raw.ops.filter((op) => op.op === 'PONG').length
  raw.send(PING_BYTES)
  await until(3000, () => raw.ops.filter((op) => op.op === 'PONG').length > before, 'a PONG')
}

/** The ERRs a raw client got with `ref`. */
export function errsFor(raw: RawClient, ref: string | number): Array<RawOp & { op: 'ERR' }> {
  return raw.ops.filter((op): op is RawOp & { op: 'ERR' } => op.op === 'ERR' && op.ref === ref)
}

/** The MSGs a raw client got on `sid`. */
export function msgsOn(raw: RawClient, sid: number): Array<RawOp & { op: 'MSG' }> {
  return raw.ops.filter((op): op is RawOp & { op: 'MSG' } => op.op === 'MSG' && op.sid === sid)
}

/** Stops the canary after a test and asserts its every message came back (the attack disturbed nobody). */
export async function stopCanary(canary: Canary, when: string): Promise<void> {
  await until(2000, () => canary.sent > 2, 'the canary to publish') // a fast test may end before its first tick
  const started = Date.now()
  await within(5000, canary.client.flush(), 'the canary round trip')
  const roundTrip = Date.now() - started
  await canary.stop(when)
  assert.ok(roundTrip < 250, `canary round trip ${roundTrip} ms ${when}`)
}
