/**
 * A publish's plan (server/cluster/redis/group-routing.ts): the nodes it goes to are the plain interest, the
 * nodes chosen for a queue group and the requester's node, each once and never the publishing node; with plain
 * interest alone, the subject's cached node list itself (nothing built per message).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Plan } from '../../server/cluster/redis/group-routing.ts'

const targets = (plain: string[]) => ({ plain, groups: new Map() })

test('plain interest alone goes to the subject\'s cached node list as it is', () => {
  const t = targets(['b', 'c'])
  assert.is(new Plan(t, undefined).nodes('a'), t.plain)
})

test('chosen group nodes and the requester\'s node join the plain ones, each once, never the publishing node', () => {
  const p = new Plan(targets(['b', 'a']), 'c')
  p.choose('b', 'workers')
  p.choose('d', 'workers')
  p.choose('d', 'audit')
  assert.equal([...p.nodes('a')].sort(), ['b', 'c', 'd'])
  assert.equal(p.chosen?.get('d'), ['workers', 'audit'])
  assert.equal(new Plan(targets(['a']), undefined).nodes('a'), [])
})

test.run()
