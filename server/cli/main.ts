#!/usr/bin/env node
/**
 * The `subwire` command: `serve` runs a broker; `pub`, `sub`, `req`, `stats` and `topics` talk to one through
 * the client SDK. Each command lives in server/cli/<command>.ts; this file dispatches and maps errors to exit
 * codes (0 done, 1 failed, 2 bad usage or configuration).
 */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { SubwireError } from '../../shared/errors.ts'
import { VERSION } from '../version.ts'
import { EXIT, fromBroker, type CliIo, type Command } from './io.ts'
import { serve } from './serve.ts'
import { pub } from './pub.ts'
import { sub } from './sub.ts'
import { req } from './req.ts'
import { stats } from './stats.ts'
import { topics } from './topics.ts'
import { maskUrls } from './redact.ts'

export const USAGE = `Usage: subwire <command> [options]   (subwire <command> --help for its options)

Commands:
  serve                      run a broker, with its web monitor at http://127.0.0.1:4480/
  pub <subject> <data>       publish a message (--count N for many, with progress and a rate;
                             --ack waits until a topic stored it)
  sub <subject>              print the messages of a subscription (wildcards * and >; --json;
                             --deliver all|last|new|seq:N|... replays a topic first)
  req <subject> <data>       send a request and print the reply
  stats                      print the broker's connections, subscriptions, counters and rates
  topics ls|info|add|update|rm|purge
                             manage durable topics (stored subjects for replay and work queues)

Client commands find the broker with --server URL or SUBWIRE_URL (default ws://127.0.0.1:4480/).
subwire ${VERSION}
`

const COMMANDS: Record<string, Command> = { serve, pub, sub, req, stats, topics }

/**
 * Runs one command line; returns its exit code (a running `serve` returns 0 and lives on).
 * @example process.exitCode = await runCli(['stats', '--json'], io)
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') { io.out(USAGE); return EXIT.ok }
  if (name === '--version' || name === '-v') { io.out(`${VERSION}\n`); return EXIT.ok }
  const command = COMMANDS[name]
  if (command === undefined) {
    io.err(`subwire: unknown command ${JSON.stringify(name)}\n\n${USAGE}`)
    return EXIT.usage
  }
  try {
    return await command(args, io)
  } catch (err) {
    if (err instanceof SubwireError) {
      // A broker's bad_option (e.g. a file topic on a broker without dataDir) is its refusal, not our usage.
      const usage = err.code === 'bad_option' && !fromBroker(err)
      // `subwire topics add …` points at `subwire topics add --help`, the usage of the subcommand.
      const sub = name === 'topics' && args[0] !== undefined && /^[a-z]+$/.test(args[0]) ? `${name} ${args[0]}` : name
      // A URL in a message (a Redis URL in a cluster error) is shown without its password.
      io.err(maskUrls(`subwire ${name}: ${usage ? '' : `${err.code}: `}${err.message}\n${usage ? `(subwire ${sub} --help lists the options)\n` : ''}`))
      return usage ? EXIT.usage : EXIT.failed
    }
    io.err(maskUrls(`subwire ${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`))
    return EXIT.failed
  }
}

/** The process's io: stdout/stderr, its environment, and a signal aborted by the first SIGINT/SIGTERM (not for serve). */
function processIo(command: string | undefined): CliIo {
  const controller = new AbortController()
  if (command !== 'serve') {
    const abort = (): void => {
      if (controller.signal.aborted) process.exit(130)
      controller.abort()
    }
    process.on('SIGINT', abort)
    process.on('SIGTERM', abort)
  }
  return {
    out: (text) => { process.stdout.write(text) },
    err: (text) => { process.stderr.write(text) },
    env: process.env,
    errIsTTY: process.stderr.isTTY === true,
    signal: controller.signal,
  }
}

/** True when this file is the program (through the npm bin symlink too), not a module a test imported. */
function invokedDirectly(): boolean {
  const main = process.argv[1]
  if (main === undefined) return false
  try {
    return pathToFileURL(realpathSync(main)).href === import.meta.url
  } catch {
    return false
  }
}

if (invokedDirectly()) {
  const argv = process.argv.slice(2)
  const code = await runCli(argv, processIo(argv[0]))
  // A serve that failed may leave handles that keep the process up (a Redis client retrying, a worker's IPC
  // channel to its primary): it exits now, with its code. A running serve lives on its server.
  if (argv[0] === 'serve' && code !== EXIT.ok) process.exit(code)
  if (argv[0] !== 'serve') process.exitCode = code
}
