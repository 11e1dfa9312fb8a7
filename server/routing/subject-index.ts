/**
 * The subject index: a token trie of subscription patterns with a bounded cache of match results.
 *
 * Shape (after nats-server's sublist): one node per token; literal children in a Map, plus dedicated `*` and
 * `>` children, so a publish walks at most two branches per token and never scans the subscriptions.
 *
 * Runs: a node keeps its plain subscriptions in runs, one per `runKey` (the router's key is a subscription's
 * owner and slow-consumer policy), and its queue members in one run per group name. A subscription knows its
 * run and its slot there, so removing it swaps the run's last member into its place: O(1), where the old
 * `indexOf` + `splice` made 100,000 UNSUBs in reverse order cost 2 s (issue 17 §3).
 *
 * The cache (match-cache.ts) keeps, per subject, references to the runs matching it rather than copies of
 * their subscriptions. Adding a subscription to a run that exists, or removing one from a run, changes no
 * cached result. Only a new run patches the results its pattern matches; a run left empty stays (it is reused
 * when its key returns) until its node empties or its node's empty runs outnumber the rest, when the results
 * the pattern matches are dropped. Each patch or drop is bounded (match-cache.ts), so insert and remove cost
 * O(pattern length + min(matching cached results, 256)), whatever the cache or the runs hold.
 */
import type { HeldMessages } from '../outbound/held-messages.ts'
import { MatchCache } from './match-cache.ts'

/** What the index needs to know about a subscription. */
export interface Indexed {
  readonly subject: string
  readonly queue: string | null
  /** Plain subscriptions with one key on one pattern share a run. @default 0 */
  readonly runKey?: number
  /** Kept by the index: the run holding the subscription (null once removed) and its slot there. */
  run?: Run<Indexed> | null
  slot?: number
}

/**
 * Subscriptions with one key on one pattern: for the router, one owner with one slow-consumer policy. They match
 * the same messages, so the publish path may settle them together: an owner at its cap misses a message for
 * the whole run, counted once in `drops`, and messages held back are held once per run (outbound/slow-consumer.ts).
 */
export class Run<S> {
  readonly key: number
  /** The trie node it belongs to (the index's own type, hidden): removal goes there without walking the trie. */
  readonly node: object
  readonly subs: S[] = []
  /** Messages every subscription of the run missed at once; each subscription remembers the count it joined at. */
  drops = 0
  /** Messages held back for the run under drop_old or keep_latest (made on first use, kept after). */
  held: HeldMessages | null = null
  /** True while the run is on its owner's list of runs to report or release (outbound/slow-consumer.ts). */
  dirty = false

  constructor(key: number, node: object) {
    this.key = key
    this.node = node
  }
}

/** One queue group among a subject's matches: its members' runs (one per matching pattern); `next` is the round-robin cursor. */
export interface QueueGroup<S> {
  readonly name: string
  readonly runs: Run<S>[]
  /** The members' array itself while the group has one run (the common case: one pattern), else null. */
  single: S[] | null
  next: number
}

/** Every subscription matching a subject: plain runs get every message (runs of one key side by side), each group one member. */
export interface MatchResult<S> {
  readonly plain: Run<S>[]
  readonly groups: QueueGroup<S>[]
  /** A small result's plain subscriptions in one array, valid while `flatAt` is the index's version (`flat()`). */
  flat: S[] | null
  flatAt: number
}

/** Most plain subscriptions a result lays out in one array (past it the router walks the runs). */
const FLAT_MAX = 256
/** Once the match cache is full, one missed subject in this many is cached (the others only matched). */
const ADMIT_WHEN_FULL = 8

/** `flatAt` of a result that is not cached. */
const UNCACHED = -2

/** Runs a node scans for a key before it keeps a Map of them. */
const RUN_SCAN = 8

class TrieNode<S> {
  literals: Map<string, TrieNode<S>> | null = null
  star: TrieNode<S> | null = null
  /** Subscriptions ending in `>` at this depth. */
  rest: TrieNode<S> | null = null
  runs: Run<S>[] | null = null
  byKey: Map<number, Run<S>> | null = null
  groups: Map<string, Run<S>> | null = null
  /** Subscriptions held in this node's runs, runs in all, and runs left empty. */
  live = 0
  runCount = 0
  empty = 0

  runOf(key: number): Run<S> | undefined {
    if (this.byKey !== null) return this.byKey.get(key)
    const runs = this.runs
    if (runs !== null) for (let i = 0; i < runs.length; i++) if (runs[i].key === key) return runs[i]
    return undefined
  }

  owns(run: Run<S>, queue: string | null): boolean {
    return queue === null ? this.runOf(run.key) === run : this.groups?.get(queue) === run
  }

  /** Forgets the runs left empty. */
  sweep(): void {
    if (this.runs !== null) {
      this.runs = this.runs.filter((r) => r.subs.length > 0)
      this.byKey = this.runs.length > RUN_SCAN ? new Map(this.runs.map((r) => [r.key, r])) : null
      if (this.runs.length === 0) this.runs = null
    }
    if (this.groups !== null) for (const [name, run] of this.groups) if (run.subs.length === 0) this.groups.delete(name)
    this.runCount -= this.empty
    this.empty = 0
  }

  get childless(): boolean {
    return (this.literals === null || this.literals.size === 0) && this.star === null && this.rest === null
  }
}

/** Options of a subject index. */
export interface SubjectIndexOptions {
  /**
   * Most subjects whose match results are kept; 0 turns the cache off.
   * @default 4096
   */
  cacheSize?: number
}

/** A subject index over subscriptions of type `S`. */
export class SubjectIndex<S extends Indexed> {
  readonly #root = new TrieNode<S>()
  readonly #cache: MatchCache<MatchResult<S>>
  readonly #cacheSize: number
  #count = 0

  constructor(options: SubjectIndexOptions = {}) {
    this.#cacheSize = options.cacheSize ?? 4096
    this.#cache = new MatchCache(this.#cacheSize)
  }

  /** Number of subscriptions held. */
  get size(): number {
    return this.#count
  }

  /** Number of subjects whose results are cached (for tests and stats). */
  get cachedSubjects(): number {
    return this.#cache.size
  }

  /** Adds a subscription whose subject is a valid pattern (the caller validates). */
  insert(sub: S): void {
    const tokens = sub.subject.split('.')
    let node = this.#root
    for (const token of tokens) {
      if (token === '>') { node = node.rest ??= new TrieNode<S>(); break }
      if (token === '*') { node = node.star ??= new TrieNode<S>(); continue }
      node.literals ??= new Map()
      let child = node.literals.get(token)
      if (child === undefined) { child = new TrieNode<S>(); node.literals.set(token, child) }
      node = child
    }
    const queue = sub.queue
    let run = queue === null ? node.runOf(sub.runKey ?? 0) : node.groups?.get(queue)
    const created = run === undefined
    if (run === undefined) {
      run = new Run<S>(queue === null ? sub.runKey ?? 0 : 0, node)
      node.runCount++
      if (queue !== null) (node.groups ??= new Map()).set(queue, run)
      else {
        (node.runs ??= []).push(run)
        if (node.byKey !== null) node.byKey.set(run.key, run)
        else if (node.runs.length > RUN_SCAN) node.byKey = new Map(node.runs.map((r) => [r.key, r]))
      }
    } else if (run.subs.length === 0) node.empty--
    sub.run = run as Run<Indexed>
    sub.slot = run.subs.length
    run.subs.push(sub)
    node.live++
    this.#count++
    this.#version++
    if (created) this.#patch(tokens, run, queue)
  }

  /**
   * Removes a subscription; returns false when it was not in the index (a subscription is in one index at
   * most). O(1), found through its run; a run left empty may cost a walk of the pattern's tokens.
   */
  remove(sub: S): boolean {
    const run = sub.run as Run<S> | null | undefined
    const slot = sub.slot ?? -1
    if (run == null || run.subs[slot] !== sub) return false
    const node = run.node as TrieNode<S>
    if (!node.owns(run, sub.queue)) return false
    const subs = run.subs
    const last = subs.pop() as S
    if (last !== sub) { subs[slot] = last; last.slot = slot }
    sub.run = null
    this.#count--
    this.#version++
    node.live--
    if (subs.length > 0) return true
    node.empty++
    if (node.live === 0) {
      // Nothing left on this pattern: its node goes (or keeps only its children), and so do the cached
      // results that held its runs.
      const tokens = sub.subject.split('.')
      node.sweep()
      this.#prune(tokens)
      this.#invalidate(tokens)
    } else if (node.empty > RUN_SCAN && node.empty * 2 > node.runCount) {
      node.sweep()
      this.#invalidate(sub.subject.split('.'))
    }
    return true
  }

  /** Bumped by every insert and remove: a result's flat array is valid only for the version it was made at. */
  #version = 0

  /**
   * The plain subscriptions of a result in one array, run by run in slot order, or null when there are more
   * than FLAT_MAX. Walking runs costs two more dependent loads per subscription (an owner per run is the rule
   * on a fan-out): 2x the router's own loop at 100 subscribers in a micro-benchmark. The array is remade
   * after any change to the index, at most once per change and result, O(FLAT_MAX).
   */
  flat(result: MatchResult<S>): readonly S[] | null {
    if (result.flatAt === this.#version) return result.flat
    if (result.flatAt === UNCACHED) return null // used once: the runs are walked, nothing is laid out
    const runs = result.plain
    let n = 0
    for (let r = 0; r < runs.length && n <= FLAT_MAX; r++) n += runs[r].subs.length
    let flat: S[] | null = null
    if (n <= FLAT_MAX) {
      flat = []
      for (let r = 0; r < runs.length; r++) { const subs = runs[r].subs; for (let i = 0; i < subs.length; i++) flat.push(subs[i]) }
    }
    result.flat = flat
    result.flatAt = this.#version
    return flat
  }

  /** Cached matches of a subject, if any; the publish path tries this before validating the subject. */
  cached(subject: string): MatchResult<S> | undefined {
    if (subject === this.#lastSubject) return this.#lastResult
    const hit = this.#cache.get(subject)
    if (hit !== undefined) this.#remember(subject, hit)
    return hit
  }

  /**
   * The last cached subject looked up, before the Map: a publisher's stream repeats one subject and the
   * frame reader hands out the same string instance for it, so this is usually a pointer compare. The
   * router, the topics and the permission path each look a publish up; the Map lookups were 3.8 % of the
   * broker's CPU in the 1→1 bench. Cleared whenever a cached result is dropped (removal, eviction).
   */
  #lastSubject: string | null = null
  #lastResult: MatchResult<S> | undefined = undefined

  #remember(subject: string, result: MatchResult<S>): void {
    this.#lastSubject = subject
    this.#lastResult = result
  }

  #forget(): void {
    this.#lastSubject = null
    this.#lastResult = undefined
  }

  /**
   * All subscriptions matching a (valid, wildcard-free) subject. `cache: false` leaves the cache alone: for
   * subjects used once (reply inboxes), caching would only evict the hot subjects.
   */
  match(subject: string, cache = true): MatchResult<S> {
    const hit = this.cached(subject)
    if (hit !== undefined) return hit
    const tokens = subject.split('.')
    const plain: Run<S>[] = []
    const groupMap = new Map<string, Run<S>[]>()
    collect(this.#root, tokens, 0, plain, groupMap)
    // Runs of one owner side by side: the router settles an owner at its cap once (sort is stable).
    if (plain.length > 1) plain.sort(byKey)
    const groups: QueueGroup<S>[] = []
    for (const [name, runs] of groupMap) {
      // A random starting point keeps a rebuilt cache entry from favouring the first member.
      groups.push({ name, runs, single: runs.length === 1 ? runs[0].subs : null, next: Math.floor(Math.random() * membersOf(runs)) })
    }
    const cached = cache && this.#cacheSize > 0 && this.#admit()
    const result: MatchResult<S> = { plain, groups, flat: null, flatAt: cached ? -1 : UNCACHED }
    if (cached) {
      if (this.#cache.size >= this.#cacheSize) this.#forget() // the set below evicts
      this.#cache.set(subject, tokens, result)
      this.#remember(subject, result)
    }
    return result
  }

  /** Misses while the cache was full (see #admit). */
  #fullMisses = 0

  /**
   * Whether a missed subject enters the cache: always while there is room; once it is full, one miss in
   * ADMIT_WHEN_FULL. Publishers cycling over more subjects than the cache holds (G: 10,000 subjects, 4,096
   * entries) otherwise missed every time and paid an insert and an eviction on each miss as well: 40 % of
   * the broker's CPU in G went to the cache (set, delete, evict). Admitting a few keeps a stable part of the
   * cycle cached (hits) and makes the other misses cost only the match.
   */
  #admit(): boolean {
    if (this.#cache.size < this.#cacheSize) return true
    if (++this.#fullMisses < ADMIT_WHEN_FULL) return false
    this.#fullMisses = 0
    return true
  }

  /** A new run: every cached result its pattern matches gets it (or the cache is emptied, past the budget). */
  #patch(tokens: readonly string[], run: Run<S>, queue: string | null): void {
    const complete = this.#cache.visitMatching(tokens, (_subject, result) => {
      if (queue === null) { result.plain.push(run); return }
      const group = result.groups.find((g) => g.name === queue)
      if (group !== undefined) { group.runs.push(run); group.single = null }
      else result.groups.push({ name: queue, runs: [run], single: run.subs, next: 0 })
    })
    if (!complete) this.#clearCache()
  }

  /** Drops the cached results a pattern matches (or empties the cache, past the budget). */
  #invalidate(tokens: readonly string[]): void {
    this.#forget()
    const stale: string[] = []
    if (!this.#cache.visitMatching(tokens, (subject) => { stale.push(subject) })) { this.#clearCache(); return }
    for (const subject of stale) this.#cache.delete(subject)
  }

  #clearCache(): void {
    this.#forget()
    this.#cache.clear()
  }

  /** Unlinks nodes left empty by a removal, so churn does not grow the trie (WHAT_USERS_ASK 8). */
  #prune(tokens: readonly string[]): void {
    const path: TrieNode<S>[] = [this.#root]
    for (const token of tokens) {
      const at = path[path.length - 1]
      const next = token === '>' ? at.rest : token === '*' ? at.star : at.literals?.get(token)
      if (next == null) return
      path.push(next)
      if (token === '>') break
    }
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i]
      if (node.live > 0 || node.runCount > 0 || !node.childless) return
      const parent = path[i - 1]
      const key = tokens[i - 1]
      if (key === '>') parent.rest = null
      else if (key === '*') parent.star = null
      else parent.literals?.delete(key)
    }
  }
}

function byKey(a: Run<unknown>, b: Run<unknown>): number {
  return a.key - b.key
}

function membersOf<S>(runs: readonly Run<S>[]): number {
  let n = 0
  for (let i = 0; i < runs.length; i++) n += runs[i].subs.length
  return n
}

/** Empty runs too: one may be refilled while this result is cached, which is then still complete. */
function addNode<S>(node: TrieNode<S>, plain: Run<S>[], groups: Map<string, Run<S>[]>): void {
  const runs = node.runs
  if (runs !== null) for (let i = 0; i < runs.length; i++) plain.push(runs[i])
  if (node.groups === null) return
  for (const [name, run] of node.groups) {
    const into = groups.get(name)
    if (into === undefined) groups.set(name, [run])
    else into.push(run)
  }
}

function collect<S>(node: TrieNode<S>, tokens: string[], i: number, plain: Run<S>[], groups: Map<string, Run<S>[]>): void {
  if (node.rest !== null && i < tokens.length) addNode(node.rest, plain, groups)
  if (i === tokens.length) { addNode(node, plain, groups); return }
  const literal = node.literals?.get(tokens[i])
  if (literal !== undefined) collect(literal, tokens, i + 1, plain, groups)
  if (node.star !== null) collect(node.star, tokens, i + 1, plain, groups)
}
