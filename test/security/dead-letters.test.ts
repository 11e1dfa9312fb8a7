/**
 * Dead letters (issue 17 §1): `$DLQ.<topic>` is reserved (only a permission naming `$DLQ` admits it), and a
 * dead-lettered copy is readable only by those who could read the subject it was first published on
 * (`Sw-Dlq-Subject`): live, by replay, and through an acked work queue on the dead-letter topic.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client, Msg } from '../../client/index.ts'
import type { Broker } from '../../server/index.ts'
import { cleanupAfterEach, sleep, take, until, within } from '../helpers.ts'
import { brokerFor, clientAs, stopCanary } from './users.ts'
import type { Canary } from '../hostile/canary.ts'

const track = cleanupAfterEach(test)

/** The dead-letter reader: may read `$DLQ` and the jobs, except the secret ones. */
const READER = { subscribe: { allow: ['$DLQ.>', 'jobs.>'], deny: ['jobs.secret.>'] } }

/** A broker with a `jobs` topic (maxDeliver 1 for its workers) and a `dlq` topic over `$DLQ.>`. */
async function setup(): Promise<{ broker: Broker; canary: Canary; admin: Client }> {
  const { broker, canary } = await brokerFor({
    reader: READER,
    mallory: { subscribe: { deny: ['jobs.secret.>'] } },
  }, { topics: [{ name: 'jobs', subjects: ['jobs.>'] }, { name: 'dlq', subjects: ['$DLQ.>'] }] })
  track(broker)
  return { broker, canary, admin: track(await clientAs(broker, 'admin')) }
}

/** Dead-letters one secret and one public job: the admin's worker refuses each once (maxDeliver 1). */
async function deadLetterTwo(admin: Client, broker: Broker): Promise<void> {
  admin.subscribe('jobs.>', { queue: 'workers', ack: true, maxDeliver: 1, callback: (_e, m) => m?.nak() })
  await within(3000, admin.flush(), 'flush')
  await within(3000, admin.publishAck('jobs.secret.payroll', 'salaries'), 'the secret job')
  await within(3000, admin.publishAck('jobs.public.report', 'weather'), 'the public job')
  await until(3000, () => broker.topics.info('dlq').messages === 2, 'both jobs dead-lettered')
}

test('refuses $DLQ to a deny-only user: dead letters are reserved', async () => {
  const { broker, canary } = await setup()
  const mallory = track(await clientAs(broker, 'mallory'))
  const live = mallory.subscribe('$DLQ.>')
  assert.is((await within(2000, live.closed, 'the refusal'))?.code, 'permission')
  const replay = mallory.subscribe('$DLQ.>', { deliver: 'all' })
  assert.is((await within(2000, replay.closed, 'the refusal'))?.code, 'permission')
  await stopCanary(canary, 'after the refusals')
})

test('delivers a live dead letter only to readers of its original subject', async () => {
  const { broker, canary, admin } = await setup()
  const reader = track(await clientAs(broker, 'reader'))
  const got: Msg[] = []
  reader.subscribe('$DLQ.>', { callback: (_e, m) => { if (m !== null) got.push(m) } })
  const adminCopy = admin.subscribe('$DLQ.jobs')
  await within(3000, reader.flush(), 'flush')
  await deadLetterTwo(admin, broker)
  await take(adminCopy, 2) // both went out
  await within(3000, reader.flush(), 'flush')
  assert.equal(got.map((m) => m.headers?.['Sw-Dlq-Subject']), ['jobs.public.report'])
  assert.equal(got.map((m) => m.data), ['weather'])
  await stopCanary(canary, 'after live dead letters')
})

test('replays the dead-letter topic with only the copies whose original the reader may read', async () => {
  const { broker, canary, admin } = await setup()
  await deadLetterTwo(admin, broker)
  const reader = track(await clientAs(broker, 'reader'))
  const replay = reader.subscribe('$DLQ.>', { deliver: 'all' })
  const [first] = await take(replay, 1)
  assert.is(first.headers?.['Sw-Dlq-Subject'], 'jobs.public.report')
  await within(3000, reader.flush(), 'flush')
  await sleep(50)
  assert.is(replay.isClosed, false)
  // The secret copy is seq 1: had it been delivered, it would have come first.
  assert.is(first.seq, 2)
  await stopCanary(canary, 'after the replay')
})

test('hands an acked work queue on the dead-letter topic only the copies its members may read', async () => {
  const { broker, canary, admin } = await setup()
  await deadLetterTwo(admin, broker)
  const reader = track(await clientAs(broker, 'reader'))
  const handled: Msg[] = []
  reader.subscribe('$DLQ.>', { queue: 'ops', ack: true, ackWaitMs: 200, callback: (_e, m) => { if (m !== null) { handled.push(m); m.ack() } } })
  await until(3000, () => handled.length === 1, 'the public copy')
  await sleep(400) // past an ack wait: a redelivery of the secret copy would show now
  assert.equal(handled.map((m) => m.headers?.['Sw-Dlq-Subject']), ['jobs.public.report'])
  const group = broker.topics.info('dlq').consumers.find((g) => g.name === 'ops')
  assert.is(group?.inFlight, 0, 'the copy nobody in the group may read is settled for the group, not held')
  assert.is(group?.acked, 1)
  await stopCanary(canary, 'after the work queue')
})

test('hands a copy one member of a work queue may not read to a member that may', async () => {
  const { broker, canary, admin } = await setup()
  const handled: Array<[string, string | undefined]> = []
  const worker = (who: string) => ({ queue: 'ops', ack: true as const, ackWaitMs: 100, callback: (_e: unknown, m: Msg | null) => { if (m !== null) { handled.push([who, m.headers?.['Sw-Dlq-Subject']]); m.ack() } } })
  const reader = track(await clientAs(broker, 'reader'))
  reader.subscribe('$DLQ.>', worker('reader'))
  await within(3000, reader.flush(), 'flush')
  const ops = track(await clientAs(broker, 'admin'))
  ops.subscribe('$DLQ.>', worker('admin'))
  await within(3000, ops.flush(), 'flush')
  await deadLetterTwo(admin, broker)
  await until(3000, () => handled.length === 2, 'both copies handled')
  assert.ok(handled.some(([who, original]) => who === 'admin' && original === 'jobs.secret.payroll'), JSON.stringify(handled))
  assert.not.ok(handled.some(([who, original]) => who === 'reader' && original === 'jobs.secret.payroll'), JSON.stringify(handled))
  await stopCanary(canary, 'after the mixed work queue')
})

test('keeps the first original subject when a dead letter is dead-lettered again', async () => {
  const { broker, canary, admin } = await setup()
  await deadLetterTwo(admin, broker)
  // An admin worker on the dead-letter topic fails them too: they go to $DLQ.dlq, still the jobs' copies.
  admin.subscribe('$DLQ.jobs', { queue: 'retry', ack: true, maxDeliver: 1, callback: (_e, m) => m?.nak() })
  await until(3000, () => broker.topics.info('dlq').messages === 4, 'both dead-lettered again')
  const reader = track(await clientAs(broker, 'reader'))
  const got: Msg[] = []
  reader.subscribe('$DLQ.dlq', { deliver: 'all', callback: (_e, m) => { if (m !== null) got.push(m) } })
  await until(3000, () => got.length > 0, 'the copy of a copy')
  await within(3000, reader.flush(), 'flush')
  await sleep(50)
  assert.equal(got.map((m) => [m.subject, m.headers?.['Sw-Dlq-Subject']]), [['$DLQ.dlq', 'jobs.public.report']])
  await stopCanary(canary, 'after the second dead-lettering')
})

test.run()
