/**
 * Response allowances (allowResponses) under attack: a user who may read a subject but not publish to it must
 * not earn the right to publish there by sending itself a request that names it as the reply subject; and a
 * member of an acked group cannot settle messages handed to another member.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ACK_KIND, PUB_FLAG } from '../../shared/protocol.ts'
import { writeAck } from '../../shared/op-writer.ts'
import { cleanupAfterEach, sleep, within } from '../helpers.ts'
import { brokerFor, clientAs, errsFor, rawAs, rawFlush, rawPub, rawSub, stopCanary } from './users.ts'

const track = cleanupAfterEach(test)

test('earns no allowance to publish on a readable subject by naming it as the reply of a request to itself', async () => {
  const { broker, canary } = await brokerFor({ reader: { publish: { allow: ['chat.>'] }, subscribe: { allow: ['chat.>', 'prices.>'] } } })
  track(broker)
  const admin = track(await clientAs(broker, 'admin'))
  const forged: unknown[] = []
  admin.subscribe('prices.>', { callback: (_e, m) => { if (m !== null) forged.push(m.subject) } })
  await within(3000, admin.flush(), 'the admin to subscribe')
  const raw = track(await rawAs(broker, 'reader'))
  rawSub(raw, 1, 'chat.me')
  rawPub(raw, PUB_FLAG.request, 'chat.me', 'prices.eu')
  await rawFlush(raw)
  await sleep(20)
  rawPub(raw, 0, 'prices.eu', null)
  await rawFlush(raw)
  await within(3000, admin.flush(), 'the admin round trip')
  assert.equal(forged, [], 'nothing reached prices.eu')
  assert.equal(errsFor(raw, 'prices.eu').map((e) => e.code), ['permission'])
  await stopCanary(canary, 'after the attempt')
})

test('lets a member settle only the messages of an acked group that were delivered to it', async () => {
  const { broker, canary } = await brokerFor({ worker: { publish: { allow: ['jobs.>'] }, subscribe: { allow: ['jobs.>'] } } }, { topics: [{ name: 'jobs', subjects: ['jobs.>'] }] })
  track(broker)
  const honest = track(await clientAs(broker, 'admin'))
  const got: number[] = []
  honest.subscribe('jobs.>', { queue: 'w', ack: true, maxInFlight: 10, callback: (_e, m) => { if (m?.seq !== undefined) got.push(m.seq) } })
  await within(3000, honest.flush(), 'the honest worker to join')
  for (let i = 0; i < 3; i++) honest.publish(`jobs.${i}`, i)
  await within(3000, honest.flush(), 'the jobs to be stored')
  await sleep(50)
  assert.equal(got.length, 3, 'the honest worker holds all three')
  const raw = track(await rawAs(broker, 'worker'))
  rawSub(raw, 1, 'jobs.>', 'w', { ack: true })
  await rawFlush(raw)
  raw.sendOps((w) => { for (const seq of got) writeAck(w, 1, seq, seq === got[0] ? ACK_KIND.ack : ACK_KIND.term) })
  await rawFlush(raw)
  const info = broker.topics.store.groupInfo('jobs', 'w') as { inFlight: number; acked: number; terminated: number }
  assert.equal([info.inFlight, info.acked, info.terminated], [3, 0, 0], 'the intruder settled nothing')
  await stopCanary(canary, 'after the intrusion')
})

test.run()
