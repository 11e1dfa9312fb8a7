/**
 * What every `subwire` command shares: its input and output (injectable, so commands run in-process in
 * tests), argument parsing with `--help`, the usage-error convention (exit code 2), and how client commands
 * find and connect to a broker.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { connect, type Client } from '../../client/index.ts'
import { SubwireError } from '../../shared/errors.ts'
import { DEFAULT_PORT } from '../options.ts'

/** A command's world: where it writes, its environment, and a signal that aborts it (Ctrl-C). */
export interface CliIo {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
  /** True when stderr is a terminal (progress redraws one line instead of printing one per second). */
  errIsTTY: boolean
  /** Aborted on the first SIGINT/SIGTERM. */
  signal: AbortSignal
}

/** A command: its arguments (after the command name) in, an exit code out. */
export type Command = (args: string[], io: CliIo) => Promise<number>

/** Exit codes: 0 done, 1 failed at run time (no broker, no responders, timeout), 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/** The broker a client command talks to unless told otherwise. */
export const DEFAULT_SERVER = `ws://127.0.0.1:${DEFAULT_PORT}/`

/** Options every client command takes. */
export const CLIENT_OPTIONS = {
  server: { type: 'string', short: 's' },
  name: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>

/** The help lines of CLIENT_OPTIONS. */
export const CLIENT_OPTIONS_HELP = `  -s, --server URL   broker to talk to (env SUBWIRE_URL)   [default: ${DEFAULT_SERVER}]
  --name NAME        connection name shown in the monitor and /stats
  --token T          authentication token (env SUBWIRE_TOKEN)
  -h, --help         show this help`

/** Errors the broker answered with: a `bad_option` among them is a refusal at run time (exit 1), not a usage error. */
const FROM_BROKER = new WeakSet<Error>()

/** Marks `err` as the broker's answer (see `fromBroker`); returns it. */
export function markFromBroker<E>(err: E): E {
  if (err instanceof Error) FROM_BROKER.add(err)
  return err
}

/** True for an error the broker answered with (it exits 1 whatever its code). */
export function fromBroker(err: Error): boolean {
  return FROM_BROKER.has(err)
}

/** A usage error: printed with a pointer to `--help`, exit code 2. */
export function usageError(message: string): SubwireError {
  return new SubwireError('bad_option', message)
}

/** The parsed flags and positionals of a command (typed from its options). */
export type ParsedCommand<O extends NonNullable<ParseArgsConfig['options']>> =
  ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; allowNegative: true; strict: true }>>

/** parseArgs with this CLI's conventions: strict, positionals allowed, `--no-<flag>`, errors as usage errors. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O): ParsedCommand<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true as const, allowNegative: true as const, strict: true as const })
  } catch (err) {
    throw usageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''))
  }
}

/** Parses a count such as `1000`, `1e6` or `1_000_000`. */
export function parseCount(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw.replaceAll('_', ''))
  if (!Number.isSafeInteger(n) || n < 1) throw usageError(`${flag} must be a whole number of at least 1 (e.g. 1000 or 1e6), got ${JSON.stringify(raw)}`)
  return n
}

/** Parses a duration in ms such as `500`. */
export function parseMs(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw usageError(`${flag} must be a number of milliseconds, got ${JSON.stringify(raw)}`)
  return n
}

/** `--headers k=v` (repeatable) into a header map. */
export function parseHeaders(raw: string[] | undefined): Record<string, string> | undefined {
  if (raw === undefined || raw.length === 0) return undefined
  const headers: Record<string, string> = {}
  for (const kv of raw) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw usageError(`--headers takes key=value, got ${JSON.stringify(kv)}`)
    headers[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  return headers
}

/** The broker URL from `--server`, `SUBWIRE_URL`, or the default. */
export function serverUrl(flag: string | undefined, io: CliIo): string {
  return flag ?? io.env.SUBWIRE_URL ?? DEFAULT_SERVER
}

/**
 * Connects a command's client. One-shot commands do not reconnect (they fail fast with the reason);
 * `sub` does, and says so on stderr.
 */
export async function connectCommand(url: string, io: CliIo, options: { name?: string | undefined; token?: string | undefined; reconnect: boolean; command: string }): Promise<Client> {
  const token = options.token ?? io.env.SUBWIRE_TOKEN
  try {
    return await connect(url, {
      name: options.name ?? `subwire-cli ${options.command}`,
      ...(token === undefined ? {} : { token }),
      reconnect: options.reconnect ? {} : false,
      connectTimeoutMs: 5000,
    })
  } catch (err) {
    if (err instanceof SubwireError) throw new SubwireError(err.code, `cannot connect to ${url}: ${err.message}`, { cause: err })
    throw err
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return }
    const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
