/**
 * Per-user subject permissions: what a connection may publish, subscribe to and receive.
 *
 * Rules (README "Security"): deny wins over allow; no allow list means "everything not denied". A
 * subscription pattern is allowed only if every subject it could match is allowed: some allow pattern must
 * *cover* it and no deny pattern may *intersect* it, so `>` or `orders.>` can never widen
 * `allow: ['orders.eu.*']`. Checks on the publish and delivery paths are cached per connection.
 */
import { SubwireError } from '../shared/errors.ts'
import { subjectMatches, subjectProblem } from '../shared/subject.ts'

/** Allow and deny patterns for one kind of operation. */
export interface SubjectRules {
  allow?: string[]
  deny?: string[]
}

/** What a user may do. */
export interface Permissions {
  publish?: SubjectRules
  /** Subjects; `queues` restricts queue-group names (matched like single-token subjects). */
  subscribe?: SubjectRules & { queues?: SubjectRules }
  /**
   * May publish to the reply subject of a request it received, even without publish permission for it.
   * `true` means `{ max: 1, expiresMs: 60000 }`. @default true
   */
  allowResponses?: boolean | { max: number; expiresMs: number }
}

/** Does pattern `a` match every subject pattern `p` can match? */
export function patternCovers(a: string, p: string): boolean {
  const at = a.split('.')
  const pt = p.split('.')
  for (let i = 0; i < at.length; i++) {
    const x = at[i]
    if (x === '>') return pt.length > i
    if (i >= pt.length) return false
    const y = pt[i]
    if (y === '>') return false
    if (x !== '*' && x !== y) return false
  }
  return at.length === pt.length
}

/** Is there a subject both patterns match? */
export function patternsIntersect(a: string, b: string): boolean {
  const at = a.split('.')
  const bt = b.split('.')
  const n = Math.min(at.length, bt.length)
  for (let i = 0; i < n; i++) {
    const x = at[i]
    const y = bt[i]
    if (x === '>' || y === '>') return true
    if (x !== '*' && y !== '*' && x !== y) return false
  }
  return at.length === bt.length
}

const DEFAULT_RESPONSES = { max: 1, expiresMs: 60_000 } as const
/** Cached decisions per connection; past this many subjects the cache starts over. */
const DECISION_CACHE = 1024

function checkPatterns(list: unknown, where: string): string[] | undefined {
  if (list === undefined) return undefined
  if (!Array.isArray(list)) throw new SubwireError('bad_option', `${where} must be an array of subject patterns`)
  for (const p of list) {
    const problem = subjectProblem(p, true)
    if (problem !== null) throw new SubwireError('bad_option', `${where}: ${JSON.stringify(p)} is not a valid pattern: ${problem}`)
  }
  return list as string[]
}

function checkRules(rules: unknown, where: string): SubjectRules | undefined {
  if (rules === undefined) return undefined
  if (typeof rules !== 'object' || rules === null) throw new SubwireError('bad_option', `${where} must be { allow?, deny? }`)
  const r = rules as Record<string, unknown>
  return { allow: checkPatterns(r.allow, `${where}.allow`), deny: checkPatterns(r.deny, `${where}.deny`) }
}

/**
 * Checks a permissions object from options or a JWT claim.
 * @throws SubwireError `bad_option` naming the bad field
 */
export function validatePermissions(value: unknown, where = 'permissions'): Permissions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SubwireError('bad_option', `${where} must be an object`)
  const v = value as Record<string, unknown>
  const subscribe = checkRules(v.subscribe, `${where}.subscribe`)
  const queues = v.subscribe !== undefined ? checkRules((v.subscribe as Record<string, unknown>).queues, `${where}.subscribe.queues`) : undefined
  const ar = v.allowResponses
  if (ar !== undefined && typeof ar !== 'boolean') {
    const o = ar as Record<string, unknown>
    if (typeof o !== 'object' || o === null || !Number.isSafeInteger(o.max) || (o.max as number) < 1 || !Number.isSafeInteger(o.expiresMs) || (o.expiresMs as number) < 1) {
      throw new SubwireError('bad_option', `${where}.allowResponses must be a boolean or { max, expiresMs } with positive integers`)
    }
  }
  return {
    publish: checkRules(v.publish, `${where}.publish`),
    subscribe: subscribe === undefined ? undefined : { ...subscribe, queues },
    allowResponses: ar as Permissions['allowResponses'],
  }
}

/** A subject is allowed by rules when some allow matches it (or there is no allow list) and no deny does. */
function allowsSubject(rules: SubjectRules | undefined, subject: string): boolean {
  if (rules === undefined) return true
  if (rules.deny?.some((d) => subjectMatches(d, subject)) === true) return false
  return rules.allow === undefined || rules.allow.some((a) => subjectMatches(a, subject))
}

/** A pattern is allowed when an allow covers it (or there is no allow list) and no deny intersects it. */
function allowsPattern(rules: SubjectRules | undefined, pattern: string): boolean {
  if (rules === undefined) return true
  if (rules.deny?.some((d) => patternsIntersect(d, pattern)) === true) return false
  return rules.allow === undefined || rules.allow.some((a) => patternCovers(a, pattern))
}

/** One connection's compiled permissions, with cached decisions for the hot paths. */
export class PermissionChecker {
  readonly permissions: Permissions
  /** Reply allowance for requests received, or null when responses get no special treatment. */
  readonly responses: { max: number; expiresMs: number } | null
  #publish = new Map<string, boolean>()
  #receive = new Map<string, boolean>()

  constructor(permissions: Permissions) {
    this.permissions = permissions
    const ar = permissions.allowResponses ?? true
    this.responses = ar === false ? null : ar === true ? DEFAULT_RESPONSES : ar
  }

  /** May this connection publish to `subject`? */
  canPublish(subject: string): boolean {
    return cached(this.#publish, subject, () => allowsSubject(this.permissions.publish, subject))
  }

  /** May a message on `subject` be delivered to this connection (checked on every delivery path)? */
  canReceive(subject: string): boolean {
    return cached(this.#receive, subject, () => allowsSubject(this.permissions.subscribe, subject))
  }

  /** Why this connection may not subscribe to `pattern` (in `queue`), or null when it may. */
  subscribeRefusal(pattern: string, queue: string | null): string | null {
    if (!allowsPattern(this.permissions.subscribe, pattern)) return `not allowed to subscribe to ${pattern}`
    if (queue !== null && !allowsSubject(this.permissions.subscribe?.queues, queue)) return `not allowed to join queue group ${queue}`
    return null
  }
}

function cached(cache: Map<string, boolean>, key: string, decide: () => boolean): boolean {
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  if (cache.size >= DECISION_CACHE) cache.clear()
  const answer = decide()
  cache.set(key, answer)
  return answer
}
