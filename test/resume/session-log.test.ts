/** The resumable session's log and loss ledger (server/edge/session-log.ts), as rows. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Delivery } from '../../server/outbound/delivery.ts'
import { SessionLog } from '../../server/edge/session-log.ts'
import { SessionRegistry, ownerKey } from '../../server/edge/session-registry.ts'
import { resolveConfig } from '../../server/options.ts'

/** 36 bytes of payload on a 4-character subject: a 46-byte MSG tail, 150 bytes each in a log (tail + 104). */
const COST = 150
const PREFIX = Uint8Array.of(1)

function delivery(n: number): Delivery {
  return new Delivery().load('a.bc', null, null, 1, Uint8Array.of(n, ...new Uint8Array(35)), null)
}

function fill(log: SessionLog, sids: number[]): void {
  sids.forEach((sid, i) => log.append(sid, PREFIX, delivery(i)))
}

function replayed(log: SessionLog, after: number): number[] {
  const out: number[] = []
  log.replay(after, (_sid, _prefix, d) => { out.push(d.payload[0]); return true })
  return out
}

test('keeps the newest within its bytes and replays what follows a count, in order', () => {
  const budget = { total: 0, maxTotal: 1 << 20 }
  const log = new SessionLog(4 * COST, budget)
  fill(log, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
  assert.is(log.count, 10)
  assert.is(log.first, 7)
  assert.is(budget.total, 4 * COST)
  assert.equal(replayed(log, 8), [8, 9])
  assert.equal(replayed(log, 0), [6, 7, 8, 9])
})

test('counts an unacknowledged eviction as lost only above what the client says it received', () => {
  for (const [received, lost] of [[0, 6], [3, 3], [6, 0], [9, 0]] as const) {
    const log = new SessionLog(4 * COST, { total: 0, maxTotal: 1 << 20 })
    fill(log, [1, 1, 2, 2, 1, 1, 1, 1, 1, 1])
    const byRun = log.loss.lostAbove(received)
    assert.is([...byRun.values()].reduce((a, b) => a + b, 0), lost, `received ${received}`)
  }
})

test('an acknowledged message is let go and never counted lost', () => {
  const budget = { total: 0, maxTotal: 1 << 20 }
  const log = new SessionLog(4 * COST, budget)
  fill(log, [1, 2, 1, 2])
  log.ack(3)
  assert.is(log.first, 4)
  assert.is(budget.total, COST)
  fill(log, [1, 1, 1, 1, 1])
  assert.equal([...log.loss.lostAbove(3)], [[2, 1], [1, 1]], 'messages 4 and 5 evicted before any ack of them')
  log.ack(100) // beyond what was written: ignored
  assert.is(log.acked, 3)
})

test('while parked, evictions are certain losses by sid; past the total budget a log makes room in itself', () => {
  const budget = { total: 0, maxTotal: 3 * COST }
  const log = new SessionLog(4 * COST, budget)
  log.parkedAt = 0
  fill(log, [1, 2, 1, 2, 1, 2])
  assert.is(budget.total, 3 * COST, 'the total bound holds before the session bound')
  assert.equal([...log.loss.certain], [[1, 2], [2, 1]])
  const other = new SessionLog(4 * COST, budget)
  other.parkedAt = 0
  other.append(7, PREFIX, delivery(0))
  assert.equal([...other.loss.certain], [[7, 1]], 'no room at all: counted, not held')
  assert.is(other.first, 2, 'numbering goes on past it')
})

test('an ended session keeps a bounded ledger', () => {
  const log = new SessionLog(COST, { total: 0, maxTotal: 1 << 20 })
  log.parkedAt = 0
  fill(log, Array.from({ length: 200 }, (_, i) => i))
  const ledger = log.end()
  assert.ok(ledger.partial)
  assert.is(ledger.lostAbove(0).size, 64)
})

test('a replay filtered for new credentials keeps its numbers unbroken, ending at the count', () => {
  const log = new SessionLog(10 * COST, { total: 0, maxTotal: 1 << 20 })
  fill(log, [1, 2, 1, 2, 1])
  log.ack(1)
  const dropped: number[] = []
  log.keep((sid) => sid === 1, (sid) => dropped.push(sid))
  assert.equal(dropped, [2, 2])
  assert.is(log.count, 5)
  assert.is(log.first, 4, 'the two kept are numbered 4 and 5')
  assert.equal(replayed(log, 3), [2, 4])
})

test('interleaved evictions past 64 runs are still cleared by the client\'s count', () => {
  const log = new SessionLog(4 * COST, { total: 0, maxTotal: 1 << 20 })
  fill(log, Array.from({ length: 300 }, (_, i) => i % 2))
  assert.is([...log.loss.lostAbove(0).values()].reduce((a, b) => a + b, 0), 296, 'nothing received: every eviction')
  assert.is(log.loss.lostAbove(296).size, 0, 'everything evicted was received')
  log.ack(296)
  assert.is(log.loss.lostAbove(0).size, 0, 'an ack clears them')
})

test('a slow_consumer report not known to have arrived is lost until a later message is acknowledged', () => {
  const log = new SessionLog(10 * COST, { total: 0, maxTotal: 1 << 20 })
  fill(log, [1, 1])
  log.loss.told(1, 7, log.count)
  assert.equal([...log.loss.lostAbove(2)], [[1, 7]])
  fill(log, [1])
  log.ack(3)
  assert.is(log.loss.lostAbove(3).size, 0)
})

test('past the total budget the owner over its equal share gives way, not the one asking', () => {
  const reg = new SessionRegistry(resolveConfig({ resumeMaxBytes: 8 * COST, resumeMaxTotalBytes: 16 * COST }))
  const big = [reg.create('mallory', 'u:mallory'), reg.create('mallory', 'u:mallory')]
  for (const s of big) fill(s.log, Array.from({ length: 8 }, () => 1))
  const alice = reg.create('alice', 'u:alice')
  fill(alice.log, [1, 1, 1])
  assert.is(alice.log.bytes, 3 * COST, 'alice keeps all three')
  assert.is(big[0].log.bytes, 5 * COST, 'from mallory\'s oldest session first')
  fill(alice.log, Array.from({ length: 9 }, () => 1))
  assert.is(alice.log.bytes, 8 * COST)
  assert.is(big[0].log.bytes + big[1].log.bytes, 8 * COST, 'an equal share each')
  reg.close()
})

test('an owner is an identity, or an address; an IPv6 address by its /64', () => {
  assert.is(ownerKey('alice', '10.0.0.1'), ownerKey('alice', '10.0.0.2'))
  assert.is.not(ownerKey('', '10.0.0.1'), ownerKey('', '10.0.0.2'))
  assert.is(ownerKey('', '::ffff:10.0.0.1'), ownerKey('', '10.0.0.1'))
  assert.is(ownerKey('', '2001:db8:1:2:3:4:5:6'), ownerKey('', '2001:DB8:0001:0002::9'))
  assert.is.not(ownerKey('', '2001:db8:1:2::1'), ownerKey('', '2001:db8:1:3::1'))
})

test.run()
