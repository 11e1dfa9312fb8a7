/** `subwire sub <subject>`: prints the messages of a subscription until `--count` or Ctrl-C. */
import type { Msg } from '../../client/index.ts'
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
  --deliver all      replay a topic from its start (needs topics, which are not available yet)
${CLIENT_OPTIONS_HELP}

Examples:
  subwire sub 'orders.>'
  subwire sub 'sensors.*.temp' --json --count 10 | jq .data
`

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
  // TOPICS (issue 3): --deliver all|last|new replays from a topic once topics exist.
  if (values.deliver !== undefined) throw usageError('--deliver needs durable topics, which are not available yet')
  const max = values.count === undefined ? undefined : parseCount(values.count, '--count', 1)
  const json = values.json === true

  const url = serverUrl(values.server, io)
  const c = await connectCommand(url, io, { name: values.name, token: values.token, reconnect: true, command: 'sub' })
  let n = 0
  try {
    const subscription = c.subscribe(subject, { ...(values.queue === undefined ? {} : { queue: values.queue }), ...(max === undefined ? {} : { max }) })
    await c.flush()
    io.err(`subscribed to ${subject}${values.queue === undefined ? '' : ` in queue group ${values.queue}`} on ${url}\n`)
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

/** Tells the operator on stderr when the broker goes away and comes back. */
async function reportStatus(statuses: AsyncIterableIterator<import('../../client/index.ts').Status>, io: CliIo): Promise<void> {
  for await (const s of statuses) {
    if (s.type === 'disconnect') io.err(`disconnected from ${s.server} (code ${s.code}); reconnecting…\n`)
    else if (s.type === 'reconnect') io.err(`reconnected to ${s.server}\n`)
  }
}
