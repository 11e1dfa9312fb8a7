/**
 * Specification of the subject index (server/routing/subject-index.ts): it must agree with the reference matcher
 * `subjectMatches` on every input, with and without its match cache (HOUSE_STYLE 6 and 17).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { SubjectIndex, type MatchResult } from '../../server/routing/subject-index.ts'
import { subjectMatches } from '../../shared/subject.ts'

/** A subscription as the index sees it, with an id so results compare as sets. */
interface Sub {
  readonly id: number
  readonly subject: string
  readonly queue: string | null
  /** Plain subscriptions with one key on one pattern share a run (the router's key: owner and policy). */
  readonly runKey?: number
}

/** A match result in a comparable shape: sorted ids, and groups sorted by name with sorted member ids. */
interface Shape {
  plain: number[]
  groups: { name: string; members: number[] }[]
}

const byNumber = (a: number, b: number): number => a - b

/** A result holds runs, empty ones included (one may be refilled while the result is cached); the shape flattens them. */
function shapeOf(result: MatchResult<Sub>): Shape {
  return {
    plain: result.plain.flatMap((r) => r.subs).map((s) => s.id).sort(byNumber),
    groups: result.groups
      .map((g) => ({ name: g.name, members: g.runs.flatMap((r) => r.subs).map((s) => s.id).sort(byNumber) }))
      .filter((g) => g.members.length > 0)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  }
}

/** What a match must contain, by brute force over every live subscription with the reference matcher. */
function expected(subs: Iterable<Sub>, subject: string): Shape {
  const plain: number[] = []
  const groups = new Map<string, number[]>()
  for (const s of subs) {
    if (!subjectMatches(s.subject, subject)) continue
    if (s.queue === null) plain.push(s.id)
    else {
      const members = groups.get(s.queue)
      if (members === undefined) groups.set(s.queue, [s.id])
      else members.push(s.id)
    }
  }
  return {
    plain: plain.sort(byNumber),
    groups: [...groups].map(([name, members]) => ({ name, members: members.sort(byNumber) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  }
}

/** Every test runs with the cache on and off (HOUSE_STYLE 17: data structures tested with and without their cache). */
const CACHE_SIZES = [4096, 0] as const

// Generators: a small alphabet so that patterns and subjects collide often.
const SUBJECT = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 }).map((t) => t.join('.'))
/** 1–4 tokens from a b c *, the last possibly `>` (never `>` before the end). */
const PATTERN = fc.tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { maxLength: 3 }), fc.constantFrom('a', 'b', 'c', '*', '>'))
  .map(([head, last]) => [...head, last].join('.'))
const QUEUE = fc.option(fc.constantFrom('q1', 'q2', 'q3'), { nil: null, freq: 2 })
const SUB_FIELDS = fc.record({ subject: PATTERN, queue: QUEUE, runKey: fc.constantFrom(0, 1, 2) })

/** Every subject of 1–4 tokens over a b c (120 of them): the whole universe the generators can hit. */
const ALL_SUBJECTS: string[] = (() => {
  const out: string[] = []
  let level = ['a', 'b', 'c']
  for (let depth = 1; depth <= 4; depth++) {
    out.push(...level)
    level = level.flatMap((s) => [`${s}.a`, `${s}.b`, `${s}.c`])
  }
  return out
})()

function numbered(fields: { subject: string; queue: string | null; runKey?: number }[]): Sub[] {
  return fields.map((f, id) => ({ id, subject: f.subject, queue: f.queue, runKey: f.runKey }))
}

for (const cacheSize of CACHE_SIZES) {
  const label = `(cacheSize ${cacheSize})`

  test(`matches exactly what the reference matcher matches, on a generated corpus ${label}`, () => {
    fc.assert(fc.property(fc.array(SUB_FIELDS, { maxLength: 80 }), (fields) => {
      const subs = numbered(fields)
      const index = new SubjectIndex<Sub>({ cacheSize })
      for (const s of subs) index.insert(s)
      assert.is(index.size, subs.length)
      for (const subject of ALL_SUBJECTS) {
        const want = expected(subs, subject)
        assert.equal(shapeOf(index.match(subject)), want, `first match of ${subject}`)
        assert.equal(shapeOf(index.match(subject)), want, `second match of ${subject}`)
      }
      if (cacheSize === 0) assert.is(index.cachedSubjects, 0, 'a disabled cache stays empty')
    }), { numRuns: 150 })
  })

  test(`keeps cached results equal to brute force across interleaved insert, remove and match ${label}`, () => {
    type Op =
      | { kind: 'insert'; subject: string; queue: string | null; runKey: number }
      | { kind: 'remove'; pick: number }
      | { kind: 'removeStranger'; subject: string; queue: string | null; runKey: number }
      | { kind: 'match'; subject: string }
    const OP: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: SUB_FIELDS.map((f): Op => ({ kind: 'insert', ...f })) },
      { weight: 2, arbitrary: fc.nat().map((pick): Op => ({ kind: 'remove', pick })) },
      { weight: 1, arbitrary: SUB_FIELDS.map((f): Op => ({ kind: 'removeStranger', ...f })) },
      { weight: 3, arbitrary: SUBJECT.map((subject): Op => ({ kind: 'match', subject })) },
    )
    fc.assert(fc.property(fc.array(OP, { minLength: 1, maxLength: 120 }), (ops) => {
      const index = new SubjectIndex<Sub>({ cacheSize })
      const live = new Map<number, Sub>()
      const matched = new Set<string>()
      let nextId = 0
      for (const op of ops) {
        switch (op.kind) {
          case 'insert': {
            const s: Sub = { id: nextId++, subject: op.subject, queue: op.queue, runKey: op.runKey }
            index.insert(s)
            live.set(s.id, s)
            break
          }
          case 'remove': {
            if (live.size === 0) break
            const s = [...live.values()][op.pick % live.size]
            assert.ok(index.remove(s), `removing live subscription ${s.id} on ${s.subject}`)
            live.delete(s.id)
            assert.not.ok(index.remove(s), 'a second removal finds nothing')
            break
          }
          case 'removeStranger': {
            // Same fields as some subscription, perhaps, but never inserted: not a member.
            assert.not.ok(index.remove({ id: -1, subject: op.subject, queue: op.queue }), 'removing a stranger')
            break
          }
          case 'match': {
            assert.equal(shapeOf(index.match(op.subject)), expected(live.values(), op.subject), `match(${op.subject})`)
            matched.add(op.subject)
            break
          }
          default: {
            const never: never = op
            throw new Error(`unhandled op ${JSON.stringify(never)}`)
          }
        }
        assert.is(index.size, live.size, 'size counts live subscriptions')
        for (const subject of matched) {
          const hit = index.cached(subject)
          if (cacheSize === 0) assert.is(hit, undefined, 'a disabled cache never answers')
          else if (hit !== undefined) assert.equal(shapeOf(hit), expected(live.values(), subject), `cached(${subject}) after ${op.kind}`)
        }
      }
    }), { numRuns: 300 })
  })

  test(`a cached result is patched on insert rather than dropped ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const first: Sub = { id: 1, subject: 'a.b', queue: null }
    index.insert(first)
    index.match('a.b')
    const added: Sub[] = [
      { id: 2, subject: 'a.*', queue: null },
      { id: 3, subject: 'a.b', queue: 'q' },
      { id: 4, subject: '>', queue: 'q' },
      { id: 5, subject: 'x.y', queue: null },
    ]
    for (const s of added) index.insert(s)
    const hit = index.cached('a.b')
    if (cacheSize === 0) assert.is(hit, undefined)
    else {
      assert.ok(hit !== undefined, 'the cached entry survives an insert')
      assert.equal(shapeOf(hit), { plain: [1, 2], groups: [{ name: 'q', members: [3, 4] }] })
    }
    assert.equal(shapeOf(index.match('a.b')), { plain: [1, 2], groups: [{ name: 'q', members: [3, 4] }] })
  })

  test(`removing a subscription drops only the cached results it matched ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const wide: Sub = { id: 1, subject: 'a.*', queue: null }
    const other: Sub = { id: 2, subject: 'b.c', queue: null }
    index.insert(wide)
    index.insert(other)
    for (const s of ['a.b', 'a.c', 'b.c']) index.match(s)
    assert.ok(index.remove(wide))
    assert.is(index.cached('a.b'), undefined, 'a.b matched the removed pattern')
    assert.is(index.cached('a.c'), undefined, 'a.c matched the removed pattern')
    if (cacheSize === 0) assert.is(index.cached('b.c'), undefined)
    else assert.ok(index.cached('b.c') !== undefined, 'b.c did not match the removed pattern and stays cached')
    assert.equal(shapeOf(index.match('a.b')), { plain: [], groups: [] })
    assert.equal(shapeOf(index.match('b.c')), { plain: [2], groups: [] })
  })

  test(`queue members with one queue name on different matching patterns form ONE group ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const subs: Sub[] = [
      { id: 1, subject: 'a.b', queue: 'workers' },
      { id: 2, subject: 'a.*', queue: 'workers' },
      { id: 3, subject: 'a.>', queue: 'workers' },
      { id: 4, subject: '>', queue: 'workers' },
      { id: 5, subject: '*.b', queue: 'workers' },
      { id: 6, subject: 'a.*', queue: 'auditors' },
      { id: 7, subject: 'a.b', queue: null },
      { id: 8, subject: 'a.c', queue: 'workers' },
    ]
    for (const s of subs) index.insert(s)
    const want: Shape = { plain: [7], groups: [{ name: 'auditors', members: [6] }, { name: 'workers', members: [1, 2, 3, 4, 5] }] }
    const result = index.match('a.b')
    assert.is(result.groups.filter((g) => g.name === 'workers').length, 1, 'one workers group')
    assert.equal(shapeOf(result), want)
    for (const g of result.groups) {
      const members = g.runs.reduce((n, r) => n + r.subs.length, 0)
      assert.ok(g.next >= 0 && (members === 0 || g.next < members), 'cursor within the group')
    }
    // A member added later on yet another pattern joins the same (cached) group.
    index.insert({ id: 9, subject: '*.*', queue: 'workers' })
    const again = index.match('a.b')
    assert.is(again.groups.filter((g) => g.name === 'workers').length, 1, 'still one workers group after an insert')
    assert.equal(shapeOf(again), { plain: [7], groups: [{ name: 'auditors', members: [6] }, { name: 'workers', members: [1, 2, 3, 4, 5, 9] }] })
  })

  test(`removal of a non-member returns false and changes nothing ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const member: Sub = { id: 1, subject: 'a.*', queue: 'q' }
    const plain: Sub = { id: 2, subject: 'a.>', queue: null }
    index.insert(member)
    index.insert(plain)
    index.match('a.b')
    const strangers: { why: string; sub: Sub }[] = [
      { why: 'an equal but distinct object', sub: { id: 1, subject: 'a.*', queue: 'q' } },
      { why: 'a subject never inserted', sub: { id: 3, subject: 'x.y.z', queue: null } },
      { why: 'a prefix of an inserted pattern', sub: { id: 4, subject: 'a', queue: null } },
      { why: 'a longer subject under an inserted pattern', sub: { id: 5, subject: 'a.*.c', queue: null } },
      { why: 'another queue on an inserted pattern', sub: { id: 6, subject: 'a.*', queue: 'other' } },
      { why: 'a plain subscription where only a queue member is', sub: { id: 7, subject: 'a.*', queue: null } },
      { why: 'a > pattern never inserted', sub: { id: 8, subject: '>', queue: null } },
      { why: 'a queue member where only a plain one is', sub: { id: 9, subject: 'a.>', queue: 'q' } },
    ]
    for (const { why, sub } of strangers) assert.not.ok(index.remove(sub), why)
    assert.is(index.size, 2)
    assert.equal(shapeOf(index.match('a.b')), { plain: [2], groups: [{ name: 'q', members: [1] }] })
    assert.ok(index.remove(member))
    assert.not.ok(index.remove(member), 'the same object twice')
    assert.is(index.size, 1)
  })

  test(`removing everything prunes back to size 0 and every match is empty ${label}`, () => {
    fc.assert(fc.property(fc.array(SUB_FIELDS, { minLength: 1, maxLength: 60 }), fc.nat(), (fields, seed) => {
      const subs = numbered(fields)
      const index = new SubjectIndex<Sub>({ cacheSize })
      for (const s of subs) index.insert(s)
      for (const subject of ALL_SUBJECTS) index.match(subject)
      // Remove in an order that depends on the seed, not the insertion order.
      const order = subs.map((s, i) => ({ s, key: (i * 2654435761 + seed) % 1000003 })).sort((a, b) => a.key - b.key)
      for (const { s } of order) assert.ok(index.remove(s), `removing ${s.id} on ${s.subject}`)
      assert.is(index.size, 0)
      for (const subject of ALL_SUBJECTS) assert.equal(shapeOf(index.match(subject)), { plain: [], groups: [] }, subject)
      // The pruned trie still accepts new subscriptions on the same paths.
      for (const s of subs) index.insert(s)
      for (const subject of ALL_SUBJECTS) assert.equal(shapeOf(index.match(subject)), expected(subs, subject), `re-inserted ${subject}`)
    }), { numRuns: 60 })
  })

  test(`an index of 100,000 subscriptions, many of them wildcards, still matches a target subject exactly ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const subs: Sub[] = []
    const add = (subject: string, queue: string | null): void => {
      const s: Sub = { id: subs.length, subject, queue }
      subs.push(s)
      index.insert(s)
    }
    // Unrelated literals and wildcards that share prefixes and depths with the target.
    for (let i = 0; subs.length < 99_980; i++) {
      switch (i % 8) {
        case 0: add(`svc.${i}.*`, null); break
        case 1: add(`*.${i}.>`, i % 3 === 0 ? 'g' : null); break
        case 2: add(`svc.*.x${i}`, null); break
        case 3: add(`svc.${i}.events.>`, 'g'); break
        case 4: add(`app.${i}.metrics`, null); break
        default: add(`svc.${i}.events`, i % 5 === 0 ? 'g' : null)
      }
    }
    // Subscriptions that do (and a few that nearly) match the target.
    const target = 'svc.42.events'
    for (const [subject, queue] of [
      ['svc.42.events', null], ['svc.42.events', 'g'], ['svc.*.events', null], ['svc.42.*', 'g'], ['svc.>', null],
      ['>', 'h'], ['*.*.*', null], ['*.42.>', 'g'], ['svc.*.>', 'h'], ['*.*.events', null],
      ['svc.42.events.>', null], ['svc.42', null], ['*.42', 'g'], ['svc.*.events.*', null],
    ] as const) add(subject, queue)
    while (subs.length < 100_000) add(`other.${subs.length}`, null)
    assert.is(index.size, 100_000)
    const want = expected(subs, target)
    assert.ok(want.plain.length >= 5 && want.groups.length === 2, 'the corpus really has matches to find')
    assert.equal(shapeOf(index.match(target)), want, 'first match')
    assert.equal(shapeOf(index.match(target)), want, 'second match')
    assert.equal(shapeOf(index.match('svc.43.events')), expected(subs, 'svc.43.events'), 'a neighbouring subject')
    assert.equal(shapeOf(index.match('nobody.listens.here.at.all')), expected(subs, 'nobody.listens.here.at.all'), 'a subject only > matches')
  })

  test(`subscriptions with one key on one pattern share a run; another key or pattern gets its own ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const subs: Sub[] = [
      { id: 1, subject: 'a.b', queue: null, runKey: 7 },
      { id: 2, subject: 'a.b', queue: null, runKey: 7 },
      { id: 3, subject: 'a.b', queue: null, runKey: 8 },
      { id: 4, subject: 'a.*', queue: null, runKey: 7 },
      { id: 5, subject: 'a.b', queue: 'q', runKey: 7 },
      { id: 6, subject: 'a.b', queue: 'q', runKey: 8 },
    ]
    for (const s of subs) index.insert(s)
    const result = index.match('a.b')
    assert.equal(result.plain.map((r) => [r.key, r.subs.map((s) => s.id).sort(byNumber)]), [[7, [1, 2]], [7, [4]], [8, [3]]],
      'one run per key and pattern, runs of one key side by side')
    assert.equal(result.groups.map((g) => g.runs.map((r) => r.subs.map((s) => s.id).sort(byNumber))), [[[5, 6]]], 'one run per group on a pattern, whatever the keys')
  })

  test(`removals in any order keep each run's slots exact: a swapped-in member can be removed next ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const subs = Array.from({ length: 50 }, (_, id): Sub => ({ id, subject: 'a.b', queue: id % 2 === 0 ? null : 'q', runKey: 1 }))
    for (const s of subs) index.insert(s)
    index.match('a.b')
    const live = new Set(subs)
    for (const i of [0, 49, 1, 48, 25, 2, 47, 3, 26, 24]) {
      assert.ok(index.remove(subs[i]), `removing ${i}`)
      assert.not.ok(index.remove(subs[i]), `${i} is gone`)
      live.delete(subs[i])
      assert.equal(shapeOf(index.match('a.b')), expected(live, 'a.b'), `after removing ${i}`)
    }
    for (const s of [...live].reverse()) assert.ok(index.remove(s))
    assert.is(index.size, 0)
    assert.equal(shapeOf(index.match('a.b')), { plain: [], groups: [] })
  })

  test(`adding to or removing from an existing run leaves the cached result in place ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const first: Sub = { id: 1, subject: 'a.*', queue: null, runKey: 3 }
    index.insert(first)
    const before = index.match('a.b')
    const more: Sub = { id: 2, subject: 'a.*', queue: null, runKey: 3 }
    index.insert(more)
    assert.ok(index.remove(first))
    const after = index.match('a.b')
    if (cacheSize > 0) assert.ok(after === before, 'the same result object: nothing was patched or dropped')
    assert.equal(shapeOf(after), { plain: [2], groups: [] })
  })

  test(`a run left empty comes back when its key returns, and its node's empty runs are swept once they outnumber the rest ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    const keep: Sub = { id: 0, subject: 'a.b', queue: null, runKey: 0 }
    index.insert(keep)
    const owners = Array.from({ length: 30 }, (_, i): Sub => ({ id: i + 1, subject: 'a.b', queue: null, runKey: i + 1 }))
    for (const s of owners) index.insert(s)
    index.match('a.b')
    for (const s of owners.slice(0, 5)) index.remove(s)
    const back: Sub = { id: 100, subject: 'a.b', queue: null, runKey: 1 }
    index.insert(back)
    assert.equal(shapeOf(index.match('a.b')), expected([keep, back, ...owners.slice(5)], 'a.b'), 'the emptied run of key 1 is refilled')
    for (const s of owners.slice(5)) index.remove(s)
    const result = index.match('a.b')
    assert.equal(shapeOf(result), expected([keep, back], 'a.b'))
    assert.ok(result.plain.length <= 2 * 8 + 2, `empty runs were swept (${result.plain.length} runs left)`)
  })

  test(`a pattern matching more cached results than the patch budget empties the cache rather than patch them ${label}`, () => {
    const index = new SubjectIndex<Sub>({ cacheSize })
    for (let i = 0; i < 300; i++) index.match(`m.${i}`)
    index.insert({ id: 1, subject: 'm.7', queue: null })
    if (cacheSize > 0) assert.is(index.cachedSubjects, 300, 'a literal patches its one result')
    index.insert({ id: 2, subject: 'm.*', queue: null })
    assert.is(index.cachedSubjects, 0, 'm.* matched all 300: emptied in O(1)')
    assert.equal(shapeOf(index.match('m.7')), { plain: [1, 2], groups: [] })
    assert.equal(shapeOf(index.match('m.8')), { plain: [2], groups: [] })
    for (let i = 0; i < 10; i++) index.match(`m.${i}`)
    index.insert({ id: 3, subject: 'm.*', queue: 'q' })
    if (cacheSize > 0) assert.is(index.cachedSubjects, 10, 'ten results are within the budget: patched')
    assert.equal(shapeOf(index.match('m.3')), { plain: [2], groups: [{ name: 'q', members: [3] }] })
  })
}

test('lays a small result out in one array, run by run, remade after any change, and none past 256 subscriptions', () => {
  const index = new SubjectIndex<Sub>()
  const subs = Array.from({ length: 6 }, (_, id): Sub => ({ id, subject: id % 2 === 0 ? 'f.x' : 'f.*', queue: null, runKey: id % 3 }))
  for (const s of subs) index.insert(s)
  const result = index.match('f.x')
  const flat = index.flat(result)
  assert.equal(flat?.map((s) => s.id), result.plain.flatMap((r) => r.subs).map((s) => s.id), 'the runs, in order')
  assert.ok(index.flat(result) === flat, 'kept while nothing changes')
  index.remove(subs[0])
  assert.equal(index.flat(result)?.map((s) => s.id).sort(byNumber), [1, 2, 3, 4, 5], 'remade after a removal')
  for (let i = 0; i < 300; i++) index.insert({ id: 100 + i, subject: 'f.x', queue: null, runKey: i })
  assert.is(index.flat(index.match('f.x')), null, 'past 256: the router walks the runs')
  assert.is(index.flat(index.match('f.y', false)), null, 'an uncached result is never laid out')
})

test('a small cache evicts without ever answering stale results', () => {
  fc.assert(fc.property(fc.array(SUB_FIELDS, { maxLength: 40 }), fc.array(SUBJECT, { minLength: 1, maxLength: 60 }), (fields, subjects) => {
    const subs = numbered(fields)
    const index = new SubjectIndex<Sub>({ cacheSize: 4 })
    const half = Math.floor(subs.length / 2)
    for (const s of subs.slice(0, half)) index.insert(s)
    for (const subject of subjects) index.match(subject)
    for (const s of subs.slice(half)) index.insert(s)
    assert.ok(index.cachedSubjects <= 4, 'the cache stays within its bound')
    for (const subject of subjects) {
      const hit = index.cached(subject)
      if (hit !== undefined) assert.equal(shapeOf(hit), expected(subs, subject), `cached(${subject})`)
      assert.equal(shapeOf(index.match(subject)), expected(subs, subject), `match(${subject})`)
      assert.ok(index.cachedSubjects <= 4, 'the cache stays within its bound')
    }
  }), { numRuns: 150 })
})

test('a publisher cycling over more subjects than the cache holds still hits a stable part of them', () => {
  const index = new SubjectIndex<Sub>({ cacheSize: 100 })
  index.insert({ id: 1, subject: 'cycle.*', queue: null })
  const subjects = Array.from({ length: 300 }, (_, i) => `cycle.s${i}`)
  let hits = 0
  let lookups = 0
  for (let round = 0; round < 20; round++) {
    for (const subject of subjects) {
      if (round >= 10) { lookups++; if (index.cached(subject) !== undefined) hits++ }
      assert.equal(shapeOf(index.match(subject)).plain, [1])
    }
  }
  // Evicting in insertion order and admitting every miss, a cycle three times the cache's size never hits.
  assert.ok(hits / lookups > 0.2, `${hits} hits in ${lookups} lookups`)
  assert.ok(index.cachedSubjects <= 100, `${index.cachedSubjects} cached`)
})

test.run()
