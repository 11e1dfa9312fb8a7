/**
 * `subwire stats`: the broker's report, from `GET /stats` on its HTTP port, or (when that is not served, e.g.
 * a broker attached to an application's server) from the next `$SYS.stats` message. The token (`--token`,
 * `SUBWIRE_TOKEN`) goes to both: as `Authorization: Bearer` over HTTP, in CONNECT over WebSocket.
 */
import { SubwireError } from '../../shared/errors.ts'
import type { ClusterStats } from '../cluster/cluster-adapter.ts'
import { CONNECTIONS_PAGE, MAX_CONNECTIONS_PAGE, type StatsReport, type TopicReport } from '../monitoring/stats-report.ts'
import { SYS_SUBJECT } from '../monitoring/sys-stats.ts'
import { bytes, compact, duration } from '../monitoring/web/app/format.ts'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, connectCommand, EXIT, parseCommand, parseMs, serverUrl, usageError, type CliIo } from './io.ts'
import { grouped } from './progress.ts'

export const STATS_USAGE = `Usage: subwire stats [options]

Prints the broker's server info, counters, rates, its cluster (the Redis link and every node seen, with their
connections), connections (with subscriptions and pending bytes), the most-subscribed subjects and topics. Reads GET /stats on the broker's port, else waits for $SYS.stats. A
broker with auth on wants a token with the monitor permission (--token or SUBWIRE_TOKEN).

Options:
  --json             print the report as JSON
  --limit N          connections to list (at most ${MAX_CONNECTIONS_PAGE})   [default: ${CONNECTIONS_PAGE}]
  --offset N         connections to skip first                [default: 0]
  --timeout MS       how long to wait for the broker         [default: 5000]
${CLIENT_OPTIONS_HELP}
`

/** `ws://host:port/path` → `http://host:port/stats` (with `?limit=&offset=` when given). */
export function statsUrl(wsUrl: string, page: { limit?: number; offset?: number } = {}): string {
  const u = new URL(wsUrl)
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:'
  u.pathname = '/stats'
  u.search = ''
  if (page.limit !== undefined) u.searchParams.set('limit', String(page.limit))
  if (page.offset !== undefined) u.searchParams.set('offset', String(page.offset))
  return u.toString()
}

/**
 * The report from `GET /stats`, or null when it is not served there (no answer, 404, not JSON). A refusal is an
 * error: 401 `auth_failed` (no token, or a wrong one) and 403 `permission` (a token without monitor).
 */
async function fromHttp(url: string, token: string | undefined, timeoutMs: number): Promise<StatsReport | null> {
  let res: Response
  try {
    const headers: Record<string, string> = { accept: 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers })
  } catch {
    return null
  }
  const refused = res.headers.get('x-subwire-error')
  if (res.status === 401 || res.status === 403 || (res.status === 400 && refused === 'bad_option')) {
    const code = res.status === 401 ? 'auth_failed' : res.status === 403 ? 'permission' : 'bad_option'
    const hint = res.status === 401 ? (token === undefined ? ': the broker wants a token (--token or SUBWIRE_TOKEN)' : ': the token was refused') : ''
    throw new SubwireError(code, `${url} answered ${res.status}${hint} (${(await res.text().catch(() => '')).trim()})`)
  }
  if (res.status !== 200 || !(res.headers.get('content-type') ?? '').includes('json')) return null
  try {
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

/** A range of sequences a file topic lost (found corrupt at recovery). */
export interface LostRange { readonly fromSeq: number; readonly toSeq: number }

/** `5-9, 20-20`: the lost ranges, at most `max` of them, then how many more. */
export function lostText(lost: readonly LostRange[], max: number): string {
  const shown = lost.slice(0, max).map((r) => `${r.fromSeq}-${r.toSeq}`).join(', ')
  return lost.length > max ? `${shown}, +${grouped(lost.length - max)} more` : shown
}

/** How many messages the lost ranges cover. */
export function lostCount(lost: readonly LostRange[]): number {
  return lost.reduce((n, r) => n + r.toSeq - r.fromSeq + 1, 0)
}

/**
 * The topics of a report as a table (also `subwire topics ls`): STORAGE is memory, or file and its bytes on
 * disk; LOST (the first ranges lost at recovery) appears when some topic lost messages.
 */
export function topicsTable(topics: readonly TopicReport[]): string {
  const lost = topics.some((t) => t.lost.length > 0)
  const head = ['TOPIC', 'SUBJECTS', 'MESSAGES', 'BYTES', 'STORAGE', 'SEQ', 'LAST STORED', 'GROUPS', ...(lost ? ['LOST'] : [])]
  return table(head, topics.map((t) => [
    t.name,
    t.subjects.join(','),
    fill(grouped(t.messages), t.capacity === null ? null : grouped(t.capacity)),
    fill(bytes(t.bytes), t.maxBytes === null ? null : bytes(t.maxBytes)),
    t.storage === 'file' ? `file ${bytes(t.diskBytes)}` : t.storage,
    t.messages === 0 ? `- (last ${t.lastSeq})` : `${t.firstSeq}..${t.lastSeq}`,
    t.lastTime === null ? '-' : new Date(t.lastTime).toISOString(),
    t.consumers.map((g) => `${g.name} (${g.members} member${g.members === 1 ? '' : 's'}, ${grouped(g.inFlight)} in flight)`).join(', '),
    ...(lost ? [lostText(t.lost, 3)] : []),
  ]))
}

/** The cluster as the node sees it: one line, then a row per node (a broker alone has none). */
export function clusterText(c: ClusterStats): string {
  const link = c.link === 'up' ? 'link up' : `link DOWN${c.downSince === null ? '' : ` since ${new Date(c.downSince).toISOString()}`}`
  let out = `cluster      ${c.name} on ${c.redis} as node ${c.nodeId}, ${link}, ${c.nodes.length} node${c.nodes.length === 1 ? '' : 's'} (sent ${grouped(c.sent)}, received ${grouped(c.received)}, dropped ${grouped(c.dropped)}${c.rejected > 0 ? `, rejected ${grouped(c.rejected)}` : ''}${c.groupMisses > 0 ? `, queue-group misses ${grouped(c.groupMisses)}` : ''})\n`
  out += `\n${table(['NODE', 'HOST', 'PID', 'CONNECTIONS', 'SUBSCRIPTIONS', 'PATTERNS'], c.nodes.map((n) => [
    `${n.nodeId}${n.self ? ' (this)' : ''}`, n.host ?? '-', n.pid === null ? '-' : String(n.pid), grouped(n.connections), grouped(n.subscriptions), grouped(n.patterns),
  ]))}`
  return out
}

/** The report for a terminal. */
export function statsText(r: StatsReport): string {
  const s = r.server
  const lag = s.eventLoopLagMs === null ? '' : `, event-loop lag p99 ${s.eventLoopLagMs.p99.toFixed(1)} ms`
  let out = `subwire ${s.version} "${s.name}" (${s.state}) at ${s.url}, up ${duration(s.uptimeMs)}, pid ${s.pid}, RSS ${bytes(s.rssBytes)}${lag}\n`
  out += `messages     in ${compact(r.rates.published)}/s, delivered ${compact(r.rates.delivered)}/s  (since start: ${grouped(r.totals.published)} in, ${grouped(r.totals.delivered)} delivered, ${grouped(r.totals.unmatched)} unmatched)\n`
  out += `bytes        in ${bytes(r.rates.bytesIn)}/s, out ${bytes(r.rates.bytesOut)}/s  (since start: ${bytes(r.totals.bytesIn)} in, ${bytes(r.totals.bytesOut)} out)\n`
  out += `connections  ${r.connections}, subscriptions ${r.subscriptions}, pending ${bytes(r.pendingBytes)}, slow consumers ${r.totals.slowConsumers}${r.backpressure ? ', BACKPRESSURE' : ''}\n`
  // Reports of brokers from before issue 14 have no `cluster`.
  if (r.cluster !== undefined && r.cluster !== null) out += clusterText(r.cluster)
  if (r.connectionList !== undefined && r.connectionList.length > 0) {
    out += `\n${table(['CONNECTION', 'NAME', 'IP', 'SUBS', 'MSGS IN', 'MSGS OUT', 'PENDING', 'SUBJECTS'],
      r.connectionList.map((c) => [c.id, c.name, c.ip, grouped(c.subscriptions), grouped(c.msgsIn), grouped(c.msgsOut), bytes(c.pendingBytes),
        c.subjects.slice(0, 3).map((x) => (x.queue === null ? x.subject : `${x.subject} (${x.queue})`)).join(', ') + (c.subscriptions > 3 ? ', …' : '')]))}`
    const page = r.connectionPage
    if (page !== undefined && page.total > r.connectionList.length) out += `(connections ${page.offset + 1}–${page.offset + r.connectionList.length} of ${grouped(page.total)})\n`
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

/** A whole number from 0 to `max`. */
function parseWhole(raw: string, flag: string, max: number): number {
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN
  if (!(n <= max)) throw usageError(`${flag} must be a whole number from 0 to ${max}, got ${JSON.stringify(raw)}`)
  return n
}

export async function stats(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...CLIENT_OPTIONS, json: { type: 'boolean' }, timeout: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } })
  if (values.help === true) { io.out(STATS_USAGE); return EXIT.ok }
  if (positionals.length > 0) throw usageError(`unexpected arguments: ${positionals.join(' ')}`)
  const timeoutMs = parseMs(values.timeout, '--timeout', 5000)
  const url = serverUrl(values.server, io)
  const page = {
    ...(values.limit === undefined ? {} : { limit: parseWhole(values.limit, '--limit', MAX_CONNECTIONS_PAGE) }),
    ...(values.offset === undefined ? {} : { offset: parseWhole(values.offset, '--offset', Number.MAX_SAFE_INTEGER) }),
  }
  const token = values.token ?? io.env.SUBWIRE_TOKEN
  const report = (await fromHttp(statsUrl(url, page), token, timeoutMs)) ?? (await fromSys(url, io, values, timeoutMs))
  io.out(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : statsText(report))
  return EXIT.ok
}
