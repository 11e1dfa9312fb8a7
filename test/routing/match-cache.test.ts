/**
 * The match cache (server/routing/match-cache.ts) on its own: bounded, never answers for a subject deleted or
 * evicted, keeps everything while it fits, and evicts in O(1) whatever was deleted before (random operations
 * against a reference model).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { MatchCache } from '../../server/routing/match-cache.ts'

const SUBJECTS = ['a', 'a.b', 'a.c', 'b', 'b.x.y', 'c', 'c.d', 'e', 'f.g', 'h', 'i.j', 'k']
type Op = { kind: 'set' | 'delete'; subject: string; value: number } | { kind: 'clear' }

const op = fc.oneof(
  fc.record({ kind: fc.constantFrom('set' as const, 'delete' as const), subject: fc.constantFrom(...SUBJECTS), value: fc.integer() }),
  fc.constant({ kind: 'clear' as const }),
)

test('stays within its capacity and answers only with the last value set for a subject still held', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
    const cache = new MatchCache<number>(capacity)
    const model = new Map<string, number>()
    for (const o of ops) {
      if (o.kind === 'clear') { cache.clear(); model.clear(); continue }
      if (o.kind === 'delete') { cache.delete(o.subject); model.delete(o.subject); continue }
      cache.set(o.subject, o.subject.split('.'), o.value)
      model.set(o.subject, o.value)
      assert.is(cache.get(o.subject), o.value, 'a subject just set is held')
      assert.ok(cache.size <= capacity, `${cache.size} held, capacity ${capacity}`)
      for (const s of SUBJECTS) {
        const got = cache.get(s)
        if (got !== undefined) assert.is(got, model.get(s), `${s}: only its last value, and only if not deleted`)
      }
    }
  }), { numRuns: 300 })
})

test('keeps every subject while they fit, and visits those a pattern matches', () => {
  const cache = new MatchCache<number>(SUBJECTS.length)
  SUBJECTS.forEach((s, i) => cache.set(s, s.split('.'), i))
  for (const [i, s] of SUBJECTS.entries()) assert.is(cache.get(s), i)
  const seen: string[] = []
  assert.ok(cache.visitMatching(['a', '*'], (s) => { seen.push(s) }))
  assert.equal(seen.sort(), ['a.b', 'a.c'])
})

test('evicts in insertion order of slots under churn, bounded, after many deletes', () => {
  const cache = new MatchCache<number>(100)
  for (let i = 0; i < 100; i++) cache.set(`s.${i}`, ['s', String(i)], i)
  for (let i = 0; i < 50; i++) cache.delete(`s.${i}`)
  for (let i = 100; i < 100_000; i++) {
    cache.set(`s.${i}`, ['s', String(i)], i)
    if (i % 3 === 0) cache.delete(`s.${i - 1}`)
  }
  assert.ok(cache.size <= 100, `${cache.size} held`)
  assert.is(cache.get('s.99999'), 99_999)
  assert.is(cache.get('s.100'), undefined, 'an old subject was evicted')
})

test.run()
