/**
 * The publish path (server/routing/router.ts) with stand-in subscribers: what each subscriber is handed when
 * a delivery publishes again before the fan-out is over (a slow consumer's `$SYS` event does that).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Router } from '../../server/routing/router.ts'
import { ServerSubscription, type Subscriber } from '../../server/routing/subscription.ts'
import type { Delivery } from '../../server/outbound/delivery.ts'
import { OFFERED, type Offered } from '../../server/outbound/slow-consumer.ts'
import { LocalCluster } from '../../server/cluster/local-cluster.ts'

/** Records what it is handed; `onDeliver` runs inside the delivery, as a broker's event listener would. */
class Recorder implements Subscriber {
  readonly echo = true
  readonly got: Array<{ sid: number; subject: string; payload: number[] }> = []
  onDeliver: ((sub: ServerSubscription) => void) | null = null
  deliver(sub: ServerSubscription, d: Delivery): Offered {
    this.got.push({ sid: sub.sid, subject: d.subject, payload: [...d.payload] })
    this.onDeliver?.(sub)
    return OFFERED.sent
  }
}

function router(): Router {
  return new Router({ maxSubjectLength: 256, cacheSize: 64, cluster: new LocalCluster() })
}

test('hands later subscribers the original message when a delivery publishes again mid-fan-out', () => {
  const r = router()
  const first = new Recorder()
  const second = new Recorder()
  const watcher = new Recorder()
  r.subscribe(new ServerSubscription(first, 1, 'x.y', null))
  r.subscribe(new ServerSubscription(second, 2, 'x.y', null))
  r.subscribe(new ServerSubscription(watcher, 3, '$SYS.conn.slow_consumer', null))
  let once = true
  first.onDeliver = () => {
    if (!once) return
    once = false
    r.publish(null, 0, '$SYS.conn.slow_consumer', null, null, 0, Uint8Array.from([9]), null)
  }
  r.publish(null, 0, 'x.y', null, null, 0, Uint8Array.from([1, 2]), null)
  assert.equal(second.got, [{ sid: 2, subject: 'x.y', payload: [1, 2] }])
  assert.equal(watcher.got, [{ sid: 3, subject: '$SYS.conn.slow_consumer', payload: [9] }])
  // And the next publish reuses the router's own Delivery again, unharmed.
  r.publish(null, 0, 'x.y', null, null, 0, Uint8Array.from([3]), null)
  assert.equal(second.got.at(-1), { sid: 2, subject: 'x.y', payload: [3] })
})

test('checks a subject from another node before caching it, so an invalid one cannot pass for validated', () => {
  const r = new Router({ maxSubjectLength: 8, cacheSize: 64, cluster: new LocalCluster() })
  const sink = new Recorder()
  r.subscribe(new ServerSubscription(sink, 1, '>', null))
  const long = 'a.very.long.subject'
  r.receive({ subject: long, reply: null, headers: null, encoding: 0, payload: new Uint8Array(0) })
  r.receive({ subject: 'x.*', reply: null, headers: null, encoding: 0, payload: new Uint8Array(0) })
  assert.equal(sink.got, [], 'an invalid subject from another node is delivered to no one')
  r.receive({ subject: 'ok.b', reply: null, headers: null, encoding: 0, payload: Uint8Array.from([7]) })
  r.receive({ subject: 'ok.b', reply: null, headers: null, encoding: 0, payload: Uint8Array.from([8]) })
  assert.equal(sink.got.map((g) => g.payload), [[7], [8]])
  assert.ok(r.index.cached('ok.b') !== undefined, 'a valid subject from another node is cached like a local one')
  assert.is(r.publish(null, 0, long, null, null, 0, new Uint8Array(0), null)?.code, 'bad_subject')
  assert.is(r.publish(null, 0, 'x.*', null, null, 0, new Uint8Array(0), null)?.code, 'bad_subject')
  assert.is(r.check('x.*', null)?.code, 'bad_subject')
})

test('withdraws cluster interest only for a subscription the index held', () => {
  const cluster = new LocalCluster()
  const r = new Router({ maxSubjectLength: 256, cacheSize: 64, cluster })
  const sub = new ServerSubscription(new Recorder(), 1, 'a.>', null)
  r.subscribe(sub)
  r.unsubscribe(sub)
  r.unsubscribe(sub)
  assert.is(cluster.interestCount, 0)
})

test.run()
