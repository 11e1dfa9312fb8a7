/**
 * Topic configs as an operator writes them: the `topics` key of `subwire serve`'s config file, and the flags of
 * `subwire topics add|update`. One table (`TOPIC_LIMITS`) drives the zod schema, the flag names and their help,
 * so a file and a flag refuse the same values in the same words (`topics[1].maxMsgs must be a positive
 * integer`, `--max-msgs must be a positive integer`). Sizes and durations take units (`1MiB`, `1h`, `2m`).
 *
 * The broker checks every config again when it creates the topic (topic-config.ts, the one authority); this
 * layer exists so that an operator's mistake is reported with the field as it was written, before a broker starts.
 */
import { z } from 'zod'
import { subjectProblem } from '../../shared/subject.ts'
import { resolveTopicConfig, subjectsOverlap, topicNameProblem } from '../store/topic-config.ts'
import type { TopicConfig } from '../store/topic-store.ts'
import { parseQuantity, type QuantityKind } from './quantity.ts'
import { usageError } from './io.ts'

/** One numeric field of a topic config. */
interface LimitSpec {
  readonly kind: QuantityKind
  /** Smallest value allowed (0 only where 0 means "off"). */
  readonly min: 0 | 1
  readonly flag: string
  readonly placeholder: string
  readonly help: string
}

/** The numeric fields of a topic config: their flags, units and help. Left out, a limit does not apply. */
export const TOPIC_LIMITS = {
  maxMsgs: { kind: 'int', min: 1, flag: 'max-msgs', placeholder: 'N', help: 'most messages held' },
  maxBytes: { kind: 'bytes', min: 1, flag: 'max-bytes', placeholder: 'SIZE', help: "most bytes held, e.g. 1MiB [the broker's defaultTopicMaxBytes, 64MiB]" },
  maxAgeMs: { kind: 'ms', min: 1, flag: 'max-age', placeholder: 'TIME', help: 'evict messages older than this, e.g. 1h' },
  maxMsgsPerSubject: { kind: 'int', min: 1, flag: 'max-msgs-per-subject', placeholder: 'N', help: 'keep the last N per subject (1: a last-value cache)' },
  duplicateWindowMs: { kind: 'ms', min: 0, flag: 'duplicate-window', placeholder: 'TIME', help: 'how long a msg-id is remembered for de-duplication, 0 = off [2m]' },
} as const satisfies Record<string, LimitSpec>

type LimitKey = keyof typeof TOPIC_LIMITS
const LIMIT_KEYS = Object.keys(TOPIC_LIMITS) as LimitKey[]
const LIMIT_SPECS: Record<LimitKey, LimitSpec> = TOPIC_LIMITS

/** What a limit must be, in words. */
function limitRule(spec: LimitSpec): string {
  if (spec.kind === 'int') return 'must be a positive integer'
  if (spec.kind === 'bytes') return 'must be a positive size in bytes (e.g. 1048576 or 1MiB)'
  return spec.min === 0 ? 'must be a duration of 0 or more (e.g. 120000, 90s or 2m)' : 'must be a positive duration (e.g. 3600000, 90s or 1h)'
}

function limitSchema(spec: LimitSpec): z.ZodType<number> {
  const rule = limitRule(spec)
  return z.preprocess((raw) => parseQuantity(raw, spec.kind), z.number({ error: rule }).int({ error: rule }).min(spec.min, { error: rule })) as z.ZodType<number>
}

const NAME_RULE = 'must be a topic name: one subject token, no dots or wildcards (e.g. orders)'
const SUBJECTS_RULE = 'must be a non-empty list of subject patterns (e.g. ["orders.>"])'
const DISCARD_RULE = "must be 'old' (evict the oldest) or 'new' (refuse the publish)"
const STORAGE_RULE = "must be 'memory' (lost on restart) or 'file' (kept under the broker's dataDir)"
const FSYNC_RULE = "must be 'always' (confirm after fdatasync), 'never' (leave it to the OS) or an interval of 1 ms or more (e.g. 100 or 100ms)"
/** The longest fsync interval: it arms a timer, and Node's timers hold 2^31 - 1 ms. */
const MAX_FSYNC_MS = 2 ** 31 - 1

/** `fsync` as written: 'always', 'never', or a duration (with units) in ms. */
const FSYNC_SCHEMA = z.preprocess((raw) => (raw === 'always' || raw === 'never' ? raw : parseQuantity(raw, 'ms')),
  z.union([z.literal('always'), z.literal('never'), z.number({ error: FSYNC_RULE }).int({ error: FSYNC_RULE }).min(1, { error: FSYNC_RULE }).max(MAX_FSYNC_MS, { error: FSYNC_RULE })], { error: FSYNC_RULE }))
const STORAGE_SCHEMA = z.enum(['memory', 'file'], { error: STORAGE_RULE })

/** One topic in a config file. Unknown keys are refused (a typo would otherwise lift a limit silently). */
const TOPIC_SCHEMA = z.object({
  name: z.string({ error: NAME_RULE }).superRefine((name, ctx) => {
    if (topicNameProblem(name) !== null) ctx.addIssue({ code: 'custom', message: `${NAME_RULE}, got ${JSON.stringify(name)}` })
  }),
  subjects: z.array(z.string({ error: SUBJECTS_RULE }), { error: SUBJECTS_RULE }).min(1, { error: SUBJECTS_RULE }).superRefine((subjects, ctx) => {
    subjects.forEach((s, i) => {
      const problem = subjectProblem(s, true)
      if (problem !== null) ctx.addIssue({ code: 'custom', path: [i], message: `is not a valid subject pattern (${problem}), got ${JSON.stringify(s)}` })
    })
  }),
  ...Object.fromEntries(LIMIT_KEYS.map((k) => [k, limitSchema(LIMIT_SPECS[k]).optional()])),
  discard: z.enum(['old', 'new'], { error: DISCARD_RULE }).optional(),
  storage: STORAGE_SCHEMA.optional(),
  fsync: FSYNC_SCHEMA.optional(),
}).strict()

/**
 * The `topics` key of a config file: a list of topic configs whose names are unique and whose subjects do not
 * overlap (a message would belong to two logs), each also passing the broker's own check.
 */
export const TOPICS_SCHEMA = z.array(TOPIC_SCHEMA, { error: 'must be a list of topic configs ({ "name", "subjects", ... })' }).superRefine((topics, ctx) => {
  topics.forEach((t, i) => {
    const config = t as unknown as TopicConfig
    for (let j = 0; j < i; j++) {
      const other = topics[j] as unknown as TopicConfig
      if (other.name === config.name) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${JSON.stringify(config.name)} is also the name of topics[${j}]` })
      const overlap = subjectsOverlap(config.subjects, other.subjects)
      if (overlap !== null) {
        ctx.addIssue({ code: 'custom', path: [i, 'subjects'], message: `overlap topics[${j}]'s (${overlap[0]} and ${overlap[1]}): a message would belong to both` })
      }
    }
    try {
      resolveTopicConfig(config)
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [i], message: `is refused by the broker: ${(err as Error).message}` })
    }
  })
})

/** The parseArgs options of `topics add|update`. */
export const TOPIC_FLAGS = {
  subjects: { type: 'string' },
  discard: { type: 'string' },
  storage: { type: 'string' },
  fsync: { type: 'string' },
  ...(Object.fromEntries(LIMIT_KEYS.map((k) => [LIMIT_SPECS[k].flag, { type: 'string' }])) as Record<(typeof TOPIC_LIMITS)[LimitKey]['flag'], { type: 'string' }>),
} as const

/** The help lines of TOPIC_FLAGS. */
export function topicFlagsHelp(update: boolean): string {
  const none = update ? " ('none' removes it)" : ''
  const lines = [
    ['--subjects A,B', `subject patterns it stores, comma-separated (e.g. 'orders.>,refunds.*')${update ? '' : ' (required)'}`],
    ...LIMIT_KEYS.map((k) => [`--${LIMIT_SPECS[k].flag} ${LIMIT_SPECS[k].placeholder}`, `${LIMIT_SPECS[k].help}${none}`]),
    ['--discard old|new', 'at a limit: evict the oldest (old) or refuse the publish with topic_full (new) [old]'],
    ['--storage memory|file', "memory (lost on restart) or file (kept under the broker's --data-dir, reopened on restart) [memory]"],
    ['--fsync always|never|TIME', 'file topics: confirm a publish after fdatasync (always), leave syncing to the OS (never), or sync every TIME, e.g. 100ms [always]'],
  ]
  return lines.map(([flag, help]) => `  ${(flag ?? '').padEnd(29)}${help ?? ''}`).join('\n')
}

/** The flag values of `topics add|update`, as parseArgs returns them. */
export type TopicFlagValues = Partial<Record<keyof typeof TOPIC_FLAGS, string | boolean>>

/** A field of a topic config (storage and fsync: the file store's). */
type TopicField = keyof TopicConfig | 'storage' | 'fsync'

/** What the flags of `topics add|update` ask for: fields to set, and (in an update) limits to remove. */
export interface TopicChanges {
  readonly set: Readonly<Partial<Record<TopicField, unknown>>>
  readonly remove: readonly LimitKey[]
}

/**
 * Reads and checks the flags of `topics add` (`update: false`) or `topics update`, where a limit given as
 * `none` is removed. Runs before anything is sent, so a bad flag exits 2 with nothing changed.
 * @throws SubwireError `bad_option` naming the flag
 * @example topicChangesFromFlags({ subjects: 'orders.>', 'max-age': '1h' }, false) // { set: { subjects: ['orders.>'], maxAgeMs: 3600000 }, remove: [] }
 */
export function topicChangesFromFlags(values: TopicFlagValues, update: boolean): TopicChanges {
  const set: Partial<Record<TopicField, unknown>> = {}
  const remove: LimitKey[] = []
  if (typeof values.subjects === 'string') {
    const subjects = values.subjects.split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (subjects.length === 0) throw usageError("--subjects needs at least one subject pattern (e.g. 'orders.>,refunds.*')")
    for (const s of subjects) {
      const problem = subjectProblem(s, true)
      if (problem !== null) throw usageError(`--subjects: ${JSON.stringify(s)} is not a valid subject pattern (${problem})`)
    }
    set.subjects = subjects
  } else if (!update) {
    throw usageError('a topic needs --subjects, e.g. --subjects "orders.>"')
  }
  for (const k of LIMIT_KEYS) {
    const spec = LIMIT_SPECS[k]
    const raw = values[spec.flag as keyof TopicFlagValues]
    if (typeof raw !== 'string') continue
    if (update && raw.trim().toLowerCase() === 'none') { remove.push(k); continue }
    const parsed = limitSchema(spec).safeParse(raw)
    if (!parsed.success) throw usageError(`--${spec.flag} ${limitRule(spec)}${update ? " (or 'none')" : ''}, got ${JSON.stringify(raw)}`)
    set[k] = parsed.data
  }
  if (typeof values.discard === 'string') {
    if (values.discard !== 'old' && values.discard !== 'new') throw usageError(`--discard ${DISCARD_RULE}, got ${JSON.stringify(values.discard)}`)
    set.discard = values.discard
  }
  if (typeof values.storage === 'string') {
    const storage = STORAGE_SCHEMA.safeParse(values.storage)
    if (!storage.success) throw usageError(`--storage ${STORAGE_RULE}, got ${JSON.stringify(values.storage)}`)
    set.storage = storage.data
  }
  if (typeof values.fsync === 'string') {
    const fsync = FSYNC_SCHEMA.safeParse(values.fsync.trim())
    if (!fsync.success) throw usageError(`--fsync ${FSYNC_RULE}, got ${JSON.stringify(values.fsync)}`)
    set.fsync = fsync.data
    // The broker refuses it too (bad_topic_config); here it is a usage error, before anything is sent.
    if (!update && set.storage !== 'file') throw usageError('--fsync applies to file topics only: add --storage file')
  }
  if (update && Object.keys(set).length === 0 && remove.length === 0) throw usageError('nothing to update: give --subjects or a limit (see subwire topics update --help)')
  return { set, remove }
}

/**
 * The config to send: `base` (the topic's current config, for an update; the broker replaces the whole config,
 * so what is not changed must be carried over) with the changes applied.
 */
export function applyTopicChanges(name: string, changes: TopicChanges, base: TopicConfig | null = null): TopicConfig {
  const config: Record<string, unknown> = { ...(base ?? {}), ...changes.set, name }
  for (const k of changes.remove) delete config[k]
  return config as unknown as TopicConfig
}
