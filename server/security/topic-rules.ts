/**
 * The `topics` field of a user's permissions: which topics it may administer (README "Security"). Its shape
 * and validation live here; the checks at each management request are server/topics/topic-access.ts's.
 */
import { SubwireError } from '../../shared/errors.ts'
import { subjectProblem } from '../../shared/subject.ts'

/** What a user may do to topics (the `topics` field of `Permissions`). */
export interface TopicRules {
  /**
   * Names of the topics it may create, update, purge and delete: a name, or `*` / `>` for every topic (a topic
   * name is one subject token, so these are the only wildcards that apply). @default none
   */
  manage?: string[]
}

/**
 * Checks a `topics` value from options, a JWT claim or the authenticate hook; returns a copy.
 * @throws SubwireError `bad_option` naming the bad field
 */
export function checkTopicRules(value: unknown, where: string): TopicRules | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SubwireError('bad_option', `${where} must be { manage?: [topic names] }`)
  const v = value as Record<string, unknown>
  for (const key of Object.keys(v)) if (key !== 'manage') throw new SubwireError('bad_option', `${where}.${key} is not a topic permission (only manage is)`)
  if (v.manage === undefined) return {}
  if (!Array.isArray(v.manage)) throw new SubwireError('bad_option', `${where}.manage must be an array of topic names`)
  for (const p of v.manage) {
    const problem = subjectProblem(p, true) ?? ((p as string).includes('.') ? 'a topic name is one token (no dots)' : null)
    if (problem !== null) throw new SubwireError('bad_option', `${where}.manage: ${JSON.stringify(p)} is not a topic name or wildcard: ${problem}`)
  }
  return { manage: [...(v.manage as string[])] }
}
