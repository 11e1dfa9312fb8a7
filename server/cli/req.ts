/** `subwire req <subject> <data>`: sends one request and prints the reply. */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, parseCommand, parseHeaders, parseMs, serverUrl, usageError, type CliIo } from './io.ts'
import { dataText, inputData, messageJson } from './message-format.ts'

export const REQ_USAGE = `Usage: subwire req <subject> <data> [options]

Sends <data> (a string; JSON with --json) as a request to <subject> and prints the reply's data. Fails at once
with no_responders when nothing listens, and with timeout when no reply comes in time (exit code 1).

Options:
  --timeout MS       how long to wait for the reply       [default: 5000]
  --headers K=V      a header (repeat for more)
  --json             parse <data> as JSON, and print the reply as one JSON object (data, headers, rttMs)
${CLIENT_OPTIONS_HELP}

Example:
  subwire req price.quote '{"sku":"sku-42","qty":2}' --json
`

export async function req(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    ...CLIENT_OPTIONS,
    timeout: { type: 'string' },
    headers: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  })
  if (values.help === true) { io.out(REQ_USAGE); return EXIT.ok }
  const [subject, text, ...extra] = positionals
  if (subject === undefined || text === undefined) throw usageError('req needs a subject and the data, e.g. subwire req time.now ""')
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(' ')} (quote data that has spaces)`)
  const timeout = parseMs(values.timeout, '--timeout', 5000)
  const headers = parseHeaders(values.headers)
  const json = values.json === true
  const data = inputData(text, json)

  const c = await connectCommand(serverUrl(values.server, io), io, { name: values.name, token: values.token, reconnect: false, command: 'req' })
  try {
    const started = performance.now()
    const reply = await c.request(subject, data, { timeout, ...(headers === undefined ? {} : { headers }) })
    const rttMs = Math.round((performance.now() - started) * 100) / 100
    if (json) {
      io.out(messageJson(reply, { rttMs }))
    } else {
      io.out(`${dataText(reply.data)}\n`)
      for (const [k, v] of Object.entries(reply.headers ?? {})) io.err(`  ${k}: ${v}\n`)
    }
  } finally {
    await c.close()
  }
  return EXIT.ok
}
