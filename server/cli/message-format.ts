/** How client commands read data from the command line and print messages (readable, or JSON lines). */
import type { Msg } from '../../client/index.ts'
import { usageError } from './io.ts'

/** The payload for `pub`/`req`: the text as given, or parsed as JSON with `--json`. */
export function inputData(text: string, json: boolean): unknown {
  if (!json) return text
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw usageError(`--json: the data is not valid JSON (${(err as Error).message}): ${text}`)
  }
}

const PRINTABLE = /^[\P{Cc}\n\r\t]*$/u

/** Raw bytes as text when they are printable UTF-8, else as base64. */
function bytesText(data: Uint8Array): { text: string } | { base64: string } {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(data)
    if (PRINTABLE.test(text)) return { text }
  } catch {
    // not UTF-8: base64 below
  }
  return { base64: Buffer.from(data).toString('base64') }
}

/** A payload as one readable string: strings as they are, bytes as text or base64, the rest as JSON. */
export function dataText(data: unknown): string {
  if (typeof data === 'string') return data
  if (data instanceof Uint8Array) {
    const b = bytesText(data)
    return 'text' in b ? b.text : `<${data.byteLength} bytes, base64> ${b.base64}`
  }
  if (data === undefined) return '<no payload>'
  return JSON.stringify(data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/**
 * A message for a terminal: `[#3] orders.eu.created  {"id":7}`, then its headers and reply subject. A message
 * from a topic also shows its sequence and when it was stored: `[#3 seq 42 2025-01-01T12:00:00.000Z] …`.
 */
export function messageText(msg: Msg, n: number): string {
  const stored = msg.seq > 0 ? ` seq ${msg.seq} ${new Date(msg.time).toISOString()}` : ''
  let text = `[#${n}${stored}] ${msg.subject}  ${dataText(msg.data)}\n`
  for (const [k, v] of Object.entries(msg.headers ?? {})) text += `      ${k}: ${v}\n`
  if (msg.reply !== null) text += `      (reply to ${msg.reply})\n`
  return text
}

/**
 * A message as one JSON line: subject, data (or dataBase64 for binary), headers, reply, receivedAt; a message
 * from a topic also has seq and time (ISO).
 */
export function messageJson(msg: Msg, extra: Record<string, unknown> = {}): string {
  const data = msg.data
  const body: Record<string, unknown> = { subject: msg.subject }
  if (msg.seq > 0) {
    body.seq = msg.seq
    body.time = new Date(msg.time).toISOString()
  }
  if (data instanceof Uint8Array) body.dataBase64 = Buffer.from(data).toString('base64')
  else body.data = data ?? null
  body.headers = msg.headers ?? null
  body.reply = msg.reply
  body.receivedAt = new Date().toISOString()
  return `${JSON.stringify({ ...body, ...extra }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`
}
