/** `subwire pub <subject> <data>`: publishes once, or `--count N` times with progress and a rate. */
import { SubwireError } from '../../shared/errors.ts'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, parseCommand, parseCount, parseHeaders, parseMs, pause, serverUrl, usageError, type CliIo } from './io.ts'
import { inputData } from './message-format.ts'
import { Progress } from './progress.ts'

export const PUB_USAGE = `Usage: subwire pub <subject> <data> [options]

Publishes <data> (a string; JSON with --json) to <subject>. In the data, {{n}} becomes the message number.

Options:
  --count N          publish N messages (1e6 works) and report progress and a rate on stderr  [default: 1]
  --interval MS      wait MS between messages                   [default: 0, as fast as the broker takes them]
  --headers K=V      a header (repeat for more)
  --reply SUBJECT    reply subject
  --json             parse <data> as JSON (subscribers get the value, not a string)
${CLIENT_OPTIONS_HELP}

Examples:
  subwire pub orders.eu.created '{"id":7}' --json
  subwire pub bench.load 'message {{n}}' --count 1e6
`

/** Messages published between two flushes: a flush is a round trip that bounds the client's buffer. */
const FLUSH_EVERY = 10_000
/** Bytes published between two flushes at most (large payloads flush sooner). */
const FLUSH_BYTES = 4 * 1024 * 1024

export async function pub(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    ...CLIENT_OPTIONS,
    count: { type: 'string' },
    interval: { type: 'string' },
    headers: { type: 'string', multiple: true },
    reply: { type: 'string' },
    json: { type: 'boolean' },
  })
  if (values.help === true) { io.out(PUB_USAGE); return EXIT.ok }
  const [subject, text, ...extra] = positionals
  if (subject === undefined || text === undefined) throw usageError('pub needs a subject and the data, e.g. subwire pub greet hello')
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(' ')} (quote data that has spaces)`)
  const count = parseCount(values.count, '--count', 1)
  const interval = parseMs(values.interval, '--interval', 0)
  const headers = parseHeaders(values.headers)
  const json = values.json === true
  const templated = text.includes('{{n}}')
  // Without a template every message carries the same value: build it once.
  const fixed = templated ? null : inputData(text, json)

  const url = serverUrl(values.server, io)
  const c = await connectCommand(url, io, { name: values.name, token: values.token, reconnect: false, command: 'pub' })
  const progress = new Progress(io, count, 'published')
  try {
    let sinceFlush = 0
    let bytesSinceFlush = 0
    for (let n = 1; n <= count && !io.signal.aborted; n++) {
      const data = fixed ?? inputData(text.replaceAll('{{n}}', String(n)), json)
      c.publish(subject, data, { ...(headers === undefined ? {} : { headers }), ...(values.reply === undefined ? {} : { reply: values.reply }) })
      const size = typeof data === 'string' ? data.length : 0
      progress.add(size)
      sinceFlush++
      bytesSinceFlush += size
      if (interval > 0) {
        await pause(interval, io.signal)
      } else if (sinceFlush >= FLUSH_EVERY || bytesSinceFlush >= FLUSH_BYTES) {
        await c.flush()
        sinceFlush = 0
        bytesSinceFlush = 0
      }
    }
    await c.flush()
  } catch (err) {
    if (err instanceof SubwireError) throw new SubwireError(err.code, `after ${progress.count} messages: ${err.message}`, { cause: err })
    throw err
  } finally {
    progress.finish(`to ${subject}`)
    await c.close()
  }
  return EXIT.ok
}
