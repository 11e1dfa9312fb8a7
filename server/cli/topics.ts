/**
 * `subwire topics ls|info|add|update|rm|purge`: manages a broker's durable topics through the client's
 * `c.topics` API (requests on `$SW.TOPIC.*`, PROTOCOL §8.1). Each subcommand has its own `--help` and prints
 * JSON with `--json`. Failures carry the broker's code (`no_topic`, `topic_exists`, `topic_overlap`,
 * `bad_topic_config`, `limit`) and exit 1; bad flags exit 2 before anything is sent.
 */
import type { Client, TopicInfo } from '../../client/index.ts'
import { topicReport } from '../monitoring/stats-report.ts'
import { bytes } from '../monitoring/web/app/format.ts'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, markFromBroker, parseCommand, serverUrl, usageError, type CliIo } from './io.ts'
import { grouped } from './progress.ts'
import { lostCount, lostText, table, topicsTable } from './stats.ts'
import { applyTopicChanges, TOPIC_FLAGS, topicChangesFromFlags, topicFlagsHelp, type TopicChanges, type TopicFlagValues } from './topic-options.ts'
import type { TopicConfig } from '../store/topic-store.ts'

const JSON_HELP = '  --json                       print the result as JSON'

export const TOPICS_USAGE = `Usage: subwire topics <ls|info|add|update|rm|purge> [options]   (subwire topics <command> --help)

Manages the broker's durable topics: logs that store every message published on their subjects, for replay
(subwire sub --deliver) and acked work queues.

Commands:
  ls                           list topics: messages and bytes against their limits, storage, sequences, groups
  info <name>                  one topic: its limits, storage, what it holds (and lost), its consumer groups
  add <name> --subjects A,B    create a topic (limits: --max-msgs, --max-bytes, --max-age, ...; --storage file)
  update <name> [limits]       change a topic's subjects or limits (the ones not given are kept)
  rm <name>                    delete a topic and everything it holds
  purge <name> [--subject S]   remove its messages (or those on subjects matching S); sequences go on

Options:
${JSON_HELP}
${CLIENT_OPTIONS_HELP}

Examples:
  subwire topics add orders --subjects 'orders.>' --max-msgs 100000 --max-age 24h
  subwire topics add sensors --subjects 'sensors.>' --max-msgs-per-subject 1
  subwire topics add jobs --subjects 'jobs.>' --storage file --fsync always
  subwire topics ls
`

/** One subcommand: its usage, its extra flags, its positional names, and what it does with a client. */
interface Subcommand {
  usage: string
  flags: Record<string, { type: 'string' } | { type: 'boolean' }>
  /** Needs a topic name as its one positional. */
  named: boolean
  /** With TOPIC_FLAGS: whether they describe a new topic (add) or changes to one (update). */
  changes?: 'add' | 'update'
  run(c: Client, name: string, values: Record<string, string | boolean | undefined>, io: CliIo, changes: TopicChanges): Promise<void>
}

function usage(line: string, what: string, options: string): string {
  return `Usage: subwire topics ${line}

${what}

Options:
${options}${options === '' ? '' : '\n'}${JSON_HELP}
${CLIENT_OPTIONS_HELP}
`
}

/** `3600000` → `1h`, `120000` → `2m`, `1500` → `1500ms`: how a duration flag would take it. */
function msText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

function timeText(t: number | null): string {
  return t === null ? '-' : new Date(t).toISOString()
}

/** Ranges listed by `topics info` (all of them are in --json). */
const LOST_LISTED = 20

/** `fsync` as `topics info` says it: always, never, or every interval (`every 100ms`). */
function fsyncText(fsync: TopicInfo['config']['fsync']): string {
  return typeof fsync === 'number' ? `every ${msText(fsync)}` : (fsync ?? 'always')
}

/** The storage lines of `topics info`: `storage file (fsync always), 1.2 MiB on disk` and the ranges lost. */
function storageText(t: TopicInfo): string {
  let out = t.storage === 'file' ? `  storage   file (fsync ${fsyncText(t.config.fsync)}), ${bytes(t.diskBytes)} on disk\n` : `  storage   ${t.storage}\n`
  const lost = t.lost
  if (lost.length > 0) out += `  lost      ${lostText(lost, LOST_LISTED)} (${grouped(lostCount(lost))} message${lostCount(lost) === 1 ? '' : 's'})\n`
  return out
}

/** A topic for a terminal: limits, what it holds, and a table of its consumer groups. */
export function topicText(t: TopicInfo): string {
  const r = topicReport(t)
  const cfg = t.config
  const limits = [
    cfg.maxMsgs === undefined ? null : `maxMsgs ${grouped(cfg.maxMsgs)}`,
    cfg.maxBytes === undefined ? null : `maxBytes ${bytes(cfg.maxBytes)}`,
    cfg.maxAgeMs === undefined ? null : `maxAge ${msText(cfg.maxAgeMs)}`,
    cfg.maxMsgsPerSubject === undefined ? null : `maxMsgsPerSubject ${grouped(cfg.maxMsgsPerSubject)}`,
    `discard ${cfg.discard}`,
    `duplicateWindow ${cfg.duplicateWindowMs === undefined ? '-' : msText(cfg.duplicateWindowMs)}`,
  ].filter((x) => x !== null)
  let out = `topic ${t.name}  subjects ${cfg.subjects.join(', ')}\n`
  out += `  limits    ${limits.join(', ')}\n`
  out += storageText(t)
  out += `  messages  ${grouped(r.messages)}${r.capacity === null ? '' : ` of ${grouped(r.capacity)}`}, ${bytes(r.bytes)}${r.maxBytes === null ? '' : ` of ${bytes(r.maxBytes)}`}\n`
  out += r.messages === 0
    ? `  seq       none held (last seq ${r.lastSeq})\n`
    : `  seq       ${r.firstSeq}..${r.lastSeq}, stored ${timeText(r.firstTime)} .. ${timeText(r.lastTime)}\n`
  if (t.consumers.length === 0) return `${out}  groups    none\n`
  return `${out}\n${table(['GROUP', 'MEMBERS', 'IN FLIGHT', 'ACKED', 'TO REDELIVER', 'TERMINATED', 'DEAD-LETTERED', 'ACK FLOOR', 'NEXT SEQ'],
    t.consumers.map((g) => [g.name, String(g.members), grouped(g.inFlight), grouped(g.acked), grouped(g.redeliveries), grouped(g.terminated), grouped(g.deadLettered), String(g.ackFloor), String(g.nextSeq)]))}`
}

function print(io: CliIo, values: Record<string, unknown>, json: unknown, text: string): void {
  io.out(values.json === true ? `${JSON.stringify(json, null, 2)}\n` : text)
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  ls: {
    usage: usage('ls [options]', 'Lists the topics: messages and bytes against their limits, where they are stored (memory, or file\nand the bytes on disk), the sequences they hold, when they last stored a message, their consumer groups,\nand the sequences a file topic lost at recovery (LOST, when one did).', ''),
    flags: {},
    named: false,
    async run(c, _name, values, io) {
      const list = await c.topics.list()
      print(io, values, list, list.length === 0 ? 'no topics\n' : topicsTable(list.map(topicReport)))
    },
  },
  info: {
    usage: usage('info <name> [options]', "Shows one topic: its limits, its storage (memory, or file with its fsync and bytes on disk), what it\nholds, the ranges of sequences lost at recovery (found corrupt), and its consumer groups.", ''),
    flags: {},
    named: true,
    async run(c, name, values, io) {
      const info = await c.topics.info(name)
      print(io, values, info, topicText(info))
    },
  },
  add: {
    usage: usage('add <name> --subjects A,B [options]', 'Creates a topic: from now on every message published on its subjects is stored (before it is delivered\nlive), up to its limits. Subjects may not overlap another topic\'s (topic_overlap).', topicFlagsHelp(false)),
    flags: TOPIC_FLAGS,
    named: true,
    changes: 'add',
    async run(c, name, values, io, changes) {
      const info = await c.topics.add(applyTopicChanges(name, changes) as TopicConfigWire)
      print(io, values, info, `created topic ${name}\n${topicText(info)}`)
    },
  },
  update: {
    usage: usage('update <name> [options]', "Changes a topic's subjects or limits; what is not given is kept. Lower limits evict at once.", topicFlagsHelp(true)),
    flags: TOPIC_FLAGS,
    named: true,
    changes: 'update',
    async run(c, name, values, io, changes) {
      // Read, change, write: the broker replaces the whole config, so the limits not given are carried over.
      const current = await c.topics.info(name)
      const config = applyTopicChanges(name, changes, current.config as TopicConfig)
      const info = await c.topics.update(name, config as TopicConfigWire)
      print(io, values, info, `updated topic ${name}\n${topicText(info)}`)
    },
  },
  rm: {
    usage: usage('rm <name> [options]', 'Deletes a topic and every message it holds; replay subscriptions on it get a gap event and end.', ''),
    flags: {},
    named: true,
    async run(c, name, values, io) {
      await c.topics.delete(name)
      print(io, values, { deleted: name }, `deleted topic ${name}\n`)
    },
  },
  purge: {
    usage: usage('purge <name> [--subject S] [options]', 'Removes the messages a topic holds (sequences are not reused: the next message goes on from the last).',
      '  --subject S                  only the messages on subjects matching S (wildcards allowed)'),
    flags: { subject: { type: 'string' } },
    named: true,
    async run(c, name, values, io) {
      const subject = typeof values.subject === 'string' ? values.subject : undefined
      const purged = await c.topics.purge(name, subject === undefined ? {} : { subject })
      print(io, values, { purged }, `purged ${grouped(purged)} message${purged === 1 ? '' : 's'} from ${name}${subject === undefined ? '' : ` on ${subject}`}\n`)
    },
  },
}

const NO_CHANGES: TopicChanges = { set: {}, remove: [] }

/** The client's TopicConfig (mutable arrays): the same fields as the broker's. */
type TopicConfigWire = Parameters<Client['topics']['add']>[0]

export async function topics(args: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') { io.out(TOPICS_USAGE); return EXIT.ok }
  const command = SUBCOMMANDS[name === 'delete' ? 'rm' : name]
  if (command === undefined) throw usageError(`unknown topics command ${JSON.stringify(name)}: use ls, info, add, update, rm or purge`)
  const { values, positionals } = parseCommand(rest, { ...CLIENT_OPTIONS, json: { type: 'boolean' }, ...command.flags })
  if (values.help === true) { io.out(command.usage); return EXIT.ok }
  const [topic, ...extra] = positionals
  if (command.named && topic === undefined) throw usageError(`topics ${name} needs a topic name, e.g. subwire topics ${name} orders`)
  if (extra.length > 0 || (!command.named && topic !== undefined)) throw usageError(`unexpected arguments: ${[...(command.named ? [] : [topic]), ...extra].join(' ')}`)
  // Flags are checked before connecting: a bad one exits 2 with nothing sent.
  const changes = command.changes === undefined ? NO_CHANGES : topicChangesFromFlags(values as TopicFlagValues, command.changes === 'update')
  const c = await connectCommand(serverUrl(values.server, io), io, { name: values.name, token: values.token, reconnect: false, command: 'topics' })
  try {
    await command.run(c, topic ?? '', values as Record<string, string | boolean | undefined>, io, changes)
  } catch (err) {
    throw markFromBroker(err)
  } finally {
    await c.close()
  }
  return EXIT.ok
}
