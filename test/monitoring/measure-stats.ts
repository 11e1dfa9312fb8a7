/**
 * Measures what one `GET /stats` (and `/metrics`) costs the broker beside one connection holding many
 * subscriptions: the answer's size in bytes and the broker process's CPU time per request (utime + stime from
 * /proc/<pid>/stat, Linux only, minus the same process's CPU over an idle window of equal length). The broker
 * runs as `subwire serve` in a child process, so the measuring client's own work is not counted.
 *
 *   node --conditions=source --import tsx test/monitoring/measure-stats.ts [subscriptions] [requests]
 *
 * Defaults: 100000 subscriptions (`load.<i>`, one connection) and 20 requests of each path. With
 * SUBWIRE_TOKEN set, the broker is started with auth on (an unrestricted application token for the
 * subscriber, in a temporary config file) and that token as --monitor-token, which every request carries.
 * Not a test: README's Security section quotes its output (.tmp/notes/monitoring.md).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '../../client/index.ts'

const subscriptions = Number(process.argv[2] ?? 100_000)
const requests = Number(process.argv[3] ?? 20)
const token = process.env.SUBWIRE_TOKEN
const APP_TOKEN = 'measure-stats-application-token'

/** CPU ms of a process so far (clock ticks are 100 Hz on Linux). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function main(): Promise<void> {
  const args = ['--conditions=source', '--import', 'tsx', 'server/cli/main.ts', 'serve', '--port', '0', '--log-level', 'silent']
  if (token !== undefined) {
    const config = join(mkdtempSync(join(tmpdir(), 'subwire-measure-')), 'auth.json')
    writeFileSync(config, JSON.stringify({ auth: { tokens: [{ token: APP_TOKEN, user: 'app' }] } }))
    args.push('--config', config, '--monitor-token', token)
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SUBWIRE_CONFIG: '' } })
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let text = ''
      const timer = setTimeout(() => reject(new Error(`no banner within 30 s: ${text}`)), 30_000)
      child.stderr.on('data', (d: Buffer) => {
        text += d.toString()
        const m = /listening on (ws:\/\/\S+)/.exec(text)
        if (m?.[1] !== undefined) { clearTimeout(timer); resolve(m[1]) }
      })
    })
    const http = url.replace(/^ws/, 'http').replace(/\/$/, '')
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const c = await connect(url, { name: 'many-subscriptions', ...(token === undefined ? {} : { token: APP_TOKEN }) })
    for (let i = 0; i < subscriptions; i++) c.subscribe(`load.${i}`, { callback: () => undefined })
    await c.flush()
    const pid = child.pid as number
    for (const path of ['/stats', '/metrics']) {
      await (await fetch(`${http}${path}`, { headers })).arrayBuffer() // warm up
      const t0 = Date.now()
      let size = 0
      const cpu0 = cpuMs(pid)
      for (let i = 0; i < requests; i++) {
        const res = await fetch(`${http}${path}`, { headers })
        size = (await res.arrayBuffer()).byteLength
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`)
      }
      const busy = cpuMs(pid) - cpu0
      const elapsed = Date.now() - t0
      const idle0 = cpuMs(pid)
      await new Promise((resolve) => setTimeout(resolve, elapsed))
      const idle = cpuMs(pid) - idle0
      const perRequest = Math.max(0, busy - idle) / requests
      console.log(`${path}: ${size} bytes, ${perRequest.toFixed(1)} ms broker CPU per request (${requests} requests, ${subscriptions} subscriptions on one connection; busy ${busy} ms, idle ${idle} ms over ${elapsed} ms)`)
    }
    // $SYS.stats: published once a second while something subscribes; its cost is the report's.
    let reports = 0
    let reportBytes = 0
    // Another connection: the first holds maxSubscriptionsPerConnection (100,000) already.
    const w = await connect(url, { name: 'sys-watcher', ...(token === undefined ? {} : { token }) })
    const watcher = w.subscribe('$SYS.stats', { callback: (_err, m) => { if (m !== null) { reports++; reportBytes = m.bytes.byteLength } } })
    await w.flush()
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const sys0 = cpuMs(pid)
    const n0 = reports
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const sysCpu = cpuMs(pid) - sys0
    watcher.unsubscribe()
    await w.close()
    console.log(`$SYS.stats: ${reportBytes} bytes, ${(sysCpu / Math.max(1, reports - n0)).toFixed(1)} ms broker CPU per report (idle broker included; ${reports - n0} reports in 5 s)`)
    await c.close()
  } finally {
    child.kill('SIGKILL')
  }
}

await main()
