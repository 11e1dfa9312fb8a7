#!/usr/bin/env node
/**
 * The `subwire` command. For now: `subwire serve [--port N] [--host H] [--path P] [--log-level L]`.
 * Stops gracefully on SIGINT/SIGTERM (clients are told "going away"); a second signal exits at once.
 */
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { createBroker } from './broker.ts'
import { DEFAULT_PORT } from './options.ts'
import { SubwireError } from '../shared/errors.ts'

const USAGE = `Usage: subwire serve [options]

Runs a subwire broker (in memory).

Options:
  --port N          TCP port (0 = any free port)      [default: ${DEFAULT_PORT}]
  --host H          interface to listen on             [default: 127.0.0.1]
  --path P          URL path for WebSocket upgrades    [default: /]
  --log-level L     fatal|error|warn|info|debug|trace|silent  [default: info]
  -h, --help        show this help
`

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

function fail(message: string): never {
  process.stderr.write(`subwire: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PORT
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`)
  return port
}

async function serve(args: string[]): Promise<void> {
  let values: { port?: string; host?: string; path?: string; 'log-level'?: string; help?: boolean }
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }))
  } catch (err) {
    fail((err as Error).message)
  }
  if (values.help === true) { process.stdout.write(USAGE); return }
  const level = values['log-level'] ?? 'info'
  if (!LOG_LEVELS.has(level)) fail(`--log-level must be one of ${[...LOG_LEVELS].join(', ')}`)
  const logger = pino({ level })
  let broker
  try {
    broker = await createBroker({ port: parsePort(values.port), host: values.host ?? '127.0.0.1', path: values.path ?? '/', logger })
  } catch (err) {
    if (err instanceof SubwireError) fail(err.message)
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') fail(`port ${values.port ?? DEFAULT_PORT} is already in use (try --port 0)`)
    throw err
  }
  process.stderr.write(`subwire broker listening on ${broker.url}\nconnect with: connect('${broker.url}') from 'subwire/client'\n`)
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) process.exit(1)
    stopping = true
    logger.info({ signal }, 'shutting down')
    broker.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE)
    return
  }
  if (command === 'serve') return serve(rest)
  fail(`unknown command ${JSON.stringify(command)}`)
}

await main(process.argv.slice(2))
