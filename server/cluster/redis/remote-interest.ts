/**
 * What the other nodes of the cluster want: for each node, its subscription patterns (plain, or with a queue
 * group and the group's member count on that node). `targets(subject)` answers which nodes a publish must
 * reach, and which queue groups have members where, from memory: it runs on the publish path, so answers are
 * cached per subject and the cache is dropped on any interest change (interest changes are rare next to
 * publishes; a cache bounded in size keeps a flood of distinct subjects from growing it).
 *
 * Patterns are matched token by token through a trie, as the router's subject index does, so a node with ten
 * thousand subscriptions costs one walk of the subject's tokens, not ten thousand comparisons.
 */

/** One queue group's members on one node, for a subject. */
export interface GroupShare {
  readonly nodeId: string
  members: number
}

/** Where a publish on one subject goes. */
export interface Targets {
  /** Nodes with at least one plain subscription matching. */
  readonly plain: readonly string[]
  /** Per queue group name: its members on each node that has some, in node-id order. */
  readonly groups: ReadonlyMap<string, readonly GroupShare[]>
}

export const NO_TARGETS: Targets = Object.freeze({ plain: Object.freeze([]) as readonly string[], groups: new Map() })

/** Counts for one pattern: plain subscriptions per node, queue members per node and group. */
class Entry {
  readonly plain = new Map<string, number>()
  readonly queues = new Map<string, Map<string, number>>()
  get empty(): boolean {
    return this.plain.size === 0 && this.queues.size === 0
  }
}

class Node {
  readonly children = new Map<string, Node>()
  star: Node | null = null
  /** The entry of the pattern ending here, if any. */
  entry: Entry | null = null
  /** The entry of `<prefix>.>` at this node. */
  tail: Entry | null = null
}

const CACHE_MAX = 8192
const INBOX = '_INBOX.'

function hasWildcard(pattern: string): boolean {
  return pattern === '*' || pattern === '>' || pattern.startsWith('*.') || pattern.endsWith('.>') || pattern.endsWith('.*') || pattern.includes('.*.')
}

/**
 * `$SYS.` subjects stay on their node: every node publishes its own `$SYS.stats` and connection events on the
 * same subjects, and a monitor must see one broker's, not all of them interleaved (the report's `cluster`
 * section is the cluster view). Never announced, never routed to other nodes.
 */
export function isNodeLocal(subject: string): boolean {
  return subject.startsWith('$SYS.')
}

/** Separates queue and subject in an interest key: neither may contain a NUL. */
export const KEY_SEPARATOR = '\u0000'

/** `queue \0 subject`, the queue empty for a plain subscription: the field names of a node's interest hash. */
export function interestKey(subject: string, queue: string | null): string {
  return `${queue ?? ''}${KEY_SEPARATOR}${subject}`
}

export function parseInterestKey(key: string): { subject: string; queue: string | null } | null {
  const i = key.indexOf(KEY_SEPARATOR)
  if (i < 0 || i === key.length - 1) return null
  const queue = key.slice(0, i)
  return { subject: key.slice(i + 1), queue: queue === '' ? null : queue }
}

export class RemoteInterest {
  readonly #root = new Node()
  /** node → key → count, so a node's interest can be dropped or replaced whole. */
  readonly #byNode = new Map<string, Map<string, number>>()
  #cache = new Map<string, Targets>()

  /** Nodes that announced any interest. */
  get nodes(): readonly string[] {
    return [...this.#byNode.keys()]
  }

  /** Patterns a node holds (for stats). */
  patternsOf(nodeId: string): number {
    return this.#byNode.get(nodeId)?.size ?? 0
  }

  /** Sets the count of one interest key of a node; 0 removes it. Invalid keys are ignored (returns false). */
  set(nodeId: string, key: string, count: number): boolean {
    const parsed = parseInterestKey(key)
    if (parsed === null || !Number.isSafeInteger(count) || count < 0) return false
    let mine = this.#byNode.get(nodeId)
    const before = mine?.get(key) ?? 0
    if (before === count) return true
    if (mine === undefined) {
      if (count === 0) return true
      mine = new Map()
      this.#byNode.set(nodeId, mine)
    }
    if (count === 0) mine.delete(key)
    else mine.set(key, count)
    if (mine.size === 0) this.#byNode.delete(nodeId)
    this.#apply(parsed.subject, parsed.queue, nodeId, count)
    this.#invalidate(parsed.subject)
    return true
  }

  /** Replaces everything a node holds (a fresh snapshot of its hash). */
  replace(nodeId: string, keys: ReadonlyMap<string, number>): void {
    this.drop(nodeId)
    for (const [key, count] of keys) this.set(nodeId, key, count)
  }

  /** Forgets a node (it left or died). */
  drop(nodeId: string): void {
    const mine = this.#byNode.get(nodeId)
    if (mine === undefined) return
    for (const key of [...mine.keys()]) this.set(nodeId, key, 0)
  }

  /** Which nodes a publish on `subject` must reach. */
  targets(subject: string): Targets {
    const cached = this.#cache.get(subject)
    if (cached !== undefined) return cached
    const entries: Entry[] = []
    this.#collect(this.#root, subject, 0, entries)
    const t = entries.length === 0 ? NO_TARGETS : merge(entries)
    // Reply subjects are used once: cached, each would push a hot subject out (as in the router's cache).
    if (subject.startsWith(INBOX)) return t
    if (this.#cache.size >= CACHE_MAX) this.#cache = new Map()
    this.#cache.set(subject, t)
    return t
  }

  /**
   * Drops what a changed pattern may have changed: a literal subject is one cache entry, an inbox pattern none
   * (inbox subjects are not cached), so a client churning its own subscriptions or requests costs the other
   * nodes nothing; only a wildcard pattern elsewhere empties the cache.
   */
  #invalidate(pattern: string): void {
    if (this.#cache.size === 0 || pattern.startsWith(INBOX)) return
    if (!hasWildcard(pattern)) this.#cache.delete(pattern)
    else this.#cache = new Map()
  }

  #apply(pattern: string, queue: string | null, nodeId: string, count: number): void {
    const tokens = pattern.split('.')
    let node = this.#root
    const path: Array<[Node, string]> = []
    let entry: Entry | null = null
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]
      if (t === '>' && i === tokens.length - 1) {
        entry = node.tail ??= new Entry()
        break
      }
      path.push([node, t])
      let next = t === '*' ? node.star : node.children.get(t)
      if (next === undefined || next === null) {
        if (count === 0) return
        next = new Node()
        if (t === '*') node.star = next
        else node.children.set(t, next)
      }
      node = next
      if (i === tokens.length - 1) entry = node.entry ??= new Entry()
    }
    if (entry === null) return
    if (queue === null) {
      if (count === 0) entry.plain.delete(nodeId)
      else entry.plain.set(nodeId, count)
    } else {
      let members = entry.queues.get(queue)
      if (members === undefined) { members = new Map(); entry.queues.set(queue, members) }
      if (count === 0) members.delete(nodeId)
      else members.set(nodeId, count)
      if (members.size === 0) entry.queues.delete(queue)
    }
    if (!entry.empty) return
    if (node.tail === entry) node.tail = null
    else if (node.entry === entry) node.entry = null
    // Prune nodes left with nothing, from the leaf up.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, t] = path[i]
      const child = t === '*' ? parent.star : parent.children.get(t)
      if (child === undefined || child === null) break
      if (child.entry !== null || child.tail !== null || child.star !== null || child.children.size > 0) break
      if (t === '*') parent.star = null
      else parent.children.delete(t)
    }
  }

  #collect(node: Node, subject: string, from: number, out: Entry[]): void {
    if (node.tail !== null) out.push(node.tail)
    const dot = subject.indexOf('.', from)
    const token = dot < 0 ? subject.slice(from) : subject.slice(from, dot)
    const last = dot < 0
    const exact = node.children.get(token)
    if (exact !== undefined) {
      if (last) { if (exact.entry !== null) out.push(exact.entry) } else this.#collect(exact, subject, dot + 1, out)
    }
    const star = node.star
    if (star !== null) {
      if (last) { if (star.entry !== null) out.push(star.entry) } else this.#collect(star, subject, dot + 1, out)
    }
  }
}

function merge(entries: readonly Entry[]): Targets {
  const plain = new Set<string>()
  const groups = new Map<string, Map<string, number>>()
  for (const e of entries) {
    for (const nodeId of e.plain.keys()) plain.add(nodeId)
    for (const [queue, members] of e.queues) {
      let g = groups.get(queue)
      if (g === undefined) { g = new Map(); groups.set(queue, g) }
      for (const [nodeId, n] of members) g.set(nodeId, (g.get(nodeId) ?? 0) + n)
    }
  }
  const shares = new Map<string, GroupShare[]>()
  for (const [queue, members] of groups) {
    shares.set(queue, [...members].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([nodeId, n]) => ({ nodeId, members: n })))
  }
  return { plain: [...plain], groups: shares }
}
