/**
 * `subwire stats`: the broker's report, from `GET /stats` on its HTTP port, or (when that is not served, e.g.
 * a broker attached to an application's server) from the next `$SYS.stats` message.
 */
import { SubwireError } from '../../shared/errors.ts'
import type { StatsReport, TopicReport } from '../monitoring/stats-report.ts'
import { SYS_SUBJECT } from '../monitoring/sys-stats.ts'
import { bytes, compact, duration } from '../monitoring/web/app/format.ts'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, parseCommand, parseMs, serverUrl, usageError, type CliIo } from './io.ts'
import { grouped } from './progress.ts'

export const STATS_USAGE = `Usage: subwire stats [options]

Prints the broker's server info, counters, rates, connections (with subscriptions and pending bytes), the
most-subscribed subjects and topics. Reads GET /stats on the broker's port, else waits for $SYS.stats.

Options:
  --json             print the report as JSON
  --timeout MS       how long to wait for the broker         [default: 5000]
${CLIENT_OPTIONS_HELP}
`

/** `ws://host:port/path` → `http://host:port/stats`. */
export function statsUrl(wsUrl: string): string {
  const u = new URL(wsUrl)
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:'
  u.pathname = '/stats'
  u.search = ''
  return u.toString()
}

async function fromHttp(url: string, timeoutMs: number): Promise<StatsReport | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
    if (res.status !== 200 || !(res.headers.get('content-type') ?? '').includes('json')) return null
    return await res.json() as StatsReport
  } catch {
    return null
  }
}

async function fromSys(url: string, io: CliIo, values: { name?: string | undefined; token?: string | undefined }, timeoutMs: number): Promise<StatsReport> {
  const c = await connectCommand(url, io, { ...values, reconnect: false, command: 'stats' })
  try {
    const sub = c.subscribe(SYS_SUBJECT.stats, { max: 1 })
    const it = sub[Symbol.asyncIterator]()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SubwireError('timeout', `no /stats and no ${SYS_SUBJECT.stats} within ${timeoutMs} ms: is monitoring off on this broker?`)), timeoutMs)
    })
    try {
      const r = await Promise.race([it.next(), timeout])
      if (r.done === true) throw new SubwireError('connection_closed', `the subscription to ${SYS_SUBJECT.stats} ended`)
      return r.value.data as StatsReport
    } finally {
      clearTimeout(timer)
    }
  } finally {
    await c.close()
  }
}

/** A fixed-width table. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => `${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`
  return line(head) + rows.map(line).join('')
}

/** `used / limit`, or just `used` when there is no limit. */
function fill(used: string, limit: string | null): string {
  return limit === null ? used : `${used} / ${limit}`
}

/** The topics of a report as a table (also `subwire topics ls`). */
export function topicsTable(topics: readonly TopicReport[]): string {
  return table(['TOPIC', 'SUBJECTS', 'MESSAGES', 'BYTES', 'SEQ', 'LAST STORED', 'GROUPS'], topics.map((t) => [
    t.name,
    t.subjects.join(','),
    fill(grouped(t.messages), t.capacity === null ? null : grouped(t.capacity)),
    fill(bytes(t.bytes), t.maxBytes === null ? null : bytes(t.maxBytes)),
    t.messages === 0 ? `- (last ${t.lastSeq})` : `${t.firstSeq}..${t.lastSeq}`,
    t.lastTime === null ? '-' : new Date(t.lastTime).toISOString(),
    t.consumers.map((g) => `${g.name} (${g.members} member${g.members === 1 ? '' : 's'}, ${grouped(g.inFlight)} in flight)`).join(', '),
  ]))
}

/** The report for a terminal. */
export function statsText(r: StatsReport): string {
  const s = r.server
  const lag = s.eventLoopLagMs === null ? '' : `, event-loop lag p99 ${s.eventLoopLagMs.p99.toFixed(1)} ms`
  let out = `subwire ${s.version} "${s.name}" (${s.state}) at ${s.url}, up ${duration(s.uptimeMs)}, pid ${s.pid}, RSS ${bytes(s.rssBytes)}${lag}\n`
  out += `messages     in ${compact(r.rates.published)}/s, delivered ${compact(r.rates.delivered)}/s  (since start: ${grouped(r.totals.published)} in, ${grouped(r.totals.delivered)} delivered, ${grouped(r.totals.unmatched)} unmatched)\n`
  out += `bytes        in ${bytes(r.rates.bytesIn)}/s, out ${bytes(r.rates.bytesOut)}/s  (since start: ${bytes(r.totals.bytesIn)} in, ${bytes(r.totals.bytesOut)} out)\n`
  out += `connections  ${r.connections}, subscriptions ${r.subscriptions}, pending ${bytes(r.pendingBytes)}, slow consumers ${r.totals.slowConsumers}${r.backpressure ? ', BACKPRESSURE' : ''}\n`
  if (r.connectionList !== undefined && r.connectionList.length > 0) {
    out += `\n${table(['CONNECTION', 'NAME', 'IP', 'SUBS', 'MSGS IN', 'MSGS OUT', 'PENDING', 'SUBJECTS'],
      r.connectionList.map((c) => [c.id, c.name, c.ip, String(c.subscriptions.length), grouped(c.msgsIn), grouped(c.msgsOut), bytes(c.pendingBytes),
        c.subscriptions.slice(0, 3).map((x) => (x.queue === null ? x.subject : `${x.subject} (${x.queue})`)).join(', ') + (c.subscriptions.length > 3 ? ', …' : '')]))}`
  }
  if (r.topSubscriptions.length > 0) {
    out += `\n${table(['SUBJECT', 'SUBSCRIPTIONS', 'QUEUE GROUPS'], r.topSubscriptions.map((p) => [p.subject, String(p.subscriptions), p.queues.join(', ')]))}`
  }
  if (r.slowConsumers.length > 0) {
    out += `\n${table(['SLOW CONSUMER', 'NAME', 'IP', 'PENDING', 'AT'], r.slowConsumers.map((x) => [x.id, x.name, x.ip, bytes(x.pendingBytes), new Date(x.at).toISOString()]))}`
  }
  out += r.topics.length === 0 ? '\ntopics: none\n' : `\n${topicsTable(r.topics)}`
  return out
}

export async function stats(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...CLIENT_OPTIONS, json: { type: 'boolean' }, timeout: { type: 'string' } })
  if (values.help === true) { io.out(STATS_USAGE); return EXIT.ok }
  if (positionals.length > 0) throw usageError(`unexpected arguments: ${positionals.join(' ')}`)
  const timeoutMs = parseMs(values.timeout, '--timeout', 5000)
  const url = serverUrl(values.server, io)
  const report = (await fromHttp(statsUrl(url), timeoutMs)) ?? (await fromSys(url, io, values, timeoutMs))
  io.out(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : statsText(report))
  return EXIT.ok
}
