/**
 * Who may do what through the topic management API (`$SW.TOPIC.*`, README "Security"). For a restricted
 * caller: create, update, purge and delete need `topics.manage` naming the topic; a topic's subjects (on create
 * and update) must all be ones the caller may publish *and* subscribe to; `info` and `list` show a topic only
 * to who may manage it or subscribe to all its subjects. Unrestricted callers (auth off, or an identity without
 * permissions) pass every check. Refusals are `permission`, and never say whether a hidden topic exists.
 */
import { SubwireError } from '../../shared/errors.ts'
import { quoteSubject } from '../../shared/subject.ts'
import type { Session } from '../security/session.ts'
import { PermissionChecker, RESERVED, patternCovers, patternsIntersect, reservedToken, type Permissions } from '../security/permissions.ts'
import { resolveTopicConfig } from '../store/topic-config.ts'
import type { TopicConfig, TopicInfo } from '../store/topic-store.ts'
import type { Topics } from './topics.ts'

/**
 * The permissions the topic API checks for `session`, or null when it is unrestricted. Read at each request,
 * so a re-authentication (AUTH) that narrows them applies to the next one.
 */
export function topicRights(session: Session): Permissions | null {
  return session.restricted ? (session.identity?.permissions ?? null) : null
}

/**
 * May a restricted user manage (create, update, purge, delete) the topic `name`? Only what `topics.manage`
 * names: a deny-only user, or one allowed to publish everywhere, manages nothing unless granted.
 */
export function mayManageTopic(rights: Permissions, name: string): boolean {
  return rights.topics?.manage?.some((p) => patternCovers(p, name)) === true
}

/**
 * A pattern starting with a wildcard (`>`, `*.x`) matches the reserved subjects too (`_INBOX` replies, `$SYS`),
 * which no grant of a restricted user covers as a whole: such a topic would store (and, with `discard: 'new'`,
 * hold back) everyone's publishes there.
 */
function startsWithWildcard(pattern: string): boolean {
  const c = pattern.charCodeAt(0)
  return (c === 0x2a || c === 0x3e) && (pattern.length === 1 || pattern.charCodeAt(1) === 0x2e) // '*' or '>' as the first token
}

/**
 * May it publish to every subject `pattern` can match? The publish side of the rule subscriptions follow
 * (permissions.ts `allowsPattern`): no deny intersects it and an allow covers it; under a reserved publish
 * token (`RESERVED.publish`) only an allow naming that token does.
 */
function mayPublishAll(rights: Permissions, pattern: string): boolean {
  const rules = rights.publish
  if (rules?.deny?.some((d) => patternsIntersect(d, pattern)) === true) return false
  const reserved = reservedToken(pattern, RESERVED.publish)
  if (reserved !== null) return rules?.allow?.some((a) => reservedToken(a, [reserved]) === reserved && patternCovers(a, pattern)) === true
  return rules?.allow === undefined || rules.allow.some((a) => patternCovers(a, pattern))
}

/** May it subscribe to `pattern`, as a SUB would be judged (reserved subjects included)? */
function maySubscribeAll(rights: Permissions, pattern: string): boolean {
  return !startsWithWildcard(pattern) && new PermissionChecker(rights).subscribeRefusal(pattern, null) === null
}

/**
 * Why a restricted user may not make a topic over `pattern` (create or update), or null: it must be allowed
 * to publish *and* subscribe to every subject the pattern can match, so nobody stores, holds back or reads
 * through a topic what it could not publish or read itself.
 */
export function topicSubjectRefusal(rights: Permissions, pattern: string): string | null {
  if (startsWithWildcard(pattern)) return `a topic over ${quoteSubject(pattern)} would cover reserved subjects`
  if (!mayPublishAll(rights, pattern)) return `not allowed to publish to ${quoteSubject(pattern)}`
  if (!maySubscribeAll(rights, pattern)) return `not allowed to subscribe to ${quoteSubject(pattern)}`
  return null
}

/**
 * May a restricted user see a topic it does not manage (`info`, `list`)? Only when it may subscribe to every
 * subject of the topic: its counts, configuration and consumer groups describe all of them.
 */
export function mayReadTopic(rights: Permissions, subjects: readonly string[]): boolean {
  return subjects.every((s) => maySubscribeAll(rights, s))
}

function refused(message: string): SubwireError {
  return new SubwireError('permission', message)
}

/** Throws `permission` unless `rights` may manage the topic `name`. */
export function checkManage(rights: Permissions, name: string): void {
  if (!mayManageTopic(rights, name)) throw refused(`not allowed to manage topic ${quoteSubject(name)}`)
}

/**
 * Checks a config a restricted caller wants to create or apply: manage on its name, then (once the config is
 * known to be valid, `bad_topic_config` otherwise) publish and subscribe rights on every subject.
 */
export function checkConfig(rights: Permissions, config: TopicConfig): void {
  const name: unknown = typeof config === 'object' && config !== null ? config.name : undefined
  if (typeof name === 'string') checkManage(rights, name)
  const resolved = resolveTopicConfig(config)
  checkManage(rights, resolved.name)
  for (const subject of resolved.subjects) {
    const refusal = topicSubjectRefusal(rights, subject)
    if (refusal !== null) throw refused(`topic ${quoteSubject(resolved.name)}: ${refusal}`)
  }
}

/** May a restricted caller see this topic (manage it, or read its subjects)? */
export function visible(rights: Permissions, info: TopicInfo): boolean {
  return mayManageTopic(rights, info.name) || mayReadTopic(rights, info.config.subjects)
}

/**
 * A topic's info for a restricted caller. A topic it may neither manage nor read, and a topic that does not
 * exist, get the same `permission`; a manager of the name learns `no_topic`.
 */
export function visibleInfo(rights: Permissions, topics: Topics, name: string): TopicInfo {
  if (mayManageTopic(rights, name)) return topics.info(name)
  let info: TopicInfo
  try {
    info = topics.info(name)
  } catch {
    throw refused(`not allowed to see topic ${quoteSubject(name)}`)
  }
  if (!visible(rights, info)) throw refused(`not allowed to see topic ${quoteSubject(name)}`)
  return info
}

/** The topics a restricted caller may see. */
export function visibleList(rights: Permissions, topics: Topics): TopicInfo[] {
  return topics.list().filter((t) => visible(rights, t))
}
