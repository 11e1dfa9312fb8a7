/** `subwire topics ls|info|add|rm`: durable topics, which are not available yet (issue 3). */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, EXIT, parseCommand, usageError, type CliIo } from './io.ts'

export const TOPICS_USAGE = `Usage: subwire topics ls|info <name>|add <name>|rm <name> [options]

Manages durable topics (replayable logs with acknowledgements). Topics are not available yet in this broker:
every subcommand fails with a message saying so (exit code 2).

Options:
${CLIENT_OPTIONS_HELP}
`

// TOPICS (issue 3): implement ls/info/add/rm against the broker's topic API once it exists.
export async function topics(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, { ...CLIENT_OPTIONS })
  if (values.help === true) { io.out(TOPICS_USAGE); return EXIT.ok }
  throw usageError('topics are not available yet: durable topics come with the topics work (issue 3)')
}
