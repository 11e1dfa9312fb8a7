/**
 * An acked consumer group's settings (maxDeliver, ackWaitMs, maxInFlight, backoffMs) under permissions: a member
 * joining an existing group takes its settings; only a manager of the topic (or an unrestricted identity)
 * changes them, so a user allowed to join a work queue cannot make its messages dead-letter at the first try.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Broker } from '../../server/index.ts'
import { cleanupAfterEach, within } from '../helpers.ts'
import { brokerFor, clientAs, errsFor, rawAs, rawFlush, rawSub, stopCanary } from './users.ts'
import type { Canary } from '../hostile/canary.ts'

const track = cleanupAfterEach(test)

async function setup(): Promise<{ broker: Broker; canary: Canary }> {
  const { broker, canary } = await brokerFor({
    joiner: { subscribe: { allow: ['jobs.>'] }, publish: { allow: ['jobs.>'] } },
    manager: { subscribe: { allow: ['jobs.>'] }, publish: { allow: ['jobs.>'] }, topics: { manage: ['jobs'] } },
  }, { topics: [{ name: 'jobs', subjects: ['jobs.>'] }] })
  track(broker)
  const admin = track(await clientAs(broker, 'admin'))
  admin.subscribe('jobs.>', { queue: 'workers', ack: true, maxDeliver: 5, ackWaitMs: 20_000, callback: () => {} })
  await within(3000, admin.flush(), 'the admin to open the group')
  return { broker, canary }
}

function settings(broker: Broker): { maxDeliver: number | null; ackWaitMs: number } {
  const info = broker.topics.store.groupInfo('jobs', 'workers') as { config: { maxDeliver: number | null; ackWaitMs: number } }
  return { maxDeliver: info.config.maxDeliver, ackWaitMs: info.config.ackWaitMs }
}

test('refuses a restricted member that joins an existing group with settings of its own, and keeps the group\'s', async () => {
  const { broker, canary } = await setup()
  const raw = track(await rawAs(broker, 'joiner'))
  rawSub(raw, 1, 'jobs.>', 'workers', { ack: true, maxDeliver: 1, ackWaitMs: 1 })
  await rawFlush(raw)
  assert.equal(errsFor(raw, 1).map((e) => e.code), ['permission'])
  assert.equal(settings(broker), { maxDeliver: 5, ackWaitMs: 20_000 })
  await stopCanary(canary, 'after the join')
})

test('lets restricted members join with the settings the group already has (workers started alike)', async () => {
  const { broker, canary } = await setup()
  const raw = track(await rawAs(broker, 'joiner'))
  rawSub(raw, 1, 'jobs.>', 'workers', { ack: true, maxDeliver: 5, ackWaitMs: 20_000 })
  await rawFlush(raw)
  assert.equal(errsFor(raw, 1), [])
  assert.equal(settings(broker), { maxDeliver: 5, ackWaitMs: 20_000 })
  await stopCanary(canary, 'after the join')
})

test('lets a member join with no settings of its own, changing nothing', async () => {
  const { broker, canary } = await setup()
  const raw = track(await rawAs(broker, 'joiner'))
  rawSub(raw, 1, 'jobs.>', 'workers', { ack: true })
  await rawFlush(raw)
  assert.equal(errsFor(raw, 1), [])
  assert.equal(settings(broker), { maxDeliver: 5, ackWaitMs: 20_000 })
  await stopCanary(canary, 'after the join')
})

test('lets a manager of the topic change the settings of its group, and the first member set them', async () => {
  const { broker, canary } = await setup()
  const raw = track(await rawAs(broker, 'manager'))
  rawSub(raw, 1, 'jobs.>', 'workers', { ack: true, maxDeliver: 9 })
  rawSub(raw, 2, 'jobs.>', 'fresh', { ack: true, maxDeliver: 3 })
  await rawFlush(raw)
  assert.equal(errsFor(raw, 1), [])
  assert.equal(settings(broker), { maxDeliver: 9, ackWaitMs: 20_000 })
  const joiner = track(await rawAs(broker, 'joiner'))
  rawSub(joiner, 1, 'jobs.>', 'own', { ack: true, maxDeliver: 2 })
  await rawFlush(joiner)
  assert.equal(errsFor(joiner, 1), [], 'a new group takes its first member\'s settings')
  await stopCanary(canary, 'after the joins')
})

test.run()
