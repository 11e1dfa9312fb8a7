/**
 * Cluster review, what one client on another node costs every node (failing now). Measured with
 * test/review/cluster-measure-costs.ts (`node --expose-gc --conditions=source --import tsx …`).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RemoteInterest, interestKey } from '../../server/cluster/redis/remote-interest.ts'

// Cause: RemoteInterest#set empties the whole targets cache on any change of any node (remote-interest.ts:95,
// `this.#cache = new Map()`). Why it matters: a client on node C that subscribes and unsubscribes one subject
// per tick makes every other node recompute targets() (trie walk + merge allocations) for every subject it
// publishes: measured 400,000 lookups over 10,000 remote patterns in 200 ms without churn and 4,161 ms with one
// change every 100 lookups (0.5 µs → 10 µs per publish, on the publish path of every node). The local match
// cache patches only the cached subjects a new pattern matches (README "Subject index in runs"); this one should
// too (the reverse-trie patching of routing/match-cache.ts, or drop only the entries the changed pattern matches).
test('an interest change elsewhere leaves the cached targets of subjects it does not match in place', () => {
  const remote = new RemoteInterest()
  remote.set('nodeB', interestKey('orders.>', null), 1)
  const before = remote.targets('orders.eu')
  remote.set('nodeC', interestKey('churn.1', null), 1)
  remote.set('nodeC', interestKey('churn.1', null), 0)
  assert.is(remote.targets('orders.eu'), before, 'the cached answer for orders.eu was thrown away')
})

test.run()
