/**
 * Topic and consumer-group configs: validation (with typed errors, before any state changes) and the overlap
 * rule between topics' subject sets. Pure functions; every store uses them so that all stores refuse the
 * same configs the same way.
 */
import { DEFAULT_LIMITS } from '../../shared/protocol.ts'
import { subjectProblem } from '../../shared/subject.ts'
import {
  DEFAULT_DUPLICATE_WINDOW_MS, DISCARD, STORAGE, TOPIC_ERROR, topicStoreError,
  type DiscardPolicy, type FsyncPolicy, type StorageKind, type GroupConfig, type ResolvedGroupConfig, type ResolvedTopicConfig, type TopicConfig,
} from './topic-store.ts'

/**
 * The longest duration that may arm a timer: 2^31-1 ms (24.8 days), the most Node's setTimeout holds (a longer
 * one fires after 1 ms with a TimeoutOverflowWarning, so a huge `ackWaitMs` became a redelivery every
 * millisecond). Every option that arms a timer is refused past it (`ackWaitMs`, `backoffMs`, the broker's
 * heartbeats and timeouts); a per-message nak delay is clamped to it (connection.ts).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Group defaults (GroupConfig documents each). */
export const DEFAULT_GROUP_CONFIG = {
  filter: '>',
  ackWaitMs: 30_000,
  maxInFlight: 100,
} as const

const DISCARD_VALUES: ReadonlySet<string> = new Set(Object.values(DISCARD))

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** A duration that arms a timer: an integer from `min` to MAX_TIMER_MS. */
function isTimerMs(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= MAX_TIMER_MS
}

/** Why a topic name is invalid, or null: it must be one publishable subject token (it names `$DLQ.<topic>`). */
export function topicNameProblem(name: unknown): string | null {
  const problem = subjectProblem(name, false)
  if (problem !== null) return problem
  return (name as string).includes('.') ? 'a topic name must be a single token (no dots)' : null
}

function badConfig(what: string, problem: string): never {
  throw topicStoreError(TOPIC_ERROR.badTopicConfig, `${what}: ${problem}`)
}

function optionalPositive(config: TopicConfig, key: 'maxMsgs' | 'maxBytes' | 'maxAgeMs' | 'maxMsgsPerSubject'): number | undefined {
  const v = config[key]
  if (v === undefined) return undefined
  if (!isPositiveInteger(v)) badConfig(`topic ${JSON.stringify(config.name)}`, `${key} must be a positive integer, got ${String(v)}`)
  return v
}

function checkedSubjects(config: TopicConfig): readonly string[] {
  const subjects: unknown = config.subjects
  const what = `topic ${JSON.stringify(config.name)}`
  if (!Array.isArray(subjects) || subjects.length === 0) badConfig(what, 'subjects must be a non-empty array of patterns')
  for (const s of subjects) {
    const problem = subjectProblem(s, true)
    if (problem !== null) badConfig(what, `subject ${JSON.stringify(s)}: ${problem}`)
  }
  return Object.freeze([...new Set(subjects as string[])])
}

/** Every key a topic config may have: any other is refused, never ignored (a typo must not pass silently). */
const TOPIC_KEYS: ReadonlySet<string> = new Set(['name', 'subjects', 'maxMsgs', 'maxBytes', 'maxAgeMs', 'maxMsgsPerSubject', 'discard', 'duplicateWindowMs', 'storage', 'fsync'])
const STORAGE_VALUES: ReadonlySet<string> = new Set(Object.values(STORAGE))

function checkedFsync(config: TopicConfig): FsyncPolicy | undefined {
  const fsync: unknown = config.fsync
  if (fsync === undefined || fsync === 'always' || fsync === 'never' || isTimerMs(fsync, 1)) return fsync
  return badConfig(`topic ${JSON.stringify(config.name)}`, `fsync must be 'always', 'never' or an interval in ms from 1 to ${MAX_TIMER_MS}`)
}

/**
 * Validates a topic config and returns a frozen copy with defaults filled in (the caller's object is never kept
 * or changed). Unknown keys are refused.
 * @throws SubwireError `bad_topic_config`
 * @example resolveTopicConfig({ name: 'orders', subjects: ['orders.>'], maxMsgs: 10_000 })
 */
export function resolveTopicConfig(config: TopicConfig): ResolvedTopicConfig {
  if (config === null || typeof config !== 'object') badConfig('topic config', 'must be an object')
  const nameProblem = topicNameProblem(config.name)
  if (nameProblem !== null) badConfig(`topic name ${JSON.stringify(config.name)}`, nameProblem)
  for (const key of Object.keys(config)) if (!TOPIC_KEYS.has(key)) badConfig(`topic ${JSON.stringify(config.name)}`, `unknown key ${JSON.stringify(key)}`)
  const storage: unknown = config.storage
  if (storage !== undefined && (typeof storage !== 'string' || !STORAGE_VALUES.has(storage))) badConfig(`topic ${JSON.stringify(config.name)}`, "storage must be 'memory' or 'file'")
  const fsync = checkedFsync(config)
  if (fsync !== undefined && storage === STORAGE.memory) badConfig(`topic ${JSON.stringify(config.name)}`, "fsync applies to storage: 'file' only")
  const discard: unknown = config.discard ?? DISCARD.old
  if (typeof discard !== 'string' || !DISCARD_VALUES.has(discard)) badConfig(`topic ${JSON.stringify(config.name)}`, "discard must be 'old' or 'new'")
  // maxAgeMs and duplicateWindowMs arm no timer (the broker's 1 s sweep and each append apply them), so any safe
  // integer is sound and no MAX_TIMER_MS applies: a year of retention is a legitimate setting.
  const window = config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS
  if (!isNonNegativeInteger(window)) badConfig(`topic ${JSON.stringify(config.name)}`, 'duplicateWindowMs must be a non-negative integer')
  const resolved: { -readonly [K in keyof ResolvedTopicConfig]: ResolvedTopicConfig[K] } = {
    name: config.name,
    subjects: checkedSubjects(config),
    discard: discard as DiscardPolicy,
    duplicateWindowMs: window,
  }
  const maxMsgs = optionalPositive(config, 'maxMsgs')
  const maxBytes = optionalPositive(config, 'maxBytes')
  const maxAgeMs = optionalPositive(config, 'maxAgeMs')
  const maxMsgsPerSubject = optionalPositive(config, 'maxMsgsPerSubject')
  // Absent limits stay absent (not `undefined` keys), so info().config reads like what was declared.
  if (maxMsgs !== undefined) resolved.maxMsgs = maxMsgs
  if (maxBytes !== undefined) resolved.maxBytes = maxBytes
  if (maxAgeMs !== undefined) resolved.maxAgeMs = maxAgeMs
  if (maxMsgsPerSubject !== undefined) resolved.maxMsgsPerSubject = maxMsgsPerSubject
  if (storage !== undefined) resolved.storage = storage as StorageKind
  if (fsync !== undefined) resolved.fsync = fsync
  return Object.freeze(resolved)
}

/** Same rule as queue group names on SUB (PROTOCOL §4.4), since a group is named by its subscribers' queue. */
function isGroupName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= DEFAULT_LIMITS.maxSubjectLength && !/[\s\x00-\x1f\x7f]/.test(name)
}

function badGroup(group: string, problem: string): never {
  throw topicStoreError(TOPIC_ERROR.badGroupConfig, `group ${JSON.stringify(group)}: ${problem}`)
}

/**
 * Validates a group config and fills in its defaults.
 * @throws SubwireError `bad_group_config`
 */
export function resolveGroupConfig(group: string, config: GroupConfig = {}): ResolvedGroupConfig {
  if (!isGroupName(group)) badGroup(group, 'a group name must be non-empty with no white space (as a queue group name)')
  const filter = config.filter ?? DEFAULT_GROUP_CONFIG.filter
  const filterProblem = subjectProblem(filter, true)
  if (filterProblem !== null) badGroup(group, `filter ${JSON.stringify(filter)}: ${filterProblem}`)
  const ackWaitMs = config.ackWaitMs ?? DEFAULT_GROUP_CONFIG.ackWaitMs
  if (!isTimerMs(ackWaitMs, 1)) badGroup(group, `ackWaitMs must be an integer from 1 to ${MAX_TIMER_MS}`)
  const maxInFlight = config.maxInFlight ?? DEFAULT_GROUP_CONFIG.maxInFlight
  if (!isPositiveInteger(maxInFlight)) badGroup(group, 'maxInFlight must be a positive integer')
  const maxDeliver = config.maxDeliver ?? null
  if (maxDeliver !== null && !isPositiveInteger(maxDeliver)) badGroup(group, 'maxDeliver must be a positive integer')
  const backoff: unknown = config.backoffMs ?? []
  if (!Array.isArray(backoff) || !backoff.every((ms) => isTimerMs(ms, 0))) badGroup(group, `backoffMs must be a list of integers from 0 to ${MAX_TIMER_MS}`)
  if (config.startSeq !== undefined && !isPositiveInteger(config.startSeq)) badGroup(group, 'startSeq must be a positive integer')
  return Object.freeze({ filter, ackWaitMs, maxDeliver, maxInFlight, backoffMs: Object.freeze([...backoff as number[]]) })
}

/** The settings to reopen a group with: those `config` names, the rest as the group has them. */
export function reopened(current: ResolvedGroupConfig, config: GroupConfig = {}): GroupConfig {
  const { maxDeliver, ...rest } = current
  return { ...rest, ...(maxDeliver === null ? {} : { maxDeliver }), ...config }
}

/** True when reopening a group with `config` would change a setting it has now (workers repeating them do not). */
export function changesSettings(current: ResolvedGroupConfig, config: GroupConfig): boolean {
  const next = resolveGroupConfig('g', reopened(current, config))
  return next.filter !== current.filter || next.ackWaitMs !== current.ackWaitMs || next.maxDeliver !== current.maxDeliver ||
    next.maxInFlight !== current.maxInFlight || next.backoffMs.join() !== current.backoffMs.join()
}

/**
 * True when some subject matches both patterns. Token by token: `>` covers any non-empty rest, `*` any one
 * token, literals must be equal; otherwise both must end together. O(tokens).
 * @example patternsOverlap('orders.>', 'orders.eu.*') // true
 */
export function patternsOverlap(a: string, b: string): boolean {
  const p = a.split('.')
  const q = b.split('.')
  for (let i = 0; i < p.length && i < q.length; i++) {
    // `>` needs at least one token here, and the other pattern has one (a token, `*` or `>`).
    if (p[i] === '>' || q[i] === '>') return true
    if (p[i] !== '*' && q[i] !== '*' && p[i] !== q[i]) return false
  }
  return p.length === q.length
}

/**
 * The first pair of overlapping patterns between two subject sets, or null. O(|a|·|b|·tokens); topics are few
 * and this runs only when one is created or updated.
 */
export function subjectsOverlap(a: readonly string[], b: readonly string[]): readonly [string, string] | null {
  for (const p of a) {
    for (const q of b) if (patternsOverlap(p, q)) return [p, q]
  }
  return null
}
