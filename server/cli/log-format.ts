/**
 * The CLI's logger: pino, one JSON line per event (for log collectors), or a short readable line per event
 * on a terminal during development (`--log-format pretty`, the default when stdout is a TTY). The pretty
 * form is a small pino destination here rather than pino-pretty, to keep the runtime dependencies few.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' }
/** Fields shown elsewhere in a pretty line, or noise there. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component'])

/** One JSON log line as a readable line: `12:00:01.234 INFO  [broker] listening url=ws://…`. */
export function prettyLine(json: string, color: boolean): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json
  }
  const level = typeof entry.level === 'number' ? entry.level : 30
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toISOString().slice(11, 23)
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5)
  const paint = (code: string | undefined, s: string): string => (color && code !== undefined ? `\x1b[${code}m${s}\x1b[0m` : s)
  const component = typeof entry.component === 'string' ? ` [${entry.component}]` : ''
  const fields = Object.entries(entry)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v !== null && typeof v === 'object') {
        const e = v as { message?: unknown; stack?: unknown }
        return `err=${String(e.message)}${typeof e.stack === 'string' ? `\n${e.stack}` : ''}`
      }
      return `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`
    })
  return `${paint('90', time)} ${paint(LEVEL_COLORS[level], name)}${paint('90', component)} ${String(entry.msg ?? '')}${fields.length > 0 ? ` ${paint('90', fields.join(' '))}` : ''}\n`
}

/**
 * A pino logger writing JSON lines or pretty lines to stdout; `mask`, when given, rewrites every line first
 * (redact.ts: the passwords of the cluster's Redis URLs, wherever a log line quotes them).
 */
export function cliLogger(level: LevelWithSilent, format: 'json' | 'pretty', mask: ((line: string) => string) | null = null): Logger {
  const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
  if (format === 'json') return mask === null ? pino({ level }) : pino({ level }, { write: (line: string) => { process.stdout.write(mask(line)) } })
  return pino({ level }, { write: (line: string) => { process.stdout.write(prettyLine(mask === null ? line : mask(line), color)) } })
}
