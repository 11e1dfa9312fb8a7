/**
 * Contract: acked consumer groups (work queues): backlog, round-robin within maxInFlight, ack, nak, working,
 * term, ack timeouts, backoff, dead-lettering, members leaving, filters and losses.
 */
import * as assert from 'uvu/assert'
import type { GroupConfig, GroupDelivery, TopicStore } from '../../../server/store/topic-store.ts'
import { failure, publish, topic, type Contract } from './harness.ts'
import { MAX_TIMER_MS } from '../../../server/store/topic-config.ts'

/** A topic `t` over `t.>` with group `g` opened with `config`. */
async function workQueue(store: TopicStore, config: GroupConfig = {}, limits = {}): Promise<void> {
  await topic(store, 't', limits)
  await store.openGroup('t', 'g', config)
}

const pull = async (store: TopicStore): Promise<readonly GroupDelivery[]> => (await store.pull('t', 'g')).deliveries

const summary = (ds: readonly GroupDelivery[]): string[] => ds.map((d) => `${d.member}:${d.message.seq}#${d.deliveryCount}`)

export function groupsContract(c: Contract): void {
  const s = c.suite('consumer groups')

  s('delivers the backlog stored before the group existed once its first member joins', async () => {
    const { store } = await c.open()
    await topic(store, 't')
    await publish(store, 't', 't.job', 3)
    await store.openGroup('t', 'g')
    assert.equal(await pull(store), [], 'nobody to deliver to yet')
    await publish(store, 't', 't.job', 2)
    await store.join('t', 'g', 'w1')
    assert.equal(summary(await pull(store)), ['w1:1#1', 'w1:2#1', 'w1:3#1', 'w1:4#1', 'w1:5#1'])
  })

  s('hands each message to one member, round-robin, never more than maxInFlight each', async () => {
    const { store } = await c.open()
    await workQueue(store, { maxInFlight: 2 })
    await store.join('t', 'g', 'w1')
    await store.join('t', 'g', 'w2')
    await publish(store, 't', 't.job', 6)
    assert.equal(summary(await pull(store)), ['w1:1#1', 'w2:2#1', 'w1:3#1', 'w2:4#1'])
    assert.equal(await pull(store), [], 'both members are full')
    assert.is(await store.ack('t', 'g', 1), true)
    assert.equal(summary(await pull(store)), ['w1:5#1'])
    const info = await store.groupInfo('t', 'g')
    assert.is(info.inFlight, 4)
    assert.is(info.members, 2)
  })

  s('settles a message on ack; a second ack is a no-op answering false', async () => {
    const { store } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 3)
    await pull(store)
    assert.is(await store.ack('t', 'g', 2, 'w1'), true)
    assert.is(await store.ack('t', 'g', 2, 'w1'), false)
    assert.is((await store.groupInfo('t', 'g')).ackFloor, 0, 'seq 1 is still pending')
    await store.ack('t', 'g', 1)
    const info = await store.groupInfo('t', 'g')
    assert.is(info.ackFloor, 2)
    assert.is(info.acked, 2)
    assert.is(await store.ack('t', 'g', 99), false)
  })

  c.clockTest(s, 'redelivers a message whose ack deadline passed, counting the attempt', async () => {
    const { store, clock } = await c.open()
    await workQueue(store, { ackWaitMs: 1000 })
    await store.join('t', 'g', 'w1')
    await store.join('t', 'g', 'w2')
    await publish(store, 't', 't.job')
    const [first] = await pull(store)
    assert.is(first.deadline, clock.t + 1000)
    assert.is(await store.nextDeadline('t', 'g'), clock.t + 1000)
    clock.advance(999)
    assert.equal(await pull(store), [])
    clock.advance(1)
    assert.equal(summary(await pull(store)), ['w2:1#2'])
  })

  c.clockTest(s, 'takes a late ack after the deadline as done: the message is not redelivered', async () => {
    const { store, clock } = await c.open()
    await workQueue(store, { ackWaitMs: 100, backoffMs: [1000] })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job')
    await pull(store)
    clock.advance(100)
    assert.equal(await pull(store), [], 'timed out, waiting out its backoff')
    assert.is(await store.ack('t', 'g', 1, 'w1'), true)
    clock.advance(1000)
    assert.equal(await pull(store), [])
    assert.is(await store.nextDeadline('t', 'g'), null)
    assert.is((await store.groupInfo('t', 'g')).ackFloor, 1)
  })

  s('settles a message only for the member it was delivered to, when a member is named', async () => {
    const { store } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await store.join('t', 'g', 'w2')
    await publish(store, 't', 't.job', 2)
    const held = await pull(store)
    const mine = held.find((d) => d.member === 'w1')
    assert.ok(mine !== undefined, 'w1 holds one')
    assert.is(await store.ack('t', 'g', mine.message.seq, 'w2'), false, 'w2 may not ack what w1 holds')
    assert.is(await store.term('t', 'g', mine.message.seq, 'w2'), false, 'nor term it')
    assert.is((await store.groupInfo('t', 'g')).inFlight, 2)
    assert.is(await store.ack('t', 'g', mine.message.seq, 'w1'), true)
  })

  c.clockTest(s, 'working() moves the deadline to now + ackWaitMs', async () => {
    const { store, clock } = await c.open()
    await workQueue(store, { ackWaitMs: 1000 })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job')
    await pull(store)
    clock.advance(800)
    assert.is(await store.working('t', 'g', 1, 'w1'), true)
    assert.is(await store.nextDeadline('t', 'g'), clock.t + 1000)
    clock.advance(999)
    assert.equal(await pull(store), [])
    clock.advance(1)
    assert.equal(summary(await pull(store)), ['w1:1#2'])
  })

  s('redelivers a nak without a delay at once', async () => {
    const { store } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job')
    await pull(store)
    assert.is(await store.nak('t', 'g', 1, 'w1'), true)
    assert.equal(summary(await pull(store)), ['w1:1#2'])
  })

  c.clockTest(s, 'redelivers a nak with delayMs no sooner than the delay', async () => {
    const { store, clock } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 2)
    await pull(store)
    await store.nak('t', 'g', 1, 'w1', 500)
    assert.is(await store.nextDeadline('t', 'g'), clock.t + 500)
    clock.advance(499)
    assert.equal(await pull(store), [])
    clock.advance(1)
    assert.equal(summary(await pull(store)), ['w1:1#2'])
  })

  c.clockTest(s, 'waits the backoff list between attempts, repeating its last entry', async () => {
    const { store, clock } = await c.open()
    await workQueue(store, { ackWaitMs: 100, backoffMs: [10, 50] })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job')
    await pull(store)
    const waits: number[] = []
    for (let attempt = 1; attempt <= 3; attempt++) {
      clock.advance(100) // the attempt times out
      const start = clock.t
      assert.equal(await pull(store), [])
      const due = await store.nextDeadline('t', 'g')
      assert.ok(due !== null)
      waits.push(due - start)
      clock.t = due
      assert.equal(summary(await pull(store)), [`w1:1#${attempt + 1}`])
    }
    assert.equal(waits, [10, 50, 50])
  })

  s('dead-letters a message after maxDeliver failed attempts, with the attempt count', async () => {
    const { store } = await c.open()
    await workQueue(store, { maxDeliver: 3 })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 2)
    await pull(store)
    await store.ack('t', 'g', 2)
    for (let attempt = 1; attempt < 3; attempt++) {
      await store.nak('t', 'g', 1, 'w1')
      assert.equal(summary(await pull(store)), [`w1:1#${attempt + 1}`])
    }
    await store.nak('t', 'g', 1, 'w1')
    const result = await store.pull('t', 'g')
    assert.equal(result.deliveries, [])
    assert.is(result.deadLetters.length, 1)
    assert.is(result.deadLetters[0].message.seq, 1)
    assert.is(result.deadLetters[0].deliveryCount, 3)
    assert.is(result.deadLetters[0].reason, 'max_deliver')
    const info = await store.groupInfo('t', 'g')
    assert.is(info.deadLettered, 1)
    assert.is(info.ackFloor, 2)
    assert.is(await store.ack('t', 'g', 1), false, 'a dead letter is settled')
  })

  s('term() settles a message: never redelivered, never dead-lettered', async () => {
    const { store } = await c.open()
    await workQueue(store, { maxDeliver: 1 })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job')
    await pull(store)
    assert.is(await store.term('t', 'g', 1), true)
    assert.is(await store.term('t', 'g', 1), false)
    const result = await store.pull('t', 'g')
    assert.equal(result.deliveries, [])
    assert.equal(result.deadLetters, [])
    assert.is((await store.groupInfo('t', 'g')).terminated, 1)
  })

  s("redelivers at once only a departed member's messages, to the members left", async () => {
    const { store } = await c.open()
    await workQueue(store, { maxInFlight: 2 })
    for (const w of ['w1', 'w2', 'w3']) await store.join('t', 'g', w)
    await publish(store, 't', 't.job', 6)
    assert.equal(summary(await pull(store)), ['w1:1#1', 'w2:2#1', 'w3:3#1', 'w1:4#1', 'w2:5#1', 'w3:6#1'])
    await store.ack('t', 'g', 1)
    await store.ack('t', 'g', 3)
    await store.leave('t', 'g', 'w2')
    const again = summary(await pull(store))
    assert.equal(again.map((d) => d.split(':')[1]).sort(), ['2#2', '5#2'])
    assert.ok(again.every((d) => !d.startsWith('w2:')))
  })

  s('keeps progress when every member leaves: messages wait and nothing settled comes back', async () => {
    const { store } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 3)
    await pull(store)
    await store.ack('t', 'g', 1)
    await store.ack('t', 'g', 2)
    await store.leave('t', 'g', 'w1')
    await publish(store, 't', 't.job', 2)
    assert.equal(await pull(store), [], 'no member: messages wait')
    assert.is((await store.groupInfo('t', 'g')).members, 0)
    await store.join('t', 'g', 'w9')
    assert.equal(summary(await pull(store)), ['w9:3#2', 'w9:4#1', 'w9:5#1'])
  })

  s('a member that does not hold a message cannot nak it or extend it', async () => {
    const { store } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await store.join('t', 'g', 'w2')
    await publish(store, 't', 't.job')
    await pull(store)
    assert.is(await store.nak('t', 'g', 1, 'w2'), false)
    assert.is(await store.working('t', 'g', 1, 'w2'), false)
    assert.is(await store.nak('t', 'g', 7, 'w1'), false)
    assert.is(await failure(() => store.nak('t', 'g', 1, 'w1', -1)), 'bad_option')
  })

  s('consumes only the subjects its filter matches, and settles the others silently', async () => {
    const { store } = await c.open()
    await topic(store, 't')
    await store.openGroup('t', 'g', { filter: 't.eu.*' })
    await store.join('t', 'g', 'w1')
    for (const subject of ['t.eu.1', 't.us.1', 't.eu.2', 't.us.2']) await publish(store, 't', subject)
    const ds = await pull(store)
    assert.equal(ds.map((d) => d.message.subject), ['t.eu.1', 't.eu.2'])
    for (const d of ds) await store.ack('t', 'g', d.message.seq)
    assert.is((await store.groupInfo('t', 'g')).ackFloor, 4)
  })

  s('reopening keeps progress and takes new settings, but not a new filter', async () => {
    const { store } = await c.open()
    await workQueue(store, { maxInFlight: 1 })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 3)
    assert.is((await pull(store)).length, 1)
    const info = await store.openGroup('t', 'g', { maxInFlight: 5 })
    assert.is(info.config.maxInFlight, 5)
    assert.is(info.nextSeq, 2)
    assert.is((await pull(store)).length, 2)
    assert.is(await failure(() => store.openGroup('t', 'g', { filter: 't.other' })), 'bad_group_config')
  })

  s('reopening with no settings, or only some, keeps the settings it does not name', async () => {
    const { store } = await c.open()
    await workQueue(store, { maxInFlight: 3, maxDeliver: 2, ackWaitMs: 5000, backoffMs: [10, 20] })
    let info = await store.openGroup('t', 'g', { filter: '>' })
    assert.equal([info.config.maxInFlight, info.config.maxDeliver, info.config.ackWaitMs, info.config.backoffMs], [3, 2, 5000, [10, 20]])
    info = await store.openGroup('t', 'g', { maxDeliver: 7 })
    assert.equal([info.config.maxInFlight, info.config.maxDeliver, info.config.ackWaitMs], [3, 7, 5000])
  })

  s('refuses malformed group settings as bad_group_config and unknown groups as no_group', async () => {
    const { store } = await c.open()
    await topic(store, 't')
    const bad: GroupConfig[] = [{ ackWaitMs: 0 }, { maxDeliver: -1 }, { maxInFlight: 1.5 }, { backoffMs: [-1] }, { filter: 'a..b' }]
    for (const config of bad) assert.is(await failure(() => store.openGroup('t', 'g', config)), 'bad_group_config', JSON.stringify(config))
    assert.is(await failure(() => store.openGroup('t', '')), 'bad_group_config')
    assert.is(await failure(() => store.openGroup('t', 'a b')), 'bad_group_config')
    assert.is(await failure(() => store.pull('t', 'nope')), 'no_group')
    assert.is(await failure(() => store.join('t', 'nope', 'w')), 'no_group')
    await store.openGroup('t', 'g')
    await store.deleteGroup('t', 'g')
    assert.is(await failure(() => store.groupInfo('t', 'g')), 'no_group')
  })

  s('refuses an ackWaitMs or a backoffMs entry past 2^31-1 ms (the longest timer) as bad_group_config, and takes one at it', async () => {
    const { store } = await c.open()
    await topic(store, 't')
    const bad: GroupConfig[] = [{ ackWaitMs: MAX_TIMER_MS + 1 }, { ackWaitMs: Number.MAX_SAFE_INTEGER }, { backoffMs: [10, MAX_TIMER_MS + 1] }, { backoffMs: [Number.MAX_SAFE_INTEGER] }]
    for (const config of bad) assert.is(await failure(() => store.openGroup('t', 'g', config)), 'bad_group_config', JSON.stringify(config))
    const info = await store.openGroup('t', 'g', { ackWaitMs: MAX_TIMER_MS, backoffMs: [MAX_TIMER_MS] })
    assert.is(info.config.ackWaitMs, MAX_TIMER_MS)
  })

  c.clockTest(s, 'puts the deadline of an ackWaitMs of 2^31-1 exactly that far ahead', async () => {
    const { store, clock } = await c.open()
    await workQueue(store, { ackWaitMs: MAX_TIMER_MS })
    await store.join('t', 'g', 'w')
    await publish(store, 't', 't.job')
    const [d] = await pull(store)
    assert.is(d.deadline, clock.t + MAX_TIMER_MS)
    assert.is(await store.nextDeadline('t', 'g'), clock.t + MAX_TIMER_MS)
  })

  s('shows its groups in the topic info', async () => {
    const { store } = await c.open()
    await workQueue(store)
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 2)
    await pull(store)
    const [g] = (await store.info('t')).consumers
    assert.is(g.name, 'g')
    assert.is(g.inFlight, 2)
    assert.is(g.members, 1)
  })

  s('reports messages evicted before the group saw them as a gap', async () => {
    const { store } = await c.open()
    await workQueue(store, {}, { maxMsgs: 2 })
    await publish(store, 't', 't.job', 5)
    await store.join('t', 'g', 'w1')
    const result = await store.pull('t', 'g')
    assert.equal(result.gap, { fromSeq: 1, toSeq: 3 })
    assert.equal(summary(result.deliveries), ['w1:4#1', 'w1:5#1'])
  })

  c.clockTest(s, 'never redelivers a message that aged out of the topic, and reports it dropped', async () => {
    const { store, clock } = await c.open()
    await workQueue(store, { ackWaitMs: 100 }, { maxAgeMs: 50 })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job')
    await pull(store)
    clock.advance(100)
    const result = await store.pull('t', 'g')
    assert.equal(result.deliveries, [])
    assert.equal(result.dropped, [1])
    assert.is((await store.groupInfo('t', 'g')).ackFloor, 1)
  })

  s('drops a pending message evicted before it was acked, and reports it', async () => {
    const { store } = await c.open()
    await workQueue(store, {}, { maxMsgs: 2 })
    await store.join('t', 'g', 'w1')
    await publish(store, 't', 't.job', 2)
    await pull(store)
    await store.nak('t', 'g', 1, 'w1')
    await publish(store, 't', 't.job', 1)
    const result = await store.pull('t', 'g')
    assert.equal(result.dropped, [1])
    assert.equal(summary(result.deliveries), ['w1:3#1'])
    const info = await store.groupInfo('t', 'g')
    assert.is(info.inFlight, 2)
    assert.is(info.redeliveries, 0)
    assert.is(info.ackFloor, 1)
  })
}
