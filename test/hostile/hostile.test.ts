/**
 * The hostile-input table (issue 4, "The hostile test suite"): every row is one hostile input and its
 * documented outcome: an ERR with the connection staying up, a close code, or a refused handshake.
 *
 * Around every row: a canary client (the real SDK) publishes a sequence number every few milliseconds on the
 * row's broker and must get every one back, in order; after the row a fresh client must still connect and
 * get a PONG, and `Object.prototype` must be untouched. Rows are in cases.ts (single frames) and scenarios.ts
 * (floods, slow readers, slowloris, zip bomb, auth).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Broker, BrokerOptions } from '../../server/index.ts'
import { isErrorCode } from '../../shared/errors.ts'
import { PING_BYTES } from '../../shared/op-writer.ts'
import { OP, SUBPROTOCOL } from '../../shared/protocol.ts'
import { cleanupAfterEach, RawClient, sleep, startBroker, until, within, type RawOp } from '../helpers.ts'
import { Canary } from './canary.ts'
import { FRAME_ROWS } from './cases.ts'
import { SCENARIO_ROWS } from './scenarios.ts'
import { BROKERS, handshake, pong, profileName, profileToken, speaksJson, type Row, type RowContext } from './row.ts'
import type { Probe } from './wire.ts'

const track = cleanupAfterEach(test)
const ROWS: Row[] = [...FRAME_ROWS, ...SCENARIO_ROWS]

interface Env {
  readonly name: string
  readonly broker: Broker
  readonly canary: Canary
  readonly token: string | undefined
}

/** One broker (and canary) per distinct options object, started when a row first needs it. */
const envs = new Map<BrokerOptions, Promise<Env>>()

function envFor(options: BrokerOptions): Promise<Env> {
  let env = envs.get(options)
  if (env === undefined) {
    env = (async () => {
      const broker = await startBroker(options)
      const token = profileToken(options)
      return { name: profileName(options), broker, canary: await Canary.start(broker.url, token), token }
    })()
    envs.set(options, env)
  }
  return env
}

const isInfo = (op: RawOp): boolean => op.op === 'INFO'
const isPong = (op: RawOp): boolean => op.op === 'PONG'
type HandshakeRefusal = { status?: number; headers?: Record<string, string>; message?: string } | null

/** The handshake's outcome: null when the socket opened, else the refusal. */
function handshakeOutcome(raw: RawClient): Promise<HandshakeRefusal> {
  return within(5000, raw.opened.then(() => null, (err: unknown) => err as NonNullable<HandshakeRefusal>), 'the handshake to finish')
}

/** Opens a raw client and CONNECTs it (with the broker's token, if any). */
async function openConnected(env: Env, subprotocol: string | string[] = SUBPROTOCOL.msgpack): Promise<RawClient> {
  const raw = track(new RawClient(env.broker.url, subprotocol))
  await within(3000, raw.opened, 'the handshake')
  await raw.waitFor(isInfo, 3000, 'INFO')
  await handshake(raw, env.token)
  return raw
}

/** A fresh client still connects and gets a PONG (retrying while a connect-rate limit refills). */
async function assertBrokerServes(env: Env): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const raw = track(new RawClient(env.broker.url))
    const refusal = await handshakeOutcome(raw)
    if (refusal === null) {
      await raw.waitFor(isInfo, 3000, 'INFO')
      await handshake(raw, env.token)
      raw.close()
      return
    }
    if (refusal.status !== 503 || attempt === 10) throw new Error(`a fresh client was refused: ${refusal.status ?? refusal.message}`)
    await sleep(200)
  }
}

/** What a socket saw, for failure messages. */
function observed(probe: Probe): string {
  const ops = probe.ops.map((op) => (op.op === 'ERR' ? `ERR ${op.code}` : op.op === 'OTHER' ? op.name : op.op))
  return `observed close ${probe.closeCode ?? 'none'}, ops [${ops.join(', ')}]`
}

/** Checks a row's expectation on the socket it is about. */
async function checkExpectation(row: Row, raw: RawClient, probe: Probe): Promise<void> {
  const { expect } = row
  try {
    if (expect.err !== undefined) {
      const isExpected = (op: RawOp): boolean => op.op === 'ERR' && op.code === expect.err
      // On a CONNECTed socket a PING is a barrier: once its PONG is back, an ERR for the input would be too.
      // Not when a close is expected: the ERR comes before the close, and the input's own PONGs (a frame of
      // PINGs) may arrive in several frames ahead of the ERR and pass for the barrier's.
      const pongs = probe.ops.filter(isPong).length
      const barrier = expect.close === undefined && row.connected !== false && probe === raw && raw.closeCode === null
      if (barrier) raw.send(speaksJson(raw) ? `[${OP.PING}]` : PING_BYTES)
      const settled = (): boolean => probe.ops.some(isExpected) || probe.closeCode !== null || (barrier && probe.ops.filter(isPong).length > pongs)
      await until(5000, settled, `ERR ${expect.err}`).catch(() => undefined)
      const err = probe.ops.find(isExpected) as Extract<RawOp, { op: 'ERR' }> | undefined
      assert.ok(err !== undefined, `expected ERR ${expect.err}`)
      if (expect.ref !== undefined) assert.is(err.ref, expect.ref, 'ERR ref')
    }
    if (expect.close !== undefined) {
      const code = await probe.waitClose(5000).catch(() => null)
      assert.is(code, expect.close, 'close code')
    }
    if (expect.stays === true) {
      await pong(raw)
      assert.is(raw.closeCode, null, 'still open')
      if (expect.err === undefined) assert.equal(raw.ops.filter((op) => op.op === 'ERR'), [], 'no ERR')
    }
    for (const op of probe.ops) if (op.op === 'ERR') assert.ok(isErrorCode(op.code), `ERR code ${op.code} is a documented code`)
  } catch (err) {
    throw Object.assign(err as Error, { message: `${(err as Error).message} (${observed(probe)})` })
  }
}

/** A connect flood: `row.flood` handshakes at once; some are refused with `expect.refused`, the rest work. */
async function runFlood(row: Row, env: Env): Promise<void> {
  const clients = Array.from({ length: row.flood ?? 0 }, () => track(new RawClient(env.broker.url)))
  const outcomes = await within(10_000, Promise.all(clients.map(handshakeOutcome)), 'the flood of handshakes')
  const refused = outcomes.filter((o): o is NonNullable<HandshakeRefusal> => o !== null)
  const admitted = clients.filter((_, i) => outcomes[i] === null)
  assert.ok(refused.length >= 1, `${refused.length} of ${clients.length} refused`)
  for (const r of refused) {
    assert.is(r.status, row.expect.refused, `refusal ${r.message ?? ''}`)
    assert.ok(Number(r.headers?.['retry-after']) >= 1, 'Retry-After of at least 1 second')
    assert.is(r.headers?.['x-subwire-error'], 'limit')
  }
  assert.ok(admitted.length >= 1, 'some handshakes were admitted')
  await admitted[0].waitFor(isInfo, 3000, 'INFO')
  await handshake(admitted[0], env.token)
}

async function runRow(row: Row, env: Env, ctx: RowContext): Promise<void> {
  if (row.flood !== undefined) return runFlood(row, env)
  const raw = track(new RawClient(env.broker.url, row.subprotocol ?? SUBPROTOCOL.msgpack))
  if (row.expect.refused !== undefined) {
    const refusal = await handshakeOutcome(raw)
    assert.is(refusal?.status, row.expect.refused, 'handshake refused with')
    return
  }
  await within(3000, raw.opened, 'the handshake')
  await raw.waitFor(isInfo, 3000, 'INFO')
  if (row.connected !== false) await handshake(raw, env.token)
  const probe = await within(30_000, Promise.resolve(row.send(raw, ctx)), 'the row to send its input')
  await checkExpectation(row, raw, probe ?? raw)
}

for (const row of ROWS) {
  test(row.name, async () => {
    const env = await within(10_000, envFor(row.brokerOptions ?? BROKERS.shared), 'the broker and its canary')
    const ctx: RowContext = {
      broker: env.broker,
      canary: env.canary,
      track,
      open: (subprotocol) => openConnected(env, subprotocol),
    }
    await runRow(row, env, ctx)
    assert.is(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted')
    await assertBrokerServes(env)
    await env.canary.check(`on the ${env.name} broker after this row`)
  })
}

test('has at least 40 rows, every one with an expected outcome', () => {
  assert.ok(ROWS.length >= 40, `${ROWS.length} rows`)
  for (const row of ROWS) assert.ok(Object.keys(row.expect).length > 0, row.name)
  assert.is(new Set(ROWS.map((r) => r.name)).size, ROWS.length, 'row names are unique')
})

test('every canary received every number it published, in order, on every broker', async () => {
  for (const env of await within(10_000, Promise.all(envs.values()), 'every broker')) await env.canary.stop(`on the ${env.name} broker at the end`)
})

test.after(async () => {
  for (const pending of envs.values()) {
    const env = await within(10_000, pending, 'a broker to start').catch(() => null)
    if (env === null) continue
    await within(5000, env.canary.close(), 'a canary to close').catch(() => undefined)
    await within(10_000, env.broker.close(), `the ${env.name} broker to close`)
  }
})

test.run()
