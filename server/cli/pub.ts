/**
 * `subwire pub <subject> <data>`: publishes once, or `--count N` times with progress and a rate; with `--ack`,
 * waits for each message to be stored in its topic and prints the confirm (PROTOCOL §8.2).
 */
import { SubwireError } from '../../shared/errors.ts'
import { HEADER } from '../../shared/protocol.ts'
import type { Client } from '../../client/index.ts'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, parseCommand, parseCount, parseHeaders, parseMs, pause, serverUrl, usageError, type CliIo } from './io.ts'
import { inputData } from './message-format.ts'
import { grouped, Progress } from './progress.ts'

export const PUB_USAGE = `Usage: subwire pub <subject> <data> [options]

Publishes <data> (a string; JSON with --json) to <subject>. In the data, {{n}} becomes the message number.

Options:
  --count N          publish N messages (1e6 works) and report progress and a rate on stderr  [default: 1]
  --interval MS      wait MS between messages                   [default: 0, as fast as the broker takes them]
  --headers K=V      a header (repeat for more)
  --reply SUBJECT    reply subject
  --json             parse <data> as JSON (subscribers get the value, not a string)
  --ack              wait until each message is stored in the topic covering <subject>, and print the confirm:
                     the topic and sequence, or that it was a duplicate (fails with no_topic if none covers it)
  --msg-id ID        de-duplication id ({{n}} allowed): the topic stores a repeated id only once
  --expected-last-seq N
                     with --ack: store (the first message) only if the topic's last sequence is N, else fail
                     with wrong_last_seq
${CLIENT_OPTIONS_HELP}

Examples:
  subwire pub orders.eu.created '{"id":7}' --json
  subwire pub bench.load 'message {{n}}' --count 1e6
  subwire pub orders.eu.created '{"id":7}' --json --ack --msg-id order-7
`

/** Messages published between two flushes: a flush is a round trip that bounds the client's buffer. */
const FLUSH_EVERY = 10_000
/** Bytes published between two flushes at most (large payloads flush sooner). */
const FLUSH_BYTES = 4 * 1024 * 1024
/** Confirmed publishes awaiting their confirm at once: enough to keep the link busy, bounded in memory. */
const ACK_WINDOW = 256

/** A publisher confirm (PROTOCOL §8.2). */
interface Confirm { topic: string; seq: number; duplicate: boolean }

/** A confirm for a terminal. */
export function confirmText(c: Confirm): string {
  return c.duplicate
    ? `duplicate: already stored in topic ${c.topic} as seq ${c.seq} (not stored again)`
    : `stored in topic ${c.topic} as seq ${c.seq}`
}

/**
 * Prints confirms in publish order while keeping up to ACK_WINDOW in flight. Each promise is settled into a
 * value at once, so a rejection waiting behind another is never an unhandled one.
 */
class ConfirmPrinter {
  readonly #io: CliIo
  readonly #numbered: boolean
  readonly #waiting: Array<{ n: number; result: Promise<{ ok: Confirm } | { err: unknown }> }> = []
  stored = 0
  duplicates = 0

  constructor(io: CliIo, numbered: boolean) {
    this.#io = io
    this.#numbered = numbered
  }

  add(n: number, confirm: Promise<Confirm>): Promise<void> {
    this.#waiting.push({ n, result: confirm.then((ok) => ({ ok }), (err: unknown) => ({ err })) })
    return this.#waiting.length >= ACK_WINDOW ? this.#printNext() : Promise.resolve()
  }

  async drain(): Promise<void> {
    while (this.#waiting.length > 0) await this.#printNext()
  }

  async #printNext(): Promise<void> {
    const next = this.#waiting.shift()
    if (next === undefined) return
    const r = await next.result
    if ('err' in r) {
      // Later confirms are abandoned with the client; the first failure is the one to report.
      this.#waiting.length = 0
      throw r.err
    }
    if (r.ok.duplicate) this.duplicates++
    else this.stored++
    this.#io.out(`${this.#numbered ? `[#${next.n}] ` : ''}${confirmText(r.ok)}\n`)
  }
}

export async function pub(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    ...CLIENT_OPTIONS,
    count: { type: 'string' },
    interval: { type: 'string' },
    headers: { type: 'string', multiple: true },
    reply: { type: 'string' },
    json: { type: 'boolean' },
    ack: { type: 'boolean' },
    'msg-id': { type: 'string' },
    'expected-last-seq': { type: 'string' },
  })
  if (values.help === true) { io.out(PUB_USAGE); return EXIT.ok }
  const [subject, text, ...extra] = positionals
  if (subject === undefined || text === undefined) throw usageError('pub needs a subject and the data, e.g. subwire pub greet hello')
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(' ')} (quote data that has spaces)`)
  const count = parseCount(values.count, '--count', 1)
  const interval = parseMs(values.interval, '--interval', 0)
  const headers = parseHeaders(values.headers)
  const json = values.json === true
  const ack = values.ack === true
  if (ack && values.reply !== undefined) throw usageError('--ack and --reply do not go together: the confirm comes back on the reply subject')
  const expectedLastSeq = values['expected-last-seq'] === undefined ? undefined : Number(values['expected-last-seq'])
  if (expectedLastSeq !== undefined) {
    if (!ack) throw usageError('--expected-last-seq needs --ack (a refusal is reported only to a confirmed publish)')
    if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) throw usageError(`--expected-last-seq must be a sequence (0 or more), got ${JSON.stringify(values['expected-last-seq'])}`)
  }
  const msgId = values['msg-id']
  const templated = text.includes('{{n}}')
  // Without a template every message carries the same value: build it once.
  const fixed = templated ? null : inputData(text, json)

  const url = serverUrl(values.server, io)
  const c = await connectCommand(url, io, { name: values.name, token: values.token, reconnect: false, command: 'pub' })
  const progress = new Progress(io, count, 'published')
  const confirms = ack ? new ConfirmPrinter(io, count > 1) : null
  try {
    let sinceFlush = 0
    let bytesSinceFlush = 0
    for (let n = 1; n <= count && !io.signal.aborted; n++) {
      const data = fixed ?? inputData(text.replaceAll('{{n}}', String(n)), json)
      const id = msgId?.replaceAll('{{n}}', String(n))
      if (confirms !== null) {
        await confirms.add(n, publishAck(c, subject, data, headers, id, n === 1 ? expectedLastSeq : undefined))
      } else {
        const h = id === undefined ? headers : { ...headers, [HEADER.msgId]: id }
        c.publish(subject, data, { ...(h === undefined ? {} : { headers: h }), ...(values.reply === undefined ? {} : { reply: values.reply }) })
      }
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
    await confirms?.drain()
    await c.flush()
  } catch (err) {
    if (err instanceof SubwireError) throw new SubwireError(err.code, `after ${progress.count} message${progress.count === 1 ? '' : 's'}: ${err.message}`, { cause: err })
    throw err
  } finally {
    progress.finish(`to ${subject}`)
    if (confirms !== null && count > 1) io.err(`confirmed: ${grouped(confirms.stored)} stored, ${grouped(confirms.duplicates)} duplicates\n`)
    await c.close()
  }
  return EXIT.ok
}

/** One confirmed publish. Only the first message of a run can expect a last sequence (the next ones move it). */
function publishAck(c: Client, subject: string, data: unknown, headers: Record<string, string> | undefined, msgId: string | undefined, expectedLastSeq: number | undefined): Promise<Confirm> {
  return c.publishAck(subject, data, {
    ...(headers === undefined ? {} : { headers }),
    ...(msgId === undefined ? {} : { msgId }),
    ...(expectedLastSeq === undefined ? {} : { expectedLastSeq }),
  })
}
