/**
 * `subwire serve`'s configuration: every broker option (and the serve-only ones) from a JSON config file,
 * environment variables (`SUBWIRE_<NAME>`) or flags (`--kebab-name`), in that rising order of precedence over
 * the defaults. One table (`SERVE_OPTIONS`) drives the schema (zod), the flag and variable names, and `--help`.
 *
 * Each source is validated on its own, so an error names the field as the operator wrote it
 * (`--max-payload`, `SUBWIRE_MAX_PAYLOAD` or `maxPayload in subwire.json`). Cross-field rules stay in
 * options.ts (`resolveConfig`), the one place that checks a broker's options. A config file may also hold
 * `auth` (checked by the broker) and `topics` (checked here field by field: cli/topic-options.ts).
 */
import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import type { LevelWithSilent } from 'pino'
import { SubwireError } from '../../shared/errors.ts'
import { DEFAULT_PORT, type BrokerOptions } from '../options.ts'
import { validatePermissions } from '../security/permissions.ts'
import type { TopicConfig } from '../store/topic-store.ts'
import { parseQuantity, QUANTITY_EXAMPLE } from './quantity.ts'
import { TOPICS_SCHEMA } from './topic-options.ts'
import { SERVE_OPTIONS, type Kind, type OptionSpec } from './serve-options.ts'
import { CLUSTER_SCHEMA, resolveServeCluster, WORKERS_SCHEMA } from './serve-cluster.ts'
import { maskValue } from './redact.ts'

export { parseQuantity }

export { SERVE_OPTIONS } from './serve-options.ts'

/** An option's key. */
export type ServeOptionKey = keyof typeof SERVE_OPTIONS

/** Where a value came from. */
export type ConfigSource = 'flag' | 'env' | 'file' | 'default'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const LOG_FORMATS = ['json', 'pretty'] as const

/** The resolved configuration of `subwire serve`. */
export interface ServeConfig {
  /** What createBroker gets (without logger). */
  broker: BrokerOptions
  logLevel: LevelWithSilent
  logFormat: (typeof LOG_FORMATS)[number] | null
  shutdownTimeoutMs: number
  statsIntervalMs: number
  monitor: boolean
  /** Broker processes sharing the port (`--workers`, which needs `cluster`), or null for one in this process. */
  workers: number | null
  /** The source of every option that was set (`auth` and `topics` come only from the file). */
  sources: Partial<Record<ServeOptionKey, ConfigSource>>
  /** The config file read, if any. */
  file: string | null
}

const OPTION_KEYS = Object.keys(SERVE_OPTIONS) as ServeOptionKey[]
const ALL_SPECS: Record<ServeOptionKey, OptionSpec> = SERVE_OPTIONS

/** `maxPayload` → `max-payload`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** `maxPayload` → `SUBWIRE_MAX_PAYLOAD`. */
export function envName(key: string): string {
  return `SUBWIRE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

function parseBool(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw
  const v = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off'].includes(v)) return false
  return raw
}

const EXAMPLE: Partial<Record<Kind, string>> = QUANTITY_EXAMPLE
/** The shortest token the broker accepts (auth.ts). */
const MIN_SECRET = 8

/**
 * What `monitorToken` may do: read the monitoring (`/stats`, `/metrics`, the web monitor) and subscribe to
 * `$SYS.>`; nothing else, so a leaked monitor token reads no application subject and publishes nowhere.
 */
export const MONITOR_TOKEN_PERMISSIONS = { monitor: true, publish: { allow: [] }, subscribe: { allow: ['$SYS.>'] } } as const

/**
 * `auth` with the monitor token added (user `monitor`). A monitor token turns authentication on, so the config
 * file must say how the other clients authenticate (tokens, users or jwt): a broker whose only credential is
 * the monitor's would refuse every application.
 */
function withMonitorToken(auth: unknown, token: string, source: string): Record<string, unknown> {
  const a = (auth ?? {}) as Record<string, unknown>
  if (a.tokens === undefined && a.users === undefined && a.jwt === undefined) {
    throw new SubwireError('bad_option', `${source} turns authentication on, so it needs auth (tokens, users or jwt) in the config file for the other clients; without auth the monitoring is open, like everything else`)
  }
  const tokens = Array.isArray(a.tokens) ? a.tokens : []
  return { ...a, tokens: [...tokens, { token, user: 'monitor', permissions: MONITOR_TOKEN_PERMISSIONS }] }
}

function numberSchema(spec: OptionSpec): z.ZodType {
  const what = EXAMPLE[spec.kind] ?? 'a number'
  let n = z.number({ error: `must be ${what}` }).int({ error: `must be ${what}` })
  if (spec.min !== undefined) n = n.min(spec.min, { error: `must be at least ${spec.min}` })
  if (spec.max !== undefined) n = n.max(spec.max, { error: `must be at most ${spec.max}` })
  return z.preprocess((raw) => parseQuantity(raw, spec.kind), n)
}

/** The zod schema of one option, accepting both JSON values and the strings of flags and variables. */
function optionSchema(spec: OptionSpec): z.ZodType {
  switch (spec.kind) {
    case 'int': case 'bytes': case 'ms': return numberSchema(spec)
    case 'string': return z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' })
    case 'secret': return z.string({ error: 'must be a string' }).min(MIN_SECRET, { error: `must be at least ${MIN_SECRET} characters` })
    case 'path': return z.string({ error: 'must be a string' }).startsWith('/', { error: "must start with '/'" })
    case 'dir': return z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path, not empty' })
      .refine((dir) => !dir.includes('\0'), { error: 'must be a directory path (no NUL character)' })
    case 'bool': return z.preprocess(parseBool, z.boolean({ error: 'must be true or false' }))
    case 'list': return z.preprocess((raw) => (typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : raw),
      z.array(z.string({ error: 'must be a list of strings' }), { error: 'must be a list of strings' }))
    case 'level': return z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
    case 'format': return z.enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` })
    case 'cluster': return CLUSTER_SCHEMA
    case 'workers': return WORKERS_SCHEMA
    default: {
      const never: never = spec.kind
      throw new SubwireError('bad_option', `unknown option kind ${String(never)}`)
    }
  }
}

/** The schema of a whole source: every option optional, unknown keys refused. */
const SOURCE_SCHEMA = z.object({
  ...Object.fromEntries(OPTION_KEYS.map((k) => [k, optionSchema(ALL_SPECS[k]).optional()])),
  // Authentication settings go to the broker as they are (it checks them); only a config file can hold them.
  auth: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
  // Topics to create at start; only a config file can hold them. Checked field by field (topic-options.ts).
  topics: TOPICS_SCHEMA.optional(),
}).strict()

/** Keys a config file may hold besides the options of the table. */
const FILE_ONLY_KEYS = ['auth', 'topics'] as const

type SourceValues = Partial<Record<ServeOptionKey | (typeof FILE_ONLY_KEYS)[number], unknown>>

/** The closest known option name to a misspelt one, if close enough to be a likely typo. */
function suggest(name: string, names: readonly string[]): string | null {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i)
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0] ?? 0
      row[0] = i
      for (let j = 1; j <= b.length; j++) {
        const next = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
        prev = row[j] ?? 0
        row[j] = next
      }
    }
    return row[b.length] ?? Infinity
  }
  let best: string | null = null
  let bestD = 3
  for (const n of names) {
    const d = distance(name.toLowerCase(), n.toLowerCase())
    if (d < bestD) { best = n; bestD = d }
  }
  return best
}

/** `['topics', 1, 'maxMsgs']` → `topics[1].maxMsgs`. */
function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('')
}

/** The value at a path inside a source, or undefined. */
function valueAt(values: unknown, path: readonly PropertyKey[]): unknown {
  let v = values
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[p] : undefined
  return v
}

/** `, got 5`, or `, but it is missing`. */
function got(value: unknown): string {
  return value === undefined ? ', but it is missing' : `, got ${JSON.stringify(value)}`
}

/** The keys a topic config may hold (for typo suggestions). */
const TOPIC_KEYS = ['name', 'subjects', 'maxMsgs', 'maxBytes', 'maxAgeMs', 'maxMsgsPerSubject', 'discard', 'duplicateWindowMs', 'storage', 'fsync']

/**
 * Validates one source; `nameOf` says how the operator wrote a top-level key in it, and `where` names the file
 * for a field inside one (`topics[1].maxMsgs must be a positive integer, got -5 (in subwire.json)`).
 */
function validateSource(values: Record<string, unknown>, nameOf: (key: string) => string, knownNames: readonly string[], where = ''): SourceValues {
  const result = SOURCE_SCHEMA.safeParse(values)
  if (result.success) return result.data as SourceValues
  const problems = result.error.issues.map((issue) => {
    const nested = issue.path.length > 1 || (issue.code === 'unrecognized_keys' && issue.path.length > 0)
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => {
        const near = suggest(k, nested ? TOPIC_KEYS : knownNames)
        const name = nested ? pathText([...issue.path, k]) : nameOf(k)
        return `unknown option ${name}${near === null ? '' : ` (did you mean ${near}?)`}${nested ? where : ''}`
      }).join('; ')
    }
    if (nested) {
      return `${pathText(issue.path)} ${issue.message}${issue.code === 'custom' ? '' : got(valueAt(values, issue.path))}${where}`
    }
    const key = String(issue.path[0] ?? '')
    // A secret is never echoed (the message goes to a terminal or a log), nor a URL's password.
    const kind = (ALL_SPECS as Record<string, OptionSpec | undefined>)[key]?.kind
    const shown = kind === 'secret' ? 'a value (not shown)' : kind === 'cluster' ? maskValue(JSON.stringify(values[key]) ?? 'nothing') : JSON.stringify(values[key])
    return `${nameOf(key)} ${issue.message}, got ${shown}`
  })
  throw new SubwireError('bad_option', problems.join('; '))
}

/** Reads and validates a JSON config file. */
export function readConfigFile(file: string): SourceValues {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (cause) {
    throw new SubwireError('bad_option', `cannot read the config file ${file}: ${(cause as Error).message}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new SubwireError('bad_option', `the config file ${file} is not valid JSON: ${(cause as Error).message}`, { cause })
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new SubwireError('bad_option', `the config file ${file} must hold a JSON object`)
  const values = validateSource(json as Record<string, unknown>, (k) => `${k} in ${file}`, [...OPTION_KEYS, ...FILE_ONLY_KEYS], ` (in ${file})`)
  checkAuthPermissions(values.auth, ` (in ${file})`)
  return values
}

/**
 * The permissions of the file's `auth.tokens` and `auth.users` (including `topics.manage`), checked when the
 * file is read so the error names it; the broker checks the rest of `auth` (and these again) at start.
 */
function checkAuthPermissions(auth: unknown, where: string): void {
  for (const list of ['tokens', 'users'] as const) {
    const entries = (auth as Record<string, unknown> | undefined)?.[list]
    if (!Array.isArray(entries)) continue
    for (const [i, entry] of entries.entries()) {
      const permissions = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).permissions : undefined
      if (permissions === undefined) continue
      try {
        validatePermissions(permissions, `auth.${list}[${i}].permissions`)
      } catch (cause) {
        throw new SubwireError('bad_option', `${(cause as Error).message}${where}`, { cause })
      }
    }
  }
}

/** The options set through `SUBWIRE_*` variables (others, such as SUBWIRE_URL, are not this command's). */
export function readEnv(env: Record<string, string | undefined>): SourceValues {
  const values: Record<string, unknown> = {}
  for (const key of OPTION_KEYS) {
    const v = env[envName(key)]
    if (v !== undefined && v !== '') values[key] = v
  }
  return validateSource(values, envName, OPTION_KEYS.map(envName))
}

/** The options set by flags (already split by parseArgs, keyed by flag name). */
export function readFlags(flags: Record<string, string | boolean | undefined>): SourceValues {
  const values: Record<string, unknown> = {}
  for (const key of OPTION_KEYS) {
    const v = flags[flagName(key)]
    if (v !== undefined) values[key] = v
  }
  return validateSource(values, (k) => `--${flagName(k)}`, OPTION_KEYS.map((k) => `--${flagName(k)}`))
}

/**
 * One source with every alias renamed to its option (`maxPendingBytesPerClient` → `maxPendingBytes`), so
 * precedence between sources applies to the option whichever name each used.
 */
function unaliased(values: SourceValues, source: ConfigSource): SourceValues {
  const out: SourceValues = { ...values }
  for (const key of OPTION_KEYS) {
    const target = ALL_SPECS[key].alias as ServeOptionKey | undefined
    if (target === undefined || out[key] === undefined) continue
    if (out[target] !== undefined && out[target] !== out[key]) {
      throw new SubwireError('bad_option', `${key} is another name for ${target}: set one of them (the ${source} sets both)`)
    }
    out[target] = out[key]
    delete out[key]
  }
  return out
}

function readPem(file: unknown, what: string): string {
  try {
    return readFileSync(String(file), 'utf8')
  } catch (cause) {
    throw new SubwireError('bad_option', `cannot read ${what} ${String(file)}: ${(cause as Error).message}`, { cause })
  }
}

/** How the operator wrote an option in the source it came from: `--data-dir`, `SUBWIRE_DATA_DIR`, `dataDir in subwire.json`. */
function writtenAs(key: ServeOptionKey, source: ConfigSource | undefined, file: string | null): string {
  if (source === 'flag') return `--${flagName(key)}`
  if (source === 'env') return envName(key)
  if (source === 'file') return `${key} in ${file ?? 'the config file'}`
  return `${key} (default ${ALL_SPECS[key].default ?? ''})`
}

/**
 * The data directory, absolute (a relative one is taken from the working directory, as a shell would). It is
 * not created here: the broker makes it with the first file topic, so a broker of memory topics writes nothing.
 * An existing path that is not a directory is refused now rather than at the first file topic.
 */
function dataDirOf(raw: unknown, where: string, cwd: string): string {
  const dir = resolve(cwd, typeof raw === 'string' ? raw : './data')
  const stat = statSync(dir, { throwIfNoEntry: false })
  if (stat !== undefined && !stat.isDirectory()) throw new SubwireError('bad_option', `${where} must be a directory, but ${dir} is a file`)
  return dir
}

/**
 * Merges the sources over the defaults (flags > env > file > defaults); a relative `dataDir` is resolved
 * against `cwd` (the process's working directory unless given).
 * @throws SubwireError `bad_option` naming the bad field and where it was set
 * @example const config = loadServeConfig({ flags, env: process.env })
 */
export function loadServeConfig(input: { flags: Record<string, string | boolean | undefined>; env: Record<string, string | undefined>; cwd?: string }): ServeConfig {
  const configFlag = input.flags.config
  const file = typeof configFlag === 'string' ? configFlag : (input.env.SUBWIRE_CONFIG ?? null)
  const layers: Array<[ConfigSource, SourceValues]> = [
    ['file', file === null || file === '' ? {} : readConfigFile(file)],
    ['env', readEnv(input.env)],
    ['flag', readFlags(input.flags)],
  ]
  const merged: SourceValues = {}
  const sources: ServeConfig['sources'] = {}
  for (const [source, values] of layers) {
    for (const [key, value] of Object.entries(unaliased(values, source))) {
      if (value === undefined) continue
      merged[key as ServeOptionKey] = value
      if (!(FILE_ONLY_KEYS as readonly string[]).includes(key)) sources[key as ServeOptionKey] = source
    }
  }
  const broker: Record<string, unknown> = {}
  for (const key of OPTION_KEYS) {
    if (ALL_SPECS[key].serve !== true && merged[key] !== undefined) broker[key] = merged[key]
  }
  if (merged.auth !== undefined) broker.auth = merged.auth
  if (merged.monitorToken !== undefined) broker.auth = withMonitorToken(merged.auth, merged.monitorToken as string, writtenAs('monitorToken', sources.monitorToken, file))
  const written = (key: ServeOptionKey): string => writtenAs(key, sources[key], file)
  const { cluster, workers } = resolveServeCluster(merged, { cluster: written('cluster'), clusterName: written('clusterName'), workers: written('workers') })
  if (cluster !== undefined) broker.cluster = cluster
  broker.dataDir = dataDirOf(merged.dataDir, writtenAs('dataDir', sources.dataDir, file), input.cwd ?? process.cwd())
  if (merged.topics !== undefined) {
    const topics = merged.topics as TopicConfig[]
    const maxTopics = (merged.maxTopics ?? 100) as number
    if (topics.length > maxTopics) throw new SubwireError('bad_option', `the config file declares ${topics.length} topics, more than maxTopics (${maxTopics})`)
    broker.topics = topics
  }
  if (merged.tlsCert !== undefined || merged.tlsKey !== undefined) {
    if (merged.tlsCert === undefined || merged.tlsKey === undefined) throw new SubwireError('bad_option', 'tlsCert and tlsKey go together: set both or neither')
    broker.tls = {
      cert: readPem(merged.tlsCert, 'tlsCert'),
      key: readPem(merged.tlsKey, 'tlsKey'),
      ...(merged.tlsCa === undefined ? {} : { ca: readPem(merged.tlsCa, 'tlsCa') }),
    }
  }
  return {
    broker: { port: DEFAULT_PORT, ...broker } as BrokerOptions,
    logLevel: (merged.logLevel ?? 'info') as LevelWithSilent,
    logFormat: (merged.logFormat ?? null) as ServeConfig['logFormat'],
    shutdownTimeoutMs: (merged.shutdownTimeoutMs ?? 10_000) as number,
    statsIntervalMs: (merged.statsIntervalMs ?? 1000) as number,
    monitor: (merged.monitor ?? true) as boolean,
    workers,
    sources,
    file: file === '' ? null : file,
  }
}

const PLACEHOLDER: Partial<Record<Kind, string>> = { int: 'N', bytes: 'SIZE', ms: 'TIME', list: 'A,B', path: 'PATH', dir: 'DIR', secret: 'TOKEN', cluster: 'URL', workers: 'N' }

/** The `Options:` part of `subwire serve --help`, from the table: one line per option. */
export function serveOptionsHelp(): string {
  return OPTION_KEYS.map((key) => {
    const spec = ALL_SPECS[key]
    const flag = spec.kind === 'bool' ? `--[no-]${flagName(key)}` : `--${flagName(key)} ${PLACEHOLDER[spec.kind] ?? 'VALUE'}`
    return `  ${flag.padEnd(36)}${spec.help}${spec.default === undefined ? '' : ` [${spec.default}]`}`
  }).join('\n')
}
