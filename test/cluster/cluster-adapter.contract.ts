/**
 * The ClusterAdapter contract (server/cluster/cluster-adapter.ts; HOUSE_STYLE 13): one suite every cluster
 * adapter runs. `makeNodes(n)` returns n adapters joined into one cluster (for an adapter without peers, such
 * as LocalCluster, n is always 1 and the cross-node rows are skipped by `peers: false`).
 *
 * Not a `.test.ts` file on purpose: concrete suites (test/cluster/local-cluster.test.ts) call it.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ClusterAdapter, ClusterMessage, ClusterReceiver } from '../../server/cluster/cluster-adapter.ts'
import { until, within } from '../helpers.ts'

export interface ClusterContractOptions {
  /** False for an adapter with no peers: the rows about other nodes are not run. */
  peers: boolean
}

/** A receiver that keeps copies of what it was given (the message is valid only during the call). */
class Inbox implements ClusterReceiver {
  readonly got: Array<{ subject: string; reply: string | null; payload: number[] }> = []
  receive(m: ClusterMessage): readonly string[] | null {
    this.got.push({ subject: m.subject, reply: m.reply, payload: [...m.payload] })
    return null
  }
}

function message(subject: string, payload: number[], reply: string | null = null): ClusterMessage {
  return { subject, reply, headers: null, encoding: 0, payload: Uint8Array.from(payload) }
}

export function runClusterAdapterContract(name: string, makeNodes: (n: number) => Promise<ClusterAdapter[]>, options: ClusterContractOptions): void {
  const test = suite(`ClusterAdapter contract: ${name}`)
  const open: ClusterAdapter[] = []
  const nodes = async (n: number): Promise<ClusterAdapter[]> => {
    const made = await makeNodes(n)
    open.push(...made)
    return made
  }
  test.after.each(async () => {
    await Promise.all(open.splice(0).map((a) => a.close()))
  })

  test('starts once and refuses a second start with a typed error', async () => {
    const [a] = await nodes(1)
    await within(5000, a.start(new Inbox()), 'start')
    const err = await a.start(new Inbox()).then(() => null, (e: unknown) => e)
    assert.ok(err !== null, 'a second start must be refused')
    assert.type((err as { code?: unknown }).code, 'string')
  })

  test('never hands a node its own publish', async () => {
    const [a] = await nodes(1)
    const inbox = new Inbox()
    await a.start(inbox)
    a.addInterest('orders.>', null)
    for (let i = 0; i < 100; i++) a.publish(message(`orders.${i}`, [i]))
    await new Promise((r) => setTimeout(r, 50))
    assert.is(inbox.got.length, 0)
    assert.is(a.hasRemoteInterest('orders.1'), false, 'its own interest is not remote interest')
  })

  test('takes balanced interest changes, wildcards and queue groups included, without throwing', async () => {
    const [a] = await nodes(1)
    await a.start(new Inbox())
    for (const [subject, queue] of [['a.*', null], ['a.>', 'workers'], ['>', null], ['a.b', 'workers']] as const) {
      a.addInterest(subject, queue)
      a.removeInterest(subject, queue)
    }
    assert.is(a.hasRemoteInterest('a.b'), false)
  })

  test('closes idempotently, and is a no-op for publishes and interest after close', async () => {
    const [a] = await nodes(1)
    const inbox = new Inbox()
    await a.start(inbox)
    await within(5000, a.close(), 'close')
    await within(5000, a.close(), 'second close')
    a.addInterest('x', null)
    a.publish(message('x', [1]))
    a.removeInterest('x', null)
    assert.is(inbox.got.length, 0)
  })

  if (!options.peers) { test.run(); return }

  test('delivers a publish to the node that has interest, copied and in publish order', async () => {
    const [a, b] = await nodes(2)
    const inboxA = new Inbox()
    const inboxB = new Inbox()
    await a.start(inboxA)
    await b.start(inboxB)
    b.addInterest('orders.*', null)
    await until(5000, () => a.hasRemoteInterest('orders.x'), 'interest reaches node a')
    const payload = Uint8Array.from([1, 2, 3])
    for (let i = 0; i < 50; i++) {
      payload[0] = i // the router reuses its buffers: the adapter must have copied
      a.publish({ subject: `orders.${i}`, reply: null, headers: null, encoding: 0, payload })
    }
    await until(5000, () => inboxB.got.length === 50, 'all 50 at node b')
    assert.equal(inboxB.got.map((m) => m.payload[0]), [...Array(50).keys()])
    assert.is(inboxA.got.length, 0)
  })

  test('stops reporting remote interest once the last subscription went', async () => {
    const [a, b] = await nodes(2)
    await a.start(new Inbox())
    await b.start(new Inbox())
    b.addInterest('x.>', null)
    b.addInterest('x.>', null)
    await until(5000, () => a.hasRemoteInterest('x.1'), 'interest reaches node a')
    b.removeInterest('x.>', null)
    await new Promise((r) => setTimeout(r, 50))
    assert.ok(a.hasRemoteInterest('x.1'), 'one subscription is left')
    b.removeInterest('x.>', null)
    await until(5000, () => !a.hasRemoteInterest('x.1'), 'interest withdrawn at node a')
  })

  test.run()
}
