/**
 * The router's side of the cluster seam (server/routing/router.ts ↔ server/cluster/cluster-adapter.ts), driven
 * through a recording adapter: what the router tells other nodes, and what it does with their messages.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Router } from '../../server/routing/router.ts'
import { ServerSubscription, type Subscriber } from '../../server/routing/subscription.ts'
import type { Delivery } from '../../server/outbound/delivery.ts'
import { OFFERED, type Offered } from '../../server/outbound/slow-consumer.ts'
import type { ClusterAdapter, ClusterMessage, ClusterReceiver, RoutePlan } from '../../server/cluster/cluster-adapter.ts'
import { PUB_FLAG, STATUS_HEADER } from '../../shared/protocol.ts'

class RecordingCluster implements ClusterAdapter {
  readonly kind = 'recording'
  readonly nodeId = 'recording'
  readonly link = 'up' as const
  readonly logId = null
  readonly inboxPeers = null
  readonly clustered: boolean
  readonly published: Array<{ subject: string; reply: string | null; payload: number[] }> = []
  readonly interest: string[] = []
  remote = new Set<string>()
  constructor(clustered: boolean) { this.clustered = clustered }
  onEvent(): () => void { return () => {} }
  start(_r: ClusterReceiver): Promise<void> { return Promise.resolve() }
  publish(m: ClusterMessage): void { this.published.push({ subject: m.subject, reply: m.reply, payload: [...m.payload] }) }
  addInterest(subject: string, queue: string | null): void { this.interest.push(`+${subject}${queue === null ? '' : ` ${queue}`}`) }
  removeInterest(subject: string, queue: string | null): void { this.interest.push(`-${subject}${queue === null ? '' : ` ${queue}`}`) }
  hasRemoteInterest(subject: string): boolean { return this.remote.has(subject) }
  route(subject: string): RoutePlan | null { return this.remote.has(subject) ? { targets: subject } : null }
  takeLocal(): boolean { return true }
  takeElsewhere(): boolean { return false }
  stats(): null { return null }
  close(): Promise<void> { return Promise.resolve() }
}

class Sink implements Subscriber {
  readonly echo = true
  readonly got: Array<{ subject: string; reply: string | null; headers: Record<string, string> | null }> = []
  deliver(_sub: ServerSubscription, d: Delivery): Offered {
    this.got.push({ subject: d.subject, reply: d.reply, headers: d.headers })
    return OFFERED.sent
  }
}

function setup(clustered: boolean): { router: Router; cluster: RecordingCluster; sink: Sink } {
  const cluster = new RecordingCluster(clustered)
  return { router: new Router({ maxSubjectLength: 256, cacheSize: 64, cluster }), cluster, sink: new Sink() }
}

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

test('announces every plain subscription entering and leaving the index, with its queue group', () => {
  const { router, cluster, sink } = setup(true)
  const a = new ServerSubscription(sink, 1, 'orders.*', null)
  const b = new ServerSubscription(sink, 2, 'orders.>', 'workers')
  router.subscribe(a)
  router.subscribe(b)
  router.unsubscribe(a)
  router.unsubscribe(b)
  assert.equal(cluster.interest, ['+orders.*', '+orders.> workers', '-orders.*', '-orders.> workers'])
  assert.is(router.index.size, 0)
})

test('hands a publish to the seam only when another node wants its subject', () => {
  const { router, cluster } = setup(true)
  cluster.remote.add('wanted')
  assert.is(router.publish(null, 0, 'wanted', 'r.1', null, 0, bytes(7), null), null)
  assert.is(router.publish(null, 0, 'unwanted', null, null, 0, bytes(8), null), null)
  assert.equal(cluster.published, [{ subject: 'wanted', reply: 'r.1', payload: [7] }])
})

test('never calls the seam on a single node, whatever it says about interest', () => {
  const { router, cluster } = setup(false)
  cluster.remote.add('x')
  router.publish(null, 0, 'x', null, null, 0, bytes(1), null)
  assert.equal(cluster.published, [])
})

test('answers no_responders only when no node has a responder', () => {
  const { router, cluster, sink } = setup(true)
  router.subscribe(new ServerSubscription(sink, 1, '_INBOX.me.>', null))
  router.publish(null, PUB_FLAG.request, 'svc.remote', '_INBOX.me.1', null, 0, bytes(), null)
  assert.is(sink.got.length, 1, 'nobody anywhere: no_responders at once')
  assert.is(sink.got[0].headers?.[STATUS_HEADER], 'no_responders')
  cluster.remote.add('svc.remote')
  router.publish(null, PUB_FLAG.request, 'svc.remote', '_INBOX.me.2', null, 0, bytes(), null)
  assert.is(sink.got.length, 1, 'a remote responder may answer: no no_responders')
  assert.is(cluster.published.length, 1)
})

test('delivers a message from another node to local subscriptions only, never back to the seam', () => {
  const { router, cluster, sink } = setup(true)
  router.subscribe(new ServerSubscription(sink, 1, 'orders.*', null))
  router.subscribe(new ServerSubscription(sink, 2, 'orders.eu', 'g'))
  router.subscribe(new ServerSubscription(sink, 3, 'orders.eu', 'g'))
  cluster.remote.add('orders.eu')
  assert.is(router.receive({ subject: 'orders.eu', reply: null, headers: null, encoding: 0, payload: bytes(1, 2), queues: ['g'] }), null)
  assert.is(sink.got.length, 2, 'the plain subscription and one member of the queue group the sender chose here')
  assert.is(router.receive({ subject: 'orders.eu', reply: null, headers: null, encoding: 0, payload: bytes(3) }), null)
  assert.is(sink.got.length, 3, 'a group not named is served by another node: only the plain subscription')
  assert.equal(router.receive({ subject: 'orders.eu', reply: null, headers: null, encoding: 0, payload: bytes(4), queues: ['gone'] }), ['gone'], 'a named group with no member here is reported')
  assert.is(router.receive({ subject: 'orders.eu', reply: null, headers: null, encoding: 0, payload: bytes(5), queues: ['g'], groupsOnly: true }), null)
  assert.is(sink.got.length, 5, 'groups only: one delivery, to the group member; the plain subscription does not get it again')
  assert.equal(cluster.published, [])
  assert.is(router.stats.unmatched, 0)
})

test('withdraws a parked member\'s queue interest once, and announces it again on its return, balanced through an unsubscribe', () => {
  const { router, cluster, sink } = setup(true)
  const member = new ServerSubscription(sink, 1, 'jobs.*', 'workers')
  const plain = new ServerSubscription(sink, 2, 'jobs.*', null)
  router.subscribe(member)
  router.subscribe(plain)
  router.park([member, plain], true)
  router.park([member, plain], true)
  router.park([member, plain], false)
  router.park([member, plain], true)
  router.unsubscribe(member)
  router.unsubscribe(plain)
  router.park([member, plain], false)
  assert.equal(cluster.interest, ['+jobs.* workers', '+jobs.*', '-jobs.* workers', '+jobs.* workers', '-jobs.* workers', '-jobs.*'])
})

test.run()
