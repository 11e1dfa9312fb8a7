/**
 * The subject index: a token trie of subscription patterns with a bounded cache of match results.
 *
 * Shape (after nats-server's sublist): one node per token; literal children in a Map, plus dedicated `*` and
 * `>` children, so a publish walks at most two branches per token and never scans the subscriptions.
 * Match results are cached per subject. Adding a subscription patches the cached results it matches;
 * removing one drops exactly the cached results it matches, so the cache is never stale and never flushed
 * wholesale.
 */
import { subjectMatches } from '../../shared/subject.ts'

/** What the index needs to know about a subscription. */
export interface Indexed {
  readonly subject: string
  readonly queue: string | null
}

/** The members of one queue group among a subject's matches; `next` is the round-robin cursor. */
export interface QueueGroup<S> {
  readonly name: string
  readonly members: S[]
  next: number
}

/** Every subscription matching a subject: plain ones get every message, each group one member. */
export interface MatchResult<S> {
  readonly plain: S[]
  readonly groups: QueueGroup<S>[]
}

class TrieNode<S> {
  literals: Map<string, TrieNode<S>> | null = null
  star: TrieNode<S> | null = null
  /** Subscriptions ending in `>` at this depth. */
  rest: TrieNode<S> | null = null
  plain: S[] = []
  groups: Map<string, S[]> | null = null

  isEmpty(): boolean {
    return this.plain.length === 0 && (this.groups === null || this.groups.size === 0) &&
      (this.literals === null || this.literals.size === 0) && this.star === null && this.rest === null
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
  readonly #cache = new Map<string, MatchResult<S>>()
  readonly #cacheSize: number
  #count = 0

  constructor(options: SubjectIndexOptions = {}) {
    this.#cacheSize = options.cacheSize ?? 4096
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
    let node = this.#root
    for (const token of sub.subject.split('.')) {
      if (token === '>') { node = node.rest ??= new TrieNode<S>(); break }
      if (token === '*') { node = node.star ??= new TrieNode<S>(); continue }
      node.literals ??= new Map()
      let child = node.literals.get(token)
      if (child === undefined) { child = new TrieNode<S>(); node.literals.set(token, child) }
      node = child
    }
    if (sub.queue === null) node.plain.push(sub)
    else {
      node.groups ??= new Map()
      const members = node.groups.get(sub.queue)
      if (members === undefined) node.groups.set(sub.queue, [sub])
      else members.push(sub)
    }
    this.#count++
    this.#patchCache(sub)
  }

  /** Removes a subscription; returns false when it was not in the index. */
  remove(sub: S): boolean {
    const path: TrieNode<S>[] = [this.#root]
    const keys: string[] = []
    let node: TrieNode<S> | null | undefined = this.#root
    for (const token of sub.subject.split('.')) {
      if (token === '>') node = node.rest
      else if (token === '*') node = node.star
      else node = node.literals?.get(token)
      if (node == null) return false
      path.push(node)
      keys.push(token)
      if (token === '>') break
    }
    if (!removeFrom(node, sub)) return false
    this.#count--
    this.#pruneEmpty(path, keys)
    this.#invalidateCache(sub.subject)
    return true
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
   * broker's CPU in the 1→1 bench. Cleared whenever a cached result may go stale (removal, eviction).
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
    const plain: S[] = []
    const groupMap = new Map<string, S[]>()
    collect(this.#root, tokens, 0, plain, groupMap)
    const groups: QueueGroup<S>[] = []
    for (const [name, members] of groupMap) {
      // A random starting point keeps a rebuilt cache entry from favouring the first member.
      groups.push({ name, members, next: Math.floor(Math.random() * members.length) })
    }
    const result: MatchResult<S> = { plain, groups }
    if (cache && this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) this.#evictOldest()
      this.#cache.set(subject, result)
      this.#remember(subject, result)
    }
    return result
  }

  /** Drops the oldest quarter of the cache: cheaper than per-hit LRU bookkeeping on the publish path. */
  #evictOldest(): void {
    this.#forget()
    let drop = Math.max(1, this.#cacheSize >> 2)
    for (const key of this.#cache.keys()) {
      this.#cache.delete(key)
      if (--drop === 0) break
    }
  }

  #patchCache(sub: S): void {
    if (this.#cache.size === 0) return
    if (isLiteral(sub.subject)) {
      const hit = this.#cache.get(sub.subject)
      if (hit !== undefined) addToResult(hit, sub)
      return
    }
    for (const [subject, result] of this.#cache) {
      if (subjectMatches(sub.subject, subject)) addToResult(result, sub)
    }
  }

  #invalidateCache(pattern: string): void {
    this.#forget()
    if (this.#cache.size === 0) return
    if (isLiteral(pattern)) { this.#cache.delete(pattern); return }
    for (const subject of this.#cache.keys()) {
      if (subjectMatches(pattern, subject)) this.#cache.delete(subject)
    }
  }

  /** Unlinks nodes left empty by a removal, so churn does not grow the trie (WHAT_USERS_ASK 8). */
  #pruneEmpty(path: TrieNode<S>[], keys: string[]): void {
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i]
      if (!node.isEmpty()) return
      const parent = path[i - 1]
      const key = keys[i - 1]
      if (key === '>') parent.rest = null
      else if (key === '*') parent.star = null
      else parent.literals?.delete(key)
    }
  }
}

function isLiteral(pattern: string): boolean {
  return !pattern.includes('*') && !pattern.includes('>')
}

function removeFrom<S extends Indexed>(node: TrieNode<S>, sub: S): boolean {
  if (sub.queue === null) return removeItem(node.plain, sub)
  const members = node.groups?.get(sub.queue)
  if (members === undefined || !removeItem(members, sub)) return false
  if (members.length === 0) node.groups?.delete(sub.queue)
  return true
}

function removeItem<T>(list: T[], item: T): boolean {
  const i = list.indexOf(item)
  if (i < 0) return false
  list.splice(i, 1)
  return true
}

function addToResult<S extends Indexed>(result: MatchResult<S>, sub: S): void {
  if (sub.queue === null) { result.plain.push(sub); return }
  const group = result.groups.find((g) => g.name === sub.queue)
  if (group !== undefined) group.members.push(sub)
  else result.groups.push({ name: sub.queue, members: [sub], next: 0 })
}

function addNode<S extends Indexed>(node: TrieNode<S>, plain: S[], groups: Map<string, S[]>): void {
  for (let i = 0; i < node.plain.length; i++) plain.push(node.plain[i])
  if (node.groups === null) return
  for (const [name, members] of node.groups) {
    const into = groups.get(name)
    if (into === undefined) groups.set(name, members.slice())
    else for (const m of members) into.push(m)
  }
}

function collect<S extends Indexed>(node: TrieNode<S>, tokens: string[], i: number, plain: S[], groups: Map<string, S[]>): void {
  if (node.rest !== null && i < tokens.length) addNode(node.rest, plain, groups)
  if (i === tokens.length) { addNode(node, plain, groups); return }
  const literal = node.literals?.get(tokens[i])
  if (literal !== undefined) collect(literal, tokens, i + 1, plain, groups)
  if (node.star !== null) collect(node.star, tokens, i + 1, plain, groups)
}
