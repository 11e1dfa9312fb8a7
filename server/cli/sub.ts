/**
 * `subwire sub <subject>`: prints the messages of a subscription until `--count` or Ctrl-C; with `--deliver`,
 * replays a topic's stored messages first (PROTOCOL §8.3) and prints each one's sequence and time.
 */
import type { Msg, Status, SubscribeOptions } from '../../client/index.ts'
import { parseQuantity } from './quantity.ts'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, parseCommand, parseCount, serverUrl, usageError, type CliIo } from './io.ts'
import { messageJson, messageText } from './message-format.ts'
import { grouped } from './progress.ts'

export const SUB_USAGE = `Usage: subwire sub <subject> [options]

Subscribes to <subject> (wildcards * and > allowed) and prints each message: readable, or one JSON object per
line with --json. Runs until --count messages arrived or Ctrl-C; reconnects by itself if the broker restarts.

Options:
  --queue NAME       join queue group NAME (each message goes to one member of the group)
  --count N          exit after N messages
  --json             one JSON object per line: subject, data (or dataBase64), headers, reply, receivedAt
                     (and seq and time for messages from a topic)
  --deliver FROM     replay what a topic holds, then go on live (a topic must cover the subject). FROM is
                       all               everything it holds
                       last              the newest message matching the subject
                       last_per_subject  the newest message of each subject (a last-value cache)
                       new               nothing stored: only messages stored from now on
                       seq:N             from sequence N
                       time:ISO          from a time (2025-06-01T12:00:00Z), or time:-5m for 5 minutes ago
${CLIENT_OPTIONS_HELP}

Examples:
  subwire sub 'orders.>'
  subwire sub 'sensors.*.temp' --json --count 10 | jq .data
  subwire sub 'orders.>' --deliver seq:1000
`

/**
 * `--deliver` as the client's `deliver` option.
 * @example parseDeliver('seq:42') // { startSeq: 42 }
 */
export function parseDeliver(raw: string, now = Date.now()): NonNullable<SubscribeOptions['deliver']> {
  if (raw === 'all' || raw === 'last' || raw === 'last_per_subject' || raw === 'new') return raw
  if (raw.startsWith('seq:')) {
    const seq = Number(raw.slice(4).replaceAll('_', ''))
    if (!Number.isSafeInteger(seq) || seq < 1) throw usageError(`--deliver seq:N needs a sequence of at least 1, got ${JSON.stringify(raw)}`)
    return { startSeq: seq }
  }
  if (raw.startsWith('time:')) {
    const text = raw.slice(5)
    const ago = text.startsWith('-') ? parseQuantity(text.slice(1), 'ms') : null
    const startTime = typeof ago === 'number' ? now - ago : Date.parse(text)
    if (!Number.isFinite(startTime)) throw usageError(`--deliver time: needs an ISO time (2025-06-01T12:00:00Z) or a duration ago (time:-5m), got ${JSON.stringify(raw)}`)
    return { startTime }
  }
  throw usageError(`--deliver must be all, last, last_per_subject, new, seq:N or time:ISO, got ${JSON.stringify(raw)}`)
}

/** `--deliver`'s value for the "subscribed" line. */
function deliverText(deliver: NonNullable<SubscribeOptions['deliver']>): string {
  if (typeof deliver === 'string') return deliver
  return 'startSeq' in deliver ? `from seq ${deliver.startSeq}` : `from ${new Date(deliver.startTime).toISOString()}`
}

export async function sub(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    ...CLIENT_OPTIONS,
    queue: { type: 'string' },
    count: { type: 'string' },
    json: { type: 'boolean' },
    deliver: { type: 'string' },
  })
  if (values.help === true) { io.out(SUB_USAGE); return EXIT.ok }
  const [subject, ...extra] = positionals
  if (subject === undefined) throw usageError('sub needs a subject, e.g. subwire sub "orders.>"')
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(' ')}`)
  const deliver = values.deliver === undefined ? undefined : parseDeliver(values.deliver)
  const max = values.count === undefined ? undefined : parseCount(values.count, '--count', 1)
  const json = values.json === true

  const url = serverUrl(values.server, io)
  const c = await connectCommand(url, io, { name: values.name, token: values.token, reconnect: true, command: 'sub' })
  let n = 0
  try {
    const subscription = c.subscribe(subject, {
      ...(values.queue === undefined ? {} : { queue: values.queue }),
      ...(max === undefined ? {} : { max }),
      ...(deliver === undefined ? {} : { deliver }),
    })
    await c.flush()
    // A refused SUB (no topic covers a replay's subject, a permission) is answered before the flush's PONG.
    if (subscription.isClosed) {
      const err = await subscription.closed
      if (err !== null) throw err
    }
    const how = `${values.queue === undefined ? '' : ` in queue group ${values.queue}`}${deliver === undefined ? '' : ` (deliver ${deliverText(deliver)})`}`
    io.err(`subscribed to ${subject}${how} on ${url}\n`)
    void reportStatus(c.status(), io)
    const it = subscription[Symbol.asyncIterator]()
    const aborted = new Promise<IteratorResult<Msg>>((resolve) => {
      if (io.signal.aborted) resolve({ done: true, value: undefined })
      io.signal.addEventListener('abort', () => resolve({ done: true, value: undefined }), { once: true })
    })
    for (;;) {
      const r = await Promise.race([it.next(), aborted])
      if (r.done === true) break
      n++
      io.out(json ? messageJson(r.value) : messageText(r.value, n))
    }
  } finally {
    await c.close()
  }
  if (!json) io.err(`received ${grouped(n)} message${n === 1 ? '' : 's'}\n`)
  return EXIT.ok
}

/** Tells the operator on stderr when the broker goes away and comes back, and what a replay could not deliver. */
async function reportStatus(statuses: AsyncIterableIterator<Status>, io: CliIo): Promise<void> {
  for await (const s of statuses) {
    if (s.type === 'disconnect') io.err(`disconnected from ${s.server} (code ${s.code}); reconnecting…\n`)
    else if (s.type === 'reconnect') io.err(`reconnected to ${s.server}\n`)
    else if (s.type === 'gap') io.err(`gap: topic ${s.topic} no longer holds seq ${s.from}..${s.to} (evicted or purged)\n`)
    else if (s.type === 'slow_consumer') io.err(`slow consumer: ${s.source === 'client' ? 'this client' : 'the broker'} dropped ${grouped(s.dropped)} messages for ${s.subject} (${grouped(s.total)} in all)\n`)
  }
}
