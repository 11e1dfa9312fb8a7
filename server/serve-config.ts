/**
 * `subwire serve`'s configuration: every broker option (and the serve-only ones) from a JSON config file,
 * environment variables (`SUBWIRE_<NAME>`) or flags (`--kebab-name`), in that rising order of precedence over
 * the defaults. One table (`SERVE_OPTIONS`) drives the schema (zod), the flag and variable names, and `--help`.
 *
 * Each source is validated on its own, so an error names the field as the operator wrote it
 * (`--max-payload`, `SUBWIRE_MAX_PAYLOAD` or `maxPayload in subwire.json`). Cross-field rules stay in
 * options.ts (`resolveConfig`), the one place that checks a broker's options.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import type { LevelWithSilent } from 'pino'
import { SubwireError } from '../shared/errors.ts'
import { DEFAULT_LIMITS } from '../shared/protocol.ts'
import { DEFAULT_PORT, type BrokerOptions } from './options.ts'

/** How a value is written and checked. */
type Kind = 'int' | 'bytes' | 'ms' | 'string' | 'path' | 'bool' | 'list' | 'level' | 'format'

/** One option: its kind, bounds, default (for `--help`) and what it does. */
interface OptionSpec {
  kind: Kind
  help: string
  default?: string
  min?: number
  max?: number
  /** A serve-only option (not passed to createBroker). */
  serve?: boolean
}

const KiB = 1024
const MiB = 1024 * KiB

/** Every option `subwire serve` takes. Keys are the config file's (and createBroker's) names. */
export const SERVE_OPTIONS = {
  port: { kind: 'int', min: 0, max: 65535, default: String(DEFAULT_PORT), help: 'TCP port (0 = any free port)' },
  host: { kind: 'string', default: '127.0.0.1', help: 'interface to listen on (0.0.0.0 for all)' },
  path: { kind: 'path', default: '/', help: 'URL path of WebSocket upgrades' },
  serverName: { kind: 'string', default: 'subwire', help: 'name announced to clients' },
  logLevel: { kind: 'level', default: 'info', serve: true, help: 'fatal|error|warn|info|debug|trace|silent' },
  logFormat: { kind: 'format', default: 'pretty on a terminal, else json', serve: true, help: 'json (one line per event) or pretty' },
  shutdownTimeoutMs: { kind: 'ms', min: 1, default: '10s', serve: true, help: 'on SIGTERM/SIGINT, exit at the latest after this' },
  statsIntervalMs: { kind: 'ms', min: 10, default: '1s', serve: true, help: 'period of $SYS.stats and of the monitor charts' },
  monitor: { kind: 'bool', default: 'true', serve: true, help: 'serve /healthz, /readyz, /metrics, /stats and the web monitor' },
  tlsCert: { kind: 'string', serve: true, help: 'PEM certificate file: serve wss:// and https://' },
  tlsKey: { kind: 'string', serve: true, help: 'PEM private key file (with tlsCert)' },
  tlsCa: { kind: 'string', serve: true, help: 'PEM CA bundle file (optional, with tlsCert)' },
  maxPayload: { kind: 'bytes', min: 1, default: '1MiB', help: 'largest message (data + headers)' },
  maxFrame: { kind: 'bytes', min: 1, default: '4MiB', help: 'largest WebSocket frame' },
  maxSubjectLength: { kind: 'int', min: 1, default: String(DEFAULT_LIMITS.maxSubjectLength), help: 'longest subject, bytes' },
  maxHeaders: { kind: 'int', min: 0, default: String(DEFAULT_LIMITS.maxHeaders), help: 'most headers on a message' },
  maxOpsPerFrame: { kind: 'int', min: 1, default: String(DEFAULT_LIMITS.maxOpsPerFrame), help: 'most ops in one inbound frame' },
  maxSubscriptionsPerConnection: { kind: 'int', min: 1, default: String(DEFAULT_LIMITS.maxSubscriptionsPerConnection), help: 'most subscriptions per connection' },
  maxPendingBytes: { kind: 'bytes', min: 1, default: '8MiB', help: 'unsent bytes per connection before it is a slow consumer' },
  highWaterBytes: { kind: 'bytes', min: 1, default: '64KiB', help: 'unsent bytes past which publishers are paused' },
  stallMs: { kind: 'ms', min: 1, default: '250ms', help: 'how long a congested subscriber may hold publishers back' },
  heartbeatMs: { kind: 'ms', min: 1, default: '20s', help: 'PING interval (two missed: stale connection)' },
  connectTimeoutMs: { kind: 'ms', min: 1, default: '5s', help: 'time a new socket has to send CONNECT' },
  closeGraceMs: { kind: 'ms', min: 1, default: '2s', help: 'time a closing connection gets for the close handshake' },
  subjectCacheSize: { kind: 'int', min: 0, default: '4096', help: 'subjects whose matches are cached (0 = off)' },
  authTimeoutMs: { kind: 'ms', min: 1, default: 'connectTimeoutMs', help: 'time a new socket has to authenticate' },
  maxConnections: { kind: 'int', min: 1, default: '50000', help: 'most connections at once' },
  maxConnectionsPerIp: { kind: 'int', min: 1, default: '1000', help: 'most connections from one IP address' },
  maxConnectsPerSecond: { kind: 'int', min: 1, default: '2000', help: 'new connections admitted per second' },
  maxMsgsPerSecond: { kind: 'int', min: 0, default: '0 (no limit)', help: 'messages one connection may publish per second' },
  maxBytesPerSecond: { kind: 'bytes', min: 0, default: '0 (no limit)', help: 'payload bytes one connection may publish per second' },
  perMessageDeflate: { kind: 'bool', default: 'false', help: 'negotiate permessage-deflate compression' },
  trustProxy: { kind: 'bool', default: 'false', help: 'take client addresses from X-Forwarded-For' },
  allowedOrigins: { kind: 'list', default: 'any', help: 'browser origins allowed to connect (comma-separated)' },
} as const satisfies Record<string, OptionSpec>

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
  /** The source of every option that was set. */
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

const UNIT: Record<string, number> = {
  b: 1, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, kib: KiB, mib: MiB, gib: 1024 * MiB, k: KiB, m: MiB, g: 1024 * MiB,
  ms: 1, s: 1000, min: 60_000, h: 3_600_000,
}

/**
 * A number written with an optional unit: `1048576`, `1MiB`, `64 KiB`, `250ms`, `10s`, `1e6`. Strings that are
 * not numbers stay strings, so the schema reports them.
 */
export function parseQuantity(raw: unknown, kind: Kind): unknown {
  if (typeof raw !== 'string') return raw
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(raw)
  if (m === null) return raw
  const unit = (m[2] ?? '').toLowerCase()
  if (unit === '') return Number(m[1])
  const allowed = kind === 'bytes' ? ['b', 'kb', 'mb', 'gb', 'kib', 'mib', 'gib', 'k', 'm', 'g'] : kind === 'ms' ? ['ms', 's', 'min', 'h'] : []
  if (!allowed.includes(unit)) return raw
  return Math.round(Number(m[1]) * (UNIT[unit] ?? NaN))
}

function parseBool(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw
  const v = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off'].includes(v)) return false
  return raw
}

const EXAMPLE: Partial<Record<Kind, string>> = {
  int: 'an integer',
  bytes: 'a size in bytes (e.g. 1048576 or 1MiB)',
  ms: 'a duration in ms (e.g. 1500, 1.5s or 2min)',
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
    case 'path': return z.string({ error: 'must be a string' }).startsWith('/', { error: "must start with '/'" })
    case 'bool': return z.preprocess(parseBool, z.boolean({ error: 'must be true or false' }))
    case 'list': return z.preprocess((raw) => (typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : raw),
      z.array(z.string({ error: 'must be a list of strings' }), { error: 'must be a list of strings' }))
    case 'level': return z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
    case 'format': return z.enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` })
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
}).strict()

type SourceValues = Partial<Record<ServeOptionKey | 'auth', unknown>>

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

/** Validates one source; `nameOf` says how the operator wrote a key in it (for messages). */
function validateSource(values: Record<string, unknown>, nameOf: (key: string) => string, knownNames: readonly string[]): SourceValues {
  const result = SOURCE_SCHEMA.safeParse(values)
  if (result.success) return result.data as SourceValues
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => {
        const near = suggest(k, knownNames)
        return `unknown option ${nameOf(k)}${near === null ? '' : ` (did you mean ${near}?)`}`
      }).join('; ')
    }
    const key = String(issue.path[0] ?? '')
    return `${nameOf(key)} ${issue.message}, got ${JSON.stringify(values[key])}`
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
  return validateSource(json as Record<string, unknown>, (k) => `${k} in ${file}`, [...OPTION_KEYS, 'auth'])
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

function readPem(file: unknown, what: string): string {
  try {
    return readFileSync(String(file), 'utf8')
  } catch (cause) {
    throw new SubwireError('bad_option', `cannot read ${what} ${String(file)}: ${(cause as Error).message}`, { cause })
  }
}

/**
 * Merges the sources over the defaults (flags > env > file > defaults).
 * @throws SubwireError `bad_option` naming the bad field and where it was set
 * @example const config = loadServeConfig({ flags, env: process.env })
 */
export function loadServeConfig(input: { flags: Record<string, string | boolean | undefined>; env: Record<string, string | undefined> }): ServeConfig {
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
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue
      merged[key as ServeOptionKey] = value
      if (key !== 'auth') sources[key as ServeOptionKey] = source
    }
  }
  const broker: Record<string, unknown> = {}
  for (const key of OPTION_KEYS) {
    if (ALL_SPECS[key].serve !== true && merged[key] !== undefined) broker[key] = merged[key]
  }
  if (merged.auth !== undefined) broker.auth = merged.auth
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
    sources,
    file: file === '' ? null : file,
  }
}

const PLACEHOLDER: Partial<Record<Kind, string>> = { int: 'N', bytes: 'SIZE', ms: 'TIME', list: 'A,B', path: 'PATH' }

/** The `Options:` part of `subwire serve --help`, from the table: one line per option. */
export function serveOptionsHelp(): string {
  return OPTION_KEYS.map((key) => {
    const spec = ALL_SPECS[key]
    const flag = spec.kind === 'bool' ? `--[no-]${flagName(key)}` : `--${flagName(key)} ${PLACEHOLDER[spec.kind] ?? 'VALUE'}`
    return `  ${flag.padEnd(36)}${spec.help}${spec.default === undefined ? '' : ` [${spec.default}]`}`
  }).join('\n')
}
